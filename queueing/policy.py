"""The routing policy: pure transitions of the routing state. The reference model for the Lua.

Contract:
  - `apply(state, event, now)` and `tick(state, now)` MUTATE `state` in place and return the list
    of effects to carry out, in order. Nothing else is touched: no I/O, no clock, no randomness.
  - An event the policy refuses raises `PolicyError` before anything changes, so the state is
    exactly as before.
  - Timers are data in the state. `next_deadline(state)` is the earliest one; `tick(state, now)`
    fires every one due at or before `now`, in time order, each at its own due time (so waits and
    overflow times are exact however late the timer runs), then dispatches once at `now`.
  - `apply` does not fire timers. A deadline at or before `now` counts as already passed: an
    offer whose deadline has passed cannot be accepted, a grace time that has passed cannot be
    cancelled. Adapters call `tick(state, now)` before `apply(state, event, now)`.
  - After every event and tick the policy dispatches: it makes every offer now possible, best
    pair first (see `queueing.order.best_pair`), then reports changed places in line.

Decisions where the rules left room:
  - One pending offer per counsellor; it counts against capacity (active + offered <= capacity).
  - A declined or timed-out offer puts the chat back in its place, and that counsellor is not
    offered that chat again for `reoffer_after` seconds (else it would bounce straight back).
  - Chats handed back (counsellor left, transfer) join the FRONT of their queue, in the order they
    came back: the seeker has already waited once. A transfer to a queue re-routes like a new
    chat (a county with no staff means national) and clears any earlier overflow.
  - A transfer to a named counsellor frees the sender at once and offers the chat to the target
    (language, available and connected, room for it); if the target declines or lets it time
    out, the chat waits at the front of its queue.
  - A counsellor's centre, national-team membership and languages can change (an administrator
    edits them): offers from then on follow the new ones, chats held stay, a pending offer they
    may no longer take is withdrawn, and a centre they left while available overflows its waiting
    chats if nobody available is left there, as when its last counsellor goes away.
  - Going `away` keeps active chats; going `offline` (or a disconnect past the grace time) hands
    them back. Either withdraws a pending offer. A counsellor in grace gets no offers.
  - Overflow applies to offered chats too: the seeker's wait is what counts. When arrival finds
    the centre both closed and unstaffed, the reason recorded is `closed`. A centre's configured
    staff are its registered counsellors; a counsellor in disconnect grace still counts as present.
  - A waiting seeker who is disconnected keeps their place but gets no offers until they are back.
  - A seeker who leaves while waiting is abandoned even after a hand-back; `answered` counts first
    answers only (waits from arrival), while `offers_accepted` counts every assignment.
"""

from __future__ import annotations

from typing import assert_never

