"""Writes what the router did to PostgreSQL, so the record matches the live state.

The routing scripts append their effects to a Redis stream. One consumer group reads it across
all instances: each entry is recorded by exactly one of them, and an entry whose recorder died
before acknowledging it is claimed by another after `CLAIM_AFTER_MS`. Entries may therefore be
recorded out of order; every state change is guarded by the entry's stream position, so an older
entry never overwrites a newer one, and each routing event is inserted once. Facts that do not
depend on the order (when the chat was first answered, its first overflow) are kept whatever
the order the entries come in.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import asyncpg
import redis.asyncio as redis
import structlog

from queueing.effect_codec import decode_effects
from queueing.effects import (
    ChatAbandoned,
    ChatAssigned,
    ChatEnded,
    ChatOverflowed,
    ChatQueued,
    ChatRequeued,
    Effect,
    OfferMade,
    OfferWithdrawn,
)

log = structlog.stdlib.get_logger(__name__)

GROUP = "recorder"
# An entry read but not acknowledged for this long belongs to a recorder that died.
CLAIM_AFTER_MS = 30_000
BLOCK_MS = 1000
BATCH = 200


def entry_number(entry_id: str) -> int:
    """A stream id "1700000000000-3" as one comparable number."""
    millis, _, seq = entry_id.partition("-")
    return int(millis) * 1_000_000_000 + int(seq or 0)


def _state_change(effect: Effect) -> tuple[str, list[Any]] | None:
    """The guarded UPDATE an effect makes to its chat's row, as SQL after SET and its values."""
    match effect:
        case ChatQueued():
            return "queue = $3", [effect.queue]
        case OfferMade():
            return "state = 'offered'", []
        case OfferWithdrawn():
            return "state = CASE WHEN state = 'offered' THEN 'waiting' ELSE state END", []
        case ChatAssigned():
            # Its answer time is a fact of its own, recorded whatever the order (below).
            return "state = 'active', counsellor_id = $3", [int(effect.counsellor_id)]
        case ChatRequeued():
            return "state = 'waiting', counsellor_id = NULL, queue = $3", [effect.queue]
        case ChatAbandoned():
            return "state = 'abandoned', ended_at = $3, end_reason = $4", ["at", str(effect.reason)]
        case ChatEnded():
            return "state = 'ended', ended_at = $3, end_reason = $4", ["at", f"by_{effect.by}"]
    return None


async def record_entry(
    conn: asyncpg.Connection, entry_id: str, at: datetime, effects: list[Effect]
) -> None:
    """Record one stream entry's effects in one transaction (idempotent)."""
    number = entry_number(entry_id)
    async with conn.transaction():
        for position, effect in enumerate(effects):
            chat_id = getattr(effect, "chat_id", None)
            counsellor = getattr(effect, "counsellor_id", None)
            detail = {k: v for k, v in asdict(effect).items() if k not in ("chat_id",)}
            await conn.execute(
                """INSERT INTO routing_events (chat_id, counsellor_id, kind, detail, at, entry,
                                               position)
                   SELECT $1, $2, $3, $4::jsonb, $5, $6, $7
                   WHERE $1::uuid IS NULL OR EXISTS (SELECT 1 FROM chat_sessions WHERE id = $1)
                   ON CONFLICT (entry, position) DO NOTHING""",
                uuid.UUID(chat_id) if chat_id else None,
                int(counsellor) if counsellor and counsellor.isdigit() else None,
                type(effect).__name__,
                json.dumps(detail, default=str),
                at,
                number,
                position,
            )
            if isinstance(effect, ChatOverflowed):
                await conn.execute(
                    """UPDATE chat_sessions
                       SET overflowed_at = coalesce(overflowed_at, $2),
                           overflow_reason = coalesce(overflow_reason, $3)
                       WHERE id = $1""",
                    uuid.UUID(effect.chat_id),
                    at,
                    str(effect.reason),
                )
            if isinstance(effect, ChatAssigned):
                # Two instances' recorders may record entries out of order: the chat's end can
                # come first, and then the guarded update below skips this one; when it was
                # first answered is kept all the same (the earliest answer, whatever came last).
                await conn.execute(
                    "UPDATE chat_sessions SET answered_at = least(answered_at, $2) WHERE id = $1",
                    uuid.UUID(effect.chat_id),
                    at,
                )
            change = _state_change(effect)
            if change is None or chat_id is None:
                continue
            assignments, values = change
            await conn.execute(
                f"UPDATE chat_sessions SET {assignments}, routing_entry = $2 "  # noqa: S608 - fixed SQL
                "WHERE id = $1 AND routing_entry <= $2",
                uuid.UUID(chat_id),
                number,
                *[at if value == "at" else value for value in values],
            )


class RoutingRecorder:
    """Follows the effects stream in the recorders' consumer group until cancelled."""

    def __init__(
        self, client: redis.Redis, stream_key: str, db: asyncpg.Pool, consumer: str
    ) -> None:
        self._redis = client
        self._key = stream_key
        self._db = db
        self._consumer = consumer

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def run(self) -> None:
        await self.ensure_group()
        while True:
            try:
                await self._claim_abandoned()
                response: Any = await self._redis.xreadgroup(
                    GROUP, self._consumer, {self._key: ">"}, count=BATCH, block=BLOCK_MS
                )
                for _key, entries in response or []:
                    await self._record(entries)
            except redis.ResponseError as error:
                if "NOGROUP" in str(error):  # Redis lost its data: the stream starts over
                    await self.ensure_group()
                    continue
                log.warning("routing.record_failed", error=type(error).__name__)
                await asyncio.sleep(1)
            except (OSError, redis.RedisError, asyncpg.PostgresError) as error:
                log.warning("routing.record_failed", error=type(error).__name__)
                await asyncio.sleep(1)

    async def _claim_abandoned(self) -> None:
        reply: list[Any] = await self._redis.xautoclaim(
            self._key, GROUP, self._consumer, min_idle_time=CLAIM_AFTER_MS, count=BATCH
        )
        claimed: list[tuple[str, dict[str, str]]] = reply[1]
        if claimed:
            await self._record(claimed)

    async def _record(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        async with self._db.acquire() as conn:
            for entry_id, fields in entries:
                if not fields:  # deleted by MAXLEN trimming before it was read
                    await self._redis.xack(self._key, GROUP, entry_id)
                    continue
                at = datetime.fromtimestamp(float(fields.get("at", 0)), UTC)
                await record_entry(conn, entry_id, at, decode_effects(fields["effects"]))
                await self._redis.xack(self._key, GROUP, entry_id)
