"""Sign-in, sign-out, session expiry, role guards and CSRF, over real HTTP to a real server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from app.seed import DEMO_PASSWORD
from tests.support.environment import RunEnvironment
from tests.support.forms import csrf_token, sign_in
from tests.support.server import ServerProcess


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, follow_redirects=False) as http:
        yield http


def test_sign_in_sets_an_httponly_session_cookie_and_lands_on_the_role_page(
    client: httpx.Client,
) -> None:
    response = sign_in(client, "kari", DEMO_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/counsellor"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("eguide_session=")
    )
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    page = client.get("/counsellor")
    assert page.status_code == 200
    assert "Kari (Oslo)" in page.text


def test_sign_in_returns_to_the_page_asked_for(client: httpx.Client) -> None:
    redirect = client.get("/supervisor")
    assert redirect.status_code == 303
    assert redirect.headers["location"] == "/signin?next=/supervisor"
    response = sign_in(client, "sofie", DEMO_PASSWORD, next_path="/supervisor")
    assert response.headers["location"] == "/supervisor"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_sign_in_never_redirects_off_site(client: httpx.Client, target: str) -> None:
    response = sign_in(client, "sofie", DEMO_PASSWORD, next_path=target)
    assert response.headers["location"] == "/supervisor"


def test_wrong_password_and_unknown_user_get_the_same_answer(client: httpx.Client) -> None:
    client.get("/?lang=en")
    wrong = sign_in(client, "kari", "not-the-password")
    unknown = sign_in(client, "nobody-here", "not-the-password")
    assert "Wrong username or password." in wrong.text
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert "eguide_session=" not in response.headers.get("set-cookie", "")
        assert 'role="alert"' in response.text
    # Same page, apart from the username echoed back into the form.
    assert wrong.text.replace("kari", "X") == unknown.text.replace("nobody-here", "X")
    assert client.get("/counsellor").status_code == 303


def test_sign_out_ends_the_session_on_the_server(client: httpx.Client) -> None:
    sign_in(client, "kari", DEMO_PASSWORD)
    stolen_cookie = client.cookies["eguide_session"]
    page = client.get("/counsellor")
    response = client.post("/signout", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    # Even a copy of the old cookie no longer opens anything.
    with httpx.Client(base_url=str(client.base_url)) as other:
        other.cookies.set("eguide_session", stolen_cookie)
        assert other.get("/counsellor", follow_redirects=False).status_code == 303


def test_counsellor_is_refused_supervisor_and_admin_pages(client: httpx.Client) -> None:
    sign_in(client, "kari", DEMO_PASSWORD)
    assert client.get("/supervisor").status_code == 403
    assert client.get("/admin").status_code == 403
    assert client.get("/counsellor").status_code == 200


def test_supervisor_is_refused_the_counsellor_console_and_admin(client: httpx.Client) -> None:
    sign_in(client, "sofie", DEMO_PASSWORD)
    assert client.get("/counsellor").status_code == 403
    assert client.get("/admin").status_code == 403
    assert client.get("/supervisor").status_code == 200


def test_admin_sees_the_staff_list_and_the_dashboard(client: httpx.Client) -> None:
    sign_in(client, "admin", DEMO_PASSWORD)
    admin_page = client.get("/admin")
    assert admin_page.status_code == 200
    assert "ingrid" in admin_page.text
    assert client.get("/supervisor").status_code == 200
    assert client.get("/counsellor").status_code == 403


@pytest.mark.parametrize("path", ["/counsellor", "/supervisor", "/admin"])
def test_anonymous_visitor_is_sent_to_sign_in(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/signin?next={path}"


def test_sign_in_post_without_csrf_token_is_refused(client: httpx.Client) -> None:
    client.get("/signin")
    response = client.post("/signin", data={"username": "kari", "password": DEMO_PASSWORD})
    assert response.status_code == 403
    assert "eguide_session" not in client.cookies


def test_csrf_token_of_another_browser_is_refused(
    client: httpx.Client, server: ServerProcess
) -> None:
    with httpx.Client(base_url=server.url) as attacker:
        foreign_token = csrf_token(attacker.get("/signin"))
    client.get("/signin")
    response = client.post(
        "/signin",
        data={"csrf_token": foreign_token, "username": "kari", "password": DEMO_PASSWORD},
    )
    assert response.status_code == 403


def test_sign_out_without_csrf_token_is_refused_and_keeps_the_session(
    client: httpx.Client,
) -> None:
    sign_in(client, "kari", DEMO_PASSWORD)
    assert client.post("/signout", data={}).status_code == 403
    assert client.get("/counsellor").status_code == 200


def test_oversized_sign_in_form_is_refused(client: httpx.Client) -> None:
    token = csrf_token(client.get("/signin"))
    response = client.post(
        "/signin", data={"csrf_token": token, "username": "x" * 20_000, "password": "y"}
    )
    assert response.status_code == 413


async def test_sign_in_is_audited_and_logged_without_the_password(
    client: httpx.Client, server: ServerProcess, db: asyncpg.Connection
) -> None:
    sign_in(client, "ola", DEMO_PASSWORD)
    with httpx.Client(base_url=server.url) as other:
        assert sign_in(other, "ola", "a-wrong-password-typed").status_code == 401
    log = server.log()
    assert DEMO_PASSWORD not in log
    assert "a-wrong-password-typed" not in log
    assert client.cookies["eguide_session"] not in log
    ola = await db.fetchval("SELECT id FROM users WHERE username = 'ola'")
    actions = [
        r["action"]
        for r in await db.fetch(
            "SELECT action FROM audit_log WHERE target_id = $1 ORDER BY id", str(ola)
        )
    ]
    assert actions[-2:] == ["auth.signed_in", "auth.sign_in_failed"]


@pytest.fixture(scope="module")
def short_session_server(
    test_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = test_env.variables(EGUIDE_SESSION_IDLE_SECONDS="2")
    log = tmp_path_factory.mktemp("short") / "server.log"
    with ServerProcess(env, log) as process:
        yield process


def test_session_expires_after_the_idle_time(short_session_server: ServerProcess) -> None:
    with httpx.Client(base_url=short_session_server.url) as client:
        sign_in(client, "kari", DEMO_PASSWORD)
        assert client.get("/counsellor").status_code == 200
        time.sleep(2.5)
        response = client.get("/counsellor", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/signin?next=/counsellor&expired=1"
        assert "Please sign in again" in client.get("/signin?expired=1&lang=en").text


def test_activity_keeps_the_session_alive(short_session_server: ServerProcess) -> None:
    with httpx.Client(base_url=short_session_server.url) as client:
        sign_in(client, "kari", DEMO_PASSWORD)
        for _ in range(4):  # 4 s in all, twice the idle time, never idle for long
            time.sleep(1)
            assert client.get("/counsellor", follow_redirects=False).status_code == 200
