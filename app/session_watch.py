"""Sockets opened with a staff session close the moment that session ends, on every instance.

Ending a session (sign-out, a disabled account, a changed password) publishes the ended session
hashes on one Redis channel; each instance listens and closes its sockets opened with them
(close code 4410). Pub/sub can miss a message while its connection is down, so every
`CHECK_SECONDS`, and after every reconnect, each socket's session is looked up again; the
same look-up pushes the session's idle expiry on, since an open console is in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis
import structlog

from app.keys import AppKeys
from app.sessions import SessionStore, StaffSession

log = structlog.stdlib.get_logger(__name__)

# How often open sockets' sessions are looked up again: the bound on how long a socket can
# outlive its session if the ended-session message was lost.
CHECK_SECONDS = 30.0
RECONNECT_DELAY = 1.0

Closer = Callable[[], None]


class SessionWatch:
    """This instance's sockets by the session they were opened with."""

    def __init__(self, client: redis.Redis, keys: AppKeys, sessions: SessionStore) -> None:
        self._client = client
        self._keys = keys
        self._sessions = sessions
        self._open: dict[str, set[Closer]] = {}  # session hash -> how to close its sockets

    def watch(self, session: StaffSession, close: Closer) -> None:
        self._open.setdefault(session.token_hash, set()).add(close)

    def forget(self, session: StaffSession, close: Closer) -> None:
        closers = self._open.get(session.token_hash)
        if closers is not None:
            closers.discard(close)
            if not closers:
                del self._open[session.token_hash]

    def ended(self, token_hashes: list[str]) -> int:
        """Close every socket opened with one of these sessions; how many were closed."""
        closed = 0
        for token_hash in token_hashes:
            for close in self._open.pop(token_hash, set()):
                close()
                closed += 1
        if closed:
            log.info("session.sockets_closed", sockets=closed)
        return closed

    async def check(self) -> None:
        """Look every watched session up again; close the sockets of those gone."""
        hashes = list(self._open)
        if hashes:
            alive = await self._sessions.alive(hashes)
            self.ended([h for h, live in zip(hashes, alive, strict=True) if not live])

    async def run(self) -> None:
        """Listen for ended sessions and check periodically, until cancelled."""
        checker = asyncio.create_task(self._check_periodically())
        try:
            while True:
                try:
                    await self._listen()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("session.watch_lost", exc_info=True)
                await asyncio.sleep(RECONNECT_DELAY)
        finally:
            checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checker

    async def _listen(self) -> None:
        pubsub: Any = self._client.pubsub()
        try:
            await pubsub.subscribe(self._keys.sessions_ended())
            while True:
                message = await pubsub.get_message(timeout=CHECK_SECONDS)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    await self.check()  # anything ended while not listening
                elif message["type"] == "message":
                    self.ended(list(json.loads(message["data"]).get("sessions", [])))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _check_periodically(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                await self.check()
            except (OSError, redis.RedisError):
                log.warning("session.check_failed", exc_info=True)
