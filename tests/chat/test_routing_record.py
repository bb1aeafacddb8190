"""The routing record in a real PostgreSQL: entries recorded out of order (two instances'
recorders, or one claimed after its recorder died) still leave the chat's row right: the
newest state, and when it was first answered."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from chat.routing_record import record_entry
from chat.store import create_chat
from queueing.effects import ChatAssigned, ChatEnded, Effect, Side
from tests.support.environment import RunEnvironment


@pytest.fixture
async def record(module_env: RunEnvironment) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(module_env.database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def new_chat(record: asyncpg.Connection, now: datetime) -> uuid.UUID:
    chat, _token = await create_chat(
        record, county_number="03", language="nb", topic=None, queue="03", now=now
    )
    return chat.id


@pytest.mark.parametrize("order", ["as made", "end first"])
async def test_an_answer_recorded_after_the_end_still_counts(
    record: asyncpg.Connection, order: str
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    chat_id = await new_chat(record, start)
    kari = await record.fetchval("SELECT id FROM users WHERE username = 'kari'")
    answered, ended = start + timedelta(seconds=30), start + timedelta(seconds=600)
    entries: list[tuple[str, datetime, list[Effect]]] = [
        ("1000-0", answered, [ChatAssigned(str(chat_id), str(kari), 30.0, False)]),
        ("2000-0", ended, [ChatEnded(str(chat_id), str(kari), Side.COUNSELLOR)]),
    ]
    if order == "end first":
        entries.reverse()
    for entry_id, at, effects in entries:
        await record_entry(record, entry_id, at, effects)
    row = await record.fetchrow(
        "SELECT state, answered_at, ended_at FROM chat_sessions WHERE id = $1", chat_id
    )
    assert (row["state"], row["answered_at"], row["ended_at"]) == ("ended", answered, ended)


async def test_the_first_answer_is_kept_when_a_transfer_is_recorded_before_it(
    record: asyncpg.Connection,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    chat_id = await new_chat(record, start)
    kari = await record.fetchval("SELECT id FROM users WHERE username = 'kari'")
    ola = await record.fetchval("SELECT id FROM users WHERE username = 'ola'")
    first, second = start + timedelta(seconds=20), start + timedelta(seconds=300)
    to_ola = ChatAssigned(str(chat_id), str(ola), 5.0, False)
    to_kari = ChatAssigned(str(chat_id), str(kari), 20.0, False)
    await record_entry(record, "2000-0", second, [to_ola])
    await record_entry(record, "1000-0", first, [to_kari])
    row = await record.fetchrow(
        "SELECT state, answered_at, counsellor_id FROM chat_sessions WHERE id = $1", chat_id
    )
    # The newest holder, and the first answer.
    assert (row["state"], row["answered_at"], row["counsellor_id"]) == ("active", first, ola)
