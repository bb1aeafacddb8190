"""Ending a staff session closes the sockets opened with it at once, on every instance."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app.seed import DEMO_PASSWORD
from app.users import create_user
from tests.support.environment import RunEnvironment
from tests.support.forms import csrf_token
from tests.support.server import ServerProcess, two_instances
from tests.support.sockets import open_console, open_counsellor, receive, send, start_chat

PASSWORD = "revocation-test-password"


@pytest.fixture(scope="module")
def env(module_env: RunEnvironment) -> dict[str, str]:
    return module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:"
    )


@pytest.fixture(scope="module")
def instances(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with two_instances(env, tmp_path_factory.mktemp("revocation")) as pair:
        yield pair


async def signed_in(
    server: ServerProcess, username: str, password: str = PASSWORD
) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=server.url)
    page = await client.get("/signin")
    response = await client.post(
        "/signin",
        data={"csrf_token": csrf_token(page), "username": username, "password": password},
    )
    assert response.status_code == 303, response.text
    return client


def cookie_of(client: httpx.AsyncClient) -> str:
    return f"eguide_session={client.cookies['eguide_session']}"


async def new_counsellor(module_env: RunEnvironment, languages: tuple[str, ...] = ("nb",)) -> str:
    username = f"revoke{secrets.token_hex(3)}"
    conn = await asyncpg.connect(module_env.database_url)
    try:
        await create_user(
            conn,
            username=username,
            display_name="Revoke Test",
            role="counsellor",
            password=PASSWORD,
            centres=("03",),
            languages=languages,
        )
    finally:
        await conn.close()
    return username


async def closed_with(socket: ClientConnection, within: float) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(within):
            while True:
                await socket.recv()
    return None if closed.value.rcvd is None else closed.value.rcvd.code


async def test_signing_out_closes_the_console_opened_with_that_session_within_a_second(
    instances: tuple[ServerProcess, ServerProcess], module_env: RunEnvironment
) -> None:
    a, b = instances
    username = await new_counsellor(module_env)
    browser = await signed_in(a, username)
    other = await signed_in(a, username)
    try:
        console = await open_counsellor(b.url, cookie_of(browser))  # on the other instance
        elsewhere = await open_counsellor(b.url, cookie_of(other))
        page = await browser.get("/counsellor")
        signed_out = await browser.post("/signout", data={"csrf_token": csrf_token(page)})
        assert signed_out.status_code == 303
        assert await closed_with(console, within=1.0) == 4410
        # Only that session ended: the console signed in elsewhere stays open.
        await (await elsewhere.ping())
        await elsewhere.close()
    finally:
        await browser.aclose()
        await other.aclose()


async def test_disabling_an_account_closes_all_its_consoles_on_every_instance(
    instances: tuple[ServerProcess, ServerProcess],
    module_env: RunEnvironment,
    env: dict[str, str],
) -> None:
    username = await new_counsellor(module_env)
    consoles = await a_console_on_each(instances, username)
    await eguide(env, "user", "disable", username)
    for console in consoles:
        assert await closed_with(console, within=1.0) == 4410


async def a_console_on_each(
    instances: tuple[ServerProcess, ServerProcess], username: str
) -> list[ClientConnection]:
    """A console of the counsellor on each instance, each with a session of its own."""
    consoles = []
    for server in instances:
        browser = await signed_in(server, username)
        consoles.append(await open_counsellor(server.url, cookie_of(browser)))
        await browser.aclose()
    return consoles


async def eguide(env: dict[str, str], *args: str, typed: bytes | None = None) -> None:
    """Run the `eguide` command line (typing `typed` into it) and expect it to succeed."""
    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE if typed is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await asyncio.wait_for(command.communicate(typed), 60)
    assert command.returncode == 0, errors.decode()


@contextlib.asynccontextmanager
async def counsellor_and_admin(
    instances: tuple[ServerProcess, ServerProcess],
    module_env: RunEnvironment,
    languages: tuple[str, ...] = ("nb",),
) -> AsyncIterator[tuple[str, httpx.AsyncClient, httpx.AsyncClient]]:
    """A new counsellor's browser signed in on B, and the admin's on A."""
    a, b = instances
    username = await new_counsellor(module_env, languages)
    browser = await signed_in(b, username)
    admin = await signed_in(a, "admin", DEMO_PASSWORD)
    try:
        yield username, browser, admin
    finally:
        await browser.aclose()
        await admin.aclose()


async def test_a_new_password_from_the_command_line_closes_every_console_within_a_second(
    instances: tuple[ServerProcess, ServerProcess],
    module_env: RunEnvironment,
    env: dict[str, str],
) -> None:
    username = await new_counsellor(module_env)
    consoles = await a_console_on_each(instances, username)
    await eguide(env, "user", "password", username, typed=b"a-changed-password\n")
    for console in consoles:
        assert await closed_with(console, within=1.0) == 4410


async def test_a_new_password_from_the_admin_page_closes_the_console_within_a_second(
    instances: tuple[ServerProcess, ServerProcess], module_env: RunEnvironment
) -> None:
    _, b = instances
    async with counsellor_and_admin(instances, module_env) as (username, browser, admin):
        console = await open_counsellor(b.url, cookie_of(browser))
        page = await admin.get(f"/admin/users/{username}")
        changed = await admin.post(
            f"/admin/users/{username}/password",
            data={
                "csrf_token": csrf_token(page),
                "password": "a-changed-password",
                "password_repeat": "a-changed-password",
            },
        )
        assert changed.status_code == 303
        assert await closed_with(console, within=1.0) == 4410


async def test_signing_out_everywhere_closes_the_consoles_of_every_session(
    instances: tuple[ServerProcess, ServerProcess], module_env: RunEnvironment
) -> None:
    a, b = instances
    username = await new_counsellor(module_env)
    here = await signed_in(a, username)
    there = await signed_in(b, username)
    try:
        console = await open_counsellor(b.url, cookie_of(there))
        page = await here.get("/counsellor")
        response = await here.post("/signout/everywhere", data={"csrf_token": csrf_token(page)})
        assert response.status_code == 303
        assert await closed_with(console, within=1.0) == 4410
        assert (await there.get("/counsellor")).status_code == 303
    finally:
        await here.aclose()
        await there.aclose()


async def change_account(admin: httpx.AsyncClient, username: str, **fields: object) -> None:
    """Save the admin page's form of an account with these fields (a field left out is
    emptied, as an unticked box is)."""
    page = await admin.get(f"/admin/users/{username}")
    response = await admin.post(
        f"/admin/users/{username}", data={"csrf_token": csrf_token(page), **fields}
    )
    assert response.status_code == 303, response.text


async def test_a_capacity_changed_on_the_admin_page_reaches_the_router_at_once(
    instances: tuple[ServerProcess, ServerProcess], module_env: RunEnvironment
) -> None:
    _, b = instances
    async with counsellor_and_admin(instances, module_env) as (username, browser, admin):
        _, hello = await open_console(b.url, cookie_of(browser))
        assert hello["capacity"] == 2
        await change_account(admin, username, centres=["03"], languages=["nb"], capacity="5")
        _, hello = await open_console(b.url, cookie_of(browser))
        assert hello["capacity"] == 5


async def test_a_language_added_on_the_admin_page_reaches_the_router_at_once(
    instances: tuple[ServerProcess, ServerProcess], module_env: RunEnvironment
) -> None:
    """The counsellor is offered a waiting chat in the new language as soon as it is saved."""
    a, b = instances
    async with counsellor_and_admin(instances, module_env, ("nn",)) as (username, browser, admin):
        console, _ = await open_console(b.url, cookie_of(browser))
        await send(console, "status", status="available")
        await receive(console, "status")
        chat = await asyncio.to_thread(start_chat, a.url, "03", "en")
        await change_account(admin, username, centres=["03"], languages=["nn", "en"], capacity="2")
        offer = await receive(console, "offer")
        assert offer["chat_id"] == chat["chat_id"]
        await console.close()


async def test_a_counsellor_left_with_no_centre_or_national_team_is_signed_out(
    instances: tuple[ServerProcess, ServerProcess], module_env: RunEnvironment
) -> None:
    """They could not open a console any more: the open ones close, as when disabled."""
    _, b = instances
    async with counsellor_and_admin(instances, module_env) as (username, browser, admin):
        console, _ = await open_console(b.url, cookie_of(browser))
        await change_account(admin, username, languages=["nb"], capacity="2")
        assert await closed_with(console, within=1.0) == 4410
