"""The order rules: who may take a chat, which chat a counsellor gets next, and places in line.

Read-only functions of the state; `queueing.policy` uses them to decide, adapters and dashboards to
show. Every order here is total (ties fall back to ids or place numbers), so dispatch is
deterministic and a Lua port can reproduce it exactly.

Places in line, precisely:
  - a chat's place in its queue is `Chat.order_key`: handed-back chats first, in the order they
    came back, then all others by first arrival;
  - a county chat not yet overflowed competes in its county queue: its position is 1 + the number
    of unanswered (waiting or offered) chats of that queue ahead of it, overflowed ones included,
    since the county's counsellors serve their whole queue in that order;
  - a national or overflowed chat competes in the national pool, the merge of the national queue
    and every overflowed county chat ordered by `order_key` (the place numbers come from one
    counter, so the merge interleaves queues by time): its position is 1 + the number of
    unanswered pool chats ahead of it.
Offered chats keep their place, so a declined offer does not make the seekers behind jump back.
Languages are not taken into account: positions are a guide for the seeker, not a promise.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from queueing.effects import ChatPosition
from queueing.model import (
    NATIONAL,
    UNANSWERED,
    Chat,
    ChatStatus,
    Counsellor,
    CounsellorStatus,
    State,
)


@dataclass(frozen=True)
class QueueStats:
    """Live view of one queue for the dashboard."""

    waiting: int
    oldest_wait: float | None


def is_free(counsellor: Counsellor) -> bool:
    """Whether the counsellor may get an offer now.

    One pending offer at a time, and it counts against capacity: a counsellor with an offer open
    gets nothing more until they answer it, so active + offered never exceeds capacity.
    """
    return (
        counsellor.status is CounsellorStatus.AVAILABLE
        and counsellor.grace_until is None
        and counsellor.offer is None
        and len(counsellor.active) < counsellor.capacity
    )


def may_take(counsellor: Counsellor, chat: Chat) -> bool:
    """Eligibility: the language, and either the chat's county centre or the national team for a
    national or overflowed chat. A counsellor who just declined the chat is left out for now."""
    if chat.language not in counsellor.languages or counsellor.id in chat.excluded:
        return False
    return chat.queue == counsellor.centre or (counsellor.national and chat.in_national_pool)


def load_key(counsellor: Counsellor) -> tuple[int, float, str]:
    """Fewest active chats first, then longest idle, then id so ties are decided the same way."""
    return (len(counsellor.active), counsellor.idle_since, counsellor.id)


def preference(counsellor: Counsellor, chats: Iterable[Chat]) -> Iterator[Chat]:
    """The chats this counsellor may take, best first: their own county's queue, then the
    national pool. `chats` must already be sorted by `order_key`."""
    ordered = list(chats)
    own = [chat for chat in ordered if chat.queue == counsellor.centre]
    pool = [chat for chat in ordered if chat.queue != counsellor.centre and chat.in_national_pool]
    for chat in own + (pool if counsellor.national else []):
        if may_take(counsellor, chat):
            yield chat


def best_pair(state: State) -> tuple[Chat, Counsellor] | None:
    """The next offer to make: the least loaded, longest idle free counsellor who may take any
    waiting chat, with the first chat in their preference. None when no offer is possible.

    Counsellor first, then chat: that is what makes "own county before national" hold for each
    counsellor while "least loaded gets it" holds for each chat. Chats whose seeker is
    disconnected keep their place but are skipped: an offer to an empty chat wastes a counsellor.
    """
    free = sorted((c for c in state.counsellors.values() if is_free(c)), key=load_key)
    if not free:
        return None
    waiting = sorted(
        (
            chat
            for chat in state.chats.values()
            if chat.status is ChatStatus.WAITING and chat.grace_until is None
        ),
        key=lambda chat: chat.order_key,
    )
    for counsellor in free:
        for chat in preference(counsellor, waiting):
            return chat, counsellor
    return None


def staff_present(state: State, county: str) -> bool:
    """Whether any counsellor of the centre is available (busy ones included). A counsellor in
    their disconnect grace time still counts: a dropped network should not empty a centre."""
    return any(
        c.centre == county and c.status is CounsellorStatus.AVAILABLE
        for c in state.counsellors.values()
    )


def staff_configured(state: State, county: str) -> bool:
    """Whether the centre has any registered counsellor at all."""
    return any(c.centre == county for c in state.counsellors.values())


def route(state: State, county: str | None) -> str:
    """The queue a chat for `county` joins: the county's, or national without a county or staff."""
    if county is None or not staff_configured(state, county):
        return NATIONAL
    return county


def recent_answers(state: State, pool: str, now: float) -> int:
    """Answers in `pool` over the last `rate_window` seconds.

    A county pool counts answers of its queue's chats; the national pool counts answers of
    national and overflowed chats, matching who the positions compete with.
    """
    window_start = now - state.config.rate_window
    return sum(
        1
        for answer in state.recent_answers
        if window_start < answer.at <= now
        and (
            answer.queue == pool
            if pool != NATIONAL
            else answer.queue == NATIONAL or answer.overflowed
        )
    )


def answer_rate(state: State, pool: str, now: float) -> float:
    """Answers per second in `pool` over the last `rate_window` seconds."""
    return recent_answers(state, pool, now) / state.config.rate_window


def positions(state: State, now: float) -> dict[str, ChatPosition]:
    """Every unanswered chat's place and expected wait (see the module docstring).

    Expected wait = position / answer rate, computed as position * window / answers so that
    whole numbers stay whole (the Lua port must give the same figure); None with no answers.
    """
    unanswered = sorted(
        (chat for chat in state.chats.values() if chat.status in UNANSWERED),
        key=lambda chat: chat.order_key,
    )
    answers: dict[str, int] = {}
    in_queue: dict[str, int] = {}
    in_pool = 0
    result: dict[str, ChatPosition] = {}
    for chat in unanswered:
        in_queue[chat.queue] = in_queue.get(chat.queue, 0) + 1
        if chat.in_national_pool:
            in_pool += 1
            pool, position = NATIONAL, in_pool
        else:
            pool, position = chat.queue, in_queue[chat.queue]
        if pool not in answers:
            answers[pool] = recent_answers(state, pool, now)
        count = answers[pool]
        expected = position * state.config.rate_window / count if count else None
        result[chat.id] = ChatPosition(chat.id, pool, position, expected)
    return result


def queue_stats(state: State, now: float) -> dict[str, QueueStats]:
    """Waiting count (from the live counters) and oldest current wait per queue."""
    oldest: dict[str, float] = {}
    for chat in state.chats.values():
        if chat.status in UNANSWERED:
            oldest[chat.queue] = min(oldest.get(chat.queue, chat.waiting_since), chat.waiting_since)
    return {
        queue: QueueStats(count, now - oldest[queue] if queue in oldest else None)
        for queue, count in sorted(state.counters.waiting.items())
    }
