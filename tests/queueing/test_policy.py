"""The routing policy, rule by rule, on a virtual clock; then random event sequences.

No event loop, no Redis: events and times in, effects and state out. `World` ticks to each event's
time before applying it, as an adapter does.
"""

from __future__ import annotations

import copy
import math
import pickle
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queueing import order
from queueing.effects import (
    AbandonReason,
    ChatAbandoned,
    ChatAssigned,
    ChatEnded,
    ChatOverflowed,
    ChatPosition,
    ChatQueued,
    ChatRequeued,
    CounsellorStatusChanged,
    Effect,
    OfferMade,
    OfferWithdrawn,
    PositionsChanged,
    RequeueReason,
    Side,
    StatusReason,
    WithdrawReason,
)
from queueing.events import (
    AcceptOffer,
    ChatArrived,
    CounsellorDisconnected,
    CounsellorReconnected,
    DeclineOffer,
    EndChat,
    Event,
    RegisterCounsellor,
    SeekerDisconnected,
    SeekerLeft,
    SeekerReconnected,
    SetAutoAccept,
    SetCapacity,
    SetStatus,
    TransferToCounsellor,
    TransferToQueue,
    UpdateCounsellor,
)
from queueing.hours import OpeningHours, norwegian_public_holidays
from queueing.model import (
    NATIONAL,
    UNANSWERED,
    CentreConfig,
    ChatStatus,
    Config,
    Counsellor,
    CounsellorStatus,
    ErrorCode,
    Overflow,
    OverflowReason,
    PolicyError,
    State,
)
from queueing.policy import apply, next_deadline, tick

T0 = 1_000.0
E = TypeVar("E")
COUNTIES = ("03", "11", "46", "55")
OSLO = ZoneInfo("Europe/Oslo")


def make_config(**overrides: object) -> Config:
    centres = overrides.pop("centres", {county: CentreConfig() for county in COUNTIES})
    return Config(centres=centres, **overrides)  # type: ignore[arg-type]


def oslo(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    """Epoch seconds of a wall-clock time in Oslo."""
    return datetime(year, month, day, hour, minute, tzinfo=OSLO).timestamp()


class World:
    """A routing state on a virtual clock."""

    def __init__(self, config: Config | None = None, now: float = T0) -> None:
        self.state = State(config or make_config())
        self.now = now

    def at(self, t: float, *events: Event) -> list[Effect]:
        """Move the clock to `t` (ticking, as an adapter would) and apply the events there."""
        assert t >= self.now
        self.now = t
        effects = tick(self.state, t)
        for event in events:
            effects += apply(self.state, event, t)
        return effects

    def later(self, dt: float, *events: Event) -> list[Effect]:
        return self.at(self.now + dt, *events)

    def counsellor(
        self,
        cid: str,
        centre: str | None = "03",
        national: bool = False,
        languages: Sequence[str] = ("nb",),
        capacity: int = 2,
        auto_accept: bool = False,
        status: str = "available",
    ) -> list[Effect]:
        register = RegisterCounsellor(
            cid, centre, national, frozenset(languages), capacity, auto_accept
        )
        return self.at(self.now, register, SetStatus(cid, status))

    def arrive(self, chat_id: str, county: str | None = "03", language: str = "nb") -> list[Effect]:
        return self.at(self.now, ChatArrived(chat_id, county, language))

    def busy_counsellor(self, cid: str = "busy", centre: str = "03") -> None:
        """A centre counsellor at capacity: the centre is staffed but takes nothing new."""
        self.counsellor(cid, centre=centre, capacity=1)
        self.arrive(f"{cid}-chat", centre)
        self.at(self.now, AcceptOffer(f"{cid}-chat", cid))

    def status(self, chat_id: str) -> ChatStatus:
        return self.state.chats[chat_id].status

    def position(self, chat_id: str) -> tuple[str, int]:
        found = order.positions(self.state, self.now)[chat_id]
        return found.pool, found.position


def offers(effects: Sequence[Effect]) -> list[tuple[str, str]]:
    return [(e.chat_id, e.counsellor_id) for e in effects if isinstance(e, OfferMade)]


def of_type(effects: Sequence[Effect], kind: type[E]) -> list[E]:
    return [e for e in effects if isinstance(e, kind)]


# --- queues and eligibility ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("county", "expected_queue"),
    [("03", "03"), (None, NATIONAL), ("46", NATIONAL)],
    ids=["county-with-staff", "no-county", "county-without-staff"],
)
def test_chat_joins_its_county_queue_else_the_national_queue(
    county: str | None, expected_queue: str
) -> None:
    w = World()
    w.busy_counsellor()
    effects = w.arrive("c1", county)
    assert of_type(effects, ChatQueued) == [ChatQueued("c1", expected_queue)]
    assert w.state.chats["c1"].queue == expected_queue
    assert not w.state.chats["c1"].overflowed


@pytest.mark.parametrize(
    ("centre", "national", "languages", "county", "language", "offered"),
    [
        ("03", False, ("nb",), "03", "nb", True),
        ("03", False, ("en",), "03", "nb", False),
        ("11", False, ("nb",), "03", "nb", False),
        (None, True, ("nb",), "03", "nb", False),
        (None, True, ("nb",), None, "nb", True),
        ("03", False, ("nb",), None, "nb", False),
        ("03", True, ("nb", "en"), None, "en", True),
    ],
    ids=[
        "own-county",
        "wrong-language",
        "other-county",
        "national-team-not-for-fresh-county-chat",
        "national-team-for-national-chat",
        "county-counsellor-not-for-national-chat",
        "both-for-national-chat",
    ],
)
def test_chat_is_offered_only_to_eligible_counsellors(
    centre: str | None,
    national: bool,
    languages: tuple[str, ...],
    county: str | None,
    language: str,
    offered: bool,
) -> None:
    w = World()
    w.busy_counsellor()
    w.counsellor("x", centre, national, languages)
    effects = w.arrive("c1", county, language)
    assert offers(effects) == ([("c1", "x")] if offered else [])


def test_overflowed_chat_may_be_taken_by_county_and_national_team() -> None:
    w = World()
    w.busy_counsellor()
    w.arrive("c1")
    w.arrive("c2")
    w.counsellor("n", None, national=True)
    assert offers(w.later(90)) == [("c1", "n")]  # one pending offer at a time
    w.at(w.now, EndChat("busy-chat", "busy"))
    assert w.state.chats["c2"].offer is not None
    assert w.state.chats["c2"].offer.counsellor_id == "busy"


# --- overflow ------------------------------------------------------------------------------------


@pytest.mark.parametrize("overflow_after", [90.0, 30.0], ids=["default-90s", "centre-30s"])
def test_county_chat_overflows_after_centre_overflow_time(overflow_after: float) -> None:
    centres = {"03": CentreConfig(overflow_after=overflow_after), "11": CentreConfig()}
    w = World(make_config(centres=centres))
    w.busy_counsellor()
    w.later(1)
    w.arrive("c1")
    arrived = w.now
    assert next_deadline(w.state) == arrived + overflow_after
    assert of_type(w.at(arrived + overflow_after - 0.001), ChatOverflowed) == []
    effects = w.at(arrived + overflow_after)
    assert of_type(effects, ChatOverflowed) == [
        ChatOverflowed("c1", "03", OverflowReason.WAITED, overflow_after)
    ]
    assert w.state.chats["c1"].overflows == [
        Overflow(arrived + overflow_after, OverflowReason.WAITED)
    ]
    assert w.position("c1") == (NATIONAL, 1)


@pytest.mark.parametrize("status", ["away", "offline"])
def test_county_chat_overflows_at_once_when_no_centre_counsellor_is_available(status: str) -> None:
    w = World()
    w.counsellor("o", status=status)
    effects = w.arrive("c1")
    assert of_type(effects, ChatOverflowed) == [
        ChatOverflowed("c1", "03", OverflowReason.NO_STAFF, 0.0)
    ]


