"""Sign-in attempts limited per account and per client address, with a growing wait.

An account (the username as typed, whether or not it exists) or an address that has failed
`allowed` times must wait before each further attempt: the first wait after `allowed` failures,
doubling with every failure after that, up to `LONGEST_WAIT_SECONDS`. An attempt made while
waiting is refused without checking the password and counts for nothing. A counter is
forgotten `WINDOW_SECONDS` after its last failure (and wait); a successful sign-in forgets its
account's counter, never its address's, so one good password cannot clear an address that is
guessing at others. Counters live in Redis, so every instance sees the same ones.

`wait_after` is the rule; `lua/signin_failed.lua` carries it out atomically in Redis.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import redis.asyncio as redis

from app.keys import AppKeys
from app.settings import Settings

# A person who mistypes a few times and comes back after a quarter of an hour starts afresh;
# a guesser keeps paying the full, doubled wait.
WINDOW_SECONDS = 15 * 60
# The longest wait: long enough to make guessing hopeless (about four guesses an hour), short
# enough that someone locked out by another's guessing is not kept out for the day.
LONGEST_WAIT_SECONDS = 15 * 60


def wait_after(failures: int, allowed: int, first: float, longest: float) -> float:
    """Seconds the next attempt must wait after `failures` failures: none up to `allowed`,
    then `first`, doubling with each further failure, never more than `longest`."""
    if failures < allowed:
        return 0.0
    doublings = failures - allowed
    if doublings > 40:
        return longest
    return float(min(first * 2**doublings, longest))


def address_bucket(address: str | None) -> str:
    """The address a limit counts against: an IPv4 address, or an IPv6 client's /64 (one
    household or phone gets a whole /64, and could otherwise pick a fresh address for each
    attempt)."""
    if not address:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False))
    return str(parsed)


@dataclass(frozen=True)
class SigninLimits:
    """How many failures an account and an address may have before they wait, and the first
    wait in seconds."""

    account_failures: int
    address_failures: int
    first_delay: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SigninLimits:
        return cls(
            account_failures=settings.signin_account_failures,
            address_failures=settings.signin_address_failures,
            first_delay=float(settings.signin_first_delay_seconds),
        )


class SigninLimiter:
    """The shared counters in Redis: ask before an attempt, report its outcome after."""

    def __init__(
        self,
        client: redis.Redis,
        keys: AppKeys,
        limits: SigninLimits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._limits = limits
        self._clock = clock
        source = (resources.files("app") / "lua" / "signin_failed.lua").read_text()
        self._failed = client.register_script(source)

    def _account_key(self, username: str) -> str:
        return self._keys.signin_account(username.strip().lower()[:63])

    def _address_key(self, address: str | None) -> str:
        return self._keys.signin_address(address_bucket(address))

    async def wait(self, username: str, address: str | None) -> int:
        """Whole seconds before this account and address may try again; 0 when they may now."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._account_key(username), "until")
            pipe.hget(self._address_key(address), "until")
            found = await pipe.execute()
        until_ms = max(int(value or 0) for value in found)
        left = until_ms / 1000 - self._clock()
        return math.ceil(left) if left > 0 else 0

    async def failed(self, username: str, address: str | None) -> None:
        """Count a failed attempt against both the account and the address."""
        await self._failed(
            keys=[self._account_key(username), self._address_key(address)],
            args=[
                int(self._clock() * 1000),
                self._limits.account_failures,
                self._limits.address_failures,
                int(self._limits.first_delay * 1000),
                LONGEST_WAIT_SECONDS * 1000,
                WINDOW_SECONDS,
            ],
        )

    async def forget_account(self, username: str) -> None:
        """Start the account afresh: after it signed in, or an admin gave it a new password."""
        await self._redis.delete(self._account_key(username))
