"""Migrations: applied in order, each exactly once, even by two migrators at the same moment."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app import migrator
from app.database import drop_database
from app.migrator import Migration, MigrationError, available_migrations, migrate
from tests.support.aio import run_sync
from tests.support.environment import RunEnvironment, database_url_named, unique_name


@pytest.fixture
async def fresh_database_url() -> AsyncIterator[str]:
    url = database_url_named(unique_name("eguide_migrate"))
    yield url
    await drop_database(url)


async def _ledger(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        return [row["version"] for row in rows]
    finally:
        await conn.close()


def test_migration_files_are_numbered_without_gaps() -> None:
    versions = [m.version for m in available_migrations()]
    assert versions == list(range(1, len(versions) + 1))


async def test_migrate_creates_the_database_and_applies_everything_once(
    fresh_database_url: str,
) -> None:
    applied = await migrate(fresh_database_url)
    assert [m.version for m in applied] == [m.version for m in available_migrations()]
    assert await migrate(fresh_database_url) == []
    assert await _ledger(fresh_database_url) == [m.version for m in available_migrations()]


async def test_first_migrations_create_the_fifteen_counties_and_the_national_team(
    fresh_database_url: str,
) -> None:
    await migrate(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        centres = {r["id"]: r["name"] for r in await conn.fetch("SELECT id, name FROM centres")}
        troms = await conn.fetchrow("SELECT * FROM counties WHERE number = '55'")
    finally:
        await conn.close()
    assert len(centres) == 16
    assert centres["03"] == "Karrieresenteret i Oslo"
    assert centres["national"] == "Nasjonalt team"
    assert troms["name"] == "Troms"
    assert troms["other_names"] == ["Romsa", "Tromssa"]


async def test_two_migrators_at_the_same_moment_apply_each_file_once(
    fresh_database_url: str,
) -> None:
    results = await asyncio.gather(*(migrate(fresh_database_url) for _ in range(4)))
    applied_counts = sorted(len(result) for result in results)
    assert applied_counts == [0, 0, 0, len(available_migrations())]
    assert await _ledger(fresh_database_url) == [m.version for m in available_migrations()]


def test_two_migrate_commands_started_together_both_succeed(
    test_env: RunEnvironment,
) -> None:
    url = database_url_named(unique_name("eguide_migrate"))
    env = test_env.variables(DATABASE_URL=url)
    try:
        commands = [
            subprocess.Popen(
                [sys.executable, "-m", "app", "migrate"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [command.communicate(timeout=60) for command in commands]
        assert [command.returncode for command in commands] == [0, 0], outputs
        said = sorted(out for out, _ in outputs)
        assert said[0].startswith("applied 0001_") or said[1].startswith("applied 0001_")
        assert "database is up to date\n" in said
        assert run_sync(_ledger(url)) == [m.version for m in available_migrations()]
    finally:
        run_sync(drop_database(url))


async def test_a_failing_migration_leaves_nothing_half_applied(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = available_migrations()
    broken = Migration(
        len(shipped) + 1,
        "broken",
        "CREATE TABLE half_done (id int); INSERT INTO no_such_table VALUES (1);",
    )
    monkeypatch.setattr(migrator, "available_migrations", lambda: [*shipped, broken])
    with pytest.raises(MigrationError, match="broken"):
        await migrate(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
    finally:
        await conn.close()
    assert await _ledger(fresh_database_url) == [m.version for m in shipped]


async def test_audit_log_rows_cannot_be_changed(fresh_database_url: str) -> None:
    await migrate(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await conn.execute("INSERT INTO audit_log (action) VALUES ('test.entry')")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE audit_log SET action = 'changed'")
    finally:
        await conn.close()
