"""The retention purge as the operator and the server run it: `eguide purge`, and a daily task
in every instance of which one, holding a Redis lock, does the work.

Each run is audited (how many chats, the retention, the cutoff) and logged with the same
figures; never any text.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import asyncpg
import redis.asyncio as redis

from app import audit
from app.keys import AppKeys
from app.logs import get_logger
from app.settings import Settings
from chat.retention import purge_expired

log = get_logger(__name__)

# How often an instance asks whether a purge is due: often enough that a purge is at most this
# late after the lock of the last one expired, whatever the instances' restarts.
CHECK_SECONDS = 3600.0


async def purge(conn: asyncpg.Connection, retention_days: int, by: str) -> int:
    """Purge every chat that ended more than `retention_days` ago; audit and log the run;
    return how many chats were purged. `by` says who ran it (`command`, `daily`)."""
    now = datetime.now(UTC)
    cutoff = now - timedelta(days=retention_days)
    purged = await purge_expired(conn, cutoff, now)
    await audit.record(
        conn,
        "retention.purge",
        target_type="chats",
        detail={
            "chats": purged,
            "retention_days": retention_days,
            "cutoff": cutoff.isoformat(),
            "by": by,
        },
    )
    log.info("retention.purged", chats=purged, retention_days=retention_days, by=by)
    return purged


async def run_daily_purge(
    settings: Settings, db: asyncpg.Pool, client: redis.Redis, keys: AppKeys, instance: str
) -> None:
    """Until cancelled: whenever no instance has purged within the last purge interval, take
    the lock and purge. The lock is kept for the interval (not released after the run), so one
    run per interval across all instances; a failed run lets it go, so the next check retries."""
    interval = settings.purge_interval_seconds
    while True:
        lock = keys.purge_lock()
        try:
            if await client.set(lock, instance, nx=True, ex=interval):
                try:
                    async with db.acquire() as conn:
                        await purge(conn, settings.retention_days, "daily")
                except (OSError, asyncpg.PostgresError) as error:
                    log.warning("retention.purge_failed", error=type(error).__name__)
                    with contextlib.suppress(OSError, redis.RedisError):
                        await client.delete(lock)
        except (OSError, redis.RedisError) as error:
            log.warning("retention.lock_failed", error=type(error).__name__)
        await asyncio.sleep(min(float(interval), CHECK_SECONDS))
