"""Chats and their messages in PostgreSQL: the record everything else is told about afterwards.

A message gets its per-chat sequence number and is committed here before it is acknowledged to
its sender or delivered to anyone. A resend with the same client id returns the stored message
instead of storing it twice.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

# Long enough for a seeker to keep their chat through a long wait, a reload or a dead battery
# and a borrowed phone; short enough that a forgotten token soon opens nothing.
RESUME_TOKEN_LIFETIME = timedelta(hours=12)


def hash_token(token: str) -> bytes:
    """Only this is stored; the token itself lives in the seeker's browser alone."""
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class ChatRecord:
    id: uuid.UUID
    county_number: str | None
    language: str
    topic: str | None
    state: str
    queue: str
    created_at: datetime
    counsellor_id: int | None
    last_seq: int


@dataclass(frozen=True)
class StoredMessage:
    chat_id: uuid.UUID
    seq: int
    sender_role: str
    sender_user_id: int | None
    kind: str
    client_id: str | None
    body: str | None
    created_at: datetime


_SELECT_CHAT = (
    "SELECT id, county_number, language, topic, state, queue, created_at, counsellor_id, "
    "last_seq FROM chat_sessions"
)
_SELECT_MESSAGE = (
    "SELECT chat_id, seq, sender_role, sender_user_id, kind, client_id, body, created_at "
    "FROM messages"
)


def _chat(row: asyncpg.Record) -> ChatRecord:
    return ChatRecord(**dict(row))


def _message(row: asyncpg.Record) -> StoredMessage:
    return StoredMessage(**dict(row))


async def create_chat(
    conn: asyncpg.Connection,
    *,
    county_number: str | None,
    language: str,
    topic: str | None,
    queue: str,
    now: datetime,
) -> tuple[ChatRecord, str]:
    """Record a new chat; return it with its resume token (256 random bits, shown once)."""
    token = secrets.token_urlsafe(32)
    row = await conn.fetchrow(
        """INSERT INTO chat_sessions (id, county_number, language, topic, queue,
                                      resume_token_hash, resume_expires_at, consented_at,
                                      created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
           RETURNING id, county_number, language, topic, state, queue, created_at,
                     counsellor_id, last_seq""",
        uuid.uuid4(),
        county_number,
        language,
        topic,
        queue,
        hash_token(token),
        now + RESUME_TOKEN_LIFETIME,
        now,
    )
    return _chat(row), token


async def chat_for_token(conn: asyncpg.Connection, token: str, now: datetime) -> ChatRecord | None:
    """The chat a resume token opens, while the token is valid."""
    if not token or len(token) > 128:
        return None
    row = await conn.fetchrow(
        _SELECT_CHAT + " WHERE resume_token_hash = $1 AND resume_expires_at > $2",
        hash_token(token),
        now,
    )
    return None if row is None else _chat(row)


async def find_chat(conn: asyncpg.Connection, chat_id: uuid.UUID) -> ChatRecord | None:
    row = await conn.fetchrow(_SELECT_CHAT + " WHERE id = $1", chat_id)
    return None if row is None else _chat(row)


# One round trip: a resend is found and returned as it was; otherwise the chat's counter moves
# on and the message is stored under the new number, in the same statement (so the same
# transaction, holding the chat row's lock until commit: numbers are committed in order).
# A resend racing its first copy from another instance fails on the unique client id, which
# rolls the whole statement back, counter included; the caller then reads the first copy.
_APPEND = """
WITH earlier AS (
    SELECT chat_id, seq, sender_role, sender_user_id, kind, client_id, body, created_at
    FROM messages
    WHERE chat_id = $1 AND sender_role = $2 AND client_id = $3
      AND sender_user_id IS NOT DISTINCT FROM $4
), numbered AS (
    UPDATE chat_sessions SET last_seq = last_seq + 1
    WHERE id = $1 AND deleted_at IS NULL AND purged_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM earlier)
    RETURNING last_seq
), stored AS (
    INSERT INTO messages (chat_id, seq, sender_role, sender_user_id, kind, client_id, body,
                          created_at)
    SELECT $1, last_seq, $2, $4, $5, $3, $6, $7 FROM numbered
    RETURNING chat_id, seq, sender_role, sender_user_id, kind, client_id, body, created_at
)
SELECT *, true AS new FROM stored
UNION ALL
SELECT *, false AS new FROM earlier
"""


async def append_message(
    conn: asyncpg.Connection,
    *,
    chat_id: uuid.UUID,
    sender_role: str,
    sender_user_id: int | None,
    client_id: str | None,
    body: str,
    now: datetime,
    kind: str = "message",
) -> tuple[StoredMessage, bool]:
    """Store a message with the chat's next sequence number; return it and whether it is new.

    Numbers have no gaps and no two messages share one. A client id the same sender used before
    returns the earlier message unchanged, also when the two copies race each other from two
    instances.
    Raises LookupError when there is no such chat, the seeker deleted the conversation, or
    retention purged it.
    """
    try:
        row = await conn.fetchrow(
            _APPEND, chat_id, sender_role, client_id, sender_user_id, kind, body, now
        )
    except asyncpg.UniqueViolationError:
        # The same client id committed first on another connection; ours rolled back whole.
        assert client_id is not None
        existing = await find_by_client_id(conn, chat_id, sender_role, sender_user_id, client_id)
        assert existing is not None
        return existing, False
    if row is None:
        raise LookupError(f"no chat {chat_id}")
    fields = dict(row)
    new = fields.pop("new")
    return StoredMessage(**fields), bool(new)


async def find_by_client_id(
    conn: asyncpg.Connection,
    chat_id: uuid.UUID,
    sender_role: str,
    sender_user_id: int | None,
    client_id: str,
) -> StoredMessage | None:
    """The message a sender stored under their client id, if any."""
    row = await conn.fetchrow(
        _SELECT_MESSAGE + " WHERE chat_id = $1 AND sender_role = $2 AND client_id = $3"
        " AND sender_user_id IS NOT DISTINCT FROM $4",
        chat_id,
        sender_role,
        client_id,
        sender_user_id,
    )
    return None if row is None else _message(row)


async def messages_after(
    conn: asyncpg.Connection, chat_id: uuid.UUID, after_seq: int
) -> list[StoredMessage]:
    """Every message of the chat after `after_seq`, in order (internal notes are elsewhere)."""
    rows = await conn.fetch(
        _SELECT_MESSAGE + " WHERE chat_id = $1 AND seq > $2 ORDER BY seq",
        chat_id,
        after_seq,
    )
    return [_message(row) for row in rows]


async def last_seq(conn: asyncpg.Connection, chat_id: uuid.UUID) -> int:
    """The chat's last message number (0 when it has none, or there is no such chat)."""
    found = await conn.fetchval("SELECT last_seq FROM chat_sessions WHERE id = $1", chat_id)
    return int(found or 0)