def test_busy_centre_counsellor_keeps_chat_in_county_queue() -> None:
    w = World()
    w.busy_counsellor()
    assert of_type(w.arrive("c1"), ChatOverflowed) == []
    assert w.position("c1") == ("03", 1)


@pytest.mark.parametrize("status", ["away", "offline"])
def test_waiting_chats_overflow_when_last_centre_counsellor_leaves(status: str) -> None:
    w = World()
    w.busy_counsellor()
    w.arrive("c1")
    w.arrive("c2")
    effects = w.later(5, SetStatus("busy", status))
    overflowed = {e.chat_id: e for e in of_type(effects, ChatOverflowed)}
    assert overflowed["c1"] == ChatOverflowed("c1", "03", OverflowReason.NO_STAFF, 5.0)
    assert overflowed["c2"].reason is OverflowReason.NO_STAFF


def test_chat_overflows_when_centre_closes() -> None:
    hours = OpeningHours.weekdays(time(8), time(15, 30))
    w = World(make_config(centres={"03": CentreConfig(schedule=hours)}), oslo(2025, 1, 6, 15, 29))
    w.busy_counsellor()
    w.arrive("c1")
    assert next_deadline(w.state) == oslo(2025, 1, 6, 15, 30)
    effects = w.at(oslo(2025, 1, 6, 15, 30))
    assert of_type(effects, ChatOverflowed) == [
        ChatOverflowed("c1", "03", OverflowReason.CLOSED, 60.0)
    ]


@pytest.mark.parametrize(
    "moment",
    [(2025, 1, 11, 10, 0), (2025, 1, 6, 7, 59), (2025, 5, 1, 10, 0), (2025, 5, 17, 12, 0)],
    ids=["saturday", "before-opening", "labour-day", "constitution-day"],
)
def test_chat_arriving_while_centre_is_closed_overflows_at_once(moment: tuple[int, ...]) -> None:
    closed = norwegian_public_holidays([2025])
    hours = OpeningHours.weekdays(time(8), time(15, 30), closed)
    w = World(make_config(centres={"03": CentreConfig(schedule=hours)}), oslo(*moment))
    w.counsellor("n", None, national=True, status="away")
    w.busy_counsellor()
    effects = w.arrive("c1")
    assert of_type(effects, ChatOverflowed) == [
        ChatOverflowed("c1", "03", OverflowReason.CLOSED, 0.0)
    ]


# --- order ---------------------------------------------------------------------------------------


def test_own_county_chats_offered_before_national() -> None:
    w = World()
    w.busy_counsellor()
    w.arrive("older-national", None)
    w.later(1)
    w.arrive("county", "03")
    effects = w.counsellor("m", "03", national=True, capacity=1)
    assert offers(effects) == [("county", "m")]


def test_oldest_chat_is_offered_first() -> None:
    w = World()
    w.busy_counsellor()
    for i in range(3):
        w.later(1)
        w.arrive(f"c{i}")
    assert offers(w.counsellor("a", capacity=3)) == [("c0", "a")]
    assert offers(w.later(1, AcceptOffer("c0", "a"))) == [("c1", "a")]


def test_returned_chat_goes_before_older_chats() -> None:
    w = World()
    w.counsellor("a", capacity=1)
    w.counsellor("b", capacity=1)
    w.arrive("first")
    w.arrive("second")
    w.at(w.now, AcceptOffer("first", "a"), AcceptOffer("second", "b"))
    w.counsellor("c", capacity=1)
    w.arrive("c-chat")
    w.at(w.now, AcceptOffer("c-chat", "c"))
    w.later(1)
    w.arrive("old")
    w.arrive("newer")
    effects = w.later(1, SetStatus("b", "offline"))
    assert of_type(effects, ChatRequeued) == [
        ChatRequeued("second", "03", "b", RequeueReason.COUNSELLOR_LEFT)
    ]
    w.later(1, SetStatus("a", "offline"))
    assert [w.position(c) for c in ("second", "first", "old", "newer")] == [
        ("03", 1),
        ("03", 2),
        ("03", 3),
        ("03", 4),
    ]
    assert offers(w.later(1, EndChat("c-chat", "c"))) == [("second", "c")]


def test_declined_offer_returns_chat_to_its_place() -> None:
    w = World()
    w.busy_counsellor()
    for chat_id in ("c1", "c2", "c3"):
        w.arrive(chat_id)
    w.counsellor("a", capacity=1)
    effects = w.later(1, DeclineOffer("c1", "a"))
    assert of_type(effects, OfferWithdrawn) == [OfferWithdrawn("c1", "a", WithdrawReason.DECLINED)]
    assert offers(effects) == [("c2", "a")]
    assert w.position("c1") == ("03", 1)
    assert offers(w.counsellor("b", capacity=1)) == [("c1", "b")]


@pytest.mark.parametrize("set_away", [True, False], ids=["set-away", "stays-available"])
def test_timed_out_offer_returns_chat_to_its_place(set_away: bool) -> None:
    w = World(make_config(away_on_offer_timeout=set_away))
    w.busy_counsellor()
    w.arrive("c1")
    w.arrive("c2")
    w.counsellor("a", capacity=1)
    effects = w.later(30)
    assert of_type(effects, OfferWithdrawn) == [OfferWithdrawn("c1", "a", WithdrawReason.TIMED_OUT)]
    away = CounsellorStatusChanged("a", CounsellorStatus.AWAY, StatusReason.OFFER_TIMED_OUT)
    assert (away in effects) is set_away
    assert offers(effects) == ([] if set_away else [("c2", "a")])
    assert w.status("c1") is ChatStatus.WAITING
    assert w.position("c1") == ("03", 1)
    assert w.state.counters.offers_timed_out == 1


def _tie_goes_by_id(w: World) -> str:
    w.counsellor("b")
    w.counsellor("a")
    return "a"


def _least_loaded(w: World) -> str:
    w.counsellor("a")
    w.counsellor("b")
    w.arrive("x")
    w.at(w.now, AcceptOffer("x", "a"))
    return "b"


def _longest_idle_since_available(w: World) -> str:
    w.counsellor("a", status="away")
    w.counsellor("b", status="away")
    w.later(5, SetStatus("b", "available"))
    w.later(5, SetStatus("a", "available"))
    return "b"


def _longest_idle_since_last_chat(w: World) -> str:
    w.counsellor("a")
    w.counsellor("b")
    w.arrive("x")
    w.arrive("y")
    w.at(w.now, AcceptOffer("x", "a"), AcceptOffer("y", "b"))
    w.later(5, EndChat("y", "b"))
    w.later(5, EndChat("x", "a"))
    return "b"


@pytest.mark.parametrize(
    "setup",
    [_tie_goes_by_id, _least_loaded, _longest_idle_since_available, _longest_idle_since_last_chat],
    ids=lambda f: f.__name__.strip("_"),
)
def test_least_loaded_then_longest_idle_counsellor_gets_offer(
    setup: Callable[[World], str],
) -> None:
    w = World()
    expected = setup(w)
    w.later(1)
    assert offers(w.arrive("c1")) == [("c1", expected)]


# --- offers and capacity -------------------------------------------------------------------------


def test_accepted_offer_makes_chat_active() -> None:
    w = World()
    w.counsellor("a")
    w.later(4)
    (offer,) = of_type(w.arrive("c1"), OfferMade)
    assert offer == OfferMade("c1", "a", w.now + 30)
    effects = w.later(3, AcceptOffer("c1", "a"))
    assert ChatAssigned("c1", "a", 3.0, auto_accepted=False) in effects
    assert w.status("c1") is ChatStatus.ACTIVE
    assert w.state.counsellors["a"].active == {"c1"}


