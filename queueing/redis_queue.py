"""The routing policy on Redis: one shared routing state for any number of server instances.

`RedisQueue` applies the rules of `queueing.policy` (the reference model) inside Lua scripts, one
script call per operation, so each transition is atomic across instances: a chat is never offered
to two counsellors, a counsellor never holds more than their capacity, and a timer fired by two
instances at once is fired once. The Python here only encodes events, calls the scripts by SHA
and decodes effects; the rules are in `queueing/lua/lib*.lua`, checked against the pure policy
by a differential test (tests/queueing/test_redis_queue.py).

Cost: a call reads the heads of sorted-set indexes, never every chat or counsellor (keys.py says
what each index holds), and dispatch only looks at what the call changed: a new waiting chat is
matched against the free counsellors in load order from the free set alone, a newly free
counsellor reads the heads of their own queue and the pool. A tick that fires n timers costs
O(n): a tick late by minutes after every instance was down does all that work in one step.

Contract, as the pure policy's, plus:
  - `apply(event, now, closed)` = `policy.tick(now)` then `policy.apply(event, now)` in one
    atomic step. When the event is refused the timers' work stays done (as in the pure model) and
    `RefusedEvent` (a PolicyError with the same code) carries the effects of those timers.
  - Every call that has effects appends them to the stream `keys.effects_stream()` (field
    `effects`: a JSON array as `effect_codec.decode_effects` reads; field `at`: now) in the same
    script, so every instance sees offers atomically with the transition. Calls without effects
    add no entry.
  - `closed` is the set of centres closed by opening hours at `now`; the caller computes it, and
    the script treats those centres exactly as the policy treats `schedule.is_open(now)` False.
  - The settings reach the scripts through the config hash, written on first use and checked on
    every call by digest: after Redis lost its data (or another instance wrote other settings)
    the hash is rewritten and the call retried. Instances must share one Config.

Deviations from the pure policy, and why:
  - No `PositionsChanged` effect: computing every chat's place on every event is O(waiting
    chats) per call. `positions(chat_ids, now)` answers for the chats asked (all of an
    instance's waiting seekers at once) from one atomic read of the lines, in one round trip.
    Callers re-ask when an effect may have moved a seeker (every change of place comes with one:
    ChatQueued, ChatAssigned, ChatAbandoned, ChatOverflowed, ChatRequeued, OfferMade).
    `snapshot()` derives `published_positions` from the places, which is what the policy holds.
  - Opening hours: the script cannot evaluate a schedule. A chat that starts waiting in an open
    scheduled centre gets the centre's next change (its closing time) from
    `schedule.next_change(now)`, computed here (cached until that instant) and passed in ARGV,
    so it overflows at closing time exactly as in the policy, and `next_deadline` includes it.
    Inside one late tick, timers due before `now` see `closed` and that closing time as at `now`
    (the policy evaluates them at each timer's own instant): callers wake at every opening-hours
    change, so no schedule change falls between a timer and the tick firing it.
  - The clock never runs backwards: a call whose `now` is behind the latest `now` any instance
    used runs at that latest now (instances' clocks differ by milliseconds).
  - Ended and abandoned chats are forgotten `closed_retention` seconds (a day) after they closed:
    events naming them then get `unknown_chat` rather than `chat_closed`, and Redis stays bounded.
    Postgres keeps the record.
  - Counsellor and chat ids must not contain NUL (it separates ids in timer members).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, cast

import redis.asyncio as redis

from queueing import redis_state
from queueing.dashboard_view import (
    ACTIVE_LIMIT,
    EVERYTHING,
    LINES,
    LIST_LIMIT,
    ONE_COUNSELLOR,
    STAFF,
    ActiveRow,
    StaffRow,
    WaitingRow,
    active_entry,
    assemble,
    queue_row,
    waiting_entry,
)
from queueing.effect_codec import decode_effects, encode_event
from queueing.effects import ChatPosition, Effect
from queueing.events import Event
from queueing.keys import RoutingKeys
from queueing.model import (
    NATIONAL,
    Chat,
    ChatStatus,
    Config,
    Counsellor,
    ErrorCode,
    PolicyError,
    State,
)

# Scripts that carry the policy (the library first), and small ones that run on their own.
POLICY_SCRIPTS = ("apply", "tick", "restore")
PLAIN_SCRIPTS = ("snapshot", "configure", "dashboard")
# The Lua library, in the order its files are concatenated (see lua/lib.lua).
LIBRARY = ("lib", "lib_store", "lib_order", "lib_lifecycle", "lib_guards", "lib_policy")

# A closed chat is kept this long so late events about it get `chat_closed`: a day covers a
# seeker's tab left open overnight and any retry of the day's events.
CLOSED_RETENTION = 86_400.0
# Without a change within the schedule's horizon, look again after this long (a year's
# holidays are added at new year, so "never" is only ever provisional).
_NO_CHANGE_RECHECK = 3_600.0
# Keys deleted per command by `clear`.
_CLEAR_BATCH = 500


class RefusedEvent(PolicyError):
    """The event was refused (state unchanged by it); `effects` are those of the timers that fell
    due before it and were carried out in the same call."""

    def __init__(self, code: ErrorCode, message: str, effects: list[Effect]) -> None:
        super().__init__(code, message)
        self.effects = effects


def load_script(name: str) -> str:
    """A routing script as Redis runs it: the policy scripts are the library followed by the
    operation's own body (Redis scripts cannot `require`); the others are their file alone."""
    lua = resources.files("queueing") / "lua"
    parts = [*LIBRARY, name] if name in POLICY_SCRIPTS else [name]
    return "\n".join((lua / f"{part}.lua").read_text() for part in parts)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _time(text: str) -> float | None:
    return float(text) if text else None


