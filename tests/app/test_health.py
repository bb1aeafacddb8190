"""/healthz and /readyz, with Redis and PostgreSQL really stopped and started again."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx

from app.local_services import start_private_postgres, start_private_redis
from app.migrator import migrate
from tests.support.aio import run_sync
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess, free_port


def _wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def _readiness(server: ServerProcess) -> httpx.Response:
    return httpx.get(server.url + "/readyz", timeout=10)


def test_healthz_and_readyz_answer_200_when_all_is_well(server: ServerProcess) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = _readiness(server)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"redis": "ok", "postgres": "ok"}}


def test_readyz_turns_503_while_redis_is_stopped_and_200_when_back(
    test_env: RunEnvironment, tmp_path: Path
) -> None:
    port = free_port()
    redis_server = start_private_redis(port, tmp_path / "redis")
    env = test_env.variables(REDIS_URL=f"redis://127.0.0.1:{port}/0")
    try:
        with ServerProcess(env, tmp_path / "server.log") as server:
            assert _readiness(server).status_code == 200
            redis_server.stop()
            down = _readiness(server)
            assert down.status_code == 503
            assert down.json()["checks"]["redis"] != "ok"
            assert down.json()["checks"]["postgres"] == "ok"
            assert httpx.get(server.url + "/healthz").status_code == 200
            redis_server = start_private_redis(port, tmp_path / "redis")
            assert _wait_for(lambda: _readiness(server).status_code == 200)
    finally:
        redis_server.stop()


def test_readyz_turns_503_while_postgres_is_stopped_and_200_when_back(
    test_env: RunEnvironment, tmp_path: Path
) -> None:
    port = free_port()
    postgres = start_private_postgres(port, tmp_path / "pg", fast=True)
    url = f"postgresql://postgres@127.0.0.1:{port}/eguide"
    try:
        run_sync(migrate(url))
        with ServerProcess(test_env.variables(DATABASE_URL=url), tmp_path / "s.log") as server:
            assert _readiness(server).status_code == 200
            postgres.stop()
            down = _readiness(server)
            assert down.status_code == 503
            assert down.json()["checks"]["postgres"] != "ok"
            assert down.json()["checks"]["redis"] == "ok"
            postgres = start_private_postgres(port, tmp_path / "pg", fast=True)
            assert _wait_for(lambda: _readiness(server).status_code == 200)
    finally:
        postgres.stop()


def test_readyz_names_migrations_that_are_not_applied(
    server: ServerProcess, test_env: RunEnvironment
) -> None:
    async def forget_last() -> asyncpg.Record:
        conn = await asyncpg.connect(test_env.database_url)
        try:
            row: asyncpg.Record = await conn.fetchrow(
                "DELETE FROM schema_migrations WHERE version = "
                "(SELECT max(version) FROM schema_migrations) RETURNING version, name"
            )
            return row
        finally:
            await conn.close()

    async def restore(row: asyncpg.Record) -> None:
        conn = await asyncpg.connect(test_env.database_url)
        try:
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                row["version"],
                row["name"],
            )
        finally:
            await conn.close()

    row = run_sync(forget_last())
    try:
        response = _readiness(server)
        assert response.status_code == 503
        expected = f"migrations not applied: {row['version']:04d}_{row['name']}"
        assert response.json()["checks"]["postgres"] == expected
    finally:
        run_sync(restore(row))
    assert _readiness(server).status_code == 200
