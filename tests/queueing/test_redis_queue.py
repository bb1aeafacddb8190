"""The Redis routing adapter against the pure policy, against a real Redis.

The key test drives the pure policy and a RedisQueue side by side through random event sequences
and requires the same effects (the policy's, without PositionsChanged), the same refusals, the
same state read back, the same next deadline and the same place for every waiting seeker.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import fields
from typing import Any

import pytest
import redis.asyncio as redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queueing import order, policy
from queueing.dashboard_view import EVERYTHING, dashboard_view, rows_changed_by, rows_of_state
from queueing.effect_codec import decode_effects
from queueing.effects import (
    ChatAssigned,
    ChatEnded,
    ChatOverflowed,
    ChatPosition,
    ChatQueued,
    ChatRequeued,
    Effect,
    OfferMade,
    OfferWithdrawn,
    PositionsChanged,
)
from queueing.events import (
    AcceptOffer,
    ChatArrived,
    DeclineOffer,
    EndChat,
    Event,
    RegisterCounsellor,
    SeekerLeft,
    SetStatus,
)
from queueing.model import (
    NATIONAL,
    CentreConfig,
    ChatStatus,
    Config,
    CounsellorStatus,
    ErrorCode,
    OverflowReason,
    PolicyError,
    State,
)
from queueing.redis_queue import DashboardReader, RedisQueue, RefusedEvent
from tests.queueing.test_dashboard_view import SILENT_EVENTS
from tests.queueing.test_policy import (
    PROPERTY_CENTRES,
    PROPERTY_START,
    STAFF,
    STEP,
    build_event,
    make_config,
)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
T0 = 1_000.0
# Counsellors like some in STAFF (same centre, team and languages), so dispatch meets several
# counsellors of one kind, some of whom declined a chat the others may take.
LOOKALIKES = (
    RegisterCounsellor("o3", "03", False, frozenset({"nb"}), capacity=1),
    RegisterCounsellor("o4", "03", False, frozenset({"nb"})),
    RegisterCounsellor("n3", None, True, frozenset({"nb", "en"}), capacity=1),
)


@asynccontextmanager
async def redis_queue(
    config: Config, decode_responses: bool = True, **options: Any
) -> AsyncIterator[RedisQueue]:
    """A RedisQueue under a prefix of its own, on a client of its own; keys deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=decode_responses)
    queue = RedisQueue(client, f"eguide-test-{secrets.token_hex(4)}:", config, **options)
    try:
        yield queue
    finally:
        await queue.clear()
        await client.aclose()


def closed_at(config: Config, now: float) -> frozenset[str]:
    """Centres closed by their opening hours, as the service's caller computes them."""
    return frozenset(
        county
        for county, centre in config.centres.items()
        if centre.schedule is not None and not centre.schedule.is_open(now)
    )


def schedule_changes(config: Config, after: float, until: float) -> list[float]:
    """Opening-hours changes in (after, until]."""
    found = set()
    for centre in config.centres.values():
        at = after
        while centre.schedule is not None:
            change = centre.schedule.next_change(at)
            if change is None or change > until:
                break
            found.add(change)
            at = change
    return sorted(found)


def without_positions(effects: Sequence[Effect]) -> list[Effect]:
    return [effect for effect in effects if not isinstance(effect, PositionsChanged)]


def differences(got: State, expected: State) -> str:
    """Which parts of two states differ, down to single chats and counsellors."""
    lines = []
    for field in fields(State):
        mine, theirs = getattr(got, field.name), getattr(expected, field.name)
        if mine == theirs:
            continue
        if isinstance(mine, dict) and field.name in ("chats", "counsellors"):
            for key in sorted(set(mine) | set(theirs)):
                if mine.get(key) != theirs.get(key):
                    lines.append(f"{key}:\n  redis {mine.get(key)}\n  pure  {theirs.get(key)}")
        else:
            lines.append(f"{field.name}:\n  redis {mine}\n  pure  {theirs}")
    return "\n".join(lines)


