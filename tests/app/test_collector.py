"""The cycle-collector policy: what lives on is frozen out of full collections, dies by
reference counting all the same, and cycles that died frozen are freed by the periodic full
collection."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import Iterator

import pytest

from app.collector import NO_AUTOMATIC_FULL, collect_all, freeze, run_collector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    first, second = Node(), Node()
    first.other, second.other = second, first
    return first, weakref.ref(first)


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.collect()


def test_frozen_objects_are_left_out_of_collections_but_die_by_reference_counting() -> None:
    kept, watched = Node(), None
    before = gc.get_freeze_count()
    freeze()
    assert gc.get_freeze_count() > before
    alone = Node()
    watched = weakref.ref(alone)
    freeze()
    del alone
    assert watched() is None  # no cycle: freed the moment its last reference went
    assert kept is not None


def test_a_cycle_that_dies_frozen_waits_for_the_full_collection() -> None:
    held, watched = cycle()
    freeze()
    del held
    gc.collect()
    assert watched() is not None  # frozen: an ordinary full collection does not walk it
    took = collect_all()
    assert watched() is None
    assert took >= 0.0
    assert gc.get_freeze_count() > 0  # what lives on is frozen again


async def test_the_collector_task_freezes_on_each_tick_and_walks_everything_at_its_hour() -> None:
    held, watched = cycle()
    thresholds = gc.get_threshold()
    task = asyncio.create_task(run_collector(freeze_seconds=0.02, full_seconds=0.15))
    try:
        await asyncio.sleep(0.05)
        assert gc.get_freeze_count() > 0
        # CPython's own full collections are off; the young generations' thresholds stay.
        assert gc.get_threshold() == (*thresholds[:2], NO_AUTOMATIC_FULL)
        del held
        gc.collect()
        assert watched() is not None
        for _ in range(50):
            await asyncio.sleep(0.02)
            if watched() is None:
                break
        assert watched() is None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert gc.get_threshold() == thresholds
