"""Retention: purging the words of chats that ended more than the configured number of days ago.

A chat's row stays, with what reports need: times, county, queue, routing, the survey score,
the wrap-up category and topics. Its words go: message and internal note texts (the rows stay,
text NULL, so counts and times still add up), their client ids, the topic, the survey comment,
the wrap-up note, and the resume token's hash. The chat is marked `purged_at`, which the next run
skips and which refuses anything appended afterwards.

A chat the record never saw close (a crash left it `waiting` or `active`) counts from when it
started: after the retention time it is long abandoned.

Chats are purged in batches, each in its own short transaction, so no table is locked long; the
chat rows of a batch are locked first (as the seeker's delete does), so a message or survey
answer arriving at that moment is either purged or refused.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

# Chats per transaction: a few thousand message rows at most, a transaction of well under a
# second, short enough that the chats being written to never wait long for one.
BATCH = 200

_TAKE_BATCH = """
WITH due AS (
    SELECT id FROM chat_sessions
    WHERE purged_at IS NULL AND coalesce(ended_at, created_at) < $1
    ORDER BY coalesce(ended_at, created_at)
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE chat_sessions c
SET purged_at = $3, topic = NULL, resume_token_hash = NULL, resume_expires_at = NULL
FROM due WHERE c.id = due.id
RETURNING c.id
"""


async def purge_batch(
    conn: asyncpg.Connection, cutoff: datetime, now: datetime, batch: int = BATCH
) -> list[uuid.UUID]:
    """Purge the words of up to `batch` chats that ended before `cutoff`, in one transaction;
    return their ids (empty when none is left)."""
    async with conn.transaction():
        ids = [row["id"] for row in await conn.fetch(_TAKE_BATCH, cutoff, batch, now)]
        if not ids:
            return []
        await conn.execute(
            """UPDATE messages SET body = NULL, client_id = NULL
               WHERE chat_id = ANY($1) AND (body IS NOT NULL OR client_id IS NOT NULL)""",
            ids,
        )
        await conn.execute(
            """UPDATE chat_notes SET body = NULL, client_id = NULL
               WHERE chat_id = ANY($1) AND (body IS NOT NULL OR client_id IS NOT NULL)""",
            ids,
        )
        await conn.execute(
            """UPDATE survey_answers SET comment = NULL
               WHERE chat_id = ANY($1) AND comment IS NOT NULL""",
            ids,
        )
        await conn.execute(
            "UPDATE wrap_ups SET note = NULL WHERE chat_id = ANY($1) AND note IS NOT NULL", ids
        )
    return ids


async def purge_expired(
    conn: asyncpg.Connection, cutoff: datetime, now: datetime, batch: int = BATCH
) -> int:
    """Purge every chat that ended before `cutoff`, batch after batch; return how many.
    Idempotent: a second run finds nothing left to purge."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    purged = 0
    while True:
        ids = await purge_batch(conn, cutoff, now, batch)
        purged += len(ids)
        if len(ids) < batch:
            return purged