def test_one_pending_offer_per_counsellor_and_never_two_counsellors_per_chat() -> None:
    w = World()
    w.counsellor("a", capacity=3)
    effects = w.arrive("c1") + w.arrive("c2")
    assert offers(effects) == [("c1", "a")]
    w.counsellor("b")
    assert w.state.chats["c2"].offer is not None
    assert w.state.chats["c2"].offer.counsellor_id == "b"
    assert offers(w.later(1, AcceptOffer("c1", "a"))) == []


def test_pending_offer_counts_against_capacity_until_capacity_is_raised() -> None:
    w = World()
    w.counsellor("a", capacity=2)
    for chat_id in ("c1", "c2", "c3"):
        w.arrive(chat_id)
    w.at(w.now, AcceptOffer("c1", "a"), AcceptOffer("c2", "a"))
    assert w.status("c3") is ChatStatus.WAITING
    assert offers(w.later(1, SetCapacity("a", 3))) == [("c3", "a")]


def test_lowering_capacity_withdraws_an_offer_that_no_longer_fits() -> None:
    w = World()
    w.counsellor("a", capacity=2)
    w.arrive("c1")
    w.arrive("c2")
    w.at(w.now, AcceptOffer("c1", "a"))
    assert w.status("c2") is ChatStatus.OFFERED
    effects = w.later(1, SetCapacity("a", 1))
    assert of_type(effects, OfferWithdrawn) == [
        OfferWithdrawn("c2", "a", WithdrawReason.CAPACITY_LOWERED)
    ]
    assert w.status("c1") is ChatStatus.ACTIVE
    assert w.status("c2") is ChatStatus.WAITING


def test_a_counsellor_moved_to_another_centre_is_offered_its_chats_and_keeps_their_own() -> None:
    w = World()
    w.counsellor("a", centre="03", capacity=3)
    w.arrive("oslo")
    w.at(w.now, AcceptOffer("oslo", "a"))
    w.busy_counsellor("b", centre="11")
    w.arrive("rogaland", "11")
    assert w.status("rogaland") is ChatStatus.WAITING
    effects = w.later(1, UpdateCounsellor("a", "11", False, frozenset({"nb"})))
    assert offers(effects) == [("rogaland", "a")]
    assert w.status("oslo") is ChatStatus.ACTIVE
    assert w.state.counsellors["a"].active == {"oslo"}
    w.arrive("oslo-2", "03")  # Oslo has no counsellor now: its chats go to the national queue
    assert w.state.chats["oslo-2"].queue == NATIONAL


def test_a_counsellor_who_learns_a_language_is_offered_chats_in_it() -> None:
    w = World()
    w.busy_counsellor("b")
    w.counsellor("a", languages=("nb",))
    w.arrive("c1", language="en")
    assert w.status("c1") is ChatStatus.WAITING
    effects = w.later(1, UpdateCounsellor("a", "03", False, frozenset({"nb", "en"})))
    assert offers(effects) == [("c1", "a")]


@pytest.mark.parametrize(
    "update",
    [
        UpdateCounsellor("a", "11", False, frozenset({"nb"})),
        UpdateCounsellor("a", "03", False, frozenset({"en"})),
    ],
    ids=["other-centre", "other-language"],
)
def test_an_update_withdraws_a_pending_offer_the_counsellor_may_no_longer_take(
    update: UpdateCounsellor,
) -> None:
    w = World()
    w.counsellor("a")
    w.counsellor("b", centre="11")
    w.arrive("c1")
    assert w.state.chats["c1"].offer is not None
    effects = w.later(1, update)
    assert of_type(effects, OfferWithdrawn) == [
        OfferWithdrawn("c1", "a", WithdrawReason.NO_LONGER_ELIGIBLE)
    ]


def test_an_update_keeps_a_pending_offer_the_counsellor_may_still_take() -> None:
    w = World()
    w.counsellor("a")
    w.arrive("c1")
    effects = w.later(1, UpdateCounsellor("a", "03", True, frozenset({"nb", "en"})))
    assert of_type(effects, OfferWithdrawn) == []
    assert w.status("c1") is ChatStatus.OFFERED


def test_the_last_available_counsellor_leaving_a_centre_overflows_its_waiting_chats() -> None:
    w = World()
    w.counsellor("a", capacity=1)
    w.arrive("c1")
    w.at(w.now, AcceptOffer("c1", "a"))
    w.arrive("c2")
    effects = w.later(5, UpdateCounsellor("a", "11", False, frozenset({"nb"})))
    assert of_type(effects, ChatOverflowed) == [
        ChatOverflowed("c2", "03", OverflowReason.NO_STAFF, 5.0)
    ]


@pytest.mark.parametrize(
    ("update", "code"),
    [
        (UpdateCounsellor("ghost", "03", False, frozenset({"nb"})), ErrorCode.UNKNOWN_COUNSELLOR),
        (UpdateCounsellor("a", None, False, frozenset({"nb"})), ErrorCode.BAD_MEMBERSHIP),
        (UpdateCounsellor("a", "99", False, frozenset({"nb"})), ErrorCode.UNKNOWN_COUNTY),
        (UpdateCounsellor("a", "03", False, frozenset()), ErrorCode.UNKNOWN_LANGUAGE),
        (UpdateCounsellor("a", "03", False, frozenset({"de"})), ErrorCode.UNKNOWN_LANGUAGE),
    ],
)
def test_a_bad_update_is_refused_and_changes_nothing(
    update: UpdateCounsellor, code: ErrorCode
) -> None:
    w = World()
    w.counsellor("a")
    before = copy.deepcopy(w.state.counsellors)
    with pytest.raises(PolicyError) as refused:
        w.later(1, update)
    assert refused.value.code is code
    assert w.state.counsellors == before


def test_auto_accept_takes_offers_at_once_up_to_capacity() -> None:
    w = World()
    w.counsellor("a", capacity=2, auto_accept=True)
    effects = w.arrive("c1") + w.arrive("c2") + w.arrive("c3")
    assert of_type(effects, ChatAssigned) == [
        ChatAssigned("c1", "a", 0.0, auto_accepted=True),
        ChatAssigned("c2", "a", 0.0, auto_accepted=True),
    ]
    assert w.status("c3") is ChatStatus.WAITING
    w.later(1, SetAutoAccept("a", False), EndChat("c1", "a"))
    assert w.status("c3") is ChatStatus.OFFERED


def test_declining_counsellor_is_not_offered_the_same_chat_until_reoffer_time() -> None:
    w = World()
    w.counsellor("a")
    w.arrive("c1")
    assert offers(w.later(2, DeclineOffer("c1", "a"))) == []
    assert next_deadline(w.state) == w.now + 60
    assert offers(w.later(59)) == []
    assert offers(w.later(1)) == [("c1", "a")]


def test_going_away_withdraws_the_offer_and_keeps_active_chats() -> None:
    w = World()
    w.counsellor("a")
    w.counsellor("b", status="away")
    w.arrive("c1")
    w.arrive("c2")
    w.at(w.now, AcceptOffer("c1", "a"))
    effects = w.later(1, SetStatus("a", "away"))
    assert OfferWithdrawn("c2", "a", WithdrawReason.COUNSELLOR_AWAY) in effects
    assert w.state.counsellors["a"].active == {"c1"}
    assert w.status("c2") is ChatStatus.WAITING


