"""Rebuilding after Redis lost the state: a chat being answered goes back to its counsellor,
who has the grace time to show their console is still open."""

from __future__ import annotations

import pytest

from queueing.effects import ChatRequeued, RequeueReason
from queueing.events import ChatArrived, CounsellorReconnected, RegisterCounsellor, SetStatus
from queueing.model import (
    NATIONAL,
    CentreConfig,
    ChatStatus,
    Config,
    CounsellorStatus,
    ErrorCode,
    PolicyError,
    State,
)
from queueing.policy import apply, next_deadline, restore_answered, tick

NOW = 10_000.0


def rebuilt() -> State:
    state = State(Config(centres={"03": CentreConfig(), "46": CentreConfig()}))
    apply(state, RegisterCounsellor("kari", "03", False, frozenset({"nb"}), capacity=2), 0.0)
    apply(state, RegisterCounsellor("ola", "46", False, frozenset({"nb", "nn"})), 0.0)
    restore_answered(
        state, ChatArrived("c1", "03", "nb"), "kari", arrived=NOW - 300, answered=NOW - 240, now=NOW
    )
    return state


def test_the_chat_is_back_with_its_counsellor_who_counts_as_disconnected() -> None:
    state = rebuilt()
    chat, kari = state.chats["c1"], state.counsellors["kari"]
    assert (chat.status, chat.counsellor_id, chat.first_answered_at) == (
        ChatStatus.ACTIVE,
        "kari",
        NOW - 240,
    )
    assert kari.active == {"c1"}
    assert (kari.status, kari.grace_until) == (CounsellorStatus.AWAY, NOW + 60.0)
    assert state.counters.waiting.get("03", 0) == 0
    assert next_deadline(state) == NOW + 60.0


def test_an_open_console_keeps_the_chat_and_takes_up_its_status_again() -> None:
    state = rebuilt()
    apply(state, CounsellorReconnected("kari"), NOW + 5)
    apply(state, SetStatus("kari", "available"), NOW + 5)
    assert tick(state, NOW + 120) == []
    assert state.chats["c1"].counsellor_id == "kari"
    assert state.counsellors["kari"].status is CounsellorStatus.AVAILABLE


def test_without_a_console_the_chat_returns_to_the_front_of_its_queue() -> None:
    state = rebuilt()
    effects = tick(state, NOW + 60)
    requeued = [e for e in effects if isinstance(e, ChatRequeued)]
    assert requeued == [ChatRequeued("c1", "03", "kari", RequeueReason.COUNSELLOR_LEFT)]
    assert state.counsellors["kari"].status is CounsellorStatus.OFFLINE
    assert state.chats["c1"].status in (ChatStatus.WAITING, ChatStatus.OFFERED)
    assert state.chats["c1"].queue in ("03", NATIONAL)


def test_a_counsellor_the_chat_cannot_go_to_is_refused_and_nothing_changes() -> None:
    state = rebuilt()
    with pytest.raises(PolicyError) as refused:
        restore_answered(
            state, ChatArrived("c2", "46", "nn"), "kari", arrived=NOW, answered=NOW, now=NOW
        )
    assert refused.value.code is ErrorCode.TARGET_INELIGIBLE
    assert "c2" not in state.chats
    with pytest.raises(PolicyError):
        restore_answered(
            state, ChatArrived("c3", "03", "nb"), "nobody", arrived=NOW, answered=NOW, now=NOW
        )
    assert "c3" not in state.chats
