"""The routing record in a real PostgreSQL: entries recorded out of order (two instances'
recorders, or one claimed after its recorder died) still leave the chat's row right: the
newest state, and when it was first answered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from chat.routing_record import record_entry
from chat.store import create_chat
from queueing.effects import ChatAssigned, ChatEnded, Effect, Side


async def new_chat(db: asyncpg.Connection, now: datetime) -> uuid.UUID:
    chat, _token = await create_chat(
        db, county_number="03", language="nb", topic=None, queue="03", now=now
    )
    return chat.id


@pytest.mark.parametrize("order", ["as made", "end first"])
async def test_an_answer_recorded_after_the_end_still_counts(
    db: asyncpg.Connection, order: str
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    chat_id = await new_chat(db, start)
    kari = await db.fetchval("SELECT id FROM users WHERE username = 'kari'")
    answered, ended = start + timedelta(seconds=30), start + timedelta(seconds=600)
    entries: list[tuple[str, datetime, list[Effect]]] = [
        ("1000-0", answered, [ChatAssigned(str(chat_id), str(kari), 30.0, False)]),
        ("2000-0", ended, [ChatEnded(str(chat_id), str(kari), Side.COUNSELLOR)]),
    ]
    if order == "end first":
        entries.reverse()
    for entry_id, at, effects in entries:
        await record_entry(db, entry_id, at, effects)
    row = await db.fetchrow(
        "SELECT state, answered_at, ended_at FROM chat_sessions WHERE id = $1", chat_id
    )
    assert (row["state"], row["answered_at"], row["ended_at"]) == ("ended", answered, ended)


async def test_the_first_answer_is_kept_when_a_transfer_is_recorded_before_it(
    db: asyncpg.Connection,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    chat_id = await new_chat(db, start)
    kari = await db.fetchval("SELECT id FROM users WHERE username = 'kari'")
    ola = await db.fetchval("SELECT id FROM users WHERE username = 'ola'")
    first, second = start + timedelta(seconds=20), start + timedelta(seconds=300)
    to_ola = ChatAssigned(str(chat_id), str(ola), 5.0, False)
    to_kari = ChatAssigned(str(chat_id), str(kari), 20.0, False)
    await record_entry(db, "2000-0", second, [to_ola])
    await record_entry(db, "1000-0", first, [to_kari])
    row = await db.fetchrow(
        "SELECT state, answered_at, counsellor_id FROM chat_sessions WHERE id = $1", chat_id
    )
    # The newest holder, and the first answer.
    assert (row["state"], row["answered_at"], row["counsellor_id"]) == ("active", first, ola)
