"""The supervisor dashboard's live feed: one computation per change for the whole deployment,
pushed to every supervisor socket on every instance.

Every instance reads every routing effect (`queueing.effect_feed`), so a change anywhere marks
the dashboard out of date everywhere. The instance holding the dashboard's lease
(`app.dashboard_relay`) then has Redis work the figures out in one script
(`RedisQueue.versioned_dashboard`, by the rules of `queueing.dashboard_view`; it reads again
only the rows the changes heard since can have moved, and everything at least every
REFRESH_SECONDS), adds names and times, encodes the frame's parts, pushes them to its own
sockets and publishes them; the other instances push what it publishes. Each socket is sent
only the parts it does not have yet. An instance that does not hear the computed dashboard
within RELAY_PATIENCE_SECONDS of a change (the computing instance died; the lease lapses within
seconds) computes for itself. A change goes out at once; a rush of changes becomes at most
PUSHES_PER_SECOND pushes a second, not one per event; with no dashboard open anywhere nothing
is computed. A push slow to follow its change is logged stage by stage (`app.dashboard_timing`).

The chart of the last hour comes from samples in Redis: every SAMPLE_SECONDS one instance (the
first to claim the slot) adds the country's waiting chats and available counsellors.

Today's figures come from the record in PostgreSQL, computed as the reports compute them
(`app.dashboard_today`), so the dashboard and the day's report agree. The computing instance
reads them again shortly after any change (TODAY_DELAY_SECONDS, so the routing record has
caught up), at most once a second, in a worker process (the event loop keeps serving sockets
meanwhile), and pushes them on their own, as it does a new sample of the chart. Parts that
seldom change (the chart, today's figures, the centres) are encoded when they change, not on
every push.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any, cast

import asyncpg
import redis.asyncio as redis
import structlog

from app.dashboard_relay import (
    LEASE_RENEW_SECONDS,
    DashboardLease,
    Relayed,
    decode_relay,
    encode_relay,
)
from app.dashboard_timing import PushStages, log_relay_if_slow
from app.dashboard_today import TodayWorker, today_figures
from app.keys import AppKeys
from chat.connection import Sink
from chat.frames import server_frame
from chat.rate_limit import TokenBucket
from queueing.dashboard_view import EVERYTHING, rows_changed_by
from queueing.effect_feed import entry_order
from queueing.effects import CounsellorStatusChanged, Effect
from queueing.model import NATIONAL
from queueing.redis_queue import DashboardReader, RedisQueue

log = structlog.stdlib.get_logger(__name__)

# Computed pushes: a change goes out at once while fewer than PUSH_BURST went out in the last
# moments, and a rush of routing events (arrivals by the hundred) becomes PUSHES_PER_SECOND
# pushes a second, not one per event.
PUSH_BURST = 3.0
PUSHES_PER_SECOND = 10.0
# With no change heard the dashboard is still read, whole, this often, and pushed if it differs:
# some changes make no routing effect (a counsellor whose connection dropped shows as offline
# within their grace time; a counsellor registered), and the dashboard shows every change within
# two seconds. Waits are times, so the page counts them on by itself.
REFRESH_SECONDS = 1.0
# An instance that does not compute waits this long for the computing instance's dashboard
# after a change, then computes for itself.
RELAY_PATIENCE_SECONDS = 0.5
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
        instance: str,
        today_worker: TodayWorker | None = None,
    ) -> None:
        self._db = db
        self._today_worker = today_worker
        self._client = client
        self._queue = queue
        self._keys = keys
        self._target = target_seconds
        self._today: dict[str, Any] | None = None
        self._today_text = _encode(None)
        self._today_dirty = asyncio.Event()
        self._sinks: set[Sink] = set()
        self._sent: dict[Sink, dict[str, str]] = {}  # the parts each socket has
        self._parts: dict[str, str] | None = None  # as last pushed
        self._texts: dict[str, tuple[Any, str]] = {}  # part -> its value and text, as computed
        self._dirty = asyncio.Event()
        self._stages: PushStages | None = None  # of the earliest change not yet computed
        # The rows (`queueing.dashboard_view.rows_changed_by`) the changes heard since the last
        # computation began can have changed: only those are read again. None: read them all.
        self._unread: set[str] | None = None
        self._reader = DashboardReader()  # the rows as last read
        self._read_all_at = -REFRESH_SECONDS  # when all were last read (time.monotonic())
        self._since: dict[str, float] = {}  # counsellor id -> when their status last changed
        self._names: dict[str, str] = {}
        self._centres: dict[str, str] = {}
        self._centres_text = _encode({})
        self._names_read = 0.0
        self._history = _encode([])
        self._history_read = -SAMPLE_SECONDS  # when `_history` was read (time.time())
        # One instance computes for all (`app.dashboard_relay`).
        self._lease = DashboardLease(client, keys, instance)
        self._leading = False
        self._watched = False  # a dashboard is open somewhere (known to the computing one)
        self._version: str | None = None  # of the routing state the parts pushed last show
        self._wanted: str | None = None  # the routing state's version at the last change heard
        self._relay_heard = asyncio.Event()
        self._relayed_at = -REFRESH_SECONDS  # when a relayed dashboard came (time.monotonic())
        # Where the effects feed is: the version of the change it is delivering (set by the
        # routing service, which owns the feed).
        self.feed_position: Callable[[], str] | None = None

    # ------------------------------------------------------------------ sockets

    def add(self, sink: Sink) -> None:
        """A supervisor socket joins: it gets the dashboard as last pushed at once, or with
        the next computation when there is none yet."""
        self._sinks.add(sink)
        if self._parts is None:
            self._dirty.set()
        else:
            self.push(self._parts, time.time())  # only the new socket lacks them
        if self._today is None:
            self._today_dirty.set()

    @property
    def leading(self) -> bool:
        """This instance computes the dashboard for every instance."""
        return self._leading

    @property
    def _watching(self) -> bool:
        return bool(self._sinks) or (self._leading and self._watched)

    def remove(self, sink: Sink) -> None:
        self._sinks.discard(sink)
        self._sent.pop(sink, None)

    async def on_effect(self, effect: Effect, at: float) -> None:
        """Effect-feed listener: something changed."""
        if isinstance(effect, CounsellorStatusChanged):
            self._since[effect.counsellor_id] = at
        if self._unread is not None:
            self._unread |= rows_changed_by(effect)
        self._wanted = None if self.feed_position is None else self.feed_position()
        if self._stages is None:
            self._stages = PushStages(changed=at, heard=time.time())
        self._dirty.set()
        self._today_dirty.set()

    # ------------------------------------------------------------------ computing

    async def render(self, now: float | None = None) -> dict[str, str]:
        """The dashboard as of now, as its parts, each encoded: "queues", "total", "active",
        "counsellors", "centres", "history", "today", and "waiting:<queue>" for each queue
        with chats waiting. A part whose text did not change did not change: the view holds
        times, never durations."""
        return (await self.compute(now))[0]

    async def compute(
        self,
        now: float | None = None,
        stages: PushStages | None = None,
        read: frozenset[str] = EVERYTHING,
    ) -> tuple[dict[str, str], str]:
        """`render`, and the version of the routing state it shows (`app.dashboard_relay`);
        only the rows in `read` are read again (`RedisQueue.versioned_dashboard`)."""
        now = time.time() if now is None else now
        view, version = await self._queue.versioned_dashboard(read=read, reader=self._reader)
        if stages is not None:
            stages.mark("read")
        await self._read_names(now)
        for row in view["counsellors"]:
            row["name"] = self._names.get(row["counsellor_id"], row["counsellor_id"])
            row["since"] = self._since.get(row["counsellor_id"])
        for chat in view["active"]["chats"]:
            counsellor = chat["counsellor_id"]
            chat["counsellor"] = None if counsellor is None else self._names.get(counsellor)
        waiting = view.pop("waiting")
        parts = {name: self._encoded(name, value) for name, value in view.items()}
        for queue, listed in waiting.items():
            parts[f"waiting:{queue}"] = self._encoded(f"waiting:{queue}", listed)
        # What changes seldom is encoded when it changes, not on every push.
        parts["centres"] = self._centres_text
        parts["history"] = await self._history_text(now)
        parts["today"] = self._today_text
        return parts, version

    def _encoded(self, name: str, value: Any) -> str:
        """A part's text: encoded again only when its value changed (comparing is several
        times cheaper than encoding, and most parts stay as they were after a change)."""
        kept = self._texts.get(name)
        if kept is not None and kept[0] == value:
            return kept[1]
        text = _encode(value)
        self._texts[name] = (value, text)
        return text

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
        self._centres_text = _encode(self._centres)
        self._names_read = now

    # ------------------------------------------------------------------ today

    async def today(self, now: float) -> dict[str, Any]:
        """Today's figures (`app.dashboard_today`): in the worker process when there is one,
        else here."""
        queues = [*sorted(self._queue.config.centres), NATIONAL]
        if self._today_worker is not None:
            return await self._today_worker.figures(now, queues, self._target)
        async with self._db.acquire() as conn:
            return await today_figures(conn, now, queues, self._target)

    # ------------------------------------------------------------------ the last hour

    async def history(self, now: float) -> list[list[float]]:
        raw = await self._client.zrangebyscore(
            self._keys.dashboard_samples(), now - HISTORY_SECONDS, "+inf"
        )
        return [json.loads(cast(bytes, point)) for point in raw]

    async def _history_text(self, now: float) -> str:
        """The chart's points, encoded; read again once a new sample may have come (any
        instance may take a slot)."""
        if now - self._history_read >= SAMPLE_SECONDS:
            self._history = _encode(await self.history(now))
            self._history_read = now
        return self._history

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
        """After each change, compute the dashboard and push it to every supervisor here and,
        when this instance computes for all, to the other instances; until cancelled. An
        instance that does not compute for all pushes what the computing one relays, and
        computes for itself only when that does not come in time."""
        pushes = TokenBucket(burst=PUSH_BURST, per_second=PUSHES_PER_SECOND, tokens=PUSH_BURST)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), REFRESH_SECONDS)
            if self._stages is not None:
                self._stages.mark("woke")
            if not self._watching:
                self._clear_dirty()
                continue
            if not self._leading and await self._relayed():
                continue
            if not pushes.allow(time.monotonic()):
                # Wait for the next token; what comes meanwhile joins in.
                await asyncio.sleep((1.0 - pushes.tokens) / pushes.per_second)
                pushes.allow(time.monotonic())
            stages = self._clear_dirty()
            read = self._rows_to_read()
            began = time.time()
            if stages is not None:
                stages.began = began
            try:
                parts, version = await self.compute(began, stages, read)
                if stages is not None:
                    stages.mark("computed")
                await self._deliver(parts, version, began, stages)
                if stages is not None:
                    stages.log_if_slow(len(self._sinks))
            except (OSError, redis.RedisError, asyncpg.PostgresError) as error:
                log.warning("dashboard.render_failed", error=type(error).__name__)
                self._unread = None
                await asyncio.sleep(1.0)

    def _rows_to_read(self) -> frozenset[str]:
        """The rows the changes heard since the last computation can have moved; all of them
        when nothing was heard (the periodic refresh, a new socket, a new computing instance)
        and at least every REFRESH_SECONDS, to show what changed without an effect even while
        other changes keep coming."""
        unread, self._unread = self._unread, set()
        now = time.monotonic()
        stale = now - self._read_all_at >= REFRESH_SECONDS
        if not unread or stale or unread >= EVERYTHING:
            self._read_all_at = now
            return EVERYTHING
        return frozenset(unread)

    def _clear_dirty(self) -> PushStages | None:
        """Mark the dashboard up to date (as the next computation or relay will show it); the
        timing of the earliest change it had not shown."""
        self._dirty.clear()
        stages, self._stages = self._stages, None
        return stages

    async def _relayed(self) -> bool:
        """For an instance that does not compute: wait for the computing instance's dashboard
        showing the change last heard here (or, with no change heard, one relayed lately).
        False when none comes within RELAY_PATIENCE_SECONDS (the computing instance stopped,
        or nobody computes yet): this instance then computes for itself."""
        if self._parts is None:
            return False
        if not self._dirty.is_set():  # the periodic refresh
            # The computing instance refreshes as often: allow for the two clocks' phases.
            return time.monotonic() - self._relayed_at < 2 * REFRESH_SECONDS
        deadline = time.monotonic() + RELAY_PATIENCE_SECONDS
        while True:
            wanted = self._wanted
            if wanted is None:
                return False
            if self._version is not None and entry_order(self._version) >= entry_order(wanted):
                if self._wanted == wanted:
                    self._clear_dirty()
                    return True
                continue  # another change came meanwhile
            self._relay_heard.clear()
            try:
                await asyncio.wait_for(self._relay_heard.wait(), deadline - time.monotonic())
            except TimeoutError:
                return False

    async def _deliver(
        self, parts: dict[str, str], version: str, at: float, stages: PushStages | None = None
    ) -> None:
        """Relay computed parts when computing for all (first: the other instances push them
        while this one does), and push them here."""
        self._version = version
        if self._leading:
            relayed = Relayed(self._lease.instance, version, at, parts)
            await self._client.publish(self._keys.dashboard_channel(), encode_relay(relayed))
            if stages is not None:
                stages.mark("relayed")
        self.push(parts, at)
        if stages is not None:
            stages.mark("pushed")

    async def _push_part(self, name: str, text: str) -> None:
        """One part changed on its own (today's figures, the chart): push it with the rest as
        last computed, rather than computing everything again."""
        if self._parts is not None and self._version is not None:
            await self._deliver({**self._parts, name: text}, self._version, time.time())

    def push(self, parts: dict[str, str], now: float) -> None:
        """Send each socket the parts that differ from what it was sent last (nothing if none
        do); sockets that were sent the same share one encoded frame."""
        self._parts = parts
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
        """Keep today's figures fresh while anyone watches; until cancelled (which stops the
        worker process)."""
        try:
            await self._keep_today()
        finally:
            if self._today_worker is not None:
                self._today_worker.close()

    async def _keep_today(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._today_dirty.wait(), TODAY_REFRESH_SECONDS)
            if not self._watching:
                self._today_dirty.clear()
                self._today, self._today_text = None, _encode(None)
                continue
            if not self._leading:
                self._today_dirty.clear()  # the computing instance relays them
                continue
            await asyncio.sleep(TODAY_DELAY_SECONDS)
            self._today_dirty.clear()
            try:
                self._today = await self.today(time.time())
                self._today_text = _encode(self._today)
                await self._push_part("today", self._today_text)
            except (OSError, redis.RedisError, asyncpg.PostgresError, BrokenProcessPool) as error:
                log.warning("dashboard.today_failed", error=type(error).__name__)
            await asyncio.sleep(TODAY_MIN_INTERVAL)

    async def run_samples(self) -> None:
        """Sample the chart every SAMPLE_SECONDS (one instance a slot); until cancelled."""
        while True:
            now = time.time()
            await asyncio.sleep(SAMPLE_SECONDS - now % SAMPLE_SECONDS + 0.05)
            try:
                if await self.sample(time.time()):
                    self._history_read = -SAMPLE_SECONDS
                    if self._leading:
                        await self._push_part("history", await self._history_text(time.time()))
            except (OSError, redis.RedisError) as error:
                log.warning("dashboard.sample_failed", error=type(error).__name__)

    async def run_relay(self) -> None:
        """Push the dashboards other instances compute and relay; until cancelled."""
        while True:
            pubsub: Any = self._client.pubsub()
            try:
                await pubsub.subscribe(self._keys.dashboard_channel())
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=REFRESH_SECONDS
                    )
                    if message is not None and message["type"] == "message":
                        self._on_relayed(message["data"])
            except (OSError, redis.RedisError) as error:
                log.warning("dashboard.relay_lost", error=type(error).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(1.0)

    def _on_relayed(self, data: bytes | str) -> None:
        received = time.time()
        try:
            relayed = decode_relay(data.decode() if isinstance(data, bytes) else data)
        except ValueError:
            log.error("dashboard.relay_unreadable")
            return
        if relayed.sender == self._lease.instance:
            return
        shown = None if self._version is None else entry_order(self._version)
        if shown is not None and entry_order(relayed.version) < shown:
            return  # older than what this instance shows (a late message)
        new_change = shown is not None and entry_order(relayed.version) > shown
        self._version = relayed.version
        self._relayed_at = time.monotonic()
        parts = relayed.parts
        # Kept for a computation of this instance's own, should the computing one stop.
        self._today_text = parts.get("today", self._today_text)
        self._history = parts.get("history", self._history)
        self._centres_text = parts.get("centres", self._centres_text)
        self.push(parts, relayed.at)
        if new_change:
            log_relay_if_slow(
                entry_order(relayed.version)[0], relayed.at, received, len(self._sinks)
            )
        self._relay_heard.set()

    async def run_lease(self) -> None:
        """Take or keep the lease of the computing instance, and say whether a dashboard is
        open here; until cancelled, when a lease held is given up."""
        try:
            while True:
                try:
                    if self._sinks:
                        await self._lease.mark_watched()
                    was, self._leading = self._leading, await self._lease.hold()
                    watched, self._watched = (
                        self._watched,
                        self._leading and (bool(self._sinks) or await self._lease.watched()),
                    )
                except (OSError, redis.RedisError) as error:
                    log.warning("dashboard.lease_failed", error=type(error).__name__)
                    was, self._leading = self._leading, False
                    watched = self._watched
                if self._leading and not was:
                    log.info("dashboard.computing_for_all", instance=self._lease.instance)
                if self._leading and (not was or (self._watched and not watched)):
                    # Computing for all from now, or somebody started watching elsewhere.
                    self._dirty.set()
                    self._today_dirty.set()
                await asyncio.sleep(LEASE_RENEW_SECONDS)
        finally:
            if self._leading:
                self._leading = False
                with contextlib.suppress(Exception):
                    await self._lease.release()


def _encode(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


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