def test_going_offline_hands_active_chats_back_and_withdraws_the_offer() -> None:
    w = World()
    w.busy_counsellor("b")
    w.counsellor("a")
    w.arrive("c1")
    w.arrive("c2")
    w.at(w.now, AcceptOffer("c1", "a"))
    effects = w.later(1, SetStatus("a", "offline"))
    assert OfferWithdrawn("c2", "a", WithdrawReason.COUNSELLOR_OFFLINE) in effects
    assert ChatRequeued("c1", "03", "a", RequeueReason.COUNSELLOR_LEFT) in effects
    assert w.state.counsellors["a"].active == set()
    assert w.position("c1") == ("03", 1)


def test_going_offline_hands_back_every_active_chat_oldest_first() -> None:
    w = World()
    w.busy_counsellor("b")
    w.counsellor("a", capacity=3)
    for chat_id in ("c1", "c2", "c3"):
        w.arrive(chat_id)
        w.at(w.now, AcceptOffer(chat_id, "a"))
    w.arrive("waiting")
    effects = w.later(1, SetStatus("a", "offline"))
    assert [e.chat_id for e in of_type(effects, ChatRequeued)] == ["c1", "c2", "c3"]
    assert [w.position(c)[1] for c in ("c1", "c2", "c3", "waiting")] == [1, 2, 3, 4]


# --- leaving -------------------------------------------------------------------------------------


@pytest.mark.parametrize("offered", [False, True], ids=["waiting", "offered"])
def test_seeker_who_leaves_while_waiting_is_abandoned_with_wait(offered: bool) -> None:
    w = World()
    w.counsellor("a", status="available" if offered else "away")
    w.arrive("c1", None if not offered else "03")
    effects = w.later(12, SeekerLeft("c1"))
    assert ChatAbandoned("c1", 12.0, AbandonReason.LEFT) in effects
    withdrawn = OfferWithdrawn("c1", "a", WithdrawReason.SEEKER_LEFT)
    assert (withdrawn in effects) is offered
    assert w.status("c1") is ChatStatus.ABANDONED
    assert w.state.counters.abandoned == 1
    assert w.state.counters.abandon_wait_sum == 12.0
    assert w.state.counters.waiting == {}


def test_seeker_disconnected_past_grace_is_abandoned_at_grace_expiry() -> None:
    w = World()
    w.arrive("c1", None)
    w.later(5, SeekerDisconnected("c1"))
    assert next_deadline(w.state) == T0 + 65
    effects = w.later(500)  # a late timer still records the wait up to the grace expiry
    assert of_type(effects, ChatAbandoned) == [
        ChatAbandoned("c1", 65.0, AbandonReason.DISCONNECTED)
    ]


def test_seeker_reconnecting_within_grace_keeps_place() -> None:
    w = World()
    w.arrive("c1", None)
    w.arrive("c2", None)
    w.later(5, SeekerDisconnected("c1"))
    w.later(59.9, SeekerReconnected("c1"))
    assert of_type(w.later(100), ChatAbandoned) == []
    assert w.position("c1") == (NATIONAL, 1)


def test_disconnected_seeker_keeps_place_but_is_not_offered() -> None:
    w = World()
    w.arrive("c1", None)
    w.arrive("c2", None)
    w.later(1, SeekerDisconnected("c1"))
    assert offers(w.counsellor("n", None, national=True, capacity=1)) == [("c2", "n")]
    assert w.position("c1") == (NATIONAL, 1)
    w.later(1, DeclineOffer("c2", "n"), SeekerReconnected("c1"))
    assert w.state.chats["c1"].offer is not None


def test_counsellor_disconnected_past_grace_hands_chats_to_front_of_queue() -> None:
    w = World()
    w.busy_counsellor("b")
    w.counsellor("a")
    w.arrive("c1")
    w.at(w.now, AcceptOffer("c1", "a"))
    w.arrive("older")  # offered to a
    w.later(1)
    w.arrive("newer")
    effects = w.later(1, CounsellorDisconnected("a"))
    assert OfferWithdrawn("older", "a", WithdrawReason.COUNSELLOR_DISCONNECTED) in effects
    effects = w.later(60)
    assert ChatRequeued("c1", "03", "a", RequeueReason.COUNSELLOR_LEFT) in effects
    assert (
        CounsellorStatusChanged("a", CounsellorStatus.OFFLINE, StatusReason.DISCONNECTED) in effects
    )
    assert [w.position(c) for c in ("c1", "older", "newer")] == [("03", 1), ("03", 2), ("03", 3)]


def test_counsellor_reconnecting_within_grace_keeps_chats() -> None:
    w = World()
    w.counsellor("a")
    w.arrive("c1")
    w.at(w.now, AcceptOffer("c1", "a"))
    w.later(1, CounsellorDisconnected("a"))
    assert offers(w.arrive("c2")) == []  # no offers while disconnected
    effects = w.later(59, CounsellorReconnected("a"))
    assert offers(effects) == [("c2", "a")]
    assert of_type(w.later(100), ChatRequeued) == []
    assert w.status("c1") is ChatStatus.ACTIVE


def test_offline_counsellor_grace_expiry_changes_nothing_else() -> None:
    w = World()
    w.counsellor("a", status="offline")
    w.later(1, CounsellorDisconnected("a"))
    assert w.later(60) == []
    assert w.state.counsellors["a"].grace_until is None


# --- transfer ------------------------------------------------------------------------------------


def test_transfer_to_named_counsellor_offers_the_chat_to_them() -> None:
    w = World()
    w.counsellor("a")
    w.arrive("c1")
    w.at(w.now, AcceptOffer("c1", "a"))
    w.counsellor("b", "11", languages=("nb", "en"))
    effects = w.later(1, TransferToCounsellor("c1", "a", "b"))
    assert OfferMade("c1", "b", w.now + 30, transferred_from="a") in effects
    assert w.state.counsellors["a"].active == set()
    assert w.state.counsellors["a"].idle_since == w.now
    w.later(1, AcceptOffer("c1", "b"))
    assert w.state.chats["c1"].counsellor_id == "b"
    assert w.state.counters.answered == 1  # a reassignment is not a second answer
    assert w.state.counters.offers_accepted == 2


def test_declined_transfer_waits_at_front_of_its_queue() -> None:
    w = World()
    w.counsellor("a", capacity=1)
    w.arrive("c1")
    w.at(w.now, AcceptOffer("c1", "a"))
    w.counsellor("b", capacity=1)
    w.later(1)
    w.arrive("older", language="en")  # nobody here speaks English yet
    w.later(1, TransferToCounsellor("c1", "a", "b"))
    effects = w.later(1, DeclineOffer("c1", "b"))
    assert of_type(effects, OfferWithdrawn) == [OfferWithdrawn("c1", "b", WithdrawReason.DECLINED)]
    assert offers(effects) == []  # neither the sender nor the decliner gets it straight back
    assert [w.position(c) for c in ("c1", "older")] == [("03", 1), ("03", 2)]
    assert offers(w.counsellor("e", languages=("nb", "en"), capacity=1)) == [("c1", "e")]


@pytest.mark.parametrize("queue", ["03", NATIONAL])
def test_transfer_to_queue_puts_chat_at_its_front(queue: str) -> None:
    w = World()
    w.counsellor("a", capacity=1)
    w.counsellor("n", None, national=True, status="away")
    w.arrive("c1")
    w.at(w.now, AcceptOffer("c1", "a"))
    w.arrive("old-county")
    w.arrive("old-national", None)
    effects = w.later(1, TransferToQueue("c1", "a", queue))
    assert of_type(effects, ChatRequeued) == [
        ChatRequeued("c1", queue, "a", RequeueReason.TRANSFER)
    ]
    assert offers(effects) == [("old-county", "a")]  # the sender does not get it straight back
    assert w.position("c1") == (queue, 1)
    assert w.state.counters.requeued == 1


