"""Limits per client address on what anyone may do without signing in: starting chats, and
presenting resume tokens that open nothing.

Counted in Redis in fixed windows, so they hold across instances. An IPv6 address counts by its
/64 network (one household or phone gets a whole /64, and could otherwise walk through it); an
IPv4 address by itself. The limits are set high enough that a school class or a library behind
one address is not stopped, and low enough that a script filling the queues with empty chats,
or guessing tokens, is.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import redis.asyncio as redis


@dataclass(frozen=True)
class Limit:
    """At most `allowed` counted events per address in each window of `window` seconds."""

    name: str
    allowed: int
    window: int


# A whole class starting chats in the same lesson stays under it; ten minutes of a script
# does not. (EGUIDE_CHAT_STARTS_PER_ADDRESS changes the number.)
CHAT_STARTS_WINDOW = 600
# A token is 256 random bits: nobody guesses one, but a client that keeps sending wrong ones is
# broken or probing, and is told to stop (EGUIDE_BAD_TOKENS_PER_ADDRESS, default 20).
BAD_TOKENS_WINDOW = 600


def bad_tokens(allowed: int) -> Limit:
    return Limit("bad-tokens", allowed, BAD_TOKENS_WINDOW)


def address_group(address: str | None) -> str:
    """What an address is counted as: an IPv4 address, the /64 of an IPv6 one, or "unknown"."""
    if not address:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


class AddressLimits:
    """Counts per address in Redis, under the deployment's prefix."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def _key(self, limit: Limit, address: str | None, now: float) -> tuple[str, int]:
        window = int(now // limit.window)
        ends = (window + 1) * limit.window
        key = f"{self._prefix}address-limit:{limit.name}:{address_group(address)}:{window}"
        return key, max(1, int(ends - now))

    async def count(self, limit: Limit, address: str | None, now: float) -> int | None:
        """Count one event; None if within the limit, else the seconds until the window ends."""
        key, left = self._key(limit, address, now)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, limit.window + 1, nx=True)
            counted, _ = await pipe.execute()
        return None if int(counted) <= limit.allowed else left

    async def exceeded(self, limit: Limit, address: str | None, now: float) -> int | None:
        """Whether the address is over the limit already (without counting): seconds to wait."""
        key, left = self._key(limit, address, now)
        counted = await self._client.get(key)
        return left if counted is not None and int(counted) >= limit.allowed else None
