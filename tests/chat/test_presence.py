"""A dropped connection starts the grace time only when it was the person's last one on any
instance: a seeker or counsellor who already reconnected elsewhere keeps their place."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator

import asyncpg
import pytest
import redis.asyncio as redis

from app.routing_config import load_routing_config
from app.seed import DEMO_PASSWORD
from app.settings import load_settings
from chat.presence import REFRESH_SECONDS
from queueing.events import CounsellorDisconnected, SeekerDisconnected
from queueing.redis_queue import RedisQueue
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


@pytest.fixture(scope="module")
def patient(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """One instance with the usual grace times (a minute), longer than a presence refresh."""
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:"
    )
    with ServerProcess(env, tmp_path_factory.mktemp("reclaim") / "server.log") as server:
        yield server, env


async def test_a_grace_time_started_for_someone_still_connected_ends_at_the_next_refresh(
    patient: tuple[ServerProcess, dict[str, str]],
    module_env: RunEnvironment,
    module_db: asyncpg.Connection,
) -> None:
    """A sweep took a waiting seeker and a counsellor for gone while their instance's presence
    did not count (Redis unreachable for longer than an entry counts, or restarted empty). Both
    are still connected: after its next refresh the instance has the router count them as
    connected again, long before their grace time would have let them go."""
    server, env = patient
    chat = start_chat(server.url, "46", language="nn")  # nobody on duty: it waits
    seeker = await open_seeker(server.url, chat["token"])
    console, hello = await open_console(server.url, staff_cookie(server.url, "ola", DEMO_PASSWORD))
    client = redis.Redis.from_url(module_env.redis_url, decode_responses=True)
    try:
        settings = load_settings(env)
        config = await load_routing_config(module_db, settings, time.time())
        queue = RedisQueue(client, settings.redis_prefix, config)
        who = ([chat["chat_id"]], [hello["counsellor_id"]])
        # What the mistaken sweep does.
        await queue.apply(SeekerDisconnected(chat["chat_id"]), time.time())
        await queue.apply(CounsellorDisconnected(hello["counsellor_id"]), time.time())
        assert await queue.in_grace(*who) == who
        for _ in range(int((REFRESH_SECONDS + 5) / 0.25)):
            await asyncio.sleep(0.25)
            if await queue.in_grace(*who) == ([], []):
                break
        assert await queue.in_grace(*who) == ([], [])
        assert await state_of(module_db, chat["chat_id"]) == "waiting"
        await send(seeker, "ping")
        await receive(seeker, "pong")
    finally:
        await client.aclose()
        await seeker.close()
        await console.close()
