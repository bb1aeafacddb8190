"""What the supervisor dashboard shows of the live routing state: pure functions of a few rows.

The rows are what the dashboard needs and nothing more: every unanswered chat, every counsellor,
every chat being answered (`rows_of_state` takes them from a policy `State`). `dashboard_view`
is the specification; `lua/dashboard.lua` works the same figures out inside Redis, where the
data is, and returns only them and the listed chats (`RedisQueue.dashboard`), so a push reads
no closed chat and decodes no policy object. Tests hold the two together on random states.

Per queue (each county centre and the national team) and in total:
  waiting      unanswered chats (waiting or offered) whose queue it is; `overflowed` says how
               many of a county's are open to the national team too (they are counted in their
               county's row, never twice)
  oldest_since when the longest-waiting of them last joined the queue (epoch seconds): figures
               are times, never durations, so the view changes only when the state does
  active       chats being answered whose queue it is
  counsellors  the queue's counsellors (a county's: those whose centre it is; the national
               team's: its members) by what they can do now:
                 available  signed in, available, with room for another chat
                 busy       available but full (chats held + an open offer reach capacity)
                 away       away (a supervisor or the counsellor chose it)
                 offline    signed out, or disconnected and within their grace time
               A counsellor of a centre who is also on the national team counts in both rows,
               and once in the total.

The rows come in reads of their own, so that a change reads again only what it can have
changed (`rows_changed_by`): LINES, the unanswered chats (the queues' figures and waiting
lists); STAFF, every counsellor with the chats they answer; or ONE_COUNSELLOR, one
counsellor's row.

The waiting list (per queue, in queue order) and the active chats carry ids, county, language
and times only: never a word of the conversation. Lists are cut (`list_limit` per queue,
`active_limit` in all) so that the frame pushed to every supervisor stays small with thousands
of chats; the counts are always whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from queueing.effects import (
    ChatOverflowed,
    ChatQueued,
    CounsellorCapacityChanged,
    CounsellorStatusChanged,
    Effect,
)
from queueing.model import NATIONAL, UNANSWERED, ChatStatus, CounsellorStatus, State

LIST_LIMIT = 25
"""Waiting chats listed per queue: a screenful; the count says how many more there are."""

ACTIVE_LIMIT = 100
"""Active chats listed (newest answer first) for a supervisor to pick one to observe."""

STATUSES = ("available", "busy", "away", "offline")

LINES = "lines"
STAFF = "staff"
EVERYTHING = frozenset({LINES, STAFF})
ONE_COUNSELLOR = "counsellor:"
"""Followed by a counsellor's id: that counsellor's row alone (what chats they hold stays)."""


def rows_changed_by(effect: Effect) -> frozenset[str]:
    """The reads whose rows `effect` can have changed: LINES, STAFF (every counsellor and the
    chats they hold), or ONE_COUNSELLOR + id. A chat queued or overflowed moves no counsellor
    (an offer made meanwhile is an effect of its own); a counsellor's status or capacity moves
    no chat and no other counsellor (an offer made or withdrawn likewise). Every other effect
    may touch both. Changes that make no effect at all (a counsellor registered, or
    disconnected within their grace time) are left to a full read."""
    match effect:
        case ChatQueued() | ChatOverflowed():
            return frozenset({LINES})
        case CounsellorStatusChanged() | CounsellorCapacityChanged():
            return frozenset({ONE_COUNSELLOR + effect.counsellor_id})
    return EVERYTHING


BACK = 2**52
"""Places of chats not handed back start here (`lua/lib.lua` BACK): front places come first."""


@dataclass(frozen=True)
class WaitingRow:
    chat_id: str
    place: float  # its score in the queue's line: handed-back chats first, then by arrival
    queue: str
    county: str | None
    language: str
    waiting_since: float
    overflowed: bool
    offered_to: str | None


@dataclass(frozen=True)
class StaffRow:
    counsellor_id: str
    centre: str | None
    national: bool
    status: str
    capacity: int
    offer: bool
    grace: bool  # disconnected, within the grace time
    load: int  # chats held


@dataclass(frozen=True)
class ActiveRow:
    chat_id: str
    queue: str
    county: str | None
    language: str
    counsellor_id: str
    answered_at: float | None


@dataclass(frozen=True)
class DashboardRows:
    waiting: tuple[WaitingRow, ...]
    staff: tuple[StaffRow, ...]
    active: tuple[ActiveRow, ...]


def rows_of_state(state: State) -> DashboardRows:
    """The dashboard's rows from a policy state (as `lua/dashboard.lua` reads them)."""
    waiting = tuple(
        WaitingRow(
            chat.id,
            float(chat.front_seq if chat.front_seq is not None else BACK + chat.arrival_seq),
            chat.queue,
            chat.county,
            chat.language,
            chat.waiting_since,
            chat.overflowed,
            None if chat.offer is None else chat.offer.counsellor_id,
        )
        for chat in state.chats.values()
        if chat.status in UNANSWERED
    )
    staff = tuple(
        StaffRow(
            c.id,
            c.centre,
            c.national,
            str(c.status),
            c.capacity,
            c.offer is not None,
            c.grace_until is not None,
            len(c.active),
        )
        for c in state.counsellors.values()
    )
    active = tuple(
        ActiveRow(
            chat.id,
            chat.queue,
            chat.county,
            chat.language,
            chat.counsellor_id,
            chat.first_answered_at,
        )
        for chat in state.chats.values()
        if chat.status is ChatStatus.ACTIVE and chat.counsellor_id is not None
    )
    return DashboardRows(waiting, staff, active)


