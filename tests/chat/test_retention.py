"""Retention against a real PostgreSQL: `eguide purge` (the real command) leaves no words of a
chat that ended more than the retention ago, keeps what reports need, touches nothing younger,
and changes nothing when run again; a purged chat takes no new words."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from chat.counsellor_records import add_note, save_wrap_up
from chat.retention import purge_expired
from chat.seeker_records import SurveyOutcome, save_survey
from chat.store import append_message, create_chat
from tests.support.environment import RunEnvironment
from tests.support.records import words_left


def eguide_purge(env: RunEnvironment, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "purge"],
        env=env.variables(**variables),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def ended_chat(module_db: asyncpg.Connection, days_ago: float) -> uuid.UUID:
    """A whole conversation, as the sockets and the seeker's requests store it, that ended
    `days_ago` days ago."""
    now = datetime.now(UTC)
    ended = now - timedelta(days=days_ago)
    kari = await module_db.fetchval("SELECT id FROM users WHERE username = 'kari'")
    chat, _token = await create_chat(
        module_db, county_number="03", language="nb", topic="Jobbskifte", queue="03", now=ended
    )
    for role, user, text in [
        ("seeker", None, "Hei, jeg vil bytte jobb"),
        ("counsellor", kari, "Hva jobber du med nå?"),
    ]:
        await append_message(
            module_db,
            chat_id=chat.id,
            sender_role=role,
            sender_user_id=user,
            client_id=uuid.uuid4().hex,
            body=text,
            now=ended,
        )
    await add_note(
        module_db, chat_id=chat.id, author_id=kari, client_id="n1", body="Usikker", now=ended
    )
    await module_db.execute(
        """UPDATE chat_sessions SET state = 'ended', counsellor_id = $2, answered_at = $3,
                  ended_at = $3, end_reason = 'by_counsellor' WHERE id = $1""",
        chat.id,
        kari,
        ended,
    )
    await save_wrap_up(
        module_db,
        chat_id=chat.id,
        counsellor_id=kari,
        category="reflection",
        topics=("career_change",),
        note="Tok det fint",
        now=ended,
    )
    assert await save_survey(module_db, chat.id, 4, "Nyttig samtale", ended) is SurveyOutcome.SAVED
    return chat.id


async def figures(module_db: asyncpg.Connection, chat_id: uuid.UUID) -> dict[str, object]:
    """What reports read of a chat."""
    row = await module_db.fetchrow(
        """SELECT c.county_number, c.queue, c.state, c.created_at, c.answered_at, c.ended_at,
                  c.end_reason, c.counsellor_id, c.last_seq, s.score, w.category, w.topics,
                  (SELECT count(*) FROM messages m WHERE m.chat_id = c.id) AS messages,
                  (SELECT count(*) FROM chat_notes n WHERE n.chat_id = c.id) AS notes
           FROM chat_sessions c
           LEFT JOIN survey_answers s ON s.chat_id = c.id
           LEFT JOIN wrap_ups w ON w.chat_id = c.id
           WHERE c.id = $1""",
        chat_id,
    )
    return dict(row)


async def test_purge_leaves_no_words_of_an_old_chat_and_keeps_the_figures(
    module_env: RunEnvironment, module_db: asyncpg.Connection
) -> None:
    old = await ended_chat(module_db, days_ago=31)
    young = await ended_chat(module_db, days_ago=29)
    assert set(await words_left(module_db, old)) >= {
        "chat_sessions.topic",
        "chat_sessions.resume_token_hash",
        "messages.body",
        "messages.client_id",
        "chat_notes.body",
        "survey_answers.comment",
        "wrap_ups.note",
    }
    before = await figures(module_db, old)
    young_words = await words_left(module_db, young)

    result = eguide_purge(module_env)
    assert result.returncode == 0, result.stderr
    assert "purged the words of" in result.stdout and "30 day(s)" in result.stdout
    assert int(result.stdout.split("purged the words of ")[1].split()[0]) >= 1

    assert await words_left(module_db, old) == {}
    assert await figures(module_db, old) == before
    assert await words_left(module_db, young) == young_words, "a younger chat is untouched"
    audit = await module_db.fetchrow(
        "SELECT detail FROM audit_log WHERE action = 'retention.purge' ORDER BY id DESC LIMIT 1"
    )
    assert '"by": "command"' in audit["detail"] and '"retention_days": 30' in audit["detail"]

    # Run again: nothing is left to purge, and nothing changes.
    snapshot = await module_db.fetch(
        "SELECT * FROM messages WHERE chat_id = ANY($1) ORDER BY 1, 2", [old, young]
    )
    again = eguide_purge(module_env)
    assert again.returncode == 0, again.stderr
    assert "purged the words of 0 chat(s)" in again.stdout
    assert (
        await module_db.fetch(
            "SELECT * FROM messages WHERE chat_id = ANY($1) ORDER BY 1, 2", [old, young]
        )
        == snapshot
    )
    assert await words_left(module_db, young) == young_words

    # A shorter retention reaches the younger chat too.
    shorter = eguide_purge(module_env, EGUIDE_RETENTION_DAYS="7")
    assert shorter.returncode == 0, shorter.stderr
    assert await words_left(module_db, young) == {}


async def test_a_purged_chat_takes_no_new_words(module_db: asyncpg.Connection) -> None:
    chat_id = await ended_chat(module_db, days_ago=40)
    now = datetime.now(UTC)
    await purge_expired(module_db, now - timedelta(days=30), now)
    kari = await module_db.fetchval("SELECT id FROM users WHERE username = 'kari'")
    with pytest.raises(LookupError):
        await append_message(
            module_db,
            chat_id=chat_id,
            sender_role="seeker",
            sender_user_id=None,
            client_id="late",
            body="Er du der?",
            now=now,
        )
    with pytest.raises(LookupError):
        await add_note(
            module_db, chat_id=chat_id, author_id=kari, client_id="late", body="x", now=now
        )
    await module_db.execute("DELETE FROM survey_answers WHERE chat_id = $1", chat_id)
    assert await save_survey(module_db, chat_id, 5, "Sent", now) is SurveyOutcome.DELETED
    assert await words_left(module_db, chat_id) == {}


async def test_purge_runs_in_batches_until_none_is_left(module_db: asyncpg.Connection) -> None:
    chats = [await ended_chat(module_db, days_ago=60 + i) for i in range(5)]
    now = datetime.now(UTC)
    purged = await purge_expired(module_db, now - timedelta(days=30), now, batch=2)
    assert purged >= 5
    for chat_id in chats:
        assert await words_left(module_db, chat_id) == {}
    assert await purge_expired(module_db, now - timedelta(days=30), now, batch=2) == 0
    with pytest.raises(ValueError, match="batch"):
        await purge_expired(module_db, now, now, batch=0)


async def test_a_chat_the_record_never_saw_close_counts_from_its_start(
    module_db: asyncpg.Connection,
) -> None:
    now = datetime.now(UTC)
    stale, _ = await create_chat(
        module_db, county_number=None, language="en", topic="Old", queue="national",
        now=now - timedelta(days=45),
    )  # fmt: skip
    fresh, _ = await create_chat(
        module_db, county_number=None, language="en", topic="New", queue="national", now=now
    )
    await purge_expired(module_db, now - timedelta(days=30), now)
    assert await words_left(module_db, stale.id) == {}
    assert set(await words_left(module_db, fresh.id)) == {
        "chat_sessions.topic",
        "chat_sessions.resume_token_hash",
    }
