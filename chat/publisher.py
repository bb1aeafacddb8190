"""Publishing on Redis pub/sub in batches: one write for whatever is published meanwhile.

Every message a chat's side sends is published once, and every message a socket receives sends
a `delivered` signal back: two PUBLISH commands a message, each costing a Redis round trip and
a pass through the client library. Here one task sends them: everything published while the
previous batch was on its way goes out in the next one, as one pipeline (one write, one read).
An idle instance publishes at once; a busy one sends fewer, larger writes, so the cost of a
message falls as the load rises instead of queueing behind it.

Order is kept: batches go one after another on one connection, and Redis delivers a
connection's publications in the order it received them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import redis.asyncio as redis
import structlog

log = structlog.stdlib.get_logger(__name__)

# The most publications in one pipeline; more wait for the next.
MAX_BATCH = 256
# Signals (sent without waiting) are dropped rather than queued beyond this many publications
# waiting: while Redis is unreachable they would pile up, and are stale by the time it is back.
MAX_WAITING_SIGNALS = 10_000
# A batch Redis has not answered within this fails (a connection gone silent without closing):
# one stuck write must not hold every later publication behind it.
SEND_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Publication:
    channel: str
    payload: str
    # Set when Redis has taken it (or failed to); None when nobody waits for it.
    done: asyncio.Future[None] | None


class Publisher:
    """Sends publications in order, in batches, from one task (`run`)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._waiting: list[Publication] = []
        self._ready = asyncio.Event()
        self.dropped = 0  # signals dropped with too many publications waiting

    async def publish(self, channel: str, payload: str) -> None:
        """Publish, and return once Redis has it; raises what sending it raised."""
        done = asyncio.get_running_loop().create_future()
        self._add(Publication(channel, payload, done))
        await done

    def publish_soon(self, channel: str, payload: str) -> None:
        """Publish without waiting (signals that may be lost: typing, read, delivered); dropped
        when MAX_WAITING_SIGNALS publications are waiting already."""
        if len(self._waiting) >= MAX_WAITING_SIGNALS:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % MAX_WAITING_SIGNALS == 0:
                log.warning("chat.signals_dropped", dropped=self.dropped)
            return
        self._add(Publication(channel, payload, None))

    def _add(self, publication: Publication) -> None:
        self._waiting.append(publication)
        self._ready.set()

    async def run(self) -> None:
        """Send batches until cancelled; what is still waiting then fails."""
        try:
            while True:
                await self._ready.wait()
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                if not self._waiting:
                    self._ready.clear()
                await self._send(batch)
        finally:
            waiting, self._waiting = self._waiting, []
            _settle(waiting, ConnectionError("publisher stopped"))

    async def _send(self, batch: list[Publication]) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                async with self._client.pipeline(transaction=False) as pipe:
                    for publication in batch:
                        pipe.publish(publication.channel, publication.payload)
                    await pipe.execute()
        except asyncio.CancelledError:
            _settle(batch, ConnectionError("publisher stopped"))
            raise
        except Exception as error:  # Redis unreachable: each waiting caller hears it
            log.warning("chat.publish_failed", count=len(batch), exc_info=True)
            _settle(batch, error)
            return
        _settle(batch, None)


def _settle(publications: list[Publication], error: BaseException | None) -> None:
    """Tell whoever still waits for these publications that they went out (`error` None) or
    failed."""
    for publication in publications:
        done = publication.done
        if done is None or done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
