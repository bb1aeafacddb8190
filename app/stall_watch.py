"""Stalls of the event loop, told in the log: every socket on the instance waits through one.

A task that should wake every TICK_SECONDS notes how late it woke; STALL_MS or later is logged
as `loop.stalled` with the cycle collections that ran meanwhile (a collection of the oldest
generation walks every object the process holds: see `app.collector`), so a latency spike in
the figures can be told apart: the collector, or other work on the loop or the machine.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from typing import Any

import structlog

log = structlog.stdlib.get_logger(__name__)

TICK_SECONDS = 0.05
STALL_MS = 100.0
# Collections shorter than this are not kept: young ones run hundreds of times a second.
NOTABLE_COLLECTION_MS = 5.0


class CollectionTimes:
    """The notable cycle collections of the process: when each ended, its generation, how long."""

    def __init__(self, notable_ms: float = NOTABLE_COLLECTION_MS, kept: int = 64) -> None:
        self._notable_ms = notable_ms
        self._began = 0.0
        self.recent: deque[tuple[float, int, float]] = deque(maxlen=kept)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._began = now
            return
        took = (now - self._began) * 1000
        if took >= self._notable_ms:
            self.recent.append((now, int(info["generation"]), took))

    def since(self, instant: float) -> list[dict[str, float]]:
        """The notable collections that ended after `instant` (a `time.perf_counter` value)."""
        return [
            {"generation": generation, "ms": round(took, 1)}
            for ended, generation, took in self.recent
            if ended > instant
        ]


async def watch_stalls(tick: float = TICK_SECONDS, stall_ms: float = STALL_MS) -> None:
    """Log every stall of this event loop of `stall_ms` or more; until cancelled."""
    times = CollectionTimes()
    gc.callbacks.append(times)
    try:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(tick)
            late = (time.perf_counter() - before - tick) * 1000
            if late >= stall_ms:
                log.warning("loop.stalled", ms=round(late, 1), collections=times.since(before))
    finally:
        gc.callbacks.remove(times)
