"""The dashboard's view of the routing state: a pure function of its rows, checked on states
the pure policy makes."""

from __future__ import annotations

import contextlib
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from queueing.dashboard_view import (
    LINES,
    ONE_COUNSELLOR,
    STAFF,
    StaffRow,
    dashboard_view,
    rows_changed_by,
    rows_of_state,
)
from queueing.effects import PositionsChanged
from queueing.events import (
    AcceptOffer,
    ChatArrived,
    CounsellorDisconnected,
    CounsellorReconnected,
    RegisterCounsellor,
    SetStatus,
    UpdateCounsellor,
)
from queueing.model import CounsellorStatus, PolicyError, State
from queueing.policy import apply, tick
from tests.queueing.test_policy import (
    PROPERTY_CENTRES,
    PROPERTY_START,
    STEP,
    build_event,
    make_config,
)
from tests.queueing.test_policy import (
    STAFF as PROPERTY_STAFF,
)

T0 = 1_800_000_000.0

# Events whose change of the dashboard's rows makes no effect (a counsellor registered or their
# centre changed, a counsellor's connection dropping into their grace time or coming back): the
# dashboard's full read at least every second shows them (`app.dashboard`), whatever effects the
# same call made.
SILENT_EVENTS = (
    RegisterCounsellor,
    UpdateCounsellor,
    CounsellorDisconnected,
    CounsellorReconnected,
)


def busy_state() -> State:
    """Oslo: 1 holds one chat of one (busy), 2 is away, 3 (also national) is disconnected and
    in his grace time (offline). National: 4, available with room but English only. Chats: one
    active in Oslo, two waiting there, one waiting nationally in bokmål that nobody can take."""
    state = State(make_config())
    now = T0
    for event in (
        RegisterCounsellor("1", "03", False, frozenset({"nb"}), capacity=1),
        RegisterCounsellor("2", "03", False, frozenset({"nb"})),
        RegisterCounsellor("3", "03", True, frozenset({"nb"})),
        RegisterCounsellor("4", None, True, frozenset({"en"})),
        SetStatus("1", "available"),
        ChatArrived("c1", "03", "nb"),
        AcceptOffer("c1", "1"),
        SetStatus("2", "away"),
        SetStatus("3", "available"),
        CounsellorDisconnected("3"),
        SetStatus("4", "available"),
        ChatArrived("c2", "03", "nb"),
        ChatArrived("c3", "03", "nb"),
        ChatArrived("c4", None, "nb"),
    ):
        now += 1
        apply(state, event, now)
    return state


def test_queues_count_chats_and_counsellors_by_what_they_can_do_now() -> None:
    state = busy_state()
    view = dashboard_view(rows_of_state(state), ["03", "11"])
    rows = {row["queue"]: row for row in view["queues"]}
    assert [row["queue"] for row in view["queues"]] == ["03", "11", "national"]
    oslo = rows["03"]
    assert (oslo["waiting"], oslo["active"]) == (2, 1)
    assert oslo["oldest_since"] == state.chats["c2"].waiting_since
    # Kari full, Per away, Ola disconnected (in his grace time): offline.
    assert oslo["counsellors"] == {"available": 0, "busy": 1, "away": 1, "offline": 1}
    # The national team: Ola (also in Oslo) and Nora, who speaks English only: available.
    assert rows["national"]["counsellors"] == {"available": 1, "busy": 0, "away": 0, "offline": 1}
    assert rows["national"]["waiting"] == 1
    assert rows["11"] == {
        "queue": "11",
        "waiting": 0,
        "overflowed": 0,
        "oldest_since": None,
        "active": 0,
        "counsellors": {"available": 0, "busy": 0, "away": 0, "offline": 0},
    }
    total = view["total"]
    assert (total["waiting"], total["active"]) == (3, 1)
    # Each counsellor once in the total.
    assert total["counsellors"] == {"available": 1, "busy": 1, "away": 1, "offline": 1}


def test_lists_are_in_queue_order_cut_to_the_limit_and_hold_no_words() -> None:
    state = busy_state()
    view = dashboard_view(rows_of_state(state), ["03"], list_limit=1, active_limit=0)
    oslo = view["waiting"]["03"]
    assert oslo["count"] == 2
    assert [chat["chat_id"] for chat in oslo["chats"]] == ["c2"]
    assert set(oslo["chats"][0]) == {
        "chat_id",
        "county",
        "language",
        "waiting_since",
        "overflowed",
        "offered_to",
    }
    assert view["active"] == {"count": 1, "chats": []}
    full = dashboard_view(rows_of_state(state), ["03"])
    assert [c["chat_id"] for c in full["waiting"]["03"]["chats"]] == ["c2", "c3"]
    assert [c["chat_id"] for c in full["active"]["chats"]] == ["c1"]
    assert full["active"]["chats"][0]["counsellor_id"] == "1"


def test_the_view_holds_times_not_durations_so_an_unchanged_state_gives_an_equal_view() -> None:
    state = busy_state()
    assert dashboard_view(rows_of_state(state), ["03"]) == dashboard_view(
        rows_of_state(state), ["03"]
    )
    apply(state, ChatArrived("c5", "03", "nb"), T0 + 100)
    changed = dashboard_view(rows_of_state(state), ["03"])
    assert changed["total"]["waiting"] == 4


def shown(row: StaffRow) -> StaffRow:
    """A counsellor's row as far as the dashboard shows it: an offline counsellor is offline
    whether or not a dropped console's grace time is running (it ends with no effect)."""
    return replace(row, grace=False) if row.status == CounsellorStatus.OFFLINE else row


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(STEP, min_size=10, max_size=60))
def test_a_change_moves_only_the_rows_its_effects_name(
    steps: list[tuple[float, str, int, int]],
) -> None:
    """Whatever the policy does, the rows a change's effects do not name (`rows_changed_by`)
    stay as they were, so the dashboard may keep them from its last read. A change with no
    effect (or that the call also made silently, SILENT_EVENTS) is left to the periodic full
    read."""
    state = State(make_config(centres=PROPERTY_CENTRES, extra_languages=frozenset({"se"})))
    now = PROPERTY_START
    for register in PROPERTY_STAFF:
        apply(state, register, now)
        apply(state, SetStatus(register.counsellor_id, "available"), now)
    for dt, kind, i, j in steps:
        now += dt
        before = rows_of_state(state)
        effects = tick(state, now)
        event = build_event(state, kind, i, j)
        with contextlib.suppress(PolicyError):
            effects += apply(state, event, now)
        # Places in line are sent to seekers, never written to the effects stream.
        effects = [effect for effect in effects if not isinstance(effect, PositionsChanged)]
        after = rows_of_state(state)
        named = frozenset().union(*(rows_changed_by(effect) for effect in effects))
        if not effects or isinstance(event, SILENT_EVENTS):
            continue
        if LINES not in named:
            assert set(after.waiting) == set(before.waiting), effects
        if STAFF not in named:
            some = {r.removeprefix(ONE_COUNSELLOR) for r in named if r.startswith(ONE_COUNSELLOR)}
            assert {shown(r) for r in after.staff if r.counsellor_id not in some} == {
                shown(r) for r in before.staff if r.counsellor_id not in some
            }, effects
            assert set(after.active) == set(before.active), effects
