"""Server-side staff sessions in Redis, behind an opaque cookie.

The cookie holds 256 random bits; Redis holds only their SHA-256. A session expires after
`session_idle_seconds` without a request, and ends at once on sign-out or when its user is
disabled.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as redis

from app.keys import AppKeys
from app.users import User


@dataclass(frozen=True)
class StaffSession:
    """What a request knows about the signed-in user, without asking PostgreSQL."""

    token_hash: str
    user_id: int
    username: str
    display_name: str
    role: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Creates, loads (sliding the expiry) and ends staff sessions."""

    def __init__(self, client: redis.Redis, keys: AppKeys, idle_seconds: int) -> None:
        self._redis = client
        self._keys = keys
        self._idle = idle_seconds

    async def create(self, user: User) -> str:
        """Start a session for the user; return the cookie value."""
        token = secrets.token_urlsafe(32)
        token_hash = _hash(token)
        key = self._keys.session(token_hash)
        await self._forget_expired(user.id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "user_id": user.id,
                    "username": user.username,
                    "display_name": user.display_name,
                    "role": user.role,
                    "created": int(time.time()),
                },
            )
            pipe.expire(key, self._idle)
            pipe.sadd(self._keys.user_sessions(user.id), token_hash)
            await pipe.execute()
        return token

    async def _forget_expired(self, user_id: int) -> None:
        """Drop hashes of sessions that expired by themselves from the user's set."""
        members_key = self._keys.user_sessions(user_id)
        hashes = [str(h) for h in await self._redis.smembers(members_key)]
        if not hashes:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for token_hash in hashes:
                pipe.exists(self._keys.session(token_hash))
            alive = await pipe.execute()
        expired = [h for h, live in zip(hashes, alive, strict=True) if not live]
        if expired:
            await self._redis.srem(members_key, *expired)

    async def load(self, token: str) -> StaffSession | None:
        """The session behind a cookie, its expiry pushed on; None when unknown or expired."""
        if not token or len(token) > 128:
            return None
        token_hash = _hash(token)
        key = self._keys.session(token_hash)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.expire(key, self._idle, xx=True)
            data, _ = await pipe.execute()
        if not data:
            return None
        return StaffSession(
            token_hash=token_hash,
            user_id=int(data["user_id"]),
            username=data["username"],
            display_name=data["display_name"],
            role=data["role"],
        )

    async def end(self, session: StaffSession) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.session(session.token_hash))
            pipe.srem(self._keys.user_sessions(session.user_id), session.token_hash)
            await pipe.execute()
        await self._announce_ended(session.user_id, [session.token_hash])

    async def alive(self, token_hashes: list[str]) -> list[bool]:
        """Whether each session still exists, its idle expiry pushed on: a console with an
        open socket is in use, even when it makes no HTTP requests."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for token_hash in token_hashes:
                pipe.expire(self._keys.session(token_hash), self._idle, xx=True)
            return [bool(found) for found in await pipe.execute()]

    async def _announce_ended(self, user_id: int, token_hashes: list[str]) -> None:
        """Tell every instance, so sockets opened with these sessions close at once."""
        await self._redis.publish(
            self._keys.sessions_ended(),
            json.dumps({"user_id": user_id, "sessions": token_hashes}),
        )

    async def end_all(self, user_id: int) -> int:
        """End every session of a user (disabled, or signed out everywhere); return how many."""
        members_key = self._keys.user_sessions(user_id)
        hashes = [str(h) for h in await self._redis.smembers(members_key)]
        async with self._redis.pipeline(transaction=True) as pipe:
            for token_hash in hashes:
                pipe.delete(self._keys.session(token_hash))
            pipe.delete(members_key)
            results = await pipe.execute()
        await self._announce_ended(user_id, hashes)
        return sum(1 for r in results[:-1] if r)
