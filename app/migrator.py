"""Applies the numbered SQL files in `migrations/`, in order, each exactly once.

Each file runs in its own transaction together with the row that records it, so a failing file
leaves nothing half-applied. A session-level advisory lock serialises migrators: when two
instances start at the same moment, the second waits, then finds nothing left to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from app.database import ensure_database
from app.logs import get_logger

log = get_logger(__name__)

# An arbitrary constant shared by every eguide migrator: "eguide" as bytes, read as an integer.
MIGRATION_LOCK_ID = int.from_bytes(b"eguide", "big")

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


class MigrationError(RuntimeError):
    """The migration files are inconsistent, or one failed to apply."""


def available_migrations() -> list[Migration]:
    """Every migration file shipped with the package, in version order."""
    found: dict[int, Migration] = {}
    for entry in resources.files("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migration files share version {version:04d}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def applied_versions(conn: asyncpg.Connection) -> set[int]:
    """Versions recorded as applied; empty when the ledger does not exist yet."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return set()
    rows = await conn.fetch("SELECT version FROM schema_migrations")
    return {row["version"] for row in rows}


async def pending_migrations(conn: asyncpg.Connection) -> list[Migration]:
    """Migrations shipped but not applied to this database."""
    applied = await applied_versions(conn)
    return [m for m in available_migrations() if m.version not in applied]


async def migrate(database_url: str) -> list[Migration]:
    """Create the database if needed and apply every pending migration; return those applied."""
    await ensure_database(database_url)
    migrations = available_migrations()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
            await conn.execute(_CREATE_LEDGER)
            applied = await applied_versions(conn)
            done: list[Migration] = []
            for migration in migrations:
                if migration.version in applied:
                    continue
                try:
                    async with conn.transaction():
                        await conn.execute(migration.sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                            migration.version,
                            migration.name,
                        )
                except asyncpg.PostgresError as error:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} failed: {error}"
                    ) from error
                log.info("db.migration_applied", version=migration.version, name=migration.name)
                done.append(migration)
            return done
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    finally:
        await conn.close()
