"""The supervisor dashboard's live feed: one computation per change, pushed to every supervisor
socket on this instance.

Every instance reads every routing effect (`queueing.effect_feed`), so a change anywhere marks
the dashboard here as out of date. The loop below then has Redis work the figures out in one
script (`RedisQueue.dashboard`, by the rules of `queueing.dashboard_view`), adds names and
times, encodes one frame and sends that same text to every supervisor connected here. Changes
that come close together are pushed together (MIN_PUSH_INTERVAL), so a rush costs a few pushes a
second, not one per event; with nobody watching on this instance nothing is computed.

The chart of the last hour comes from samples in Redis: every SAMPLE_SECONDS one instance (the
first to claim the slot) adds the country's waiting chats and available counsellors.

Today's figures come from the record in PostgreSQL, computed as the reports compute them
(`app.report_record`, `app.report_figures`), so the dashboard and the day's report agree.
They are read again shortly after any change (TODAY_DELAY_SECONDS, so the routing record has
caught up), at most once a second, and kept; each push sends the latest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import redis.asyncio as redis
import structlog

from app.keys import AppKeys
from app.report_figures import (
    OSLO,
    Figures,
    Period,
    PeriodKind,
    compute_report,
    service_level_by_hour,
)
from app.report_record import load_record
from chat.connection import Sink
from chat.frames import server_frame
from queueing.effects import CounsellorStatusChanged, Effect
from queueing.model import NATIONAL
from queueing.redis_queue import RedisQueue

log = structlog.stdlib.get_logger(__name__)

# Pushes start at least this far apart: a change after a quiet spell goes out at once, and a
# burst of routing events (a rush of arrivals) becomes one push each tenth of a second, not one
# per event.
MIN_PUSH_INTERVAL = 0.1
# With no change heard the dashboard is still read this often, and pushed if it differs (a
# change whose effect was missed); waits are times, so the page counts them on by itself.
REFRESH_SECONDS = 5.0
# One point of the last-hour chart every 10 s: 360 points, finer than a chart an hour wide shows.
SAMPLE_SECONDS = 10.0
HISTORY_SECONDS = 3600.0
# Staff names and centres are read again this often (a renamed or new counsellor shows up).
NAMES_SECONDS = 60.0
# Today's figures: read this long after a change (the routing record is written by whichever
# instance's recorder takes the effect, within a few milliseconds), then at most once a second;
# and every ten seconds anyway: wrap-ups and survey answers are no routing effects, and the day
# turns over at midnight.
TODAY_DELAY_SECONDS = 0.3
TODAY_MIN_INTERVAL = 1.0
TODAY_REFRESH_SECONDS = 10.0


class Dashboard:
    """This instance's supervisor sockets and the loop that keeps them up to date."""

    def __init__(
        self,
        db: asyncpg.Pool,
        client: redis.Redis,
        queue: RedisQueue,
        keys: AppKeys,
        target_seconds: int,
    ) -> None:
        self._db = db
        self._client = client
        self._queue = queue
        self._keys = keys
        self._target = target_seconds
        self._today: dict[str, Any] | None = None
        self._today_dirty = asyncio.Event()
        self._sinks: set[Sink] = set()
        self._sent: dict[Sink, dict[str, str]] = {}  # the parts each socket has
        self._dirty = asyncio.Event()
        self._since: dict[str, float] = {}  # counsellor id -> when their status last changed
        self._names: dict[str, str] = {}
        self._centres: dict[str, str] = {}
        self._names_read = 0.0

    # ------------------------------------------------------------------ sockets

    def add(self, sink: Sink) -> None:
        """A supervisor socket joins: it gets the dashboard with the next push (at once)."""
        self._sinks.add(sink)
        self._dirty.set()
        if self._today is None:
            self._today_dirty.set()

    def remove(self, sink: Sink) -> None:
        self._sinks.discard(sink)
        self._sent.pop(sink, None)

    async def on_effect(self, effect: Effect, at: float) -> None:
        """Effect-feed listener: something changed."""
        if isinstance(effect, CounsellorStatusChanged):
            self._since[effect.counsellor_id] = at
        self._dirty.set()
        self._today_dirty.set()

    # ------------------------------------------------------------------ computing

    async def render(self, now: float | None = None) -> dict[str, str]:
        """The dashboard as of now, as its parts, each encoded: "queues", "total", "active",
        "counsellors", "centres", "history", "today", and "waiting:<queue>" for each queue
        with chats waiting. A part whose text did not change did not change: the view holds
        times, never durations."""
        now = time.time() if now is None else now
        view = await self._queue.dashboard()
        await self._read_names(now)
        for row in view["counsellors"]:
            row["name"] = self._names.get(row["counsellor_id"], row["counsellor_id"])
            row["since"] = self._since.get(row["counsellor_id"])
        for chat in view["active"]["chats"]:
            counsellor = chat["counsellor_id"]
            chat["counsellor"] = None if counsellor is None else self._names.get(counsellor)
        view["centres"] = self._centres
        view["history"] = await self.history(now)
        view["today"] = self._today
        waiting = view.pop("waiting")
        parts = {name: json.dumps(value, ensure_ascii=False) for name, value in view.items()}
        for queue, listed in waiting.items():
            parts[f"waiting:{queue}"] = json.dumps(listed, ensure_ascii=False)
        return parts

    async def _read_names(self, now: float) -> None:
        if now - self._names_read < NAMES_SECONDS and self._names:
            return
        async with self._db.acquire() as conn:
            users = await conn.fetch("SELECT id, display_name FROM users")
            centres = await conn.fetch("SELECT id, name FROM centres")
            if not self._names_read:
                # Times in status from before this instance started, from the routing record.
                for row in await conn.fetch(
                    """SELECT DISTINCT ON (counsellor_id) counsellor_id, at
                       FROM routing_events
                       WHERE kind = 'CounsellorStatusChanged' AND counsellor_id IS NOT NULL
                       ORDER BY counsellor_id, at DESC"""
                ):
                    self._since.setdefault(str(row["counsellor_id"]), row["at"].timestamp())
        self._names = {str(r["id"]): r["display_name"] for r in users}
        self._centres = {r["id"]: r["name"] for r in centres}
        self._names_read = now

    # ------------------------------------------------------------------ today

    async def today(self, now: float) -> dict[str, Any]:
        """Today's figures (Oslo day so far) per queue and in total, and by hour."""
        moment = datetime.fromtimestamp(now, UTC)
        period = Period.containing(PeriodKind.DAY, moment.astimezone(OSLO).date())
        queues = [*sorted(self._queue.config.centres), NATIONAL]
        async with self._db.acquire() as conn:
            record = await load_record(conn, period)
        report = compute_report(
            period, queues, record.chats, record.counsellors, record.changes, self._target, moment
        )
        hours = service_level_by_hour(record.chats, period, self._target)
        return {
            "day": period.first.isoformat(),
            "service_level_seconds": self._target,
            "queues": [_today_row(queue, report.centres[queue]) for queue in queues],
            "total": _today_row("total", report.total),
            "by_hour": [
                {"hour": hour, "answered": answered, "service_level": level}
                for hour, answered, level in hours
            ],
        }

    # ------------------------------------------------------------------ the last hour

    async def history(self, now: float) -> list[list[float]]:
        raw = await self._client.zrangebyscore(
            self._keys.dashboard_samples(), now - HISTORY_SECONDS, "+inf"
        )
        return [json.loads(cast(bytes, point)) for point in raw]

    async def sample(self, now: float) -> bool:
        """Add this slot's point, unless another instance already did; True if added here."""
        slot = int(now // SAMPLE_SECONDS)
        claim = self._keys.dashboard_sample_slot(slot)
        if not await self._client.set(claim, "1", nx=True, ex=int(SAMPLE_SECONDS * 3)):
            return False
        total = (await self._queue.dashboard(0, 0))["total"]
        point = json.dumps([round(now, 1), total["waiting"], total["counsellors"]["available"]])
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.zadd(self._keys.dashboard_samples(), {point: now})
            pipe.zremrangebyscore(self._keys.dashboard_samples(), "-inf", now - HISTORY_SECONDS)
            await pipe.execute()
        return True

    # ------------------------------------------------------------------ loops

    async def run_pushes(self) -> None:
        """Push the dashboard to every supervisor here after each change; until cancelled."""
        last_push = -MIN_PUSH_INTERVAL
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), REFRESH_SECONDS)
            if not self._sinks:
                self._dirty.clear()
                continue
            since = time.monotonic() - last_push
            if since < MIN_PUSH_INTERVAL:
                await asyncio.sleep(MIN_PUSH_INTERVAL - since)  # what comes meanwhile joins in
            self._dirty.clear()
            last_push = time.monotonic()
            try:
                parts = await self.render()
            except (OSError, redis.RedisError, asyncpg.PostgresError) as error:
                log.warning("dashboard.render_failed", error=type(error).__name__)
                await asyncio.sleep(1.0)
                continue
            self.push(parts, time.time())

    def push(self, parts: dict[str, str], now: float) -> None:
        """Send each socket the parts that differ from what it was sent last (nothing if none
        do); sockets that were sent the same share one encoded frame."""
        frames: dict[tuple[str, ...], str] = {}
        for sink in list(self._sinks):
            sent = self._sent.get(sink, {})
            changed = tuple(name for name, text in parts.items() if sent.get(name) != text)
            gone = tuple(name for name in sent if name not in parts)
            if not changed and not gone:
                continue
            key = (*changed, "-", *gone)
            if key not in frames:
                frames[key] = delta_frame(parts, changed, gone, now)
            sink.send(frames[key])
            self._sent[sink] = parts

    async def run_today(self) -> None:
        """Keep today's figures fresh while anyone watches here; until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._today_dirty.wait(), TODAY_REFRESH_SECONDS)
            if not self._sinks:
                self._today_dirty.clear()
                self._today = None
                continue
            await asyncio.sleep(TODAY_DELAY_SECONDS)
            self._today_dirty.clear()
            try:
                self._today = await self.today(time.time())
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("dashboard.today_failed", error=type(error).__name__)
            self._dirty.set()
            await asyncio.sleep(TODAY_MIN_INTERVAL)

    async def run_samples(self) -> None:
        """Sample the chart every SAMPLE_SECONDS (one instance a slot); until cancelled."""
        while True:
            now = time.time()
            await asyncio.sleep(SAMPLE_SECONDS - now % SAMPLE_SECONDS + 0.05)
            try:
                if await self.sample(time.time()):
                    self._dirty.set()
            except (OSError, redis.RedisError) as error:
                log.warning("dashboard.sample_failed", error=type(error).__name__)


def _today_row(queue: str, figures: Figures) -> dict[str, Any]:
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


def delta_frame(
    parts: dict[str, str], changed: Sequence[str], gone: Sequence[str], at: float
) -> str:
    """A `dashboard` frame with the changed parts (already encoded) and, for each queue whose
    waiting list emptied, an empty list."""
    fields = [f'"{name}": {parts[name]}' for name in changed if not name.startswith("waiting:")]
    waiting = [
        f"{json.dumps(name.removeprefix('waiting:'))}: {parts[name]}"
        for name in changed
        if name.startswith("waiting:")
    ]
    waiting += [f"{json.dumps(name.removeprefix('waiting:'))}: {EMPTY_LIST}" for name in gone]
    if waiting:
        fields.append(f'"waiting": {{{", ".join(waiting)}}}')
    head = server_frame("dashboard", at=at)
    return f"{head[:-1]}, {', '.join(fields)}}}" if fields else head


EMPTY_LIST = json.dumps({"count": 0, "chats": []})
