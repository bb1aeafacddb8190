"""Redis keeps nothing on disk: when it loses the routing state, the waiting chats come back
from PostgreSQL in their original order."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import redis.asyncio as redis

from app.routing_config import build_config
from app.settings import load_settings
from queueing.keys import RoutingKeys
from queueing.model import UNANSWERED, State
from queueing.redis_queue import RedisQueue
from tests.support.aio import run_sync
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess
from tests.support.sockets import start_chat


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
