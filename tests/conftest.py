"""Shared fixtures: this run's own database and Redis prefix, removed afterwards, and servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as redis
from hypothesis import settings

from app.database import drop_database
from app.migrator import migrate
from app.seed import seed_demo
from tests.support.aio import run_sync
from tests.support.environment import RunEnvironment, new_run_environment
from tests.support.server import ServerProcess

# Property tests share two cores with servers, PostgreSQL and Redis started by other tests: a
# per-example deadline would fail on the machine's noise, not on the code.
settings.register_profile("eguide", deadline=None)
settings.load_profile("eguide")


async def _delete_prefixed(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


def _prepared_environment() -> Iterator[RunEnvironment]:
    env = new_run_environment()

    async def prepare() -> None:
        await migrate(env.database_url)
        conn = await asyncpg.connect(env.database_url)
        try:
            await seed_demo(conn)
        finally:
            await conn.close()

    run_sync(prepare())
    yield env
    run_sync(drop_database(env.database_url))
    run_sync(_delete_prefixed(env.redis_url, env.redis_prefix))


@pytest.fixture(scope="session")
def test_env() -> Iterator[RunEnvironment]:
    """A migrated database with demo data and a Redis prefix of this run's own."""
    yield from _prepared_environment()


@pytest.fixture(scope="module")
def module_env() -> Iterator[RunEnvironment]:
    """A database and Redis prefix of one test module's own, for tests of the live queue: the
    service rebuilds its queue from every chat the database says is waiting, so a module that
    watches the queue must not see chats other modules left waiting."""
    yield from _prepared_environment()


@pytest.fixture(scope="session")
def server(
    test_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One eguide instance serving the test database."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with ServerProcess(test_env.variables(), log) as process:
        yield process


@pytest.fixture
async def db(test_env: RunEnvironment) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(test_env.database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def module_db(module_env: RunEnvironment) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the database of the module's own (`module_env`)."""
    conn = await asyncpg.connect(module_env.database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def redis_client(test_env: RunEnvironment) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(test_env.redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


def pytest_configure(config: pytest.Config) -> None:
    Path(config.rootpath, "tests", "screenshots").mkdir(exist_ok=True)