def test_transfer_to_county_queue_reroutes_like_a_new_chat() -> None:
    w = World()
    w.counsellor("a", capacity=2)
    w.counsellor("r", "11", status="away")
    w.arrive("c1")
    w.arrive("c2")
    w.at(w.now, AcceptOffer("c1", "a"), AcceptOffer("c2", "a"))
    effects = w.later(1, TransferToQueue("c1", "a", "46"))  # no staff configured in 46
    assert of_type(effects, ChatRequeued)[0].queue == NATIONAL
    effects = w.later(1, TransferToQueue("c2", "a", "11"))  # its only counsellor is away
    assert of_type(effects, ChatOverflowed) == [
        ChatOverflowed("c2", "11", OverflowReason.NO_STAFF, 0.0)
    ]


def test_transfer_to_county_clears_earlier_overflow() -> None:
    w = World()
    w.busy_counsellor()
    w.counsellor("n", None, national=True, capacity=1)
    w.arrive("c1")
    w.later(90, AcceptOffer("c1", "n"))
    assert w.state.chats["c1"].overflowed
    w.later(1, TransferToQueue("c1", "n", "03"))
    chat = w.state.chats["c1"]
    assert not chat.overflowed
    assert chat.overflow_at == w.now + 90
    assert chat.overflows == [Overflow(T0 + 90, OverflowReason.WAITED)]


# --- ending --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ending", "side"),
    [(SeekerLeft("c1"), Side.SEEKER), (EndChat("c1", "a"), Side.COUNSELLOR)],
    ids=["seeker", "counsellor"],
)
def test_ending_active_chat_frees_a_place_and_sets_idle_since(ending: Event, side: Side) -> None:
    w = World()
    w.counsellor("a", capacity=1)
    w.arrive("c1")
    w.at(w.now, AcceptOffer("c1", "a"))
    w.arrive("c2")
    effects = w.later(10, ending)
    assert ChatEnded("c1", "a", side) in effects
    assert offers(effects) == [("c2", "a")]
    assert w.state.counsellors["a"].idle_since == w.now
    assert w.status("c1") is ChatStatus.ENDED
    assert w.state.counters.ended == 1


# --- positions and expected wait -----------------------------------------------------------------


def test_positions_count_unanswered_chats_ahead_in_county_queue() -> None:
    w = World()
    w.busy_counsellor()
    w.arrive("c1")
    w.arrive("c2")
    effects = w.arrive("c3")
    # The busy counsellor's answer is the only one in ten minutes: one answer per 600 s.
    assert of_type(effects, PositionsChanged) == [
        PositionsChanged((ChatPosition("c3", "03", 3, 1800.0),))
    ]
    effects = w.later(1, SeekerLeft("c1"))
    assert of_type(effects, PositionsChanged) == [
        PositionsChanged((ChatPosition("c2", "03", 1, 600.0), ChatPosition("c3", "03", 2, 1200.0)))
    ]
    assert of_type(w.later(1, SeekerDisconnected("c2")), PositionsChanged) == []


def test_national_pool_merges_national_and_overflowed_chats_by_arrival() -> None:
    w = World()
    w.busy_counsellor()
    w.arrive("oslo-1")
    w.later(10)
    w.arrive("national-1", None)
    w.later(10)
    w.arrive("oslo-2")
    w.later(70)  # oslo-1 has waited 90 s
    assert [w.position(c) for c in ("oslo-1", "national-1", "oslo-2")] == [
        (NATIONAL, 1),
        (NATIONAL, 2),
        ("03", 2),  # the county's own counsellors still serve oslo-1 first
    ]
    w.later(10)
    w.arrive("national-2", None)
    w.later(10)  # oslo-2 overflows
    assert [w.position(c) for c in ("oslo-1", "national-1", "oslo-2", "national-2")] == [
        (NATIONAL, 1),
        (NATIONAL, 2),
        (NATIONAL, 3),
        (NATIONAL, 4),
    ]


def test_expected_wait_is_position_over_recent_answer_rate() -> None:
    w = World(make_config(rate_window=600.0))
    w.counsellor("n", None, national=True, capacity=10, auto_accept=True)
    w.arrive("done-1", None)
    w.arrive("done-2", None)
    w.later(1, SetStatus("n", "away"))
    w.arrive("w1", None)
    effects = w.arrive("w2", None)
    assert of_type(effects, PositionsChanged) == [
        PositionsChanged((ChatPosition("w2", NATIONAL, 2, 600.0),))
    ]
    assert order.positions(w.state, w.now)["w1"].expected_wait == 300.0
    assert order.positions(w.state, T0 + 600)["w1"].expected_wait is None
    assert order.answer_rate(w.state, "03", w.now) == 0.0
    w.at(T0 + 600)
    assert w.state.recent_answers == []


def test_queue_stats_report_waiting_count_and_oldest_wait() -> None:
    w = World()
    w.busy_counsellor()
    w.arrive("c1")
    w.later(5)
    w.arrive("c2", None)
    w.arrive("c3")
    w.later(5)
    assert order.queue_stats(w.state, w.now) == {
        "03": order.QueueStats(2, 10.0),
        NATIONAL: order.QueueStats(1, 5.0),
    }


# --- timers --------------------------------------------------------------------------------------


def test_next_deadline_is_the_earliest_pending_timer() -> None:
    w = World()
    assert next_deadline(w.state) is None
    w.busy_counsellor()
    w.counsellor("n", None, national=True, capacity=1, status="away")
    w.arrive("c1")
    assert next_deadline(w.state) == T0 + 90  # overflow
    w.later(10, SeekerDisconnected("c1"))
    assert next_deadline(w.state) == T0 + 70  # seeker grace
    w.later(10, CounsellorDisconnected("busy"))
    assert next_deadline(w.state) == T0 + 70
    w.later(5, SetStatus("n", "available"), CounsellorReconnected("busy"))
    w.arrive("c2", None)
    assert next_deadline(w.state) == T0 + 55  # offer to n


def test_late_tick_fires_timers_in_time_order_at_their_due_times() -> None:
    w = World()
    w.counsellor("a", capacity=1)
    w.arrive("c1")
    w.arrive("c2", None)
    w.later(1, SeekerDisconnected("c2"))
    effects = w.at(T0 + 200)
    assert [e for e in effects if not isinstance(e, PositionsChanged)] == [
        OfferWithdrawn("c1", "a", WithdrawReason.TIMED_OUT),
        CounsellorStatusChanged("a", CounsellorStatus.AWAY, StatusReason.OFFER_TIMED_OUT),
        ChatOverflowed("c1", "03", OverflowReason.NO_STAFF, 30.0),
        ChatAbandoned("c2", 61.0, AbandonReason.DISCONNECTED),
    ]
    assert next_deadline(w.state) is None  # the re-offer block ended at T0 + 90


# --- counters ------------------------------------------------------------------------------------


def test_counters_follow_the_transitions() -> None:
    w = World()
    w.counsellor("a", capacity=1)
    w.arrive("c1")
    w.later(4, AcceptOffer("c1", "a"))
    w.arrive("c2")
    w.later(2, SeekerLeft("c2"))
    w.arrive("c3")
    w.later(90)
    w.later(1, EndChat("c1", "a"))
    w.later(3, DeclineOffer("c3", "a"))
    counters = w.state.counters
    assert counters.offers_made == 2
    assert counters.offers_accepted == 1
    assert counters.offers_declined == 1
    assert counters.answered == 1
    assert counters.answer_waits == [4.0]
    assert counters.abandoned == 1
    assert counters.abandon_wait_sum == 2.0
    assert counters.overflowed == {OverflowReason.WAITED: 1}
    assert counters.overflow_wait_sum == {OverflowReason.WAITED: 90.0}
    assert counters.ended == 1
    assert counters.waiting == {"03": 1}


# --- bad input -----------------------------------------------------------------------------------


