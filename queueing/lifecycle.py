"""Lifecycle: the primitive moves of chats and counsellors. Every change to the state goes through
these, so each counter is updated in exactly one place.

Internal to the policy: they assume the event was already validated by `queueing.guards` and
never raise. `at`/`now` is the instant the move happens (a timer's due time inside `tick`).
"""

from __future__ import annotations

from queueing import order
from queueing.effects import (
    AbandonReason,
    ChatAbandoned,
    ChatAssigned,
    ChatEnded,
    ChatOverflowed,
    ChatRequeued,
    CounsellorStatusChanged,
    Effect,
    OfferMade,
    OfferWithdrawn,
    RequeueReason,
    Side,
    StatusReason,
    WithdrawReason,
)
from queueing.model import (
    UNANSWERED,
    Answer,
    Chat,
    ChatStatus,
    Counsellor,
    CounsellorStatus,
    Offer,
    Overflow,
    OverflowReason,
    State,
)


def count_waiting(state: State, queue: str, delta: int) -> None:
    """Keep the per-queue count of unanswered chats; a queue at zero drops out of the map."""
    count = state.counters.waiting.get(queue, 0) + delta
    if count:
        state.counters.waiting[queue] = count
    else:
        state.counters.waiting.pop(queue, None)


def start_waiting(state: State, chat: Chat, now: float, effects: list[Effect]) -> None:
    """Put the chat (back) in its queue and start its overflow clock, or overflow it now."""
    chat.status = ChatStatus.WAITING
    chat.waiting_since = now
    chat.overflow_at = chat.overflow_due = None
    count_waiting(state, chat.queue, +1)
    if chat.in_national_pool:
        return
    centre = state.config.centres[chat.queue]
    if centre.schedule is not None and not centre.schedule.is_open(now):
        overflow(state, chat, OverflowReason.CLOSED, now, effects)
    elif not order.staff_present(state, chat.queue):
        overflow(state, chat, OverflowReason.NO_STAFF, now, effects)
    else:
        chat.overflow_at, chat.overflow_due = now + centre.overflow_after, OverflowReason.WAITED
        closes = None if centre.schedule is None else centre.schedule.next_change(now)
        if closes is not None and closes <= chat.overflow_at:
            chat.overflow_at, chat.overflow_due = closes, OverflowReason.CLOSED


def overflow(
    state: State, chat: Chat, reason: OverflowReason, at: float, effects: list[Effect]
) -> None:
    """Open a county chat to the national team, and record when and why."""
    chat.overflowed = True
    chat.overflow_at = chat.overflow_due = None
    chat.overflows.append(Overflow(at, reason))
    waited = at - chat.waiting_since
    counters = state.counters
    counters.overflowed[reason] = counters.overflowed.get(reason, 0) + 1
    counters.overflow_wait_sum[reason] = counters.overflow_wait_sum.get(reason, 0.0) + waited
    effects.append(ChatOverflowed(chat.id, chat.queue, reason, waited))


def overflow_if_unstaffed(state: State, county: str, now: float, effects: list[Effect]) -> None:
    """Overflow the county's waiting chats once none of its counsellors is available."""
    if order.staff_present(state, county):
        return
    queue = [c for c in state.chats.values() if c.queue == county and c.status in UNANSWERED]
    for chat in sorted(queue, key=lambda c: c.order_key):
        if not chat.overflowed:
            overflow(state, chat, OverflowReason.NO_STAFF, now, effects)


def make_offer(
    state: State,
    chat: Chat,
    counsellor: Counsellor,
    now: float,
    effects: list[Effect],
    transferred_from: str | None = None,
) -> None:
    """Reserve the chat for the counsellor until the accept deadline; auto-accept at once."""
    deadline = now + state.config.offer_timeout
    chat.status = ChatStatus.OFFERED
    chat.offer = Offer(counsellor.id, deadline, transferred_from)
    chat.offers_made += 1
    counsellor.offer = chat.id
    state.counters.offers_made += 1
    effects.append(OfferMade(chat.id, counsellor.id, deadline, transferred_from))
    if counsellor.auto_accept:
        accept(state, chat, counsellor, now, effects, auto=True)


def accept(
    state: State, chat: Chat, counsellor: Counsellor, now: float, effects: list[Effect], auto: bool
) -> None:
    """The offer is taken: the chat becomes active with the counsellor."""
    chat.status = ChatStatus.ACTIVE
    chat.offer = None
    chat.counsellor_id = counsellor.id
    chat.overflow_at = chat.overflow_due = None
    chat.grace_until = None  # the chat session takes over the seeker's connection from here
    chat.excluded = {}
    chat.accepts += 1
    counsellor.offer = None
    counsellor.active.add(chat.id)
    counters = state.counters
    counters.offers_accepted += 1
    count_waiting(state, chat.queue, -1)
    waited = now - chat.waiting_since
    if chat.first_answered_at is None:
        chat.first_answered_at = now
        counters.answered += 1
        counters.answer_wait_sum += waited
        counters.answer_waits.append(waited)
    state.recent_answers.append(Answer(now, chat.queue, chat.overflowed))
    effects.append(ChatAssigned(chat.id, counsellor.id, waited, auto))