class Twin:
    """The pure policy and a RedisQueue, driven with the same calls and compared after each."""

    def __init__(self, state: State, queue: RedisQueue) -> None:
        self.state = state
        self.queue = queue
        # As the instance computing the dashboard does: after each call, read again only the
        # rows the call's effects can have changed.
        self.reader = DashboardReader()

    async def tick(self, now: float) -> list[Effect]:
        expected = without_positions(policy.tick(self.state, now))
        got = await self.queue.tick(now, closed_at(self.state.config, now))
        assert got == expected
        await self.check(now, got)
        return got

    async def apply(self, event: Event, now: float) -> list[Effect]:
        expected = without_positions(policy.tick(self.state, now))
        code = None
        try:
            expected += without_positions(policy.apply(self.state, event, now))
        except PolicyError as refusal:
            code = refusal.code
        try:
            got = await self.queue.apply(event, now, closed_at(self.state.config, now))
            got_code = None
        except RefusedEvent as refusal:
            got, got_code = refusal.effects, refusal.code
        assert (got_code, got) == (code, expected), event
        await self.check(now, () if isinstance(event, SILENT_EVENTS) else got)
        return got

    async def check(self, now: float, effects: Sequence[Effect] = ()) -> None:
        snapshot = await self.queue.snapshot()
        assert snapshot == self.state, differences(snapshot, self.state)
        assert await self.queue.next_deadline() == policy.next_deadline(self.state)
        expected = order.positions(self.state, now)
        ids = sorted(self.state.chats)
        assert await self.queue.positions([*ids, "unknown"], now) == expected
        some = ids[::2]  # an instance asks only for its own seekers
        assert await self.queue.positions(some, now) == {
            chat_id: place for chat_id, place in expected.items() if chat_id in some
        }
        # The dashboard worked out in Redis is the pure view of the same state.
        rows, counties = rows_of_state(self.state), sorted(self.state.config.centres)
        for limits in ((25, 100), (1, 1), (0, 0)):
            pure = dashboard_view(rows, counties, *limits)
            assert await self.queue.dashboard(*limits) == pure, limits
        # A call with no effect, or a silent one (SILENT_EVENTS), leaves it to the dashboard's
        # periodic full read to show.
        read = frozenset().union(*(rows_changed_by(effect) for effect in effects)) or EVERYTHING
        view, _ = await self.queue.versioned_dashboard(read=read, reader=self.reader)
        assert view == dashboard_view(rows, counties), sorted(read)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(STEP, min_size=20, max_size=50),
    away_on_timeout=st.booleans(),
    restore_at=st.integers(0, 60),
    crowded=st.booleans(),
)
async def test_redis_queue_makes_the_same_decisions_as_the_pure_policy(
    steps: list[tuple[float, str, int, int]],
    away_on_timeout: bool,
    restore_at: int,
    crowded: bool,
) -> None:
    config = make_config(
        centres=PROPERTY_CENTRES,
        extra_languages=frozenset({"se"}),
        away_on_offer_timeout=away_on_timeout,
    )
    async with redis_queue(config) as queue:
        twin = Twin(State(config), queue)
        now = PROPERTY_START
        for register in STAFF + (LOOKALIKES if crowded else ()):
            await twin.apply(register, now)
            await twin.apply(SetStatus(register.counsellor_id, "available"), now)
        for n, county in enumerate(("03", None, "11", "03")):
            await twin.apply(ChatArrived(f"seed-{n}", county, "nb"), now)
        for number, (dt, kind, i, j) in enumerate(steps):
            before, now = now, now + dt
            # The service wakes at every opening-hours change, having fired what fell due before.
            for change in schedule_changes(config, before, now):
                await twin.tick(change - 0.001)
                await twin.tick(change)
            if number == restore_at:  # Redis lost its data and is rebuilt from the record
                await queue.clear()
                await queue.restore(twin.state)
                await twin.check(before)
            if i % 7 == 0:
                await twin.tick(now)
            await twin.apply(build_event(twin.state, kind, i, j), now)


# --- places in line -------------------------------------------------------------------------------


