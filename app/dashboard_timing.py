"""Where a dashboard push's time went, from the routing change it shows to its frames queued on
the supervisor sockets: told in the log at info level when it took SLOW_PUSH_MS or longer (and
at debug level always), so a slow update can be put down to its stage (the effect reaching the
instance, the wait for the push limit, the script in Redis, the rest of the computation, the
relay, the sends).

Instants are `time.time()` values: the routing change's is Redis's clock (the effects entry's
`at`, or its stream id's milliseconds), the same clock on one machine and close enough across
machines kept in time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

log = structlog.stdlib.get_logger(__name__)

SLOW_PUSH_MS = 40.0
"""A push later than this after its change is logged as `dashboard.push_slow` (the target for
the whole way to a supervisor's screen is 50 ms)."""

STAGES = ("heard", "woke", "began", "read", "computed", "relayed", "pushed")


@dataclass
class PushStages:
    """The instants of one computed push; a stage not reached stays 0.0."""

    changed: float  # the router made the earliest change the push shows
    heard: float  # this instance's effects feed handed it over
    woke: float = 0.0  # the push loop ran again
    began: float = 0.0  # computing began (after any wait for the push limit)
    read: float = 0.0  # Redis's script returned the figures
    computed: float = 0.0  # the parts were encoded
    relayed: float = 0.0  # published to the other instances
    pushed: float = 0.0  # every socket here has its frame queued

    def mark(self, stage: str) -> None:
        setattr(self, stage, time.time())

    def durations(self) -> dict[str, float]:
        """Milliseconds from each stage reached to the next reached, the first from the change."""
        out: dict[str, float] = {}
        last = self.changed
        for stage in STAGES:
            instant = getattr(self, stage)
            if instant:
                out[stage] = round((instant - last) * 1000, 1)
                last = instant
        return out

    def total_ms(self) -> float:
        return (self.pushed - self.changed) * 1000

    def log_if_slow(self, sockets: int, slow_ms: float = SLOW_PUSH_MS) -> None:
        """`dashboard.push_slow` at info level when slow; every push at debug level."""
        if not self.pushed:
            return
        slow = self.total_ms() >= slow_ms
        (log.info if slow else log.debug)(
            "dashboard.push_slow" if slow else "dashboard.pushed",
            ms=round(self.total_ms(), 1),
            sockets=sockets,
            **self.durations(),
        )


def log_relay_if_slow(
    version_ms: int, began: float, received: float, sockets: int, slow_ms: float = SLOW_PUSH_MS
) -> None:
    """The same for a push of a dashboard relayed by the computing instance: its version's
    instant (the latest change it shows), when computing began there, when it arrived here."""
    pushed = time.time()
    if (pushed - version_ms / 1000) * 1000 >= slow_ms:
        log.info(
            "dashboard.relay_slow",
            ms=round((pushed - version_ms / 1000) * 1000, 1),
            sockets=sockets,
            began=round((began - version_ms / 1000) * 1000, 1),
            received=round((received - began) * 1000, 1),
            pushed=round((pushed - received) * 1000, 1),
        )
