"""What the supervisor dashboard shows of the live routing state: pure functions of a few rows.

The rows are what the dashboard needs and nothing more: every unanswered chat, every counsellor,
every chat being answered. `RedisQueue.dashboard_rows` reads them from Redis in one script
(`lua/dashboard.lua`), without the closed chats and the decoding a whole snapshot costs;
`rows_of_state` gives the same rows from a policy `State`, so tests hold the two together.

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

The waiting list (per queue, in queue order) and the active chats carry ids, county, language
and times only: never a word of the conversation. Lists are cut (`list_limit` per queue,
`active_limit` in all) so that the frame pushed to every supervisor stays small with thousands
of chats; the counts are always whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from queueing.model import NATIONAL, UNANSWERED, ChatStatus, CounsellorStatus, State

LIST_LIMIT = 25
"""Waiting chats listed per queue: a screenful; the count says how many more there are."""

ACTIVE_LIMIT = 100
"""Active chats listed (newest answer first) for a supervisor to pick one to observe."""

STATUSES = ("available", "busy", "away", "offline")

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


def _queue_row(queue: str) -> dict[str, Any]:
    return {"queue": queue, "waiting": 0, "overflowed": 0, "oldest_since": None, "active": 0}


def dashboard_view(
    rows: DashboardRows,
    counties: Sequence[str],
    list_limit: int = LIST_LIMIT,
    active_limit: int = ACTIVE_LIMIT,
) -> dict[str, Any]:
    """The live part of the dashboard as JSON-ready data (see the module docstring)."""
    queues: dict[str, dict[str, Any]] = {q: _queue_row(q) for q in [*sorted(counties), NATIONAL]}
    lines: dict[str, list[WaitingRow]] = {}
    for chat in rows.waiting:
        row = queues.get(chat.queue) or queues.setdefault(chat.queue, _queue_row(chat.queue))
        row["waiting"] += 1
        row["overflowed"] += 1 if chat.overflowed else 0
        if row["oldest_since"] is None or chat.waiting_since < row["oldest_since"]:
            row["oldest_since"] = chat.waiting_since
        lines.setdefault(chat.queue, []).append(chat)
    for active in rows.active:
        row = queues.get(active.queue) or queues.setdefault(active.queue, _queue_row(active.queue))
        row["active"] += 1

    members: dict[str, list[StaffRow]] = {}
    for staff in rows.staff:
        for queue in _queues_of(staff):
            members.setdefault(queue, []).append(staff)
    for queue, row in queues.items():
        row["counsellors"] = _tally(members.get(queue, []))

    total = {
        "queue": "total",
        "waiting": len(rows.waiting),
        "overflowed": sum(r["overflowed"] for r in queues.values()),
        "oldest_since": min(
            (r["oldest_since"] for r in queues.values() if r["oldest_since"] is not None),
            default=None,
        ),
        "active": len(rows.active),
        "counsellors": _tally(rows.staff),
    }
    waiting = {
        queue: {
            "count": len(chats),
            "chats": [
                {
                    "chat_id": chat.chat_id,
                    "county": chat.county,
                    "language": chat.language,
                    "waiting_since": chat.waiting_since,
                    "overflowed": chat.overflowed,
                    "offered_to": chat.offered_to,
                }
                for chat in sorted(chats, key=lambda c: (c.place, c.chat_id))[:list_limit]
            ],
        }
        for queue, chats in lines.items()
    }
    newest = sorted(rows.active, key=lambda c: (-(c.answered_at or 0.0), c.chat_id))
    return {
        "queues": [queues[q] for q in sorted(queues, key=lambda q: (q == NATIONAL, q))],
        "total": total,
        "waiting": waiting,
        "active": {
            "count": len(rows.active),
            "chats": [
                {
                    "chat_id": chat.chat_id,
                    "queue": chat.queue,
                    "county": chat.county,
                    "language": chat.language,
                    "counsellor_id": chat.counsellor_id,
                    "answered_at": chat.answered_at,
                }
                for chat in newest[:active_limit]
            ],
        },
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
            for c in sorted(rows.staff, key=lambda c: (len(c.counsellor_id), c.counsellor_id))
        ],
    }


def waiting_and_available(rows: DashboardRows) -> tuple[int, int]:
    """The last-hour chart's point: chats waiting in the country, counsellors available."""
    return len(rows.waiting), _tally(rows.staff)["available"]
