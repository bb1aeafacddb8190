"""SessionStore against real Redis: opaque cookies, hashed keys, sliding expiry, ending all."""

from __future__ import annotations

import asyncio
import hashlib

import redis.asyncio as redis

from app.keys import AppKeys
from app.sessions import SessionStore
from app.users import User
from tests.support.environment import RunEnvironment

USER = User(
    id=987654,
    username="sessiontester",
    display_name="Session Tester",
    role="counsellor",
    national_team=False,
    languages=("nb",),
    capacity=2,
    disabled=False,
    centres=("03",),
)


def _store(client: redis.Redis, env: RunEnvironment, idle: int = 60) -> SessionStore:
    return SessionStore(client, AppKeys(env.redis_prefix + "sessions-test:"), idle)


async def test_redis_holds_only_a_hash_of_the_cookie(
    redis_client: redis.Redis, test_env: RunEnvironment
) -> None:
    store = _store(redis_client, test_env)
    token = await store.create(USER)
    assert len(token) >= 43  # 256 bits, URL-safe base64
    keys = [k async for k in redis_client.scan_iter(match=f"{test_env.redis_prefix}*")]
    assert not any(token in key for key in keys)
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert any(key.endswith(digest) for key in keys)
    session = await store.load(token)
    assert session is not None
    assert (session.user_id, session.role) == (USER.id, "counsellor")
    await store.end(session)
    assert await store.load(token) is None


async def test_unknown_or_absurd_cookies_load_nothing(
    redis_client: redis.Redis, test_env: RunEnvironment
) -> None:
    store = _store(redis_client, test_env)
    for token in ("", "nope", "x" * 10_000):
        assert await store.load(token) is None


async def test_end_all_ends_every_session_of_the_user(
    redis_client: redis.Redis, test_env: RunEnvironment
) -> None:
    store = _store(redis_client, test_env)
    tokens = [await store.create(USER) for _ in range(3)]
    assert await store.end_all(USER.id) == 3
    for token in tokens:
        assert await store.load(token) is None


async def test_sessions_that_expired_are_forgotten_from_the_users_set(
    redis_client: redis.Redis, test_env: RunEnvironment
) -> None:
    short = _store(redis_client, test_env, idle=1)
    await short.create(USER)
    await short.create(USER)
    await asyncio.sleep(1.5)
    store = _store(redis_client, test_env)
    live = await store.create(USER)
    members = await redis_client.smembers(
        AppKeys(test_env.redis_prefix + "sessions-test:").user_sessions(USER.id)
    )
    assert members == {hashlib.sha256(live.encode()).hexdigest()}
    assert await store.end_all(USER.id) == 1
