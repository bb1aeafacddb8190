"""Redis keeps nothing on disk: when it loses the routing state, the waiting chats come back
from PostgreSQL in their original order."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as redis

from app.routing_config import build_config
from app.seed import DEMO_PASSWORD
from app.settings import load_settings
from queueing.keys import RoutingKeys
from queueing.model import UNANSWERED, CounsellorStatus, State
from queueing.redis_queue import RedisQueue
from tests.support.aio import run_sync
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess
from tests.support.sockets import (
    open_console,
    open_counsellor,
    open_seeker,
    receive,
    send,
    staff_cookie,
    start_chat,
)


async def _waiting(redis_url: str, prefix: str, env: dict[str, str]) -> list[str]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        config = build_config([], [], frozenset(), load_settings(env))
        state: State = await RedisQueue(client, prefix, config).snapshot()
        unanswered = [c for c in state.chats.values() if c.status in UNANSWERED]
        return [c.id for c in sorted(unanswered, key=lambda c: c.order_key)]
    finally:
        await client.aclose()


async def _lose_everything(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        async for key in client.scan_iter(match=RoutingKeys(prefix).pattern(), count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


def test_waiting_chats_are_rebuilt_in_order_after_redis_lost_them(
    module_env: RunEnvironment, tmp_path: Path
) -> None:
    prefix = f"{module_env.redis_prefix}rebuild-{secrets.token_hex(3)}:"
    env = module_env.variables(EGUIDE_REDIS_PREFIX=prefix)
    with ServerProcess(env, tmp_path / "server.log") as server:
        # Nobody is signed in, so every chat waits.
        chats = [start_chat(server.url, county)["chat_id"] for county in ("03", None, "46")]
        time.sleep(0.5)
        before = run_sync(_waiting(module_env.redis_url, prefix, env))
        assert sorted(before) == sorted(chats)
        run_sync(_lose_everything(module_env.redis_url, prefix))
        deadline = time.monotonic() + 15
        after: list[str] = []
        while time.monotonic() < deadline:
            time.sleep(0.5)
            after = run_sync(_waiting(module_env.redis_url, prefix, env))
            if after:
                break
        assert after == before
        # And the service goes on routing: a new chat joins behind them.
        newest = start_chat(server.url, "03")["chat_id"]
        time.sleep(0.3)
        assert run_sync(_waiting(module_env.redis_url, prefix, env)) == [*before, newest]


async def _rebuilt_holder(redis_url: str, prefix: str, env: dict[str, str], chat_id: str) -> Any:
    """Once the state is rebuilt: the chat's holder and that counsellor's status (else None)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        config = build_config([], [], frozenset(), load_settings(env))
        state = await RedisQueue(client, prefix, config).snapshot()
        chat = state.chats.get(chat_id)
        if chat is None or chat.counsellor_id is None:
            return None
        return chat.counsellor_id, state.counsellors[chat.counsellor_id].status
    finally:
        await client.aclose()


async def test_a_chat_being_answered_stays_with_its_counsellor_after_redis_lost_it(
    module_env: RunEnvironment, tmp_path: Path
) -> None:
    prefix = f"{module_env.redis_prefix}rebuild-{secrets.token_hex(3)}:"
    env = module_env.variables(EGUIDE_REDIS_PREFIX=prefix)
    with ServerProcess(env, tmp_path / "server.log") as server:
        ingrid = await open_counsellor(
            server.url, staff_cookie(server.url, "ingrid", DEMO_PASSWORD)
        )
        await send(ingrid, "resume", last_seqs={})
        await send(ingrid, "status", status="available")
        # Trøndelag, in nynorsk: no chat the other test left waiting competes for Ingrid.
        chat = start_chat(server.url, "50", language="nn")
        seeker = await open_seeker(server.url, chat["token"])
        await send(ingrid, "accept", chat_id=(await receive(ingrid, "offer"))["chat_id"])
        await receive(seeker, "assigned")
        record = await asyncpg.connect(module_env.database_url)
        try:  # the rebuild reads the record: wait for the recorder to write the answer
            for _ in range(100):
                state = await record.fetchval(
                    "SELECT state FROM chat_sessions WHERE id = $1::uuid", chat["chat_id"]
                )
                if state == "active":
                    break
                await asyncio.sleep(0.1)
            assert state == "active"
        finally:
            await record.close()

        await _lose_everything(module_env.redis_url, prefix)
        holder = None
        async with asyncio.timeout(20):
            while holder is None or holder[1] is not CounsellorStatus.AVAILABLE:
                await asyncio.sleep(0.5)
                holder = await _rebuilt_holder(module_env.redis_url, prefix, env, chat["chat_id"])
        # The chat is still Ingrid's, her open console said so, and she is available again.
        assert holder[0] == (await receive_hello_id(server, "ingrid"))
        await send(ingrid, "message", chat_id=chat["chat_id"], client_id="k1", text="Fortsatt her")
        assert (await receive(seeker, "message"))["text"] == "Fortsatt her"
        await send(ingrid, "end", chat_id=chat["chat_id"])
        assert (await receive(seeker, "ended"))["by"] == "counsellor"
        await send(ingrid, "status", status="offline")
        await ingrid.close()
        await seeker.close()


async def receive_hello_id(server: ServerProcess, username: str) -> str:
    """The router's id of a staff member, as their console's hello gives it."""
    socket, hello = await open_console(
        server.url, staff_cookie(server.url, username, DEMO_PASSWORD)
    )
    await socket.close()
    return str(hello["counsellor_id"])
