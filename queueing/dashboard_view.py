"""What the supervisor dashboard shows of the live routing state: a pure function of the state.

Per queue (each county centre and the national team) and in total:
  waiting      unanswered chats (waiting or offered) whose queue it is; `overflowed` says how
               many of a county's are open to the national team too (they are counted in their
               county's row, never twice)
  oldest_wait  seconds the longest-waiting of them has waited (since it last joined the queue)
  active       chats being answered whose queue it is
  counsellors  the queue's counsellors (a county's: those whose centre it is; the national
               team's: its members) by what they can do now:
                 available  signed in, available, with room for another chat
                 busy       available but full (chats held + an open offer reach capacity)
                 away       away (a supervisor or the counsellor chose it)
                 offline    signed out, or disconnected and within their grace time
               A counsellor of a centre who is also on the national team counts in both rows,
               and once in the total.

The waiting list (per queue, oldest place first) and the active chats carry ids, county,
language and times only: never a word of the conversation. Lists are cut at `list_limit` per
queue so that the frame pushed to every supervisor stays small with thousands of chats; the
counts are always whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from queueing.model import (
    NATIONAL,
    UNANSWERED,
    ChatStatus,
    Counsellor,
    CounsellorStatus,
    State,
)

LIST_LIMIT = 25
"""Waiting chats listed per queue: a screenful; the count says how many more there are."""

ACTIVE_LIMIT = 200
"""Active chats listed (newest answer first) for a supervisor to pick one to observe."""

STATUSES = ("available", "busy", "away", "offline")


def counsellor_state(counsellor: Counsellor) -> str:
    """One of STATUSES: what the counsellor can do now."""
    if counsellor.status is CounsellorStatus.OFFLINE or counsellor.grace_until is not None:
        return "offline"
    if counsellor.status is CounsellorStatus.AWAY:
        return "away"
    held = len(counsellor.active) + (1 if counsellor.offer is not None else 0)
    return "busy" if held >= counsellor.capacity else "available"


def _queues_of(counsellor: Counsellor) -> list[str]:
    queues = [counsellor.centre] if counsellor.centre is not None else []
    return [*queues, NATIONAL] if counsellor.national else queues


def _tally(counsellors: Iterable[Counsellor]) -> dict[str, int]:
    tally = dict.fromkeys(STATUSES, 0)
    for counsellor in counsellors:
        tally[counsellor_state(counsellor)] += 1
    return tally


def dashboard_view(
    state: State, now: float, list_limit: int = LIST_LIMIT, active_limit: int = ACTIVE_LIMIT
) -> dict[str, Any]:
    """The live part of the dashboard as JSON-ready data (see the module docstring)."""
    queues = [*sorted(state.config.centres), NATIONAL]
    rows: dict[str, dict[str, Any]] = {
        q: {"queue": q, "waiting": 0, "overflowed": 0, "oldest_wait": None, "active": 0}
        for q in queues
    }
    waiting_lists: dict[str, list[Any]] = {q: [] for q in queues}
    active: list[Any] = []
    for chat in state.chats.values():
        row = rows.get(chat.queue)
        if row is None:  # a queue no longer configured: still counted in the total
            row = rows[chat.queue] = {
                "queue": chat.queue,
                "waiting": 0,
                "overflowed": 0,
                "oldest_wait": None,
                "active": 0,
            }
            waiting_lists[chat.queue] = []
        if chat.status in UNANSWERED:
            row["waiting"] += 1
            row["overflowed"] += 1 if chat.overflowed else 0
            waited = max(0.0, now - chat.waiting_since)
            if row["oldest_wait"] is None or waited > row["oldest_wait"]:
                row["oldest_wait"] = waited
            waiting_lists[chat.queue].append(chat)
        elif chat.status is ChatStatus.ACTIVE:
            row["active"] += 1
            active.append(chat)

    members: dict[str, list[Counsellor]] = {q: [] for q in rows}
    for counsellor in state.counsellors.values():
        for queue in _queues_of(counsellor):
            members.setdefault(queue, []).append(counsellor)
    for queue, row in rows.items():
        row["counsellors"] = _tally(members.get(queue, []))

    total = {
        "queue": "total",
        "waiting": sum(r["waiting"] for r in rows.values()),
        "overflowed": sum(r["overflowed"] for r in rows.values()),
        "oldest_wait": max(
            (r["oldest_wait"] for r in rows.values() if r["oldest_wait"] is not None),
            default=None,
        ),
        "active": sum(r["active"] for r in rows.values()),
        "counsellors": _tally(state.counsellors.values()),
    }

    waiting = {
        queue: {
            "count": len(chats),
            "chats": [
                {
                    "chat_id": chat.id,
                    "county": chat.county,
                    "language": chat.language,
                    "waited": max(0.0, now - chat.waiting_since),
                    "overflowed": chat.overflowed,
                    "offered_to": None if chat.offer is None else chat.offer.counsellor_id,
                }
                for chat in sorted(chats, key=lambda c: c.order_key)[:list_limit]
            ],
        }
        for queue, chats in waiting_lists.items()
        if chats
    }
    active.sort(key=lambda c: (-(c.first_answered_at or 0.0), c.id))
    return {
        "queues": [rows[q] for q in sorted(rows, key=lambda q: (q == NATIONAL, q))],
        "total": total,
        "waiting": waiting,
        "active": {
            "count": len(active),
            "chats": [
                {
                    "chat_id": chat.id,
                    "queue": chat.queue,
                    "county": chat.county,
                    "language": chat.language,
                    "counsellor_id": chat.counsellor_id,
                    "answered_at": chat.first_answered_at,
                }
                for chat in active[:active_limit]
            ],
        },
        "counsellors": [
            {
                "counsellor_id": c.id,
                "centre": c.centre,
                "national": c.national,
                "state": counsellor_state(c),
                "status": str(c.status),
                "connected": c.grace_until is None and c.status is not CounsellorStatus.OFFLINE,
                "load": len(c.active),
                "capacity": c.capacity,
                "offer": c.offer is not None,
            }
            for c in sorted(state.counsellors.values(), key=lambda c: (len(c.id), c.id))
        ],
    }