async def test_places_of_many_seekers_asked_at_once_are_the_pure_policys() -> None:
    """County chats, national ones, overflowed ones (in both lines, placed in the pool), an
    offered one, one handed back to the front, answered and abandoned ones, pools with answers
    in the window and one without: all asked at once, and one by one."""
    centres = {"03": CentreConfig(), "11": CentreConfig(overflow_after=60.0), "42": CentreConfig()}
    config = make_config(centres=centres)
    async with redis_queue(config) as queue:
        twin = Twin(State(config), queue)
        for event in (
            RegisterCounsellor("oslo-1", "03", False, frozenset({"nb"}), capacity=1),
            RegisterCounsellor("oslo-2", "03", False, frozenset({"nb"}), capacity=1),
            RegisterCounsellor("roga", "11", False, frozenset({"nb"}), capacity=1),
            RegisterCounsellor("team", None, True, frozenset({"en"}), capacity=1),
            RegisterCounsellor("agder", "42", False, frozenset({"en"})),  # answers none of them
            *(SetStatus(c, "available") for c in ("oslo-1", "oslo-2", "roga", "team", "agder")),
        ):
            await twin.apply(event, T0)

        kinds = (("03", "nb"), ("11", "nb"), (None, "nb"), (None, "en"), ("42", "nb"))

        async def arrive(first: int, count: int, at: float) -> None:
            for n in range(first, first + count):
                county, language = kinds[n % len(kinds)]
                await twin.apply(ChatArrived(f"c{n:03d}", county, language), at + n / 100)

        await arrive(0, 60, T0)
        for chat in list(twin.state.chats.values()):  # everyone offered one accepts it
            if chat.offer is not None:
                await twin.apply(AcceptOffer(chat.id, chat.offer.counsellor_id), T0 + 10)
        oslo_1 = twin.state.counsellors["oslo-1"]
        handed_back = next(iter(oslo_1.active))
        await twin.apply(SetStatus("oslo-1", "offline"), T0 + 11)  # back to the front of 03
        await twin.apply(SeekerLeft("c008"), T0 + 12)
        await arrive(60, 40, T0 + 20)
        await twin.tick(T0 + 70)  # the first arrivals for 11 waited a minute: they overflow
        await twin.apply(RegisterCounsellor("team-2", None, True, frozenset({"nb"})), T0 + 70)
        await twin.apply(SetStatus("team-2", "available"), T0 + 70)  # offered the pool's head

        now = T0 + 71
        expected = order.positions(twin.state, now)
        chats = twin.state.chats.values()
        assert {place.pool for place in expected.values()} == {"03", "11", "42", NATIONAL}
        assert any(chat.overflowed and chat.id in expected for chat in chats)
        assert any(chat.status is ChatStatus.OFFERED for chat in chats)
        assert expected[handed_back] == ChatPosition(handed_back, "03", 1, 600.0 / 2)
        assert {place.expected_wait is None for place in expected.values()} == {True, False}
        assert await queue.positions(sorted(twin.state.chats), now) == expected
        for chat_id in sorted(twin.state.chats):
            assert await queue.position(chat_id, now) == expected.get(chat_id)
        assert await queue.positions([], now) == {}


# --- state read back and written -----------------------------------------------------------------


async def busy_twin(queue: RedisQueue) -> Twin:
    """A twin with counsellors, waiting, offered, active, ended and abandoned chats."""
    twin = Twin(State(queue.config), queue)
    now = T0
    for event in (
        RegisterCounsellor("a", "03", False, frozenset({"nb"}), capacity=1),
        RegisterCounsellor("n", None, True, frozenset({"nb", "en"})),
        SetStatus("a", "available"),
        SetStatus("n", "available"),
        ChatArrived("c1", "03", "nb"),
        ChatArrived("c2", None, "en"),
        AcceptOffer("c1", "a"),
        ChatArrived("c3", "03", "nb"),
        ChatArrived("c4", "11", "nb"),
        ChatArrived("c5", None, "nb"),
        SeekerLeft("c4"),
        EndChat("c1", "a"),
        DeclineOffer("c2", "n"),
    ):
        now += 1
        await twin.apply(event, now)
    return twin


async def test_restore_of_a_snapshot_gives_back_the_same_state_that_routes_the_same() -> None:
    async with redis_queue(make_config()) as queue:
        twin = await busy_twin(queue)
        snapshot = await queue.snapshot()
        await queue.restore(snapshot)
        assert await queue.snapshot() == twin.state
        await twin.apply(SetStatus("a", "offline"), T0 + 100)
        await twin.tick(T0 + 1_000)


async def test_restore_works_on_a_client_that_returns_bytes() -> None:
    async with redis_queue(make_config(), decode_responses=False) as queue:
        twin = await busy_twin(queue)
        await queue.restore(twin.state)
        await twin.check(T0 + 20)


