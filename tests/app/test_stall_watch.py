"""The stall watch: a blocked event loop is logged with how long, and the collections in it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time

from structlog.testing import capture_logs

from app.stall_watch import CollectionTimes, watch_stalls


async def test_a_blocked_loop_is_logged_and_a_short_wait_is_not() -> None:
    with capture_logs() as logs:
        watching = asyncio.create_task(watch_stalls(tick=0.01, stall_ms=80))
        await asyncio.sleep(0.05)
        time.sleep(0.03)  # noqa: ASYNC251 - blocks the loop under the threshold
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # noqa: ASYNC251 - blocks the loop: a stall
        await asyncio.sleep(0.05)
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    stalls = [entry for entry in logs if entry["event"] == "loop.stalled"]
    assert len(stalls) == 1, logs
    assert 180 <= stalls[0]["ms"] < 1000
    assert stalls[0]["log_level"] == "warning"


def test_collections_are_kept_with_their_generation_and_duration() -> None:
    times = CollectionTimes(notable_ms=0.0)
    gc.callbacks.append(times)
    try:
        before = time.perf_counter()
        gc.collect(2)
    finally:
        gc.callbacks.remove(times)
    found = times.since(before)
    assert found[-1]["generation"] == 2 and found[-1]["ms"] >= 0
    assert times.since(time.perf_counter()) == []


def test_the_watch_leaves_no_callback_behind() -> None:
    async def briefly() -> None:
        watching = asyncio.create_task(watch_stalls())
        await asyncio.sleep(0.01)
        assert len(gc.callbacks) == before + 1
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching

    before = len(gc.callbacks)
    asyncio.run(briefly())
    assert len(gc.callbacks) == before
