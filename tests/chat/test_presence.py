"""A dropped connection starts the grace time only when it was the person's last one on any
instance: a seeker or counsellor who already reconnected elsewhere keeps their place."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import asyncpg
import pytest

from app.seed import DEMO_PASSWORD
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess, two_instances
from tests.support.sockets import (
    open_console,
    open_seeker,
    receive,
    send,
    staff_cookie,
    start_chat,
)

GRACE = 2.0


@pytest.fixture(scope="module")
def instances(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    # Grace times of two seconds, so a test can watch one run out.
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:",
        EGUIDE_SEEKER_GRACE_SECONDS=str(int(GRACE)),
        EGUIDE_COUNSELLOR_GRACE_SECONDS=str(int(GRACE)),
    )
    with two_instances(env, tmp_path_factory.mktemp("presence")) as pair:
        yield pair


async def state_of(module_db: asyncpg.Connection, chat_id: str) -> str:
    return str(
        await module_db.fetchval("SELECT state FROM chat_sessions WHERE id = $1::uuid", chat_id)
    )


async def test_a_seeker_connected_elsewhere_keeps_their_place_when_an_old_socket_drops(
    instances: tuple[ServerProcess, ServerProcess], module_db: asyncpg.Connection
) -> None:
    a, b = instances
    chat = start_chat(a.url, "46", language="nn")  # nobody on duty: it waits
    old = await open_seeker(a.url, chat["token"])
    new = await open_seeker(b.url, chat["token"])  # the phone moved networks
    await old.close()  # only now does instance A notice the old socket is gone
    await asyncio.sleep(GRACE * 2)
    assert await state_of(module_db, chat["chat_id"]) == "waiting"
    await send(new, "ping")
    await receive(new, "pong")

    # The last socket going does start the grace time, and the seeker is let go after it.
    await new.close()
    for _ in range(50):
        await asyncio.sleep(0.2)
        if await state_of(module_db, chat["chat_id"]) == "abandoned":
            break
    assert await state_of(module_db, chat["chat_id"]) == "abandoned"


async def test_a_counsellor_connected_elsewhere_keeps_their_chats_when_an_old_console_drops(
    instances: tuple[ServerProcess, ServerProcess], module_db: asyncpg.Connection
) -> None:
    a, b = instances
    cookie = staff_cookie(a.url, "ola", DEMO_PASSWORD)
    old, _ = await open_console(a.url, cookie)
    await send(old, "resume", last_seqs={})
    await send(old, "status", status="available")
    await receive(old, "status")
    chat = start_chat(b.url, "46", language="nn")
    seeker = await open_seeker(b.url, chat["token"])
    await send(old, "accept", chat_id=(await receive(old, "offer"))["chat_id"])
    await receive(seeker, "assigned")
    new, hello = await open_console(b.url, cookie)  # the same counsellor, another network
    assert [c["chat_id"] for c in hello["chats"]] == [chat["chat_id"]]
    await send(new, "resume", last_seqs={})
    await old.close()
    await asyncio.sleep(GRACE * 2)
    # Still hers: she writes and the seeker reads it.
    await send(new, "message", chat_id=chat["chat_id"], client_id="o1", text="Fremdeles her")
    assert (await receive(seeker, "message"))["text"] == "Fremdeles her"
    assert await state_of(module_db, chat["chat_id"]) == "active"
    await send(new, "end", chat_id=chat["chat_id"])
    await receive(seeker, "ended")
    await send(new, "status", status="offline")
    await new.close()
    await seeker.close()


async def test_a_chat_whose_seeker_never_connected_is_let_go_and_never_offered(
    instances: tuple[ServerProcess, ServerProcess], module_db: asyncpg.Connection
) -> None:
    a, _ = instances
    chat = start_chat(a.url, "46", language="nn")  # the page closed before its socket opened
    for _ in range(200):
        await asyncio.sleep(0.25)
        if await state_of(module_db, chat["chat_id"]) == "abandoned":
            break
    assert await state_of(module_db, chat["chat_id"]) == "abandoned"