def withdraw(
    state: State, chat: Chat, reason: WithdrawReason, now: float, effects: list[Effect]
) -> None:
    """End a pending offer; the chat is back in its place (its order key never changed)."""
    assert chat.offer is not None
    counsellor = state.counsellors[chat.offer.counsellor_id]
    chat.status = ChatStatus.WAITING
    chat.offer = None
    counsellor.offer = None
    counters = state.counters
    if reason is WithdrawReason.DECLINED or reason is WithdrawReason.TIMED_OUT:
        chat.excluded[counsellor.id] = now + state.config.reoffer_after
        if reason is WithdrawReason.DECLINED:
            counters.offers_declined += 1
        else:
            counters.offers_timed_out += 1
    else:
        counters.offers_withdrawn += 1
    effects.append(OfferWithdrawn(chat.id, counsellor.id, reason))


def abandon(
    state: State, chat: Chat, reason: AbandonReason, at: float, effects: list[Effect]
) -> None:
    """Remove a waiting seeker, counting their wait (this wait, since joining the queue)."""
    if chat.offer is not None:
        withdraw(state, chat, WithdrawReason.SEEKER_LEFT, at, effects)
    chat.status = ChatStatus.ABANDONED
    chat.overflow_at = chat.overflow_due = chat.grace_until = None
    chat.excluded = {}
    count_waiting(state, chat.queue, -1)
    waited = at - chat.waiting_since
    state.counters.abandoned += 1
    state.counters.abandon_wait_sum += waited
    effects.append(ChatAbandoned(chat.id, waited, reason))


def release(chat: Chat, counsellor: Counsellor, now: float) -> None:
    """Take an active chat off a counsellor; they have been idle since now."""
    counsellor.active.discard(chat.id)
    counsellor.idle_since = now
    chat.counsellor_id = None


def end(state: State, chat: Chat, by: Side, now: float, effects: list[Effect]) -> None:
    """End an active chat; the counsellor has a free place and is idle since now."""
    assert chat.counsellor_id is not None
    counsellor = state.counsellors[chat.counsellor_id]
    counsellor.active.discard(chat.id)
    counsellor.idle_since = now
    chat.status = ChatStatus.ENDED  # counsellor_id stays, for the record
    state.counters.ended += 1
    effects.append(ChatEnded(chat.id, counsellor.id, by))


def requeue(
    state: State,
    chat: Chat,
    counsellor: Counsellor,
    queue: str,
    reason: RequeueReason,
    now: float,
    effects: list[Effect],
) -> None:
    """Hand an active chat back: to the front of `queue`, after earlier hand-backs."""
    release(chat, counsellor, now)
    chat.queue = queue
    chat.front_seq = state.next_seq()
    # A counsellor who transferred the chat away should not get it straight back; one who left
    # and came back is the best person to pick it up again.
    chat.excluded = (
        {counsellor.id: now + state.config.reoffer_after}
        if reason is RequeueReason.TRANSFER
        else {}
    )
    state.counters.requeued += 1
    effects.append(ChatRequeued(chat.id, queue, counsellor.id, reason))
    start_waiting(state, chat, now, effects)


def set_status(
    state: State,
    counsellor: Counsellor,
    status: CounsellorStatus,
    reason: StatusReason,
    now: float,
    effects: list[Effect],
) -> None:
    """Change a counsellor's status and carry out what follows from it."""
    was = counsellor.status
    counsellor.status = status
    effects.append(CounsellorStatusChanged(counsellor.id, status, reason))
    if status is CounsellorStatus.AVAILABLE:
        counsellor.idle_since = now  # "idle since they became available"
        return
    if counsellor.offer is not None:
        why = (
            WithdrawReason.COUNSELLOR_AWAY
            if status is CounsellorStatus.AWAY
            else WithdrawReason.COUNSELLOR_OFFLINE
        )
        withdraw(state, state.chats[counsellor.offer], why, now, effects)
    if status is CounsellorStatus.OFFLINE:
        counsellor.grace_until = None  # signed out: nothing left to wait for
        mine = sorted((state.chats[i] for i in counsellor.active), key=lambda c: c.order_key)
        for chat in mine:
            requeue(
                state, chat, counsellor, chat.queue, RequeueReason.COUNSELLOR_LEFT, now, effects
            )
    if was is CounsellorStatus.AVAILABLE and counsellor.centre is not None:
        overflow_if_unstaffed(state, counsellor.centre, now, effects)
