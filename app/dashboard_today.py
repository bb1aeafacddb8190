"""The dashboard's figures for today, worked out in a process of their own.

Today's figures are the day's report so far (`app.report_record`, `app.report_figures`), so the
dashboard and the report agree. For a busy day they take tens of milliseconds of Python (2,000
chats: about 60 ms). On the instance's event loop, or on a thread contending for its
interpreter lock, that time would hold up every socket of the instance; so the instance that
computes the dashboard hands them to one worker process, started when first needed and run at a
lower priority, which reads the record over its own connection and sends the figures back.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any

import asyncpg

from app.report_figures import (
    OSLO,
    Figures,
    Period,
    PeriodKind,
    compute_report,
    service_level_by_hour,
)
from app.report_record import load_record

# How much lower the worker's scheduling priority is than the instance's (os.nice).
WORKER_NICENESS = 10


async def today_figures(
    conn: asyncpg.Connection, now: float, queues: list[str], target: int
) -> dict[str, Any]:
    """Today's figures (the Oslo day so far) per queue and in total, and by hour."""
    moment = datetime.fromtimestamp(now, UTC)
    period = Period.containing(PeriodKind.DAY, moment.astimezone(OSLO).date())
    record = await load_record(conn, period)
    report = compute_report(
        period, queues, record.chats, record.counsellors, record.changes, target, moment
    )
    hours = service_level_by_hour(record.chats, period, target)
    return {
        "day": period.first.isoformat(),
        "service_level_seconds": target,
        "queues": [_row(queue, report.centres[queue]) for queue in queues],
        "total": _row("total", report.total),
        "by_hour": [
            {"hour": hour, "answered": answered, "service_level": level}
            for hour, answered, level in hours
        ],
    }


def today_in_worker(database_url: str, now: float, queues: list[str], target: int) -> Any:
    """`today_figures` over a connection of its own: what the worker process runs."""

    async def work() -> dict[str, Any]:
        conn = await asyncpg.connect(database_url)
        try:
            return await today_figures(conn, now, queues, target)
        finally:
            await conn.close()

    return asyncio.run(work())


class TodayWorker:
    """One worker process for today's figures, started on first use, replaced if it dies."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._pool: ProcessPoolExecutor | None = None

    async def figures(self, now: float, queues: list[str], target: int) -> dict[str, Any]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_step_aside
            )
        loop = asyncio.get_running_loop()
        try:
            result: dict[str, Any] = await loop.run_in_executor(
                self._pool, today_in_worker, self._database_url, now, queues, target
            )
        except BrokenProcessPool:
            self.close()  # the next call starts a new one
            raise
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _step_aside() -> None:
    """The worker runs only when a core would otherwise be idle (Linux's SCHED_IDLE: any other
    process that wants a core preempts it at once), so the instances' sockets come first and
    today's figures a moment later; where that policy is missing, at a lower priority."""
    os.nice(WORKER_NICENESS)
    if hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _row(queue: str, figures: Figures) -> dict[str, Any]:
    return {
        "queue": queue,
        "chats": figures.chats,
        "answered": figures.answered,
        "abandoned": figures.abandoned,
        "waiting": figures.waiting,
        "overflowed": figures.overflowed,
        "overflow_reasons": figures.overflow_reasons,
        "wait_average": figures.wait_average,
        "wait_p90": figures.wait_p90,
        "service_level": figures.service_level,
        "own_county_share": figures.own_county_share,
        "handling_average": figures.handling_average,
        "survey_count": figures.survey_count,
        "survey_average": figures.survey_average,
    }
