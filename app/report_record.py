"""The record reports are computed from: chats, routing events, wrap-ups and survey answers in
PostgreSQL, read for one period (never the live counters in Redis)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from app.report_figures import ChatRow, Counsellor, Period, StatusChange

# Chats that arrived in the period, each with the counsellor who answered it first (the first
# ChatAssigned of its routing record; the chat row keeps only the latest counsellor after a
# transfer), its wrap-up and its survey answer.
CHATS_SQL = """
SELECT c.county_number, c.state, c.created_at, c.answered_at, c.ended_at, c.overflow_reason,
       coalesce(first_answer.counsellor_id, c.counsellor_id) AS answered_by,
       w.category, w.topics, s.score
FROM chat_sessions c
LEFT JOIN LATERAL (
    SELECT e.counsellor_id FROM routing_events e
    WHERE e.chat_id = c.id AND e.kind = 'ChatAssigned'
    ORDER BY e.at, e.entry, e.position LIMIT 1
) first_answer ON c.answered_at IS NOT NULL
LEFT JOIN wrap_ups w ON w.chat_id = c.id
LEFT JOIN survey_answers s ON s.chat_id = c.id
WHERE c.created_at >= $1 AND c.created_at < $2
"""

# Every counsellor status change in the period, and each counsellor's last one before it (their
# status when the period began).
STATUS_SQL = """
SELECT counsellor_id, at, detail->>'status' AS status FROM routing_events
WHERE kind = 'CounsellorStatusChanged' AND counsellor_id IS NOT NULL AND at >= $1 AND at < $2
UNION ALL
SELECT * FROM (
    SELECT DISTINCT ON (counsellor_id) counsellor_id, at, detail->>'status' AS status
    FROM routing_events
    WHERE kind = 'CounsellorStatusChanged' AND counsellor_id IS NOT NULL AND at < $1
    ORDER BY counsellor_id, at DESC, entry DESC, position DESC
) before_period
"""

# The router gives a counsellor the first of their county centres by number
# (`app.routing_config.registration_for`); reports count them for the same one.
COUNSELLORS_SQL = """
SELECT u.id, u.national_team,
       (SELECT min(m.centre_id) FROM centre_memberships m WHERE m.user_id = u.id) AS centre
FROM users u WHERE u.role = 'counsellor'
"""


@dataclass(frozen=True)
class Record:
    """What the record holds for a period: its chats, the counsellors and their status changes."""

    chats: list[ChatRow]
    counsellors: list[Counsellor]
    changes: list[StatusChange]


async def load_record(conn: asyncpg.Connection, period: Period) -> Record:
    """The rows of `period` that reports are computed from."""
    start, end = period.bounds()
    chats = [
        ChatRow(
            county=r["county_number"],
            state=r["state"],
            created_at=r["created_at"],
            answered_at=r["answered_at"],
            ended_at=r["ended_at"],
            overflow_reason=r["overflow_reason"],
            answered_by=r["answered_by"],
            category=r["category"],
            topics=tuple(r["topics"] or ()),
            score=r["score"],
        )
        for r in await conn.fetch(CHATS_SQL, start, end)
    ]
    changes = [
        StatusChange(r["counsellor_id"], r["at"], r["status"])
        for r in await conn.fetch(STATUS_SQL, start, end)
    ]
    counsellors = [
        Counsellor(r["id"], r["centre"], r["national_team"])
        for r in await conn.fetch(COUNSELLORS_SQL)
    ]
    return Record(chats, counsellors, changes)