def counsellor_state(row: StaffRow) -> str:
    """One of STATUSES: what the counsellor can do now."""
    if row.status == CounsellorStatus.OFFLINE or row.grace:
        return "offline"
    if row.status == CounsellorStatus.AWAY:
        return "away"
    held = row.load + (1 if row.offer else 0)
    return "busy" if held >= row.capacity else "available"


def _queues_of(row: StaffRow) -> list[str]:
    queues = [row.centre] if row.centre is not None else []
    return [*queues, NATIONAL] if row.national else queues


def _tally(rows: Iterable[StaffRow]) -> dict[str, int]:
    tally = dict.fromkeys(STATUSES, 0)
    for row in rows:
        tally[counsellor_state(row)] += 1
    return tally


def queue_row(
    queue: str, waiting: int = 0, overflowed: int = 0, oldest: float | None = None, active: int = 0
) -> dict[str, Any]:
    """One queue's figures, before its counsellors are counted."""
    return {
        "queue": queue,
        "waiting": waiting,
        "overflowed": overflowed,
        "oldest_since": oldest,
        "active": active,
    }


def waiting_entry(chat: WaitingRow) -> dict[str, Any]:
    return {
        "chat_id": chat.chat_id,
        "county": chat.county,
        "language": chat.language,
        "waiting_since": chat.waiting_since,
        "overflowed": chat.overflowed,
        "offered_to": chat.offered_to,
    }


def active_entry(chat: ActiveRow) -> dict[str, Any]:
    return {
        "chat_id": chat.chat_id,
        "queue": chat.queue,
        "county": chat.county,
        "language": chat.language,
        "counsellor_id": chat.counsellor_id,
        "answered_at": chat.answered_at,
    }


def dashboard_view(
    rows: DashboardRows,
    counties: Sequence[str],
    list_limit: int = LIST_LIMIT,
    active_limit: int = ACTIVE_LIMIT,
) -> dict[str, Any]:
    """The live part of the dashboard as JSON-ready data (see the module docstring). This is
    the specification; `lua/dashboard.lua` works the same out in Redis."""
    queues: dict[str, dict[str, Any]] = {q: queue_row(q) for q in [*counties, NATIONAL]}
    lines: dict[str, list[WaitingRow]] = {}
    for chat in rows.waiting:
        row = queues.setdefault(chat.queue, queue_row(chat.queue))
        row["waiting"] += 1
        row["overflowed"] += 1 if chat.overflowed else 0
        if row["oldest_since"] is None or chat.waiting_since < row["oldest_since"]:
            row["oldest_since"] = chat.waiting_since
        lines.setdefault(chat.queue, []).append(chat)
    for active in rows.active:
        queues.setdefault(active.queue, queue_row(active.queue))["active"] += 1
    waiting = {
        queue: [
            waiting_entry(chat)
            for chat in sorted(chats, key=lambda c: (c.place, c.chat_id))[:list_limit]
        ]
        for queue, chats in lines.items()
    }
    newest = sorted(rows.active, key=lambda c: (-(c.answered_at or 0.0), c.chat_id))
    listed = [active_entry(chat) for chat in newest[:active_limit]]
    return assemble(list(queues.values()), waiting, listed, rows.staff)


def assemble(
    queues: Sequence[dict[str, Any]],
    waiting: dict[str, list[dict[str, Any]]],
    active: list[dict[str, Any]],
    staff: Sequence[StaffRow],
) -> dict[str, Any]:
    """The view from each queue's figures (`queue_row`), the listed waiting chats per queue and
    active chats, and every counsellor: the counsellors counted, totals added, all in order."""
    members: dict[str, list[StaffRow]] = {}
    for counsellor in staff:
        for queue in _queues_of(counsellor):
            members.setdefault(queue, []).append(counsellor)
    rows = sorted(queues, key=lambda r: (r["queue"] == NATIONAL, r["queue"]))
    for row in rows:
        row["counsellors"] = _tally(members.get(row["queue"], []))
    oldest = [r["oldest_since"] for r in rows if r["oldest_since"] is not None]
    total = {
        "queue": "total",
        "waiting": sum(r["waiting"] for r in rows),
        "overflowed": sum(r["overflowed"] for r in rows),
        "oldest_since": min(oldest, default=None),
        "active": sum(r["active"] for r in rows),
        "counsellors": _tally(staff),
    }
    return {
        "queues": rows,
        "total": total,
        "waiting": {
            r["queue"]: {"count": r["waiting"], "chats": waiting.get(r["queue"], [])}
            for r in rows
            if r["waiting"]
        },
        "active": {"count": total["active"], "chats": active},
        "counsellors": [
            {
                "counsellor_id": c.counsellor_id,
                "centre": c.centre,
                "national": c.national,
                "state": counsellor_state(c),
                "status": c.status,
                "connected": not c.grace and c.status != CounsellorStatus.OFFLINE,
                "load": c.load,
                "capacity": c.capacity,
                "offer": c.offer,
            }
            for c in sorted(staff, key=lambda c: (len(c.counsellor_id), c.counsellor_id))
        ],
    }
