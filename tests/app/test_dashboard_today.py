"""Today's figures are worked out in a worker process that steps aside for the instances."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import asyncpg
import pytest

from app.dashboard_today import TodayWorker, _step_aside, today_figures
from tests.support.environment import RunEnvironment

QUEUES = ["03", "46", "national"]


def _policy_and_niceness() -> tuple[int, int]:
    return os.sched_getscheduler(0), os.nice(0)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux's scheduling policies")
def test_the_worker_runs_only_on_a_core_nobody_else_wants() -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=_step_aside) as pool:
        policy, niceness = pool.submit(_policy_and_niceness).result(timeout=60)

    assert policy == os.SCHED_IDLE
    assert niceness >= os.nice(0) + 10


async def test_the_worker_gives_the_figures_the_instance_would(
    test_env: RunEnvironment, db: asyncpg.Connection
) -> None:
    now = time.time()
    worker = TodayWorker(test_env.database_url)
    try:
        from_worker = await worker.figures(now, QUEUES, 60)
    finally:
        worker.close()

    assert from_worker == await today_figures(db, now, QUEUES, 60)
    assert [row["queue"] for row in from_worker["queues"]] == QUEUES