from queueing import guards, lifecycle, order
from queueing.effects import (
    AbandonReason,
    ChatQueued,
    CounsellorCapacityChanged,
    Effect,
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
from queueing.model import (
    NATIONAL,
    UNANSWERED,
    Chat,
    ChatStatus,
    Counsellor,
    CounsellorStatus,
    ErrorCode,
    PolicyError,
    State,
)

# Timer kinds, in the order they fire when due at the same instant: an offer's fate is settled
# before the seeker's, the seeker's before the counsellor's, and overflow last, so a chat that is
# about to be abandoned or handed back is not first announced to the national team.
_OFFER, _SEEKER_GRACE, _COUNSELLOR_GRACE, _OVERFLOW, _REOFFER = range(5)
_Due = tuple[float, int, str, str]  # (due time, kind, chat or counsellor id, excluded counsellor)


def apply(state: State, event: Event, now: float) -> list[Effect]:
    """Apply one event at time `now`; return the effects. Raises PolicyError, changing nothing."""
    effects: list[Effect] = []
    match event:
        case RegisterCounsellor():
            _register(state, event, now)
        case UpdateCounsellor():
            _update(state, event, now, effects)
        case SetStatus():
            counsellor = guards.find_counsellor(state, event.counsellor_id)
            try:
                status = CounsellorStatus(event.status)
            except ValueError:
                raise PolicyError(ErrorCode.BAD_STATUS, f"no status {event.status!r}") from None
            if status is not counsellor.status:
                lifecycle.set_status(
                    state, counsellor, status, StatusReason.REQUESTED, now, effects
                )
        case SetCapacity():
            counsellor = guards.find_counsellor(state, event.counsellor_id)
            guards.check_capacity(event.capacity)
            if event.capacity != counsellor.capacity:
                effects.append(CounsellorCapacityChanged(counsellor.id, event.capacity))
            counsellor.capacity = event.capacity
            if counsellor.offer is not None and len(counsellor.active) >= event.capacity:
                chat = state.chats[counsellor.offer]
                lifecycle.withdraw(state, chat, WithdrawReason.CAPACITY_LOWERED, now, effects)
        case SetAutoAccept():
            guards.find_counsellor(state, event.counsellor_id).auto_accept = event.auto_accept
        case CounsellorDisconnected():
            counsellor = guards.find_counsellor(state, event.counsellor_id)
            if counsellor.grace_until is not None:
                raise PolicyError(ErrorCode.ALREADY_DISCONNECTED, "counsellor already in grace")
            counsellor.grace_until = now + state.config.counsellor_grace
            if counsellor.offer is not None:
                chat = state.chats[counsellor.offer]
                lifecycle.withdraw(
                    state, chat, WithdrawReason.COUNSELLOR_DISCONNECTED, now, effects
                )
        case CounsellorReconnected():
            counsellor = guards.find_counsellor(state, event.counsellor_id)
            guards.check_grace(counsellor.grace_until, now)
            counsellor.grace_until = None
        case ChatArrived():
            _arrive(state, event, now, effects)
        case AcceptOffer():
            chat, counsellor = guards.own_offer(state, event.chat_id, event.counsellor_id, now)
            lifecycle.accept(state, chat, counsellor, now, effects, auto=False)
        case DeclineOffer():
            chat, _ = guards.own_offer(state, event.chat_id, event.counsellor_id, now)
            lifecycle.withdraw(state, chat, WithdrawReason.DECLINED, now, effects)
        case SeekerLeft():
            chat = guards.open_chat(state, event.chat_id)
            if chat.status is ChatStatus.ACTIVE:
                lifecycle.end(state, chat, Side.SEEKER, now, effects)
            else:
                lifecycle.abandon(state, chat, AbandonReason.LEFT, now, effects)
        case SeekerDisconnected():
            chat = guards.waiting_chat(state, event.chat_id)
            if chat.grace_until is not None:
                raise PolicyError(ErrorCode.ALREADY_DISCONNECTED, "seeker already in grace")
            chat.grace_until = now + state.config.seeker_grace
        case SeekerReconnected():
            chat = guards.open_chat(state, event.chat_id)
            guards.check_grace(chat.grace_until, now)
            chat.grace_until = None
        case EndChat():
            chat, _ = guards.own_active(state, event.chat_id, event.counsellor_id)
            lifecycle.end(state, chat, Side.COUNSELLOR, now, effects)
        case TransferToCounsellor():
            _transfer_to_counsellor(state, event, now, effects)
        case TransferToQueue():
            chat, counsellor = guards.own_active(state, event.chat_id, event.counsellor_id)
            if event.queue != NATIONAL:
                guards.check_county(state, event.queue)
            queue = order.route(state, None if event.queue == NATIONAL else event.queue)
            chat.overflowed = False  # a new routing decision; earlier overflows stay on record
            lifecycle.requeue(state, chat, counsellor, queue, RequeueReason.TRANSFER, now, effects)
        case _:
            assert_never(event)
    _settle(state, now, effects)
    return effects


def restore_answered(
    state: State,
    chat: ChatArrived,
    counsellor_id: str,
    arrived: float,
    answered: float,
    now: float,
) -> None:
    """Rebuilding after Redis lost the state: put back a chat that the record says a counsellor
    is answering, held by that counsellor. Nobody knows yet whether their console is still
    open, so they count as disconnected (away, with the grace time running from `now`): an open
    console says so (CounsellorReconnected) and carries on; otherwise the chat goes back to the
    front of its queue when the grace time ends, as when any counsellor leaves. Counters are
    not replayed; they count again from the rebuild."""
    counsellor = guards.find_counsellor(state, counsellor_id)
    if chat.language not in counsellor.languages:
        raise PolicyError(ErrorCode.TARGET_INELIGIBLE, f"{counsellor_id!r} lacks {chat.language!r}")
    _arrive(state, chat, arrived, [])
    restored = state.chats[chat.chat_id]
    lifecycle.count_waiting(state, restored.queue, -1)
    restored.status = ChatStatus.ACTIVE
    restored.counsellor_id = counsellor.id
    restored.overflow_at = restored.overflow_due = None
    restored.first_answered_at = answered
    counsellor.active.add(restored.id)
    if counsellor.status is CounsellorStatus.OFFLINE:
        counsellor.status = CounsellorStatus.AWAY
    counsellor.grace_until = now + state.config.counsellor_grace


def tick(state: State, now: float) -> list[Effect]:
    """Fire every timer due at or before `now`, earliest first, then dispatch at `now`."""
    effects: list[Effect] = []
    while (due := _earliest(state)) is not None and due[0] <= now:
        _fire(state, due, effects)
    _settle(state, now, effects)
    return effects


def next_deadline(state: State) -> float | None:
    """The earliest pending timer (offer, overflow, grace, re-offer), or None when there is none.
    An adapter keeps one shared timer at this instant and calls `tick` when it fires."""
    due = _earliest(state)
    return None if due is None else due[0]


# --- event handlers that need more than a few lines ----------------------------------------------


def _check_membership(state: State, event: RegisterCounsellor | UpdateCounsellor) -> None:
    if event.centre is None and not event.national:
        raise PolicyError(ErrorCode.BAD_MEMBERSHIP, "belong to a centre, the national team or both")
    if event.centre is not None:
        guards.check_county(state, event.centre)
    if not event.languages:
        raise PolicyError(ErrorCode.UNKNOWN_LANGUAGE, "a counsellor needs at least one language")
    for language in sorted(event.languages):
        guards.check_language(state, language)


def _register(state: State, event: RegisterCounsellor, now: float) -> None:
    if event.counsellor_id in state.counsellors:
        raise PolicyError(ErrorCode.DUPLICATE_COUNSELLOR, f"{event.counsellor_id!r} exists")
    _check_membership(state, event)
    guards.check_capacity(event.capacity)
    state.counsellors[event.counsellor_id] = Counsellor(
        id=event.counsellor_id,
        centre=event.centre,
        national=event.national,
        languages=frozenset(event.languages),
        capacity=event.capacity,
        auto_accept=event.auto_accept,
        status=CounsellorStatus.OFFLINE,
        idle_since=now,
    )


def _update(state: State, event: UpdateCounsellor, now: float, effects: list[Effect]) -> None:
    counsellor = guards.find_counsellor(state, event.counsellor_id)
    _check_membership(state, event)
    left = counsellor.centre
    counsellor.centre = event.centre
    counsellor.national = event.national
    counsellor.languages = frozenset(event.languages)
    if counsellor.offer is not None:
        chat = state.chats[counsellor.offer]
        assert chat.offer is not None
        # A colleague's transfer goes to a named person whatever their queues; the language
        # still has to be theirs.
        transferred = chat.offer.transferred_from is not None
        if chat.language not in counsellor.languages or not (
            transferred or order.may_take(counsellor, chat)
        ):
            lifecycle.withdraw(state, chat, WithdrawReason.NO_LONGER_ELIGIBLE, now, effects)
    if (
        left is not None
        and left != counsellor.centre
        and counsellor.status is CounsellorStatus.AVAILABLE
    ):
        lifecycle.overflow_if_unstaffed(state, left, now, effects)


def _arrive(state: State, event: ChatArrived, now: float, effects: list[Effect]) -> None:
    if event.chat_id in state.chats:
        raise PolicyError(ErrorCode.DUPLICATE_CHAT, f"chat {event.chat_id!r} exists")
    if event.county is not None:
        guards.check_county(state, event.county)
    guards.check_language(state, event.language)
    chat = Chat(
        id=event.chat_id,
        county=event.county,
        queue=order.route(state, event.county),
        language=event.language,
        arrived_at=now,
        arrival_seq=state.next_seq(),
        status=ChatStatus.WAITING,
        waiting_since=now,
    )
    state.chats[chat.id] = chat
    effects.append(ChatQueued(chat.id, chat.queue))
    lifecycle.start_waiting(state, chat, now, effects)


def _transfer_to_counsellor(
    state: State, event: TransferToCounsellor, now: float, effects: list[Effect]
) -> None:
    chat, sender = guards.own_active(state, event.chat_id, event.counsellor_id)
    target = guards.find_counsellor(state, event.target_id)
    if target is sender:
        raise PolicyError(ErrorCode.TRANSFER_TO_SELF, "the chat is already yours")
    if chat.language not in target.languages:
        raise PolicyError(ErrorCode.TARGET_INELIGIBLE, f"{target.id!r} lacks {chat.language!r}")
    if target.status is not CounsellorStatus.AVAILABLE or target.grace_until is not None:
        raise PolicyError(ErrorCode.TARGET_UNAVAILABLE, f"{target.id!r} is not available")
    if not order.is_free(target):
        raise PolicyError(ErrorCode.TARGET_FULL, f"{target.id!r} has no room")
    lifecycle.release(chat, sender, now)
    # Its place is the front: if the target says no, the chat is first in line for everyone else.
    chat.front_seq = state.next_seq()
    chat.excluded = {sender.id: now + state.config.reoffer_after}
    lifecycle.start_waiting(state, chat, now, effects)
    lifecycle.make_offer(state, chat, target, now, effects, transferred_from=sender.id)


# --- timers ---------------------------------------------------------------------------------------


def _earliest(state: State) -> _Due | None:
    dues: list[_Due] = []
    for chat in state.chats.values():
        if chat.status not in UNANSWERED:
            continue
        if chat.offer is not None:
            dues.append((chat.offer.deadline, _OFFER, chat.id, ""))
        if chat.grace_until is not None:
            dues.append((chat.grace_until, _SEEKER_GRACE, chat.id, ""))
        if chat.overflow_at is not None:
            dues.append((chat.overflow_at, _OVERFLOW, chat.id, ""))
        dues.extend((until, _REOFFER, chat.id, who) for who, until in chat.excluded.items())
    for counsellor in state.counsellors.values():
        if counsellor.grace_until is not None:
            dues.append((counsellor.grace_until, _COUNSELLOR_GRACE, counsellor.id, ""))
    return min(dues, default=None)


def _fire(state: State, due: _Due, effects: list[Effect]) -> None:
    at, kind, owner, who = due
    if kind == _COUNSELLOR_GRACE:
        counsellor = state.counsellors[owner]
        counsellor.grace_until = None
        if counsellor.status is not CounsellorStatus.OFFLINE:
            lifecycle.set_status(
                state, counsellor, CounsellorStatus.OFFLINE, StatusReason.DISCONNECTED, at, effects
            )
        return
    chat = state.chats[owner]
    if kind == _OFFER:
        assert chat.offer is not None
        counsellor = state.counsellors[chat.offer.counsellor_id]
        lifecycle.withdraw(state, chat, WithdrawReason.TIMED_OUT, at, effects)
        if state.config.away_on_offer_timeout and counsellor.status is CounsellorStatus.AVAILABLE:
            lifecycle.set_status(
                state, counsellor, CounsellorStatus.AWAY, StatusReason.OFFER_TIMED_OUT, at, effects
            )
    elif kind == _SEEKER_GRACE:
        lifecycle.abandon(state, chat, AbandonReason.DISCONNECTED, at, effects)
    elif kind == _OVERFLOW:
        assert chat.overflow_due is not None
        lifecycle.overflow(state, chat, chat.overflow_due, at, effects)
    else:
        del chat.excluded[who]


def _settle(state: State, now: float, effects: list[Effect]) -> None:
    """After every event or tick: forget old answers, make every possible offer, report places."""
    window_start = now - state.config.rate_window
    state.recent_answers = [a for a in state.recent_answers if a.at > window_start]
    while (pair := order.best_pair(state)) is not None:
        lifecycle.make_offer(state, *pair, now, effects)
    current = order.positions(state, now)
    changed = [
        position
        for chat_id, position in current.items()
        if state.published_positions.get(chat_id) != (position.pool, position.position)
    ]
    state.published_positions = {i: (p.pool, p.position) for i, p in current.items()}
    if changed:
        changed.sort(key=lambda p: (p.pool, p.position))
        effects.append(PositionsChanged(tuple(changed)))
