"""PostgreSQL connections: the pool the app uses, and creating the database when it is missing."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg

from app.settings import Settings


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset when a connection goes back to the pool: the app never changes a pooled
    session (no SET, LISTEN, cursors or advisory locks; the migrator's lock is on a connection
    of its own), and asyncpg rolls back a transaction left open before calling this. Its default
    reset is a round trip of four statements after every borrowing: after every chat message."""


async def create_pool(settings: Settings) -> asyncpg.Pool:
    """The app's pool; every query of a request borrows from it."""
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        # A statement that runs longer than this is a bug or a lock pile-up, not a slow page.
        command_timeout=30,
        reset=_keep_session,
    )
    assert pool is not None
    return pool


def maintenance_url(database_url: str) -> str:
    """The same server, but the always-present `postgres` database, for CREATE/DROP DATABASE."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/postgres"))


def quote_identifier(name: str) -> str:
    """A database name as a quoted SQL identifier (names come from settings, not from users)."""
    return '"' + name.replace('"', '""') + '"'


async def ensure_database(database_url: str) -> bool:
    """Create the database named in the URL if the server lacks it; true when it was created."""
    name = urlsplit(database_url).path.lstrip("/")
    conn = await asyncpg.connect(maintenance_url(database_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            await conn.execute(f"CREATE DATABASE {quote_identifier(name)}")
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            # Another migrator created it between our check and our create; PostgreSQL reports
            # that race as a unique violation on pg_database rather than a duplicate database.
            return False
        return True
    finally:
        await conn.close()


async def drop_database(database_url: str) -> None:
    """Drop the database named in the URL, closing its other connections first (tests use this)."""
    name = urlsplit(database_url).path.lstrip("/")
    conn = await asyncpg.connect(maintenance_url(database_url))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {quote_identifier(name)} WITH (FORCE)")
    finally:
        await conn.close()