def error_world() -> World:
    """A small busy world: c1 active with a, c2 offered to b until T0+33, w waiting, w2 abandoned,
    w3 waiting with its seeker disconnected until T0+67, d disconnected until T0+60."""
    w = World()
    w.counsellor("a", capacity=2)
    w.counsellor("b", languages=("nb", "en"), capacity=1)
    w.counsellor("n", None, national=True)
    w.counsellor("e", None, national=True, languages=("en",), status="offline")
    w.counsellor("off", status="offline")
    w.counsellor("d")
    w.at(T0, CounsellorDisconnected("d"))
    w.at(T0 + 1, ChatArrived("c1", "03", "nb"))
    w.at(T0 + 2, AcceptOffer("c1", "a"))
    w.at(T0 + 3, ChatArrived("c2", "03", "nb"))
    w.at(T0 + 4, ChatArrived("w", None, "en"))
    w.at(T0 + 5, ChatArrived("w2", None, "en"), SeekerLeft("w2"))
    w.at(T0 + 7, ChatArrived("w3", None, "en"), SeekerDisconnected("w3"))
    chats = w.state.chats
    assert [chats[c].status for c in ("c1", "c2", "w", "w2", "w3")] == [
        "active",
        "offered",
        "waiting",
        "abandoned",
        "waiting",
    ]
    assert chats["c2"].offer is not None
    assert chats["c2"].offer.counsellor_id == "b"
    return w


NB = frozenset({"nb"})
BAD_INPUT: list[tuple[Event, float, ErrorCode]] = [
    (ChatArrived("x", "99", "nb"), 10, ErrorCode.UNKNOWN_COUNTY),
    (ChatArrived("x", "03", "de"), 10, ErrorCode.UNKNOWN_LANGUAGE),
    (ChatArrived("c1", "03", "nb"), 10, ErrorCode.DUPLICATE_CHAT),
    (RegisterCounsellor("a", "03", False, NB), 10, ErrorCode.DUPLICATE_COUNSELLOR),
    (RegisterCounsellor("x", None, False, NB), 10, ErrorCode.BAD_MEMBERSHIP),
    (RegisterCounsellor("x", "99", False, NB), 10, ErrorCode.UNKNOWN_COUNTY),
    (RegisterCounsellor("x", "03", False, frozenset({"de"})), 10, ErrorCode.UNKNOWN_LANGUAGE),
    (RegisterCounsellor("x", "03", False, frozenset()), 10, ErrorCode.UNKNOWN_LANGUAGE),
    (RegisterCounsellor("x", "03", False, NB, capacity=11), 10, ErrorCode.BAD_CAPACITY),
    (SetStatus("a", "busy"), 10, ErrorCode.BAD_STATUS),
    (SetStatus("zz", "away"), 10, ErrorCode.UNKNOWN_COUNSELLOR),
    (SetCapacity("a", 0), 10, ErrorCode.BAD_CAPACITY),
    (SetCapacity("a", 11), 10, ErrorCode.BAD_CAPACITY),
    (SetCapacity("a", True), 10, ErrorCode.BAD_CAPACITY),
    (SetAutoAccept("zz", True), 10, ErrorCode.UNKNOWN_COUNSELLOR),
    (AcceptOffer("nope", "a"), 10, ErrorCode.UNKNOWN_CHAT),
    (AcceptOffer("c2", "zz"), 10, ErrorCode.UNKNOWN_COUNSELLOR),
    (AcceptOffer("c2", "a"), 10, ErrorCode.OFFER_NOT_YOURS),
    (AcceptOffer("c2", "b"), 33, ErrorCode.OFFER_EXPIRED),
    (AcceptOffer("c1", "a"), 10, ErrorCode.ALREADY_ACCEPTED),
    (AcceptOffer("c1", "b"), 10, ErrorCode.OFFER_NOT_YOURS),
    (AcceptOffer("w", "n"), 10, ErrorCode.NO_OFFER),
    (AcceptOffer("w2", "a"), 10, ErrorCode.CHAT_CLOSED),
    (DeclineOffer("c2", "a"), 10, ErrorCode.OFFER_NOT_YOURS),
    (DeclineOffer("c2", "b"), 40, ErrorCode.OFFER_EXPIRED),
    (EndChat("c2", "b"), 10, ErrorCode.NOT_ACTIVE),
    (EndChat("c1", "b"), 10, ErrorCode.NOT_YOUR_CHAT),
    (EndChat("w2", "a"), 10, ErrorCode.CHAT_CLOSED),
    (SeekerLeft("w2"), 10, ErrorCode.CHAT_CLOSED),
    (SeekerLeft("nope"), 10, ErrorCode.UNKNOWN_CHAT),
    (SeekerDisconnected("c1"), 10, ErrorCode.NOT_WAITING),
    (SeekerDisconnected("w3"), 10, ErrorCode.ALREADY_DISCONNECTED),
    (SeekerReconnected("w"), 10, ErrorCode.NOT_DISCONNECTED),
    (SeekerReconnected("w3"), 67, ErrorCode.GRACE_EXPIRED),
    (CounsellorDisconnected("d"), 10, ErrorCode.ALREADY_DISCONNECTED),
    (CounsellorReconnected("a"), 10, ErrorCode.NOT_DISCONNECTED),
    (CounsellorReconnected("d"), 60, ErrorCode.GRACE_EXPIRED),
    (TransferToCounsellor("c1", "a", "a"), 10, ErrorCode.TRANSFER_TO_SELF),
    (TransferToCounsellor("c1", "a", "e"), 10, ErrorCode.TARGET_INELIGIBLE),
    (TransferToCounsellor("c1", "a", "off"), 10, ErrorCode.TARGET_UNAVAILABLE),
    (TransferToCounsellor("c1", "a", "d"), 10, ErrorCode.TARGET_UNAVAILABLE),
    (TransferToCounsellor("c1", "a", "b"), 10, ErrorCode.TARGET_FULL),
    (TransferToCounsellor("c1", "a", "zz"), 10, ErrorCode.UNKNOWN_COUNSELLOR),
    (TransferToCounsellor("c2", "b", "a"), 10, ErrorCode.NOT_ACTIVE),
    (TransferToQueue("c1", "a", "99"), 10, ErrorCode.UNKNOWN_COUNTY),
    (TransferToQueue("c1", "b", NATIONAL), 10, ErrorCode.NOT_YOUR_CHAT),
]


@pytest.mark.parametrize(
    ("event", "at", "code"), BAD_INPUT, ids=[f"{c}-{type(e).__name__}" for e, _, c in BAD_INPUT]
)
def test_bad_input_is_refused_with_its_code_and_leaves_state_unchanged(
    event: Event, at: float, code: ErrorCode
) -> None:
    w = error_world()
    before = copy.deepcopy(w.state)
    with pytest.raises(PolicyError) as refused:
        apply(w.state, event, T0 + at)  # no tick first: passed deadlines must still be refused
    assert refused.value.code is code
    assert refused.value.message
    assert w.state == before


def test_an_object_that_is_no_event_is_refused() -> None:
    w = World()
    with pytest.raises(AssertionError):
        apply(w.state, "ChatArrived", T0)  # type: ignore[arg-type]


# --- opening hours and configuration -------------------------------------------------------------

HOURS = OpeningHours.weekdays(time(8), time(15, 30), norwegian_public_holidays([2025]))


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        ((2025, 1, 6, 8, 0), True),
        ((2025, 1, 6, 7, 59), False),
        ((2025, 1, 6, 15, 29), True),
        ((2025, 1, 6, 15, 30), False),
        ((2025, 1, 11, 12, 0), False),  # Saturday
        ((2025, 5, 1, 10, 0), False),  # Labour Day
        ((2025, 7, 7, 8, 0), True),  # summer time: still 08:00 on the wall clock
    ],
)
def test_opening_hours_follow_oslo_wall_clock_and_holidays(
    moment: tuple[int, ...], is_open: bool
) -> None:
    assert HOURS.is_open(oslo(*moment)) is is_open


