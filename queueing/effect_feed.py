"""Every instance reads the routing effects stream and hands each effect to its local listeners.

The Lua scripts append their effects to one Redis stream in the same atomic step as the
transition, so an offer made by any instance reaches the instance holding the counsellor's
socket. Reading a stream (rather than pub/sub) means a feed that reconnects to Redis carries on
from the last entry it saw instead of silently missing what happened meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis
import structlog

from queueing.effects import Effect

log = structlog.stdlib.get_logger(__name__)

# Called with each effect and the instant (epoch seconds) the router made it.
Listener = Callable[[Effect, float], Awaitable[None]]
Decoder = Callable[[str], list[Effect]]

# XREAD blocks at most this long, so a cancelled feed stops promptly and a lost connection is
# noticed within a second.
BLOCK_MS = 1000
# Entries read per call: a burst after a pause is handled in batches, never all at once.
BATCH = 500


def entry_order(entry_id: str) -> tuple[int, int]:
    """A stream entry id ("<ms>-<seq>") as something that sorts in the stream's order."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class EffectFeed:
    """Follows the effects stream from now on and calls every listener for every effect."""

    def __init__(self, client: redis.Redis, stream_key: str, decode: Decoder) -> None:
        self._redis = client
        self._key = stream_key
        self._decode = decode
        self._listeners: list[Listener] = []
        self.last_id = "$"

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def start_position(self) -> None:
        """Remember the stream's current end, so entries added after this call are all seen."""
        entries: Any = await self._redis.xrevrange(self._key, count=1)
        self.last_id = str(entries[0][0]) if entries else "0-0"

    async def run(self) -> None:
        """Deliver effects until cancelled; survives Redis hiccups by retrying from last_id."""
        if self.last_id == "$":
            await self.start_position()
        while True:
            try:
                response: Any = await self._redis.xread(
                    {self._key: self.last_id}, count=BATCH, block=BLOCK_MS
                )
            except (OSError, redis.RedisError) as error:
                log.warning("routing.feed_read_failed", error=type(error).__name__)
                await asyncio.sleep(0.5)
                continue
            for _key, entries in response:
                for entry_id, fields in entries:
                    self.last_id = entry_id
                    await self._deliver(fields.get("effects", "[]"), float(fields.get("at", 0)))

    async def _deliver(self, encoded: str, at: float) -> None:
        try:
            effects = self._decode(encoded)
        except ValueError:
            log.error("routing.feed_bad_entry")
            return
        for effect in effects:
            for listener in self._listeners:
                try:
                    await listener(effect, at)
                except Exception:  # one listener must not starve the others
                    log.exception("routing.listener_failed", effect=type(effect).__name__)