def _pairs(flat: Sequence[object]) -> dict[str, str]:
    items = [_text(item) for item in flat]
    return dict(zip(items[::2], items[1::2], strict=True))


class _ClosingTimes:
    """Each scheduled centre's next opening-hours change, cached until it passes."""

    def __init__(self, config: Config) -> None:
        self._schedules = {c: s.schedule for c, s in config.centres.items() if s.schedule}
        self._cache: dict[str, tuple[float, float | None]] = {}  # county -> (asked at, change)

    def argument(self, now: float, closed: frozenset[str]) -> str:
        """The scripts' closing-times argument: "county at county at ..." for every open
        scheduled centre with a change ahead."""
        parts = []
        for county, schedule in self._schedules.items():
            if county in closed:
                continue
            asked, change = self._cache.get(county, (float("inf"), None))
            fresh = asked <= now and (
                now < change if change is not None else now < asked + _NO_CHANGE_RECHECK
            )
            if not fresh:
                change = schedule.next_change(now)
                self._cache[county] = (now, change)
            if change is not None:
                parts.append(f"{county} {change!r}")
        return " ".join(parts)


class RedisQueue:
    """The routing state of one deployment, in Redis under `prefix`; see the module docstring."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        config: Config,
        *,
        closed_retention: float = CLOSED_RETENTION,
    ) -> None:
        self.keys = RoutingKeys(prefix)
        self.config = config
        self._client = client
        self._key_list: list[str] = self.keys.script_keys()
        self._scripts = {
            name: client.register_script(load_script(name))
            for name in (*POLICY_SCRIPTS, *PLAIN_SCRIPTS)
        }
        self._config_fields = redis_state.config_fields(config, closed_retention)
        self._digest = self._config_fields["digest"]
        self._closings = _ClosingTimes(config)
        self._configured = False
        self._dashboard_reader = DashboardReader()  # for callers with no reader of their own

    async def _call(self, name: str, *args: str) -> Any:
        return await self._scripts[name](keys=self._key_list, args=list(args))

    async def configure(self) -> None:
        """Write this queue's settings to the config hash (done on first use by itself)."""
        flat = [part for item in self._config_fields.items() for part in item]
        await self._call("configure", *flat)
        self._configured = True

    async def _transition(self, name: str, now: float, closed: frozenset[str], *extra: str) -> Any:
        if not self._configured:
            await self.configure()
        args = [self._digest, repr(float(now)), " ".join(sorted(closed))]
        args.append(self._closings.argument(now, closed))
        reply = await self._call(name, *args, *extra)
        if _text(reply[0]) == "config":  # Redis lost the hash, or another config wrote it
            await self.configure()
            reply = await self._call(name, *args, *extra)
        code, message, encoded = (_text(part) for part in reply)
        effects = decode_effects(encoded)
        if code:
            raise RefusedEvent(ErrorCode(code), message, effects)
        return effects

    async def apply(
        self, event: Event, now: float, closed: frozenset[str] = frozenset()
    ) -> list[Effect]:
        """Fire due timers, then apply the event, atomically; the effects of both, in order.
        Raises `RefusedEvent` (a PolicyError with the policy's code) if the event is refused."""
        return cast(list[Effect], await self._transition("apply", now, closed, encode_event(event)))

    async def tick(self, now: float, closed: frozenset[str] = frozenset()) -> list[Effect]:
        """Fire every timer due at or before `now`, earliest first, then dispatch."""
        return cast(list[Effect], await self._transition("tick", now, closed))

    async def next_deadline(self) -> float | None:
        """The earliest pending timer, or None: the instant to call `tick` at."""
        head = await self._client.zrange(self.keys.timers(), 0, 0, withscores=True)
        return float(head[0][1]) if head else None

    async def positions(self, chat_ids: Iterable[str], now: float) -> dict[str, ChatPosition]:
        """The places and expected waits of the chats asked, as `order.positions(state, now)`
        gives them; chats answered, closed or unknown are left out.

        One atomic read (MULTI/EXEC, one round trip) of every line whole and of each pool's
        answers over the window: the lines hold exactly the unanswered chats (keys.py), so a
        chat's place is its index in the national pool's line, or else in its county's line.
        The cost grows with all the chats waiting, not with those asked: ask for all of an
        instance's seekers at once. (Measured with 5,000 waiting: Redis reads the lines in about
        1 ms; a script taking each chat's hash and ZRANK needs about 4 us a chat, so reading
        whole lines is cheaper for any instance holding a tenth of the seekers or more.)"""
        asked = set(chat_ids)
        if not asked:
            return {}
        window = self.config.rate_window
        # The national pool last: an overflowed chat is in its county's line as well, but its
        # place is in the pool.
        pools = [*self.config.centres, NATIONAL]
        lines = [self.keys.line_prefix() + county for county in self.config.centres]
        lines.append(self.keys.line_pool())
        since, until = f"({float(now) - window!r}", repr(float(now))
        async with self._client.pipeline(transaction=True) as pipe:
            for line in lines:
                pipe.zrange(line, 0, -1)
            for pool in pools:
                pipe.zcount(self.keys.answers_prefix() + pool, since, until)
            replies = await pipe.execute()
        lines_read, answer_counts = replies[: len(pools)], replies[len(pools) :]
        found = {}
        for pool, members, answers in zip(pools, lines_read, answer_counts, strict=True):
            for place, member in enumerate(members, start=1):
                chat_id = _text(member)
                if chat_id in asked:
                    expected = place * window / answers if answers else None
                    found[chat_id] = ChatPosition(chat_id, pool, place, expected)
        return found

    async def position(self, chat_id: str, now: float) -> ChatPosition | None:
        """The chat's place and expected wait, as `order.positions(state, now)[chat_id]`; None
        once it is answered, closed or unknown. As costly as `positions` for every chat."""
        return (await self.positions([chat_id], now)).get(chat_id)

    async def chat(self, chat_id: str) -> Chat | None:
        """One chat's routing state (one HGETALL), or None when the router does not know it."""
        fields = await self._client.hgetall(self.keys.chat_prefix() + chat_id)
        if not fields:
            return None
        return redis_state.decode_chat(chat_id, {_text(k): _text(v) for k, v in fields.items()})

    async def standing(self, chat_id: str) -> tuple[ChatStatus, str | None] | None:
        """The chat's status and the counsellor holding (or who last held) it, or None when the
        router does not know it: what every chat frame is checked against, so one HMGET."""
        status, holder = await self._client.hmget(
            self.keys.chat_prefix() + chat_id, "status", "counsellor_id"
        )
        if status is None:
            return None
        return ChatStatus(_text(status)), None if holder is None else _text(holder)

    async def counsellor(self, counsellor_id: str) -> Counsellor | None:
        """One counsellor's routing state (one HGETALL), or None when the router does not know
        them."""
        fields = await self._client.hgetall(self.keys.counsellor_prefix() + counsellor_id)
        if not fields:
            return None
        return redis_state.decode_counsellor(
            counsellor_id, {_text(k): _text(v) for k, v in fields.items()}
        )

    async def waiting(self, queues: Sequence[str]) -> dict[str, tuple[int, float | None]]:
        """For each queue asked (a county or NATIONAL): how many chats wait for its counsellors
        and since when the longest-waiting one waits (None when none do). A county's line
        holds its overflowed chats too (its own counsellors still serve them); the national
        one is the pool of national and overflowed chats. Two round trips: the lines, then
        the waiting times of their chats."""
        lines = [
            self.keys.line_pool() if queue == NATIONAL else self.keys.line_prefix() + queue
            for queue in queues
        ]
        async with self._client.pipeline(transaction=True) as pipe:
            for line in lines:
                pipe.zrange(line, 0, -1)
            members = [[_text(m) for m in found] for found in await pipe.execute()]
        everyone = sorted({chat_id for found in members for chat_id in found})
        since: dict[str, float] = {}
        if everyone:
            async with self._client.pipeline(transaction=False) as pipe:
                for chat_id in everyone:
                    pipe.hget(self.keys.chat_prefix() + chat_id, "waiting_since")
                for chat_id, value in zip(everyone, await pipe.execute(), strict=True):
                    if value is not None:
                        since[chat_id] = float(_text(value))
        return {
            queue: (len(found), min((since[c] for c in found if c in since), default=None))
            for queue, found in zip(queues, members, strict=True)
        }

    async def connection_roster(
        self,
    ) -> tuple[list[tuple[str, float, bool]], list[tuple[str, str, bool]]]:
        """Who the router counts as connected, for a presence sweep: every unanswered chat as
        (id, arrived at, in its grace time) and every counsellor as (id, status, in their grace
        time). Two round trips each way; read whole, not atomically (a sweep re-checks)."""
        lines = [self.keys.line_pool()]
        lines += [self.keys.line_prefix() + county for county in self.config.centres]
        async with self._client.pipeline(transaction=False) as pipe:
            for line in lines:
                pipe.zrange(line, 0, -1)
            pipe.zrange(self.keys.counsellors(), 0, -1)
            *found, staff = await pipe.execute()
        chat_ids = sorted({_text(c) for members in found for c in members})
        staff_ids = [_text(c) for c in staff]
        async with self._client.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.hmget(self.keys.chat_prefix() + chat_id, "arrived_at", "grace_until")
            for counsellor_id in staff_ids:
                pipe.hmget(self.keys.counsellor_prefix() + counsellor_id, "status", "grace_until")
            replies = await pipe.execute()
        chats = [
            (chat_id, float(_text(arrived)), grace is not None)
            for chat_id, (arrived, grace) in zip(chat_ids, replies[: len(chat_ids)], strict=True)
            if arrived is not None
        ]
        counsellors = [
            (counsellor_id, _text(status), grace is not None)
            for counsellor_id, (status, grace) in zip(
                staff_ids, replies[len(chat_ids) :], strict=True
            )
            if status is not None
        ]
        return chats, counsellors

    async def in_grace(
        self, chat_ids: Sequence[str], counsellor_ids: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        """Which of these chats and counsellors the router counts as disconnected, their grace
        time running. One round trip."""
        async with self._client.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.hexists(self.keys.chat_prefix() + chat_id, "grace_until")
            for counsellor_id in counsellor_ids:
                pipe.hexists(self.keys.counsellor_prefix() + counsellor_id, "grace_until")
            found = await pipe.execute()
        chats = [c for c, grace in zip(chat_ids, found[: len(chat_ids)], strict=True) if grace]
        staff = [
            c for c, grace in zip(counsellor_ids, found[len(chat_ids) :], strict=True) if grace
        ]
        return chats, staff

    async def snapshot(self) -> State:
        """The whole routing state read back in one atomic step, as a policy State."""
        pools = [NATIONAL, *self.config.centres]
        meta, counters, waits, answers, counsellors, chats = await self._call(
            "snapshot", repr(self.config.rate_window), *pools
        )

        def objects(flat: Sequence[Any]) -> dict[str, dict[str, str]]:
            return {_text(flat[i]): _pairs(flat[i + 1]) for i in range(0, len(flat), 2)}

        return redis_state.decode_state(
            self.config,
            meta=_pairs(meta),
            counters=_pairs(counters),
            answer_waits=[_text(w) for w in waits],
            answers=[_text(a) for a in answers],
            counsellors=objects(counsellors),
            chats=objects(chats),
        )

    async def dashboard(
        self, list_limit: int = LIST_LIMIT, active_limit: int = ACTIVE_LIMIT
    ) -> dict[str, Any]:
        """The live dashboard (`dashboard_view.dashboard_view` of the state), worked out in
        Redis by `lua/dashboard.lua` in one atomic step that skips closed chats: the figures,
        the listed waiting chats, and the ids of the chats being answered, whose unchanging
        fields this instance reads once and keeps."""
        return (await self.versioned_dashboard(list_limit, active_limit))[0]

    async def versioned_dashboard(
        self,
        list_limit: int = LIST_LIMIT,
        active_limit: int = ACTIVE_LIMIT,
        read: frozenset[str] = EVERYTHING,
        reader: DashboardReader | None = None,
    ) -> tuple[dict[str, Any], str]:
        """The dashboard, and the id of the effects stream's last entry when it was worked out
        (every routing change adds one): views ordered by it are ordered in time. `read` names
        the rows to read again (`dashboard_view.rows_changed_by` of the changes since the
        reader's last call: the lines, every counsellor, or some counsellors' own rows); the
        others are the reader's from its last read of them, or read too when it has none (or
        none as long as `list_limit`). A reader is one caller's, who calls one at a time:
        without one, the queue's own."""
        reader = self._dashboard_reader if reader is None else reader
        read_lines = LINES in read or reader.lines is None or reader.list_limit != list_limit
        read_staff = STAFF in read or reader.staff is None
        some = sorted(r.removeprefix(ONE_COUNSELLOR) for r in read if r.startswith(ONE_COUNSELLOR))
        staff_arg = "all" if read_staff else " ".join(some)
        *lists, version = await self._call(
            "dashboard",
            str(list_limit),
            "1" if read_lines else "",
            staff_arg,
            *sorted(self.config.centres),
        )
        raw_queues, raw_waiting, raw_active, raw_staff = (_text(part) for part in lists)
        if read_lines:
            reader.lines, reader.list_limit = _lines(raw_queues, raw_waiting), list_limit
        if read_staff:
            if raw_active != reader.answered_raw:  # else the same chats are answered as before
                a = raw_active.split("\t") if raw_active else []
                await self._answered_chats(reader, list(zip(a[::2], a[1::2], strict=True)))
                reader.answered_raw = raw_active
            reader.staff = _staff(raw_staff)
        elif some:
            fresh = {row.counsellor_id: row for row in _staff(raw_staff)}
            kept = cast(list[StaffRow], reader.staff)
            reader.staff = [fresh.pop(row.counsellor_id, row) for row in kept]
            reader.staff += fresh.values()  # registered since the last read of them all
        q, listed = cast(_Lines, reader.lines)
        rows = {
            q[i]: queue_row(
                q[i], int(q[i + 1]), int(q[i + 2]), float(q[i + 3]) if q[i + 3] else None
            )
            for i in range(0, len(q), 4)
        }
        for queue, count in reader.answered_per_queue.items():
            rows.setdefault(queue, queue_row(queue))["active"] += count
        view = assemble(
            list(rows.values()),
            listed,
            [active_entry(chat) for chat in reader.answered_newest[:active_limit]],
            cast(list[StaffRow], reader.staff),
        )
        return view, _text(version)

    async def _answered_chats(self, reader: DashboardReader, pairs: list[tuple[str, str]]) -> None:
        """Keep the chats being answered, from (chat, counsellor) pairs: what the reader does
        not know yet is read in one round trip, and what is no longer answered is forgotten;
        with them, how many each queue has and the list newest first."""
        unknown = [pair for pair in pairs if pair not in reader.answered]
        if unknown:
            async with self._client.pipeline(transaction=False) as pipe:
                for chat_id, _ in unknown:
                    pipe.hmget(
                        self.keys.chat_prefix() + chat_id,
                        "queue",
                        "county",
                        "language",
                        "first_answered_at",
                    )
                replies = await pipe.execute()
            for (chat_id, counsellor_id), (queue, county, language, at) in zip(
                unknown, replies, strict=True
            ):
                reader.answered[chat_id, counsellor_id] = ActiveRow(
                    chat_id,
                    _text(queue),
                    _text(county) if county else None,
                    _text(language),
                    counsellor_id,
                    float(_text(at)) if at else None,
                )
        reader.answered = {pair: reader.answered[pair] for pair in pairs}
        rows = reader.answered.values()
        reader.answered_per_queue = Counter(row.queue for row in rows)
        reader.answered_newest = sorted(rows, key=lambda c: (-(c.answered_at or 0.0), c.chat_id))

    async def restore(self, state: State) -> None:
        """Replace the routing state by `state` (e.g. rebuilt from PostgreSQL after Redis lost
        its data). Not atomic with other instances' calls: run it before they route again (the
        service holds `keys.rebuild_lock()`, which this keeps, as it keeps `keys.epoch()` and
        the effects stream, so feeds reading it carry on)."""
        await self._delete(keep=self.keys.control_keys() | {self.keys.effects_stream()})
        await self.configure()
        await self._call("restore", redis_state.encode_state(state))

    async def clear(self) -> None:
        """Delete every routing key under the prefix (the effects stream and epoch included)."""
        await self._delete(keep=frozenset())

    async def _delete(self, keep: frozenset[str]) -> None:
        batch: list[Any] = []
        async for key in self._client.scan_iter(match=self.keys.pattern(), count=1000):
            if _text(key) in keep:
                continue
            batch.append(key)
            if len(batch) >= _CLEAR_BATCH:
                await self._client.unlink(*batch)
                batch.clear()
        if batch:
            await self._client.unlink(*batch)
        self._configured = False


# The queues' figures (the script's fields, 4 a queue) and the listed waiting chats per queue.
_Lines = tuple[list[str], dict[str, list[dict[str, Any]]]]


def _lines(raw_queues: str, raw_waiting: str) -> _Lines:
    q, w = (raw.split("\t") if raw else [] for raw in (raw_queues, raw_waiting))
    listed: dict[str, list[dict[str, Any]]] = {}
    for i in range(0, len(w), 7):
        listed.setdefault(w[i], []).append(
            waiting_entry(
                WaitingRow(
                    chat_id=w[i + 1],
                    place=0.0,
                    queue=w[i],
                    county=w[i + 2] or None,
                    language=w[i + 3],
                    waiting_since=float(w[i + 4]),
                    overflowed=w[i + 5] == "1",
                    offered_to=w[i + 6] or None,
                )
            )
        )
    return q, listed


def _staff(raw_staff: str) -> list[StaffRow]:
    s = raw_staff.split("\t") if raw_staff else []
    return [
        StaffRow(
            counsellor_id=s[i],
            centre=s[i + 1] or None,
            national=s[i + 2] == "1",
            status=s[i + 3],
            capacity=int(s[i + 4]),
            offer=s[i + 5] == "1",
            grace=s[i + 6] == "1",
            load=int(s[i + 7]),
        )
        for i in range(0, len(s), 8)
    ]


@dataclass
class DashboardReader:
    """What one reader of the dashboard (`RedisQueue.versioned_dashboard`) read last, so that
    it reads again only the rows a change can have moved."""

    lines: _Lines | None = None
    list_limit: int = -1  # of `lines`
    staff: list[StaffRow] | None = None
    # What never changes while a chat is answered by one counsellor (queue, county, language,
    # answer time), read once per (chat, counsellor); the script's list they were read from;
    # how many each queue has; the list, newest answer first.
    answered: dict[tuple[str, str], ActiveRow] = field(default_factory=dict)
    answered_raw: str | None = None
    answered_per_queue: Counter[str] = field(default_factory=Counter)
    answered_newest: list[ActiveRow] = field(default_factory=list)