@pytest.mark.parametrize(
    ("moment", "change"),
    [
        ((2025, 1, 6, 10, 0), (2025, 1, 6, 15, 30)),
        ((2025, 1, 10, 16, 0), (2025, 1, 13, 8, 0)),  # over a weekend
        ((2025, 4, 16, 16, 0), (2025, 4, 22, 8, 0)),  # over Easter
        ((2025, 3, 28, 16, 0), (2025, 3, 31, 8, 0)),  # over the switch to summer time
    ],
)
def test_next_change_finds_next_opening_or_closing(
    moment: tuple[int, ...], change: tuple[int, ...]
) -> None:
    assert HOURS.next_change(oslo(*moment)) == oslo(*change)


def test_adjacent_intervals_do_not_count_as_a_change() -> None:
    hours = OpeningHours.from_mapping({0: [(time(12), time(16)), (time(8), time(12))]})
    assert hours.next_change(oslo(2025, 1, 6, 9, 0)) == oslo(2025, 1, 6, 16, 0)


def test_never_open_hours_never_change() -> None:
    never = OpeningHours.from_mapping({})
    assert not never.is_open(T0)
    assert never.next_change(T0) is None


@pytest.mark.parametrize(
    "weekly",
    [((),) * 6, (((time(9), time(8)),),) + ((),) * 6],
    ids=["six-days", "closes-before-opening"],
)
def test_opening_hours_reject_bad_weekly_hours(weekly: tuple[tuple[object, ...], ...]) -> None:
    with pytest.raises(ValueError, match=r"weekday|interval"):
        OpeningHours(weekly)  # type: ignore[arg-type]


def test_public_holidays_include_constitution_day() -> None:
    holidays = norwegian_public_holidays([2025])
    assert {date(2025, 5, 17), date(2025, 12, 25), date(2025, 4, 21)} <= holidays


