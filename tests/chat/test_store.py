"""Chats and messages in real PostgreSQL: tokens, gapless sequence numbers, no duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from chat.store import (
    RESUME_TOKEN_LIFETIME,
    append_message,
    chat_for_token,
    create_chat,
    hash_token,
    messages_after,
)
from tests.support.environment import RunEnvironment

NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
async def pool(test_env: RunEnvironment) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(test_env.database_url, min_size=1, max_size=8)
    assert created is not None
    try:
        yield created
    finally:
        await created.close()


async def test_a_chat_opens_with_its_token_and_only_a_hash_is_stored(
    db: asyncpg.Connection,
) -> None:
    chat, token = await create_chat(
        db, county_number="55", language="nb", topic="utdanning", queue="55", now=NOW
    )
    assert len(token) >= 43
    stored = await db.fetchval("SELECT resume_token_hash FROM chat_sessions WHERE id = $1", chat.id)
    assert stored == hash_token(token)
    assert token.encode() not in bytes(stored)
    found = await chat_for_token(db, token, NOW + timedelta(minutes=5))
    assert found == chat
    assert await chat_for_token(db, token + "x", NOW) is None
    assert await chat_for_token(db, token, NOW + RESUME_TOKEN_LIFETIME) is None


async def test_messages_are_numbered_in_order_and_a_resend_is_not_stored_twice(
    db: asyncpg.Connection,
) -> None:
    chat, _ = await create_chat(
        db, county_number=None, language="en", topic=None, queue="national", now=NOW
    )
    first, new = await append_message(
        db, chat_id=chat.id, sender_role="seeker", sender_user_id=None, client_id="m1",
        body="Hello", now=NOW,
    )  # fmt: skip
    assert (first.seq, new) == (1, True)
    again, new = await append_message(
        db, chat_id=chat.id, sender_role="seeker", sender_user_id=None, client_id="m1",
        body="Hello", now=NOW,
    )  # fmt: skip
    assert (again, new) == (first, False)
    second, _ = await append_message(
        db, chat_id=chat.id, sender_role="seeker", sender_user_id=None, client_id="m2",
        body="Are you there?", now=NOW,
    )  # fmt: skip
    assert second.seq == 2
    assert [m.seq for m in await messages_after(db, chat.id, 0)] == [1, 2]
    assert [m.body for m in await messages_after(db, chat.id, 1)] == ["Are you there?"]


async def test_concurrent_senders_get_gapless_unique_sequence_numbers(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    chat, _ = await create_chat(
        db, county_number="03", language="nb", topic=None, queue="03", now=NOW
    )

    async def send(index: int) -> int:
        async with pool.acquire() as conn:
            message, _ = await append_message(
                conn, chat_id=chat.id, sender_role="seeker" if index % 2 else "counsellor",
                sender_user_id=None, client_id=f"c{index}", body=f"message {index}", now=NOW,
            )  # fmt: skip
            return message.seq

    seqs = await asyncio.gather(*(send(i) for i in range(40)))
    assert sorted(seqs) == list(range(1, 41))


async def test_the_same_resend_racing_from_two_connections_is_stored_once(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    chat, _ = await create_chat(
        db, county_number="03", language="nb", topic=None, queue="03", now=NOW
    )

    async def send() -> tuple[int, bool]:
        async with pool.acquire() as conn:
            message, new = await append_message(
                conn, chat_id=chat.id, sender_role="seeker", sender_user_id=None,
                client_id="same", body="once", now=NOW,
            )  # fmt: skip
            return message.seq, new

    results = await asyncio.gather(*(send() for _ in range(8)))
    assert {seq for seq, _ in results} == {1}
    assert sum(new for _, new in results) == 1
    assert len(await messages_after(db, chat.id, 0)) == 1


async def test_a_message_for_an_unknown_chat_is_refused(db: asyncpg.Connection) -> None:
    import uuid

    with pytest.raises(LookupError):
        await append_message(
            db, chat_id=uuid.uuid4(), sender_role="seeker", sender_user_id=None,
            client_id=None, body="x", now=NOW,
        )  # fmt: skip


async def test_two_counsellors_client_ids_never_collide(db: asyncpg.Connection) -> None:
    # After a transfer two counsellors write in one chat; the same client id from each is two
    # messages, not a resend.
    chat, _ = await create_chat(
        db, county_number="03", language="nb", topic=None, queue="03", now=NOW
    )
    ids = [
        await db.fetchval("SELECT id FROM users WHERE username = $1", n) for n in ("kari", "nora")
    ]
    stored = []
    for user in ids:
        message = await append_message(
            db, chat_id=chat.id, sender_role="counsellor", sender_user_id=user,
            client_id="c1", body=f"fra {user}", now=NOW,
        )  # fmt: skip
        stored.append(message)
    assert [(m.seq, new) for m, new in stored] == [(1, True), (2, True)]
    again, new = await append_message(
        db, chat_id=chat.id, sender_role="counsellor", sender_user_id=ids[1],
        client_id="c1", body="fra nora", now=NOW,
    )  # fmt: skip
    assert (again.seq, new) == (2, False)
