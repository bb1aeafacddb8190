"""One instance computes the supervisor dashboard for all: its lease, and the message that carries
each computed dashboard to the other instances over Redis pub/sub.

The lease is a Redis key holding the computing instance's id, with an expiry it renews every
second; when that instance stops (or hangs), the key lapses and another instance takes it. An
instance with a dashboard open marks the deployment as watched, so the computing instance
computes even when no dashboard is open on it.

A relayed dashboard is its parts, each already encoded as JSON (`app.dashboard`), and the
version of the routing state it shows: the id of the last entry of the routing effects stream
when Redis worked it out. Every routing change adds an entry in the same atomic step, so an
instance never replaces a newer view by an older one that arrives late.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import redis.asyncio as redis

from app.keys import AppKeys
from queueing.effect_feed import entry_order

# The computing instance renews its lease every LEASE_RENEW_SECONDS; a lease not renewed for
# LEASE_SECONDS lapses (the instance stopped or hangs) and the next instance to ask takes it.
LEASE_SECONDS = 3.0
LEASE_RENEW_SECONDS = 1.0


@dataclass(frozen=True)
class Relayed:
    """A dashboard computed by one instance, as every instance pushes it."""

    sender: str
    version: str
    at: float
    parts: dict[str, str]


def encode_relay(relayed: Relayed) -> str:
    """One line of JSON naming the parts, then each part's text on a line of its own (a JSON
    text holds no raw line break), so the parts are not encoded a second time."""
    head = {
        "from": relayed.sender,
        "version": relayed.version,
        "at": relayed.at,
        "parts": list(relayed.parts),
    }
    return "\n".join([json.dumps(head), *relayed.parts.values()])


def decode_relay(text: str) -> Relayed:
    """The inverse of `encode_relay`; ValueError for anything else."""
    head_text, *texts = text.split("\n")
    head = json.loads(head_text)
    if not isinstance(head, dict):
        raise ValueError("the first line is not an object")
    names = head.get("parts")
    sender, version, at = head.get("from"), head.get("version"), head.get("at")
    if not (
        isinstance(names, list)
        and all(isinstance(name, str) for name in names)
        and isinstance(sender, str)
        and isinstance(version, str)
        and isinstance(at, int | float)
        and not isinstance(at, bool)
    ):
        raise ValueError("a field is missing or of the wrong kind")
    if len(names) != len(texts):
        raise ValueError(f"{len(names)} parts named, {len(texts)} given")
    entry_order(version)  # raises ValueError when it is no stream id
    return Relayed(sender, version, float(at), dict(zip(names, texts, strict=True)))


class DashboardLease:
    """Which instance computes the dashboard, and whether anyone watches it anywhere."""

    def __init__(self, client: redis.Redis, keys: AppKeys, instance: str) -> None:
        self._client = client
        self._keys = keys
        self.instance = instance
        source = (resources.files("app") / "lua" / "dashboard_lease.lua").read_text()
        self._hold = client.register_script(source)

    async def hold(self) -> bool:
        """Take the lease, or keep it; True while this instance holds it."""
        return bool(await self._call(int(LEASE_SECONDS * 1000)))

    async def release(self) -> None:
        """Give the lease up (on shutdown), so another instance takes it at its next renewal
        instead of after the lease lapses."""
        await self._call(0)

    async def _call(self, ms: int) -> object:
        return await self._hold(keys=[self._keys.dashboard_lease()], args=[self.instance, ms])

    async def mark_watched(self) -> None:
        """A dashboard is open on this instance (renewed with the lease)."""
        await self._client.set(
            self._keys.dashboard_watched(), self.instance, px=int(LEASE_SECONDS * 1000)
        )

    async def watched(self) -> bool:
        """A dashboard is open on some instance."""
        return bool(await self._client.exists(self._keys.dashboard_watched()))