async def test_clear_deletes_every_routing_key_and_nothing_else() -> None:
    async with redis_queue(make_config()) as queue:
        client = queue._client
        other = f"{queue.keys.prefix}session:abc"
        await client.set(other, "x")
        await busy_twin(queue)
        assert await client.exists(queue.keys.effects_stream())
        await queue.clear()
        assert [k async for k in client.scan_iter(match=queue.keys.pattern())] == []
        assert await client.get(other) == "x"
        await client.delete(other)
        assert await queue.snapshot() == State(queue.config)
        assert await queue.apply(ChatArrived("c1", None, "nb"), T0) == [ChatQueued("c1", NATIONAL)]


async def test_restore_keeps_the_epoch_the_rebuild_lock_and_the_stream_and_clear_does_not() -> None:
    async with redis_queue(make_config()) as queue:
        client, keys = queue._client, queue.keys
        twin = await busy_twin(queue)
        await client.set(keys.epoch(), "instance-a")
        await client.set(keys.rebuild_lock(), "instance-a", ex=60)
        entries = await client.xlen(keys.effects_stream())
        await queue.restore(twin.state)
        assert await client.get(keys.epoch()) == "instance-a"
        assert await client.get(keys.rebuild_lock()) == "instance-a"
        assert await client.xlen(keys.effects_stream()) == entries
        await queue.clear()
        assert not await client.exists(keys.epoch(), keys.rebuild_lock(), keys.effects_stream())


async def test_every_key_is_under_the_prefix_and_hash_tag() -> None:
    async with redis_queue(make_config()) as queue:
        await busy_twin(queue)
        keys = [k async for k in queue._client.scan_iter(match=f"{queue.keys.prefix}*")]
        assert keys
        assert all(key.startswith(f"{queue.keys.prefix}{{routing}}:") for key in keys)


# --- scripts, settings and the stream -------------------------------------------------------------


async def test_scripts_are_reloaded_after_script_flush() -> None:
    async with redis_queue(make_config()) as queue:
        await queue.apply(ChatArrived("c1", None, "nb"), T0)
        await queue._client.script_flush()
        assert await queue.apply(ChatArrived("c2", None, "nb"), T0) == [ChatQueued("c2", NATIONAL)]
        assert await queue.position("c2", T0) is not None


async def test_lost_settings_are_written_again_before_routing() -> None:
    async with redis_queue(make_config()) as queue:
        await queue.apply(RegisterCounsellor("a", "03", False, frozenset({"nb"})), T0)
        await queue._client.delete(queue.keys.config())
        await queue.apply(SetStatus("a", "available"), T0)
        effects = await queue.apply(ChatArrived("c1", "03", "nb"), T0)
        assert OfferMade("c1", "a", T0 + 30.0) in effects


async def test_another_instance_with_other_settings_is_noticed() -> None:
    async with redis_queue(make_config()) as queue:
        await queue.apply(RegisterCounsellor("a", "03", False, frozenset({"nb"})), T0)
        other = RedisQueue(queue._client, queue.keys.prefix, make_config(offer_timeout=5.0))
        await other.apply(SetStatus("a", "available"), T0)
        effects = await other.apply(ChatArrived("c1", "03", "nb"), T0)
        assert OfferMade("c1", "a", T0 + 5.0) in effects


async def test_effects_stream_gets_each_calls_effects_in_order() -> None:
    async with redis_queue(make_config()) as queue:
        returned = []
        for event in (
            RegisterCounsellor("a", None, True, frozenset({"nb"})),
            SetStatus("a", "available"),
            ChatArrived("c1", None, "nb"),
            AcceptOffer("c1", "a"),
        ):
            returned.append(await queue.apply(event, T0))
        with pytest.raises(PolicyError):
            await queue.apply(AcceptOffer("c1", "a"), T0)
        returned.append(await queue.tick(T0 + 1))
        entries = await queue._client.xrange(queue.keys.effects_stream())
        assert [decode_effects(fields["effects"]) for _, fields in entries] == [
            effects for effects in returned if effects
        ]
        assert {fields["at"] for _, fields in entries} == {"1000"}


