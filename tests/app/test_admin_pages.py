"""The admin page over real HTTP: accounts created, changed, disabled and given new passwords,
each form checked (CSRF, role, input) and audited, nothing half done."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from app.seed import DEMO_PASSWORD
from tests.support.aio import run_sync
from tests.support.environment import RunEnvironment
from tests.support.forms import csrf_token, sign_in
from tests.support.server import ServerProcess

PASSWORD = "admin-test-password"


@pytest.fixture
def admin(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Accept-Language": "en"}) as client:
        assert sign_in(client, "admin", DEMO_PASSWORD).status_code == 303
        yield client


def new_account_form(token: str, username: str, **fields: object) -> dict[str, object]:
    form: dict[str, object] = {
        "csrf_token": token,
        "username": username,
        "display_name": "Admin Test",
        "role": "counsellor",
        "password": PASSWORD,
        "password_repeat": PASSWORD,
        "centres": ["03"],
        "languages": ["nb", "en"],
        "capacity": "2",
    }
    form.update(fields)
    return form


def create(admin: httpx.Client, **fields: object) -> str:
    username = f"adm{secrets.token_hex(3)}"
    token = csrf_token(admin.get("/admin"))
    response = admin.post("/admin/users", data=new_account_form(token, username, **fields))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/admin/users/{username}?done=created"
    return username


def query(env: RunEnvironment, method: str, sql: str, *args: object) -> Any:
    """One query against the test database, from a test that drives the server by HTTP."""

    async def run() -> Any:
        conn = await asyncpg.connect(env.database_url)
        try:
            return await getattr(conn, method)(sql, *args)
        finally:
            await conn.close()

    return run_sync(run())


def audit_entries(env: RunEnvironment, action: str, username: str) -> list[dict[str, Any]]:
    rows = query(
        env,
        "fetch",
        """SELECT a.actor_user_id, a.detail::text AS detail FROM audit_log a
           JOIN users u ON u.id::text = a.target_id AND a.target_type = 'user'
           WHERE a.action = $1 AND u.username = $2 ORDER BY a.id""",
        action,
        username,
    )
    return [{"actor": r["actor_user_id"], **json.loads(r["detail"])} for r in rows]


def test_an_admin_creates_an_account_and_the_audit_names_the_admin(
    admin: httpx.Client, server: ServerProcess, test_env: RunEnvironment
) -> None:
    username = create(admin, centres=["03", "46"], national="yes", capacity="3")
    page = admin.get(f"/admin/users/{username}?done=created")
    assert page.status_code == 200
    assert "The account was created." in page.text
    assert re.search(r'value="46" id="centre-46"\s+checked', page.text)
    admin_id = query(test_env, "fetchval", "SELECT id FROM users WHERE username = 'admin'")
    [entry] = audit_entries(test_env, "user.created", username)
    assert entry == {
        "actor": admin_id,
        "username": username,
        "role": "counsellor",
        "centres": ["03", "46"],
        "national_team": True,
        "languages": ["nb", "en"],
        "capacity": 3,
        "via": "admin",
    }
    with httpx.Client(base_url=server.url) as browser:
        assert sign_in(browser, username, PASSWORD).status_code == 303


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "Bad Name"}, "username", "A username is 2 to 63 characters"),
        ({"username": "kari"}, "username", "That username is taken."),
        ({"display_name": " "}, "display_name", "A name is 1 to 100 characters."),
        ({"role": "king"}, "role", "Choose a role."),
        ({"password": "short", "password_repeat": "short"}, "password", "10 to 1024"),
        ({"password_repeat": "something-else"}, "password_repeat", "The two passwords differ."),
        ({"capacity": "11"}, "capacity", "Capacity is a whole number from 1 to 10."),
        ({"capacity": "two"}, "capacity", "Capacity is a whole number from 1 to 10."),
        ({"centres": ["99"]}, "centres", "Choose centres from the list."),
        ({"languages": []}, "languages", "Choose at least one language from the list."),
        ({"languages": ["xx"]}, "languages", "Choose at least one language from the list."),
    ],
)
def test_a_bad_new_account_is_refused_with_the_error_at_its_field_and_nothing_created(
    admin: httpx.Client,
    test_env: RunEnvironment,
    fields: dict[str, object],
    field: str,
    message: str,
) -> None:
    username = str(fields.pop("username", f"bad{secrets.token_hex(3)}"))
    token = csrf_token(admin.get("/admin"))
    before = query(test_env, "fetchval", "SELECT count(*) FROM users")
    response = admin.post("/admin/users", data=new_account_form(token, username, **fields))
    assert response.status_code == 400
    assert message in response.text
    # The error is tied to its field, and listed in a summary whose link leads there.
    assert f'id="new-{field}-error"' in response.text
    assert f'href="#new-{field}"' in response.text
    assert re.search(
        f'id="new-{field}"[^>]*aria-describedby="[^"]*new-{field}-error', response.text
    )
    assert query(test_env, "fetchval", "SELECT count(*) FROM users") == before
    assert PASSWORD not in response.text


def test_forms_without_a_csrf_token_are_refused(admin: httpx.Client) -> None:
    admin.get("/admin")
    username = create(admin)
    for path in ("/admin/users", f"/admin/users/{username}", f"/admin/users/{username}/disable"):
        form = new_account_form("not-the-token", f"x{secrets.token_hex(3)}")
        assert admin.post(path, data=form).status_code == 403
    assert "Active" in admin.get(f"/admin/users/{username}").text


def test_only_admins_reach_the_admin_page_and_its_forms(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/admin/users/kari").status_code == 303
        assert anonymous.post("/admin/users/kari/disable", data={}).status_code == 303
    for username in ("kari", "sofie"):
        with httpx.Client(base_url=server.url) as client:
            sign_in(client, username, DEMO_PASSWORD)
            token = csrf_token(client.get("/"))
            assert client.get("/admin/users/kari").status_code == 403
            response = client.post("/admin/users/ola/disable", data={"csrf_token": token})
            assert response.status_code == 403
            assert client.get("/admin/audit").status_code == 403


def test_an_admin_changes_centres_national_team_languages_and_capacity(
    admin: httpx.Client, test_env: RunEnvironment
) -> None:
    username = create(admin)
    page = admin.get(f"/admin/users/{username}")
    response = admin.post(
        f"/admin/users/{username}",
        data={
            "csrf_token": csrf_token(page),
            "centres": ["46"],
            "national": "yes",
            "languages": ["nn"],
            "capacity": "4",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/users/{username}?done=updated"
    row = query(
        test_env,
        "fetchrow",
        "SELECT national_team, languages, capacity FROM users WHERE username = $1",
        username,
    )
    assert dict(row) == {"national_team": True, "languages": ["nn"], "capacity": 4}
    [entry] = audit_entries(test_env, "user.updated", username)
    assert entry["changes"] == {
        "centres": {"from": ["03"], "to": ["46"]},
        "national_team": {"from": False, "to": True},
        "languages": {"from": ["nb", "en"], "to": ["nn"]},
        "capacity": {"from": 2, "to": 4},
    }
    assert entry["via"] == "admin"


def test_a_bad_change_is_refused_whole(admin: httpx.Client, test_env: RunEnvironment) -> None:
    username = create(admin)
    before = query(test_env, "fetchrow", "SELECT * FROM users WHERE username = $1", username)
    page = admin.get(f"/admin/users/{username}")
    response = admin.post(
        f"/admin/users/{username}",
        data={
            "csrf_token": csrf_token(page),
            "centres": ["46"],
            "languages": ["nn"],
            "capacity": "0",
        },
    )
    assert response.status_code == 400
    assert "Capacity is a whole number from 1 to 10." in response.text
    assert 'aria-invalid="true"' in response.text
    assert (
        query(test_env, "fetchrow", "SELECT * FROM users WHERE username = $1", username) == before
    )
    assert audit_entries(test_env, "user.updated", username) == []


def test_an_unknown_account_is_404(admin: httpx.Client) -> None:
    assert admin.get("/admin/users/ghost").status_code == 404
    token = csrf_token(admin.get("/admin"))
    assert admin.post("/admin/users/ghost/disable", data={"csrf_token": token}).status_code == 404


def test_disabling_ends_the_sessions_and_enabling_lets_the_person_back(
    admin: httpx.Client, server: ServerProcess, test_env: RunEnvironment
) -> None:
    username = create(admin)
    with httpx.Client(base_url=server.url) as person:
        sign_in(person, username, PASSWORD)
        assert person.get("/counsellor").status_code == 200
        token = csrf_token(admin.get(f"/admin/users/{username}"))
        response = admin.post(f"/admin/users/{username}/disable", data={"csrf_token": token})
        assert response.headers["location"] == f"/admin/users/{username}?done=disabled"
        assert person.get("/counsellor", follow_redirects=False).status_code == 303
        assert sign_in(person, username, PASSWORD).status_code == 401
        response = admin.post(f"/admin/users/{username}/enable", data={"csrf_token": token})
        assert response.status_code == 303
        assert sign_in(person, username, PASSWORD).status_code == 303
    actions = [
        r["action"]
        for r in query(
            test_env,
            "fetch",
            """SELECT action FROM audit_log WHERE target_id =
               (SELECT id::text FROM users WHERE username = $1) AND action LIKE 'user.%'
               ORDER BY id""",
            username,
        )
    ]
    assert actions == ["user.created", "user.disabled", "user.enabled"]


def test_an_admin_cannot_disable_their_own_account(admin: httpx.Client) -> None:
    token = csrf_token(admin.get("/admin/users/admin"))
    response = admin.post("/admin/users/admin/disable", data={"csrf_token": token})
    assert response.status_code == 400
    assert "You cannot disable your own account." in response.text
    assert admin.get("/admin").status_code == 200


def test_a_new_password_from_the_admin_ends_every_session(
    admin: httpx.Client, server: ServerProcess, test_env: RunEnvironment
) -> None:
    username = create(admin)
    with httpx.Client(base_url=server.url) as person:
        sign_in(person, username, PASSWORD)
        page = admin.get(f"/admin/users/{username}")
        mismatch = admin.post(
            f"/admin/users/{username}/password",
            data={
                "csrf_token": csrf_token(page),
                "password": "one-new-password",
                "password_repeat": "another-password",
            },
        )
        assert mismatch.status_code == 400
        assert 'id="new_password_repeat-error"' in mismatch.text
        assert person.get("/counsellor").status_code == 200
        response = admin.post(
            f"/admin/users/{username}/password",
            data={
                "csrf_token": csrf_token(page),
                "password": "one-new-password",
                "password_repeat": "one-new-password",
            },
        )
        assert response.headers["location"] == f"/admin/users/{username}?done=password"
        assert person.get("/counsellor", follow_redirects=False).status_code == 303
        assert sign_in(person, username, PASSWORD).status_code == 401
        assert sign_in(person, username, "one-new-password").status_code == 303
    [entry] = audit_entries(test_env, "user.password_changed", username)
    assert "one-new-password" not in json.dumps(entry)


def test_sign_out_everywhere_ends_the_sessions_of_other_browsers(
    server: ServerProcess, admin: httpx.Client
) -> None:
    username = create(admin)
    with (
        httpx.Client(base_url=server.url) as first,
        httpx.Client(base_url=server.url) as second,
    ):
        sign_in(first, username, PASSWORD)
        sign_in(second, username, PASSWORD)
        page = first.get("/counsellor")
        assert "Sign out everywhere" in first.get("/counsellor?lang=en").text
        response = first.post("/signout/everywhere", data={"csrf_token": csrf_token(page)})
        assert response.status_code == 303
        assert first.get("/counsellor", follow_redirects=False).status_code == 303
        assert second.get("/counsellor", follow_redirects=False).status_code == 303
        assert first.post("/signout/everywhere", data={}).status_code == 403
