"""What a seeker may do with their chat's record after (and around) the chat: read its
transcript, answer its survey, and delete the conversation.

The chat's state in PostgreSQL is written by the routing recorder and may lag the router a
moment; `live_progress` reads the router's own view, `recorded_progress` the record's, for when
the router no longer holds the chat.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import asyncpg

from chat.transcript import TranscriptLine
from queueing.model import Chat, ChatStatus

CLOSED = frozenset({ChatStatus.ENDED, ChatStatus.ABANDONED})
OPEN = frozenset(ChatStatus) - CLOSED


@dataclass(frozen=True)
class Progress:
    """Where a chat stands, as far as its seeker's requests care."""

    status: ChatStatus
    answered: bool  # a counsellor took it at some point

    @property
    def closed(self) -> bool:
        return self.status in CLOSED


class SurveyOutcome(Enum):
    SAVED = "saved"
    ALREADY_ANSWERED = "already_answered"
    DELETED = "deleted"  # the conversation was deleted meanwhile


def live_progress(chat: Chat) -> Progress:
    """The router's view. An ended chat was active, so it was answered; an abandoned one may
    have been answered before a counsellor handed it back."""
    answered = chat.first_answered_at is not None or chat.status is ChatStatus.ENDED
    return Progress(chat.status, answered)


async def recorded_progress(conn: asyncpg.Connection, chat_id: uuid.UUID) -> Progress | None:
    """The record's view. Entries are recorded out of order at times, so `ended` counts as
    answered even before the assignment's `answered_at` has arrived."""
    row = await conn.fetchrow(
        "SELECT state, answered_at FROM chat_sessions WHERE id = $1 AND deleted_at IS NULL",
        chat_id,
    )
    if row is None:
        return None
    status = ChatStatus(row["state"])
    return Progress(status, row["answered_at"] is not None or status is ChatStatus.ENDED)


async def transcript_lines(conn: asyncpg.Connection, chat_id: uuid.UUID) -> list[TranscriptLine]:
    """The chat's messages in order, with each counsellor's display name. Internal notes live
    in `chat_notes` and are not read here."""
    rows = await conn.fetch(
        """SELECT m.seq, m.sender_role, u.display_name AS sender_name, m.body, m.created_at
           FROM messages m LEFT JOIN users u ON u.id = m.sender_user_id
           WHERE m.chat_id = $1 AND m.kind = 'message'
           ORDER BY m.seq""",
        chat_id,
    )
    return [TranscriptLine(**dict(row)) for row in rows]


async def save_survey(
    conn: asyncpg.Connection,
    chat_id: uuid.UUID,
    score: int,
    comment: str | None,
    now: datetime,
) -> SurveyOutcome:
    """Store the chat's one survey answer.

    The chat row is share-locked first: a deletion or purge running at the same moment either
    finishes before (and the answer is refused) or waits until the answer is in (and empties
    its comment), so no comment outlives a deleted or purged conversation.
    """
    async with conn.transaction():
        present = await conn.fetchval(
            """SELECT 1 FROM chat_sessions
               WHERE id = $1 AND deleted_at IS NULL AND purged_at IS NULL FOR SHARE""",
            chat_id,
        )
        if present is None:
            return SurveyOutcome.DELETED
        stored = await conn.fetchval(
            """INSERT INTO survey_answers (chat_id, score, comment, created_at)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (chat_id) DO NOTHING
               RETURNING chat_id""",
            chat_id,
            score,
            comment,
            now,
        )
    return SurveyOutcome.SAVED if stored is not None else SurveyOutcome.ALREADY_ANSWERED


async def delete_conversation(
    conn: asyncpg.Connection, chat_id: uuid.UUID, now: datetime, *, close: bool
) -> None:
    """Delete every word of the conversation in one transaction, keeping the figures reports
    need (times, county, queue, routing, survey score, wrap-up category and topics).

    The chat row is updated first, so its lock orders this against a message being appended
    (which numbers it under the same lock): that message is either deleted here or refused
    afterwards for `deleted_at`. `close` marks a chat the router no longer holds, and so will
    never close, as ended or abandoned in the record; a chat the router holds is closed by the
    router and recorded from its effects.
    """
    async with conn.transaction():
        await conn.execute(
            """UPDATE chat_sessions
               SET deleted_at = coalesce(deleted_at, $2),
                   topic = NULL,
                   resume_token_hash = NULL,
                   resume_expires_at = NULL
               WHERE id = $1""",
            chat_id,
            now,
        )
        if close:
            await conn.execute(
                """UPDATE chat_sessions
                   SET state = CASE WHEN answered_at IS NULL THEN 'abandoned' ELSE 'ended' END,
                       ended_at = coalesce(ended_at, $2),
                       end_reason = coalesce(end_reason, 'deleted')
                   WHERE id = $1 AND state IN ('waiting', 'offered', 'active')""",
                chat_id,
                now,
            )
        await conn.execute("DELETE FROM messages WHERE chat_id = $1", chat_id)
        await conn.execute("DELETE FROM chat_notes WHERE chat_id = $1", chat_id)
        await conn.execute("UPDATE survey_answers SET comment = NULL WHERE chat_id = $1", chat_id)
        await conn.execute("UPDATE wrap_ups SET note = NULL WHERE chat_id = $1", chat_id)