async def test_refused_event_changes_nothing_and_carries_the_timers_effects() -> None:
    async with redis_queue(make_config()) as queue:
        await queue.apply(RegisterCounsellor("a", None, True, frozenset({"nb"})), T0)
        await queue.apply(SetStatus("a", "available"), T0)
        await queue.apply(ChatArrived("c1", None, "nb"), T0)
        before = await queue.snapshot()
        with pytest.raises(RefusedEvent) as refused:
            await queue.apply(AcceptOffer("c1", "someone"), T0 + 1)
        assert refused.value.code is ErrorCode.UNKNOWN_COUNSELLOR
        assert refused.value.effects == []
        assert await queue.snapshot() == before
        with pytest.raises(RefusedEvent) as refused:
            await queue.apply(AcceptOffer("c1", "a"), T0 + 30)  # the offer timed out first
        assert refused.value.code is ErrorCode.NO_OFFER
        assert OfferWithdrawn("c1", "a", "timed_out") in refused.value.effects  # type: ignore[arg-type]


async def test_clock_never_runs_backwards_between_instances() -> None:
    async with redis_queue(make_config()) as queue:
        await queue.apply(RegisterCounsellor("a", None, True, frozenset({"nb"})), T0)
        await queue.apply(SetStatus("a", "available"), T0 + 10)
        effects = await queue.apply(ChatArrived("c1", None, "nb"), T0 + 5)  # a slower clock
        assert OfferMade("c1", "a", T0 + 40.0) in effects


async def test_closed_chats_are_forgotten_after_the_retention_time() -> None:
    async with redis_queue(make_config(), closed_retention=100.0) as queue:
        await queue.apply(ChatArrived("c1", None, "nb"), T0)
        await queue.apply(SeekerLeft("c1"), T0 + 1)
        with pytest.raises(PolicyError) as refused:
            await queue.apply(SeekerLeft("c1"), T0 + 100)
        assert refused.value.code is ErrorCode.CHAT_CLOSED
        await queue.tick(T0 + 101)
        with pytest.raises(PolicyError) as refused:
            await queue.apply(SeekerLeft("c1"), T0 + 102)
        assert refused.value.code is ErrorCode.UNKNOWN_CHAT


@pytest.mark.parametrize("times", [(-5.0, -1.0), (-1.0, 0.0), (-0.0, 0.0), (0.5, 3.0)])
async def test_longest_idle_goes_first_for_any_idle_time(times: tuple[float, float]) -> None:
    async with redis_queue(make_config()) as queue:
        twin = Twin(State(queue.config), queue)
        first, second = times
        await twin.apply(RegisterCounsellor("b", None, True, frozenset({"nb"})), first)
        await twin.apply(SetStatus("b", "available"), first)
        await twin.apply(RegisterCounsellor("a", None, True, frozenset({"nb"})), second)
        await twin.apply(SetStatus("a", "available"), second)
        effects = await twin.apply(ChatArrived("c1", None, "nb"), second)
        expected = "b" if first != second else "a"  # equal times: the id decides
        assert [e.counsellor_id for e in effects if isinstance(e, OfferMade)] == [expected]


async def test_a_centre_closed_by_opening_hours_overflows_new_chats_at_once() -> None:
    class Shut:
        def is_open(self, at: float) -> bool:
            return False

        def next_change(self, at: float) -> float | None:
            return None

    config = make_config(centres={"03": CentreConfig(schedule=Shut())})
    async with redis_queue(config) as queue:
        twin = Twin(State(config), queue)
        await twin.apply(RegisterCounsellor("a", "03", False, frozenset({"nb"})), T0)
        await twin.apply(SetStatus("a", "available"), T0)
        effects = await twin.apply(ChatArrived("c1", "03", "nb"), T0)
        assert ChatOverflowed("c1", "03", OverflowReason.CLOSED, 0.0) in effects


# --- many instances at once -----------------------------------------------------------------------


def replay_offers(effects: Sequence[Effect], capacity: dict[str, int]) -> None:
    """From effects in commit order: no chat is offered while an offer of it is open, and no
    counsellor ever holds more chats (active and offered) than their capacity."""
    open_offers: dict[str, str] = {}
    held: dict[str, set[str]] = {cid: set() for cid in capacity}
    for effect in effects:
        match effect:
            case OfferMade(chat_id=chat, counsellor_id=cid):
                assert chat not in open_offers, f"{chat} offered twice"
                open_offers[chat] = cid
                held[cid].add(chat)
                assert len(held[cid]) <= capacity[cid], f"{cid} over capacity"
            case OfferWithdrawn(chat_id=chat, counsellor_id=cid):
                assert open_offers.pop(chat) == cid
                held[cid].discard(chat)
            case ChatAssigned(chat_id=chat, counsellor_id=cid):
                assert open_offers.pop(chat) == cid
            case ChatEnded(chat_id=chat, counsellor_id=cid):
                held[cid].discard(chat)
            case ChatRequeued(chat_id=chat, from_counsellor=cid):
                held[cid].discard(chat)