@pytest.mark.parametrize(
    "overrides",
    [
        {"centres": {"3": CentreConfig()}},
        {"centres": {NATIONAL: CentreConfig()}},
        {"offer_timeout": 0},
        {"seeker_grace": -1},
        {"reoffer_after": -1},
        {"centres": {"03": CentreConfig(overflow_after=-1)}},
    ],
)
def test_config_rejects_bad_values(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_config(**overrides)


def test_config_serves_base_and_configured_languages() -> None:
    config = make_config(extra_languages=frozenset({"se", "uk"}))
    assert config.languages == {"nb", "nn", "en", "se", "uk"}
    assert copy.deepcopy(config) is config


# --- random sequences ----------------------------------------------------------------------------

PROPERTY_START = oslo(2025, 1, 6, 15, 0)  # a Monday; centre 11 closes at 15:30
PROPERTY_CENTRES = {
    "03": CentreConfig(),
    "11": CentreConfig(45.0, OpeningHours.weekdays(time(8), time(15, 30))),
    "46": CentreConfig(),  # no staff: its chats go national
}
STAFF = (
    RegisterCounsellor("o1", "03", False, frozenset({"nb"})),
    RegisterCounsellor("o2", "03", True, frozenset({"nb", "en"}), capacity=1),
    RegisterCounsellor("r1", "11", False, frozenset({"nb", "se"})),
    RegisterCounsellor("n1", None, True, frozenset({"nb", "en"})),
    RegisterCounsellor("n2", None, True, frozenset({"nb", "se"}), auto_accept=True),
)
STAFF_IDS = (*(s.counsellor_id for s in STAFF), "ghost")
COUNTY_CHOICES = (None, "03", "03", "11", "46", "99")
LANGUAGE_CHOICES = ("nb", "nb", "en", "se", "nn", "de")
QUEUE_CHOICES = (NATIONAL, "03", "11", "46", "99")
CENTRE_CHOICES = ("03", None, "11", "03", "46", "99")
SPOKEN_CHOICES = (
    frozenset({"nb"}),
    frozenset({"nb", "en"}),
    frozenset({"en"}),
    frozenset({"nb", "se"}),
    frozenset(),
    frozenset({"de"}),
)
STATUS_CHOICES = ("available", "available", "available", "away", "offline", "lunch")
# Weighted by repetition: arrivals and answers are what a real queue mostly sees.
KINDS = (
    *("arrive",) * 5,
    *("accept",) * 5,
    *("status",) * 3,
    *("end",) * 3,
    "capacity",
    "update",
    "auto",
    "decline",
    "leave",
    "seeker_drop",
    "seeker_back",
    "counsellor_drop",
    "counsellor_back",
    "transfer_to_counsellor",
    "transfer_to_queue",
)
# Mostly short steps, with some that pass an offer deadline, a grace time or an overflow.
DELAYS = (*(0.0, 0.5, 1.0, 2.0, 5.0) * 8, 10.0, 15.0, 30.0, 31.0, 45.0, 61.0, 90.0, 300.0)
STEP = st.tuples(
    st.sampled_from(DELAYS), st.sampled_from(KINDS), st.integers(0, 60), st.integers(0, 60)
)


# Which chats a kind of step picks from, so most steps are sensible (an accept picks an offered
# chat); one step in five picks from all chats, to exercise the refusals too.
PICK_FROM = {
    "accept": {ChatStatus.OFFERED},
    "decline": {ChatStatus.OFFERED},
    "end": {ChatStatus.ACTIVE},
    "transfer_to_counsellor": {ChatStatus.ACTIVE},
    "transfer_to_queue": {ChatStatus.ACTIVE},
    "leave": {ChatStatus.WAITING, ChatStatus.OFFERED, ChatStatus.ACTIVE},
    "seeker_drop": UNANSWERED,
    "seeker_back": {ChatStatus.WAITING},
}
# Which counsellors a kind of step picks from, likewise.
PICK_STAFF: defaultdict[str, Callable[[Counsellor], bool]] = defaultdict(
    lambda: lambda c: True,
    status=lambda c: c.status is not CounsellorStatus.AVAILABLE,
    counsellor_back=lambda c: c.grace_until is not None,
)


def build_event(state: State, kind: str, i: int, j: int) -> Event:
    """Turn a drawn step into an event; mostly sensible, sometimes wrong on purpose."""
    chat_ids = sorted(state.chats)
    # Hypothesis favours 0, so 0 must mean "sensible"; the odd ones out are 4 mod 5 and 3 mod 4.
    wanted = PICK_FROM.get(kind, set()) if j % 5 != 4 else set()
    fitting = [c for c in chat_ids if state.chats[c].status in wanted] or chat_ids
    chat_id = fitting[i % len(fitting)] if fitting else "ghost-chat"
    chat = state.chats.get(chat_id)
    staff = [c.id for c in state.counsellors.values() if j % 5 != 4 and PICK_STAFF[kind](c)]
    someone = staff[j % len(staff)] if staff else STAFF_IDS[j % len(STAFF_IDS)]
    owner = someone
    if chat is not None and j % 4 != 3:
        if chat.offer is not None:
            owner = chat.offer.counsellor_id
        elif chat.counsellor_id is not None:
            owner = chat.counsellor_id
    match kind:
        case "arrive":
            county = COUNTY_CHOICES[i % len(COUNTY_CHOICES)]
            return ChatArrived(f"c{len(chat_ids):03d}", county, LANGUAGE_CHOICES[j % 6])
        case "status":
            return SetStatus(someone, STATUS_CHOICES[i % len(STATUS_CHOICES)])
        case "capacity":
            return SetCapacity(someone, i % 12)
        case "update":
            centre = CENTRE_CHOICES[i % len(CENTRE_CHOICES)]
            return UpdateCounsellor(someone, centre, i % 3 == 1, SPOKEN_CHOICES[j % 6])
        case "auto":
            return SetAutoAccept(someone, i % 4 == 0)  # mostly off, or few offers stay open
        case "accept":
            return AcceptOffer(chat_id, owner)
        case "decline":
            return DeclineOffer(chat_id, owner)
        case "leave":
            return SeekerLeft(chat_id)
        case "seeker_drop":
            return SeekerDisconnected(chat_id)
        case "seeker_back":
            return SeekerReconnected(chat_id)
        case "counsellor_drop":
            return CounsellorDisconnected(someone)
        case "counsellor_back":
            return CounsellorReconnected(someone)
        case "end":
            return EndChat(chat_id, owner)
        case "transfer_to_counsellor":
            free = [c for c in sorted(state.counsellors) if order.is_free(state.counsellors[c])]
            target = free[i % len(free)] if free and i % 3 else STAFF_IDS[i % len(STAFF_IDS)]
            return TransferToCounsellor(chat_id, owner, target)
        case _:
            return TransferToQueue(chat_id, owner, QUEUE_CHOICES[i % len(QUEUE_CHOICES)])


class Ledger:
    """Counters recomputed from the effects alone, to compare with the policy's own."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.abandon_wait = 0.0
        self.overflow_wait: dict[OverflowReason, float] = {}

    def record(self, effects: Sequence[Effect]) -> None:
        for effect in effects:
            match effect:
                case OfferWithdrawn():
                    self.kinds[f"withdrawn:{effect.reason}"] += 1
                case ChatAbandoned():
                    self.kinds["abandoned"] += 1
                    self.abandon_wait += effect.waited
                case ChatOverflowed():
                    waited = self.overflow_wait.get(effect.reason, 0.0) + effect.waited
                    self.overflow_wait[effect.reason] = waited
                case _:
                    self.kinds[type(effect).__name__] += 1


def check_capacity_of_new_offers(state: State, effects: Sequence[Effect]) -> None:
    """No counsellor is given more chats (active + offered) than their capacity."""
    given_to = {e.counsellor_id for e in effects if isinstance(e, OfferMade | ChatAssigned)}
    for cid in given_to:
        counsellor = state.counsellors[cid]
        held = len(counsellor.active) + (counsellor.offer is not None)
        assert held <= counsellor.capacity


def check_invariants(state: State, known_chats: set[str], ledger: Ledger) -> None:
    chats, staff = state.chats, state.counsellors
    assert set(chats) == known_chats  # no chat is ever lost
    for chat in chats.values():
        assert (chat.offer is not None) == (chat.status is ChatStatus.OFFERED)
        if chat.offer is not None:
            # The one counsellor holding the offer points back at it: never offered to two.
            holder = staff[chat.offer.counsellor_id]
            assert holder.offer == chat.id
            assert holder.status is CounsellorStatus.AVAILABLE
            assert holder.grace_until is None
            assert chat.language in holder.languages
            if chat.offer.transferred_from is None:
                assert order.may_take(holder, chat)
        if chat.status is ChatStatus.ACTIVE:
            assert chat.counsellor_id is not None
            assert [c.id for c in staff.values() if chat.id in c.active] == [chat.counsellor_id]
        else:
            assert all(chat.id not in c.active for c in staff.values())
        if chat.status not in UNANSWERED:
            assert chat.grace_until is None and chat.overflow_at is None and not chat.excluded
    for counsellor in staff.values():
        if counsellor.offer is not None:
            assert len(counsellor.active) + 1 <= counsellor.capacity
        if counsellor.status is CounsellorStatus.OFFLINE:
            assert not counsellor.active and counsellor.offer is None
    assert order.best_pair(state) is None  # dispatch left no possible offer unmade
    assert set(state.published_positions) == {
        c.id for c in chats.values() if c.status in UNANSWERED
    }

    # Counters equal a recount from the state and from the effects.
    counters = state.counters
    statuses = Counter(chat.status for chat in chats.values())
    assert counters.waiting == dict(
        Counter(c.queue for c in chats.values() if c.status in UNANSWERED)
    )
    answered = [c for c in chats.values() if c.first_answered_at is not None]
    assert counters.answered == len(answered) == len(counters.answer_waits)
    assert math.isclose(
        counters.answer_wait_sum,
        sum(c.first_answered_at - c.arrived_at for c in answered if c.first_answered_at),
        abs_tol=1e-6,
    )
    assert math.isclose(counters.answer_wait_sum, sum(counters.answer_waits), abs_tol=1e-6)
    assert counters.abandoned == statuses[ChatStatus.ABANDONED] == ledger.kinds["abandoned"]
    assert math.isclose(counters.abandon_wait_sum, ledger.abandon_wait, abs_tol=1e-6)
    assert counters.ended == statuses[ChatStatus.ENDED] == ledger.kinds["ChatEnded"]
    overflows = Counter(o.reason for c in chats.values() for o in c.overflows)
    assert counters.overflowed == dict(overflows)
    for reason, total in ledger.overflow_wait.items():
        assert math.isclose(counters.overflow_wait_sum[reason], total, abs_tol=1e-6)
    assert counters.offers_made == sum(c.offers_made for c in chats.values())
    assert counters.offers_made == ledger.kinds["OfferMade"]
    assert counters.offers_accepted == sum(c.accepts for c in chats.values())
    assert counters.offers_accepted == ledger.kinds["ChatAssigned"]
    assert counters.offers_declined == ledger.kinds["withdrawn:declined"]
    assert counters.offers_timed_out == ledger.kinds["withdrawn:timed_out"]
    assert counters.offers_made == (
        counters.offers_accepted
        + counters.offers_declined
        + counters.offers_timed_out
        + counters.offers_withdrawn
        + statuses[ChatStatus.OFFERED]
    )
    assert counters.requeued == ledger.kinds["ChatRequeued"]


def live_parts(state: State) -> dict[str, object]:
    """Everything in the state but the (frozen, shared) configuration."""
    return {name: value for name, value in vars(state).items() if name != "config"}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=20, max_size=60), away_on_timeout=st.booleans())
def test_random_event_sequences_keep_every_invariant(
    steps: list[tuple[float, str, int, int]], away_on_timeout: bool
) -> None:
    config = make_config(
        centres=PROPERTY_CENTRES,
        extra_languages=frozenset({"se"}),
        away_on_offer_timeout=away_on_timeout,
    )
    state = State(config)
    now = PROPERTY_START
    ledger = Ledger()
    for register in STAFF:
        apply(state, register, now)
        apply(state, SetStatus(register.counsellor_id, "available"), now)
    known: set[str] = set()
    for county in ("03", None, "11", "03"):  # start with a queue, so early steps have chats
        seed = ChatArrived(f"seed-{len(known)}", county, "nb")
        ledger.record(apply(state, seed, now))
        known.add(seed.chat_id)
    for dt, kind, i, j in steps:
        now += dt
        effects = tick(state, now)
        ledger.record(effects)
        check_capacity_of_new_offers(state, effects)
        deadline = next_deadline(state)
        assert deadline is None or deadline > now  # tick applied everything due
        check_invariants(state, known, ledger)

        event = build_event(state, kind, i, j)
        before = pickle.dumps(live_parts(state))  # much faster than a deepcopy
        try:
            effects = apply(state, event, now)
        except PolicyError:
            assert pickle.loads(before) == live_parts(state)  # noqa: S301 - our own bytes
            continue
        if isinstance(event, ChatArrived):
            known.add(event.chat_id)
        ledger.record(effects)
        check_capacity_of_new_offers(state, effects)
        check_invariants(state, known, ledger)
