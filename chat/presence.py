"""Whether a seeker or counsellor is connected anywhere, across instances.

A dropped connection starts a grace time only when it was the person's last one on any
instance. Without this, a phone that moved networks opens a new socket on instance B while its
old one on A still looks open (dead connections are found by pings, tens of seconds later);
when A finally notices, the grace time would start while the person is connected on B, and run
out, abandoning the seeker or taking a counsellor's chats away.

Each open socket is an entry in a Redis hash per person, valued with the moment it stops
counting unless refreshed; every instance refreshes its own entries well before that, so the
entries of an instance that died stop counting by themselves. A sweep (`to_disconnect`) finds
whom the router still counts as connected without any socket, and starts their grace time.

A sweep can be wrong: while an instance cannot reach Redis for longer than an entry counts, or
after Redis restarted empty, its people have no entry that counts until its next refresh. So
after every refresh an instance cancels whatever grace time the router runs for someone with a
socket open here (`RoutingService.reclaim_present`): well within the grace time, a person
still connected is counted as connected again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as redis
import structlog

log = structlog.stdlib.get_logger(__name__)

# An entry counts this long after its last refresh; instances refresh every third of it.
ENTRY_SECONDS = 60.0
REFRESH_SECONDS = ENTRY_SECONDS / 3
# A new chat's seeker connects right after starting it; one who has not within this long
# closed the page (or never will): their chat must not be offered to a counsellor for nothing.
FIRST_CONNECT_SECONDS = 15.0
# How often one instance looks for people the router counts as connected who are not.
SWEEP_SECONDS = 15.0


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

    def here(self, role: str) -> list[str]:
        """The people of `role` with a socket open on this instance."""
        prefix = self.key(role, "")
        return [key.removeprefix(prefix) for key in self._local if key.startswith(prefix)]

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

    async def absent(self, role: str, subjects: list[str]) -> set[str]:
        """Which of these people have no socket that counts, on any instance."""
        async with self._client.pipeline(transaction=False) as pipe:
            for subject in subjects:
                pipe.hgetall(self.key(role, subject))
            found = await pipe.execute()
        now = time.time()
        return {
            subject
            for subject, entries in zip(subjects, found, strict=True)
            if not any(float(until) > now for until in entries.values())
        }

    async def refresh(self) -> None:
        """Make this instance's entries count for another ENTRY_SECONDS."""
        until = repr(time.time() + ENTRY_SECONDS)
        async with self._client.pipeline(transaction=False) as pipe:
            for key, entries in list(self._local.items()):
                pipe.hset(key, mapping=dict.fromkeys(entries, until))
                pipe.expire(key, int(ENTRY_SECONDS * 2))
            await pipe.execute()

    async def run(self, refreshed: Callable[[], Awaitable[None]] | None = None) -> None:
        """Refresh this instance's entries, then call `refreshed`, until cancelled. Nothing
        `refreshed` raises stops the refreshing: without it every socket here stops counting."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
            except (OSError, redis.RedisError):
                log.warning("presence.refresh_failed", exc_info=True)
                continue
            if refreshed is not None:
                try:
                    await refreshed()
                except Exception:
                    log.warning("presence.after_refresh_failed", exc_info=True)


def to_disconnect(
    chats: list[tuple[str, float, bool]],
    counsellors: list[tuple[str, str, bool]],
    absent_seekers: set[str],
    absent_counsellors: set[str],
    now: float,
) -> tuple[list[str], list[str]]:
    """Who the router still counts as connected but has no socket anywhere: a seeker whose
    instance died, or who started a chat and closed the page before connecting (after
    `FIRST_CONNECT_SECONDS`), and a counsellor whose instance died. Each then gets the grace
    time, as after any dropped connection; a socket that comes back within it carries on."""
    seekers = [
        chat_id
        for chat_id, arrived, in_grace in chats
        if not in_grace and chat_id in absent_seekers and now - arrived > FIRST_CONNECT_SECONDS
    ]
    staff = [
        counsellor_id
        for counsellor_id, status, in_grace in counsellors
        if status != "offline" and not in_grace and counsellor_id in absent_counsellors
    ]
    return seekers, staff