async def test_two_instances_never_double_offer_or_exceed_capacity() -> None:
    config = make_config()
    async with redis_queue(config) as first:
        client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        second = RedisQueue(client, first.keys.prefix, config)
        staff = {f"s{n}": 1 + n % 3 for n in range(8)}
        for n, (cid, capacity) in enumerate(staff.items()):
            centre = ("03", "11", None)[n % 3]
            await first.apply(
                RegisterCounsellor(
                    cid,
                    centre,
                    centre is None or n % 2 == 0,
                    frozenset({"nb"}),
                    capacity,
                    auto_accept=n % 4 == 0,
                ),
                T0,
            )
        clock = [T0]
        offered: dict[str, str] = {}
        answered: list[tuple[str, str]] = []

        async def call(queue: RedisQueue, event: Event) -> None:
            clock[0] += 0.01
            try:
                effects = await queue.apply(event, clock[0])
            except PolicyError:
                return
            for effect in effects:
                if isinstance(effect, OfferMade):
                    offered[effect.chat_id] = effect.counsellor_id

        async def seekers(queue: RedisQueue, name: str) -> None:
            for n in range(60):
                county = ("03", "11", None)[n % 3]
                await call(queue, ChatArrived(f"{name}-{n}", county, "nb"))
                if n % 5 == 4:
                    await call(queue, SeekerLeft(f"{name}-{n - 2}"))

        async def counsellors(queue: RedisQueue, turn: int) -> None:
            for n in range(120):
                cid = list(staff)[(n + turn) % len(staff)]
                status = ("available", "available", "away", "offline")[(n // 8 + turn) % 4]
                await call(queue, SetStatus(cid, status))
                for chat, holder in list(offered.items())[:3]:
                    offered.pop(chat, None)  # another task may have taken it
                    if (n + len(chat)) % 3:
                        await call(queue, AcceptOffer(chat, holder))
                        answered.append((chat, holder))
                    else:
                        await call(queue, DeclineOffer(chat, holder))
                if n % 3 == 0 and answered:
                    await call(queue, EndChat(*answered.pop(0)))

        try:
            await asyncio.gather(
                seekers(first, "x"),
                seekers(second, "y"),
                counsellors(first, 0),
                counsellors(second, 1),
                counsellors(second, 2),
            )
        finally:
            await client.aclose()
        state = await first.snapshot()
        entries = await first._client.xrange(first.keys.effects_stream())
        effects = [e for _, f in entries for e in decode_effects(f["effects"])]
        assert sum(isinstance(e, ChatAssigned) for e in effects) > 20  # the run did real work
        replay_offers(effects, staff)
        for chat in state.chats.values():
            if chat.offer is not None:
                holder = state.counsellors[chat.offer.counsellor_id]
                assert holder.offer == chat.id and chat.status is ChatStatus.OFFERED
            if chat.status is ChatStatus.ACTIVE:
                owners = [c.id for c in state.counsellors.values() if chat.id in c.active]
                assert owners == [chat.counsellor_id]
        for counsellor in state.counsellors.values():
            held = len(counsellor.active) + (counsellor.offer is not None)
            assert held <= counsellor.capacity
            if counsellor.status is CounsellorStatus.OFFLINE:
                assert not counsellor.active
        assert order.best_pair(state) is None


async def test_standing_and_one_chat_and_counsellor_read_back_as_the_pure_state() -> None:
    for decode in (True, False):
        async with redis_queue(make_config(), decode_responses=decode) as queue:
            twin = await busy_twin(queue)
            for chat in twin.state.chats.values():
                assert await queue.standing(chat.id) == (chat.status, chat.counsellor_id)
                assert await queue.chat(chat.id) == chat
            for counsellor in twin.state.counsellors.values():
                assert await queue.counsellor(counsellor.id) == counsellor
            assert await queue.standing("no-such-chat") is None
            assert await queue.chat("no-such-chat") is None
            assert await queue.counsellor("no-such-counsellor") is None
