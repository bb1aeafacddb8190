"""The audit log viewer: admins only, newest first, paged, filtered, bad filters refused with
400 and a message, nothing editable."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from app import audit
from app.seed import DEMO_PASSWORD
from tests.support.aio import run_sync
from tests.support.environment import RunEnvironment
from tests.support.forms import sign_in
from tests.support.server import ServerProcess


@pytest.fixture
def admin(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Accept-Language": "en"}) as client:
        assert sign_in(client, "admin", DEMO_PASSWORD).status_code == 303
        yield client


def record_entries(env: RunEnvironment, action: str, count: int, **fields: object) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(env.database_url)
        try:
            for number in range(count):
                await audit.record(conn, action, detail={"n": number}, **fields)  # type: ignore[arg-type]
        finally:
            await conn.close()

    run_sync(run())


def details(page: httpx.Response) -> list[str]:
    """The Details column of each row shown, in order."""
    return re.findall(r"<td><code>([^<]*)</code></td>", page.text)


def test_entries_come_newest_first_a_page_at_a_time(
    admin: httpx.Client, test_env: RunEnvironment
) -> None:
    action = f"test.paging_{secrets.token_hex(3)}"
    record_entries(test_env, action, 60)
    first = admin.get("/admin/audit", params={"action": action})
    assert first.status_code == 200
    assert "page 1" in first.text
    shown = details(first)
    assert len(shown) == 50
    assert shown[0] == "{&#34;n&#34;: 59}"
    assert shown[-1] == "{&#34;n&#34;: 10}"
    older = re.search(r'<a href="([^"]+)">Older entries</a>', first.text)
    assert older is not None and "Newer entries" not in first.text
    second = admin.get(older.group(1).replace("&amp;", "&"))
    assert [d.split(": ")[1].rstrip("}") for d in details(second)] == [
        str(n) for n in range(9, -1, -1)
    ]
    assert "Newer entries" in second.text and "Older entries" not in second.text


def test_filters_by_actor_target_and_dates(admin: httpx.Client, test_env: RunEnvironment) -> None:
    action = f"test.filters_{secrets.token_hex(3)}"
    kari = run_sync(_user_id(test_env, "kari"))
    admin_id = run_sync(_user_id(test_env, "admin"))
    record_entries(
        test_env, action, 2, actor_user_id=admin_id, target_type="user", target_id=str(kari)
    )
    record_entries(test_env, action, 1, target_type="chat", target_id="chat-123")
    by_actor = admin.get("/admin/audit", params={"action": action, "actor": "admin"})
    assert len(details(by_actor)) == 2
    assert "<td>admin</td>" in by_actor.text and "<td>kari</td>" in by_actor.text
    by_user_target = admin.get("/admin/audit", params={"action": action, "target": "kari"})
    assert len(details(by_user_target)) == 2
    by_chat = admin.get("/admin/audit", params={"action": action, "target": "chat-123"})
    assert len(details(by_chat)) == 1
    today = admin.get(
        "/admin/audit", params={"action": action, "from": "2000-01-01", "to": "2999-12-31"}
    )
    assert len(details(today)) == 3
    long_ago = admin.get(
        "/admin/audit", params={"action": action, "from": "2000-01-01", "to": "2000-01-02"}
    )
    assert details(long_ago) == []
    assert "No entries match." in long_ago.text


async def _user_id(env: RunEnvironment, username: str) -> int:
    conn = await asyncpg.connect(env.database_url)
    try:
        value: int = await conn.fetchval("SELECT id FROM users WHERE username = $1", username)
        return value
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "31.03.2025"}, "from", "Give a date as YYYY-MM-DD"),
        ({"to": "2025-02-30"}, "to", "Give a date as YYYY-MM-DD"),
        ({"from": "2025-03-02", "to": "2025-03-01"}, "to", "The last day comes before"),
        ({"page": "0"}, "page", "There is no such page."),
        ({"page": "many"}, "page", "There is no such page."),
        ({"actor": "nobody-at-all"}, "actor", "No account has that username."),
        ({"action": "DROP TABLE"}, "action", "Choose an action from the list."),
        ({"target": "<script>"}, "target", "A target is a username or an id"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_problem_at_its_field(
    admin: httpx.Client, params: dict[str, str], field: str, message: str
) -> None:
    response = admin.get("/admin/audit", params=params)
    assert response.status_code == 400
    assert message in response.text
    assert f'href="#filter-{field}"' in response.text
    assert "<script>" not in response.text


def test_the_log_cannot_be_changed_through_the_app(admin: httpx.Client) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert admin.request(method, "/admin/audit").status_code == 405
    assert '<form method="post"' not in admin.get("/admin/audit").text.split("<main", 1)[1]


def test_sign_ins_and_failures_appear_in_the_viewer(
    admin: httpx.Client, server: ServerProcess
) -> None:
    with httpx.Client(base_url=server.url) as other:
        sign_in(other, "nora", "a-wrong-password-here")
    failed = admin.get("/admin/audit", params={"action": "auth.sign_in_failed", "target": "nora"})
    assert failed.status_code == 200
    assert "<td>nora</td>" in failed.text
    assert "a-wrong-password-here" not in failed.text
    signed_in = admin.get("/admin/audit", params={"action": "auth.signed_in", "actor": "admin"})
    assert "<td>admin</td>" in signed_in.text
