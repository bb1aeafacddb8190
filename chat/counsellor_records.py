"""What counsellors write about a chat in PostgreSQL: internal notes and the wrap-up.

Notes live outside the message sequence (the seeker's numbers have no gaps that would give away
that notes were written) and are never sent to the seeker. A note's resend with the same client
id returns the stored note. A chat has one wrap-up, written by the counsellor who ended it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class StoredNote:
    id: int
    chat_id: uuid.UUID
    author_id: int
    client_id: str | None
    body: str | None
    created_at: datetime


async def add_note(
    conn: asyncpg.Connection,
    *,
    chat_id: uuid.UUID,
    author_id: int,
    client_id: str,
    body: str,
    now: datetime,
) -> tuple[StoredNote, bool]:
    """Store an internal note; return it and whether it is new (False for a resend). Raises
    LookupError when the seeker deleted the conversation or retention purged it."""
    row = await conn.fetchrow(
        """INSERT INTO chat_notes (chat_id, author_id, client_id, body, created_at)
           SELECT $1, $2, $3, $4, $5 FROM chat_sessions
           WHERE id = $1 AND deleted_at IS NULL AND purged_at IS NULL
           ON CONFLICT (chat_id, author_id, client_id) WHERE client_id IS NOT NULL DO NOTHING
           RETURNING id, chat_id, author_id, client_id, body, created_at""",
        chat_id,
        author_id,
        client_id,
        body,
        now,
    )
    if row is not None:
        return StoredNote(**dict(row)), True
    row = await conn.fetchrow(
        """SELECT id, chat_id, author_id, client_id, body, created_at FROM chat_notes
           WHERE chat_id = $1 AND author_id = $2 AND client_id = $3""",
        chat_id,
        author_id,
        client_id,
    )
    if row is None:
        raise LookupError(f"no chat {chat_id}")  # deleted by the seeker, or purged
    return StoredNote(**dict(row)), False


async def notes_of(conn: asyncpg.Connection, chat_id: uuid.UUID) -> list[StoredNote]:
    """Every note on the chat, oldest first: they travel with the chat on a transfer."""
    rows = await conn.fetch(
        """SELECT id, chat_id, author_id, client_id, body, created_at FROM chat_notes
           WHERE chat_id = $1 ORDER BY id""",
        chat_id,
    )
    return [StoredNote(**dict(row)) for row in rows]


async def save_wrap_up(
    conn: asyncpg.Connection,
    *,
    chat_id: uuid.UUID,
    counsellor_id: int,
    category: str,
    topics: tuple[str, ...],
    note: str,
    now: datetime,
) -> bool:
    """Record the chat's wrap-up; False when it has one already (it is written once)."""
    stored = await conn.fetchval(
        # A conversation its seeker deleted, or retention purged, keeps no free text: the note
        # is dropped.
        """INSERT INTO wrap_ups (chat_id, counsellor_id, category, topics, note, created_at)
           SELECT $1, $2, $3, $4,
                  CASE WHEN c.deleted_at IS NULL AND c.purged_at IS NULL THEN $5::text END, $6
           FROM chat_sessions c WHERE c.id = $1
           ON CONFLICT (chat_id) DO NOTHING
           RETURNING true""",
        chat_id,
        counsellor_id,
        category,
        list(topics),
        note or None,
        now,
    )
    return bool(stored)


async def awaiting_wrap_up(conn: asyncpg.Connection, counsellor_id: int) -> list[uuid.UUID]:
    """Chats the counsellor ended without a wrap-up yet: their console keeps them open."""
    rows = await conn.fetch(
        """SELECT c.id FROM chat_sessions c
           WHERE c.counsellor_id = $1 AND c.state = 'ended'
             AND NOT EXISTS (SELECT 1 FROM wrap_ups w WHERE w.chat_id = c.id)
           ORDER BY c.ended_at""",
        counsellor_id,
    )
    return [row["id"] for row in rows]


async def display_name(conn: asyncpg.Connection, user_id: int) -> str:
    """A staff member's name as seekers and colleagues see it."""
    name = await conn.fetchval("SELECT display_name FROM users WHERE id = $1", user_id)
    return str(name) if name is not None else ""
