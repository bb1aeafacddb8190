"""The server's daily purge, run as each instance runs it (real Redis, real PostgreSQL), with a
purge interval of one second: it purges, audits each run, and two instances purge once per
interval between them."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from app.database import create_pool
from app.keys import AppKeys
from app.redis_client import create_redis
from app.retention_service import run_daily_purge
from app.settings import load_settings
from chat.store import append_message, create_chat
from tests.support.environment import RunEnvironment
from tests.support.records import words_left


async def old_chat(conn: asyncpg.Connection) -> uuid.UUID:
    ended = datetime.now(UTC) - timedelta(days=45)
    chat, _ = await create_chat(
        conn, county_number="11", language="nb", topic="Gammel", queue="11", now=ended
    )
    await append_message(
        conn,
        chat_id=chat.id,
        sender_role="seeker",
        sender_user_id=None,
        client_id="c1",
        body="Ring meg",
        now=ended,
    )
    await conn.execute(
        "UPDATE chat_sessions SET state = 'abandoned', ended_at = $2 WHERE id = $1",
        chat.id,
        ended,
    )
    return chat.id


async def test_two_instances_purge_once_per_interval_between_them(
    module_env: RunEnvironment,
) -> None:
    prefix = f"{module_env.redis_prefix}{secrets.token_hex(3)}:"
    settings = load_settings(
        module_env.variables(EGUIDE_PURGE_INTERVAL_SECONDS="1", EGUIDE_REDIS_PREFIX=prefix)
    )
    db = await create_pool(settings)
    client = create_redis(settings)
    keys = AppKeys(prefix)
    try:
        async with db.acquire() as conn:
            chat_id = await old_chat(conn)
            started = datetime.now(UTC)
        instances = [
            asyncio.create_task(run_daily_purge(settings, db, client, keys, name))
            for name in ("one", "two")
        ]
        try:
            async with db.acquire() as conn:
                for _ in range(100):
                    if not await words_left(conn, chat_id):
                        break
                    await asyncio.sleep(0.05)
                assert await words_left(conn, chat_id) == {}
                await asyncio.sleep(3)
        finally:
            for task in instances:
                task.cancel()
            await asyncio.gather(*instances, return_exceptions=True)
        elapsed = (datetime.now(UTC) - started).total_seconds()
        async with db.acquire() as conn:
            runs = await conn.fetch(
                """SELECT detail FROM audit_log
                   WHERE action = 'retention.purge' AND at >= $1 ORDER BY id""",
                started,
            )
        details = [json.loads(r["detail"]) for r in runs]
        assert details and all(d["by"] == "daily" for d in details)
        assert sum(d["chats"] for d in details) >= 1
        # Each instance looks every second; with the lock, one run a second between them.
        assert len(details) <= int(elapsed) + 1, (len(details), elapsed)
    finally:
        await client.aclose()
        await db.close()
