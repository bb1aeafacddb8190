"""Python's cycle collector, kept from stalling live traffic.

Every open socket is a few hundred long-lived objects (the connection, its tasks, queues and
coroutines). CPython's collector walks all of them in a collection of the oldest generation,
which it starts by itself whenever a quarter as many again have joined since the last one: with
2,000 sockets open that walk took 170-490 ms here, a stall felt by every socket on the instance
(and seen as the tail of the chat and dashboard benchmarks).

So what has lived for a while is frozen (`gc.freeze`): the collector never walks it again.
Objects still die by reference counting when their last reference goes, frozen or not, so a
closed socket's memory is given back as before. What freezing defers is only garbage in
reference cycles among objects frozen while still in use: once an hour everything is unfrozen
and collected in one walk, one pause an hour instead of several a minute.

The young generations are collected as always: the short-lived cycles of requests and frames
are freed within milliseconds of becoming garbage. The collector's own full collections are
turned off (`run_collector`): between two freezes, what was promoted meanwhile is not frozen yet,
and when many sockets open at once (thousands of seekers in a few seconds) an automatic full
collection walked it all in one go (107 ms seen in the chat benchmark), only for the next
freeze to take it out of reach anyway.
"""

from __future__ import annotations

import asyncio
import gc
import time

import structlog

log = structlog.stdlib.get_logger(__name__)

# What has survived this long (and the young collections meanwhile) is frozen: an object that
# outlived that many collections is most likely a socket's, and lives as long as the socket.
FREEZE_SECONDS = 10.0
# Everything frozen is walked once this often, to free cycles of objects that died frozen.
FULL_SECONDS = 3600.0
# The oldest generation's threshold while the collector runs: the number of young collections
# after which CPython would walk everything by itself. Never reached within FULL_SECONDS.
NO_AUTOMATIC_FULL = 10**9


def freeze() -> None:
    """Collect the young generations, then freeze every object that survived them."""
    gc.collect(1)
    gc.freeze()


def collect_all() -> float:
    """Unfreeze everything and collect it all in one walk; return how long it took (s)."""
    began = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - began


async def run_collector(
    freeze_seconds: float = FREEZE_SECONDS, full_seconds: float = FULL_SECONDS
) -> None:
    """Freeze what lives on every `freeze_seconds`, walk it all every `full_seconds`; until
    cancelled, when CPython's own thresholds are back. Call once per process, after start-up."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], NO_AUTOMATIC_FULL)
    try:
        await _collect_for_ever(freeze_seconds, full_seconds)
    finally:
        gc.set_threshold(*thresholds)


async def _collect_for_ever(freeze_seconds: float, full_seconds: float) -> None:
    freeze()
    last_full = time.monotonic()
    while True:
        await asyncio.sleep(freeze_seconds)
        if time.monotonic() - last_full >= full_seconds:
            took = collect_all()
            last_full = time.monotonic()
            log.info("gc.full_collection", ms=round(took * 1000, 1), frozen=gc.get_freeze_count())
        else:
            freeze()
