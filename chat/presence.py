"""Whether a seeker or counsellor is connected anywhere, across instances.

A dropped connection starts a grace time only when it was the person's last one on any
instance. Without this, a phone that moved networks opens a new socket on instance B while its
old one on A still looks open (dead connections are found by pings, tens of seconds later);
when A finally notices, the grace time would start while the person is connected on B, and run
out, abandoning the seeker or taking a counsellor's chats away.

Each open socket is an entry in a Redis hash per person, valued with the moment it stops
counting unless refreshed; every instance refreshes its own entries well before that, so the
entries of an instance that died stop counting by themselves.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import redis.asyncio as redis
import structlog

log = structlog.stdlib.get_logger(__name__)

# An entry counts this long after its last refresh; instances refresh every third of it.
ENTRY_SECONDS = 60.0
REFRESH_SECONDS = ENTRY_SECONDS / 3


class Presence:
    """This instance's open sockets, as entries in Redis."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = f"{prefix}presence:"
        self._instance = uuid.uuid4().hex[:12]
        self._local: dict[str, set[str]] = {}  # key -> this instance's entries

    def key(self, role: str, subject: str) -> str:
        """The hash of a seeker's chat (`seeker`, chat id) or a counsellor (`counsellor`, id)."""
        return f"{self._prefix}{role}:{subject}"

    def entry(self, connection: object) -> str:
        return f"{self._instance}:{id(connection):x}"

    async def join(self, role: str, subject: str, connection: object) -> None:
        key, entry = self.key(role, subject), self.entry(connection)
        self._local.setdefault(key, set()).add(entry)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(key, entry, repr(time.time() + ENTRY_SECONDS))
            pipe.expire(key, int(ENTRY_SECONDS * 2))
            await pipe.execute()

    async def leave(self, role: str, subject: str, connection: object) -> bool:
        """Drop the socket's entry; True when no socket of the person counts any more."""
        key, entry = self.key(role, subject), self.entry(connection)
        entries = self._local.get(key)
        if entries is not None:
            entries.discard(entry)
            if not entries:
                del self._local[key]
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hdel(key, entry)
            pipe.hgetall(key)
            _, remaining = await pipe.execute()
        now = time.time()
        return not any(float(until) > now for until in remaining.values())

    async def run(self) -> None:
        """Refresh this instance's entries, until cancelled."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                until = repr(time.time() + ENTRY_SECONDS)
                async with self._client.pipeline(transaction=False) as pipe:
                    for key, entries in list(self._local.items()):
                        pipe.hset(key, mapping=dict.fromkeys(entries, until))
                        pipe.expire(key, int(ENTRY_SECONDS * 2))
                    await pipe.execute()
            except (OSError, redis.RedisError):
                log.warning("presence.refresh_failed", exc_info=True)
