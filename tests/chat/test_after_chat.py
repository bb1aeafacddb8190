"""The seeker's requests after (and around) a chat, over a real server with real Redis and
PostgreSQL: the transcript, the survey, and deleting the conversation, each opened only by the
chat's resume token."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
from websockets.asyncio.client import ClientConnection

from app.seed import DEMO_PASSWORD
from chat.store import append_message
from queueing.keys import RoutingKeys
from tests.support.environment import RunEnvironment
from tests.support.records import words_left
from tests.support.server import ServerProcess
from tests.support.sockets import open_counsellor, open_seeker, receive, send, staff_cookie

Chat = dict[str, Any]


@pytest.fixture(scope="module")
def prefix(module_env: RunEnvironment) -> str:
    return f"{module_env.redis_prefix}{secrets.token_hex(3)}:"


@pytest.fixture(scope="module")
def server(
    module_env: RunEnvironment, prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One instance with a database and routing state of this module's own."""
    log = tmp_path_factory.mktemp("after-chat") / "server.log"
    with ServerProcess(module_env.variables(EGUIDE_REDIS_PREFIX=prefix), log) as process:
        yield process


@pytest.fixture
async def api(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url) as client:
        yield client


@asynccontextmanager
async def kari_on_duty(server: ServerProcess) -> AsyncIterator[ClientConnection]:
    """Kari's console (Oslo, county 03), available for offers until the block ends."""
    kari = await open_counsellor(server.url, staff_cookie(server.url, "kari", DEMO_PASSWORD))
    try:
        await send(kari, "status", status="available")
        yield kari
    finally:
        await send(kari, "status", status="offline")
        await kari.close()


async def start(api: httpx.AsyncClient, county: str, topic: str | None = None) -> Chat:
    response = await api.post(
        "/api/v1/chats",
        json={"county": county, "language": "nb", "topic": topic, "consent": True},
    )
    assert response.status_code == 201, response.text
    chat: Chat = response.json()
    return chat


async def answered(server: ServerProcess, kari: ClientConnection, chat: Chat) -> ClientConnection:
    """The chat offered to Kari and accepted; the seeker's socket, told who answered."""
    seeker = await open_seeker(server.url, chat["token"])
    while (await receive(kari, "offer"))["chat_id"] != chat["chat_id"]:
        pass
    await send(kari, "accept", chat_id=chat["chat_id"])
    assert (await receive(seeker, "assigned"))["counsellor"] == "Kari (Oslo)"
    return seeker


async def ended_by_kari(kari: ClientConnection, seeker: ClientConnection, chat: Chat) -> None:
    await send(kari, "end", chat_id=chat["chat_id"])
    assert (await receive(seeker, "ended"))["by"] == "counsellor"
    await seeker.close()


async def delete(api: httpx.AsyncClient, chat: Chat) -> httpx.Response:
    return await api.delete(url(chat["chat_id"]), headers=bearer(chat))


def bearer(chat: Chat) -> dict[str, str]:
    return {"Authorization": f"Bearer {chat['token']}"}


def url(chat_id: str, tail: str = "") -> str:
    return f"/api/v1/chats/{chat_id}{tail}"


def refused(response: httpx.Response, status: int, code: str) -> None:
    """A JSON refusal with this status and code, which nothing may cache."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert response.headers["cache-control"] == "no-store"


async def kari_id(module_db: asyncpg.Connection) -> int:
    user_id: int = await module_db.fetchval("SELECT id FROM users WHERE username = 'kari'")
    return user_id


async def write_conversation(module_db: asyncpg.Connection, chat: Chat, marker: str) -> list[str]:
    """Messages both ways and an internal note, stored as the sockets would store them; the
    message bodies in order."""
    chat_id, kari = uuid.UUID(chat["chat_id"]), await kari_id(module_db)
    bodies = [
        (f"Hei, jeg vil bytte jobb {marker}", "seeker", None),
        (f"Hva jobber du med nå? <script>alert('{marker}')</script>", "counsellor", kari),
        (f"Butikk,\nmen jeg vil noe annet {marker} & mer", "seeker", None),
    ]
    for body, role, user_id in bodies:
        await append_message(
            module_db,
            chat_id=chat_id,
            sender_role=role,
            sender_user_id=user_id,
            client_id=secrets.token_hex(8),
            body=body,
            now=datetime.now(UTC),
        )
    await module_db.execute(
        "INSERT INTO chat_notes (chat_id, author_id, body) VALUES ($1, $2, $3)",
        chat_id,
        kari,
        f"NOTE {marker}: seems unsure, suggest the interest test",
    )
    return [body for body, _, _ in bodies]


async def rows_mentioning(module_db: asyncpg.Connection, marker: str) -> dict[str, int]:
    """Every table row whose text holds `marker`, per table: the whole database is searched."""
    tables = await module_db.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    found = {}
    for table in (row["tablename"] for row in tables):
        count = await module_db.fetchval(
            f'SELECT count(*) FROM "{table}" AS t WHERE t::text LIKE $1',  # noqa: S608
            f"%{marker}%",
        )
        if count:
            found[table] = count
    return found


# ---------------------------------------------------------------------- the transcript


async def test_transcripts_hold_the_conversation_in_order_and_never_a_note(
    server: ServerProcess, api: httpx.AsyncClient, module_db: asyncpg.Connection
) -> None:
    marker = secrets.token_hex(6)
    async with kari_on_duty(server) as kari:
        chat = await start(api, "03")
        seeker = await answered(server, kari, chat)
        bodies = await write_conversation(module_db, chat, marker)

        text = await api.get(url(chat["chat_id"], "/transcript?lang=en"), headers=bearer(chat))
        assert text.status_code == 200, text.text
        assert text.headers["content-type"] == "text/plain; charset=utf-8"
        assert text.headers["cache-control"] == "no-store"
        assert re.fullmatch(
            r'attachment; filename="eguide-chat-\d{4}-\d{2}-\d{2}\.txt"',
            text.headers["content-disposition"],
        )
        assert "NOTE" not in text.text and "interest test" not in text.text
        positions = [text.text.index(body.splitlines()[0]) for body in bodies]
        assert positions == sorted(positions)
        senders = re.findall(r"^\d\d:\d\d (.+):$", text.text, flags=re.M)
        assert senders == ["You", "Kari (Oslo)", "You"]
        assert "  men jeg vil noe annet" in text.text

        page = await api.get(
            url(chat["chat_id"], "/transcript?format=html&lang=nn"), headers=bearer(chat)
        )
        assert page.status_code == 200, page.text
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["content-disposition"].endswith('.html"')
        assert page.text.startswith('<!doctype html>\n<html lang="nn">')
        assert "<title>Utskrift av chatten" in page.text
        assert "<script>" not in page.text
        assert f"&lt;script&gt;alert(&#x27;{marker}&#x27;)&lt;/script&gt;" in page.text
        assert "NOTE" not in page.text and "interest test" not in page.text
        assert page.text.count("<strong>Du</strong>") == 2

        await ended_by_kari(kari, seeker, chat)


async def test_transcript_options_are_checked(api: httpx.AsyncClient) -> None:
    chat = await start(api, "46")
    for query, code in [("?format=pdf", "unknown_format"), ("?lang=de", "unknown_lang")]:
        refused(
            await api.get(url(chat["chat_id"], "/transcript" + query), headers=bearer(chat)),
            422,
            code,
        )
    default = await api.get(
        url(chat["chat_id"], "/transcript"),
        headers={**bearer(chat), "Accept-Language": "en-GB,en;q=0.9"},
    )
    assert default.headers["content-type"] == "text/plain; charset=utf-8"
    assert default.text.startswith("Chat transcript")
    assert "No messages." in default.text
    assert (await delete(api, chat)).status_code == 204


# ---------------------------------------------------------------------- the token


async def test_only_the_chats_own_token_in_the_header_opens_it(api: httpx.AsyncClient) -> None:
    mine, other = await start(api, "46"), await start(api, "46")
    requests = [
        ("GET", "/transcript", None),
        ("POST", "/survey", {"score": 5}),
        ("DELETE", "", None),
    ]
    for method, tail, body in requests:
        target = url(mine["chat_id"], tail)
        missing = await api.request(method, target, json=body)
        refused(missing, 401, "not_authenticated")
        assert missing.headers["www-authenticate"] == "Bearer"
        in_the_url = await api.request(method, target + f"?token={mine['token']}", json=body)
        refused(in_the_url, 401, "not_authenticated")
        for header in [
            "Bearer not-a-token",
            f"Bearer {mine['token']}x",
            f"Basic {mine['token']}",
            "Bearer " + "x" * 500,
        ]:
            wrong = await api.request(method, target, json=body, headers={"Authorization": header})
            refused(wrong, 401, "bad_token" if header.startswith("Bearer") else "not_authenticated")
        # A valid token for another chat opens nothing here, nor does it with a mangled id.
        for chat_id in (other["chat_id"], "not-a-chat", str(uuid.uuid4())):
            refused(
                await api.request(method, url(chat_id, tail), json=body, headers=bearer(mine)),
                403,
                "wrong_chat",
            )
    # Nothing was deleted by the refused requests.
    for chat in (mine, other):
        transcript = await api.get(url(chat["chat_id"], "/transcript"), headers=bearer(chat))
        assert transcript.status_code == 200
        assert (await delete(api, chat)).status_code == 204


async def test_unknown_api_paths_and_methods_answer_in_json(api: httpx.AsyncClient) -> None:
    chat = await start(api, "46")
    wrong_method = await api.put(url(chat["chat_id"]), headers=bearer(chat))
    refused(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "DELETE"
    refused(await api.get(url(chat["chat_id"], "/minutes")), 404, "not_found")
    assert (await delete(api, chat)).status_code == 204


async def test_an_expired_token_opens_nothing(
    server: ServerProcess, api: httpx.AsyncClient, module_db: asyncpg.Connection
) -> None:
    chat = await start(api, "46")
    await module_db.execute(
        "UPDATE chat_sessions SET resume_expires_at = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(chat["chat_id"]),
    )
    transcript = await api.get(url(chat["chat_id"], "/transcript"), headers=bearer(chat))
    refused(transcript, 401, "bad_token")
    assert transcript.headers["www-authenticate"] == 'Bearer error="invalid_token"'


# ---------------------------------------------------------------------- the survey


async def test_the_survey_opens_once_when_an_answered_chat_has_ended(
    server: ServerProcess, api: httpx.AsyncClient, module_db: asyncpg.Connection
) -> None:
    async with kari_on_duty(server) as kari:
        chat = await start(api, "03")
        survey = url(chat["chat_id"], "/survey")
        seeker = await answered(server, kari, chat)
        refused(
            await api.post(survey, json={"score": 4}, headers=bearer(chat)), 409, "chat_not_ended"
        )

        bad: list[tuple[dict[str, Any], int, str]] = [
            ({"content": b'{"score": 4}', "headers": {"content-type": "text/plain"}}, 415,
             "unsupported_media_type"),
            ({"data": {"score": "4"}}, 415, "unsupported_media_type"),
            ({"content": b'{"score": 4, "comment": "' + b"x" * 30_000 + b'"}',
              "headers": {"content-type": "application/json"}}, 413, "body_too_large"),
            ({"content": b'{"score": ', "headers": {"content-type": "application/json"}}, 400,
             "invalid_json"),
            ({"json": [4]}, 400, "not_an_object"),
            ({"json": {"score": 9}}, 422, "bad_score"),
            ({"json": {"score": True}}, 422, "bad_score"),
            ({"json": {"score": 4, "comment": "x" * 2001}}, 422, "bad_comment"),
            ({"json": {"score": 4, "comment": "a\u0000b"}}, 422, "bad_comment"),
            ({"json": {"score": 4, "name": "Kari"}}, 422, "unknown_field"),
        ]  # fmt: skip
        for request, status, code in bad:
            headers = {**bearer(chat), **request.pop("headers", {})}
            refused(await api.post(survey, headers=headers, **request), status, code)

        await ended_by_kari(kari, seeker, chat)
    answer = await api.post(survey, json={"score": 4, "comment": " Nyttig! "}, headers=bearer(chat))
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"score": 4, "comment": "Nyttig!"}
    assert answer.headers["cache-control"] == "no-store"
    again = await api.post(survey, json={"score": 1}, headers=bearer(chat))
    refused(again, 409, "already_answered")
    stored = await module_db.fetchrow(
        "SELECT score, comment FROM survey_answers WHERE chat_id = $1", uuid.UUID(chat["chat_id"])
    )
    assert dict(stored) == {"score": 4, "comment": "Nyttig!"}


async def test_a_chat_nobody_answered_has_no_survey(
    server: ServerProcess, api: httpx.AsyncClient
) -> None:
    chat = await start(api, "46")  # Vestland's counsellor is never on duty in this module
    seeker = await open_seeker(server.url, chat["token"])
    survey = url(chat["chat_id"], "/survey")
    refused(await api.post(survey, json={"score": 2}, headers=bearer(chat)), 409, "chat_not_ended")
    await send(seeker, "leave")
    assert (await receive(seeker, "ended"))["reason"] == "left"
    await seeker.close()
    refused(await api.post(survey, json={"score": 2}, headers=bearer(chat)), 409, "not_answered")


async def test_once_the_router_has_forgotten_a_chat_the_record_decides(
    server: ServerProcess,
    api: httpx.AsyncClient,
    module_db: asyncpg.Connection,
    module_env: RunEnvironment,
    prefix: str,
) -> None:
    async with kari_on_duty(server) as kari:
        chat = await start(api, "03")
        seeker = await answered(server, kari, chat)
        await ended_by_kari(kari, seeker, chat)
    chat_id = uuid.UUID(chat["chat_id"])
    for _ in range(50):  # the recorder writes the end to PostgreSQL
        if await module_db.fetchval("SELECT state FROM chat_sessions WHERE id = $1", chat_id) == (
            "ended"
        ):
            break
        await asyncio.sleep(0.1)
    # What the routing scripts do once a closed chat's retention has passed.
    keys = RoutingKeys(prefix)
    client = redis.Redis.from_url(module_env.redis_url)
    try:
        await client.delete(keys.chat_prefix() + chat["chat_id"])
        await client.zrem(keys.chats(), chat["chat_id"])
        await client.zrem(keys.closed(), chat["chat_id"])
    finally:
        await client.aclose()
    answer = await api.post(
        url(chat["chat_id"], "/survey"), json={"score": 5}, headers=bearer(chat)
    )
    assert answer.status_code == 201, answer.text


# ---------------------------------------------------------------------- deleting


async def test_deleting_ends_a_live_chat_and_leaves_no_word_of_it(
    server: ServerProcess, api: httpx.AsyncClient, module_db: asyncpg.Connection
) -> None:
    marker = secrets.token_hex(6)
    async with kari_on_duty(server) as kari:
        chat = await start(api, "03", topic=f"Jobbskifte {marker}")
        seeker = await answered(server, kari, chat)
        await write_conversation(module_db, chat, marker)
        assert set(await rows_mentioning(module_db, marker)) == {
            "chat_sessions",
            "messages",
            "chat_notes",
        }

        deleted = await delete(api, chat)
        assert deleted.status_code == 204, deleted.text
        assert deleted.headers["cache-control"] == "no-store"
        ended = await receive(kari, "chat_ended")
        assert (ended["chat_id"], ended["by"]) == (chat["chat_id"], "seeker")
        assert (await receive(seeker, "ended"))["by"] == "seeker"
        # The console drops its copy; the seeker's open socket can add nothing more.
        assert (await receive(kari, "chat_deleted"))["chat_id"] == chat["chat_id"]
        await send(seeker, "message", client_id="after", text="Er du der?")
        assert (await receive(seeker, "error"))["code"] == "chat_closed"
        await seeker.close()

    assert await rows_mentioning(module_db, marker) == {}
    assert await words_left(module_db, uuid.UUID(chat["chat_id"])) == {}
    row = await module_db.fetchrow(
        """SELECT topic, resume_token_hash, deleted_at, last_seq,
                  (SELECT count(*) FROM messages WHERE chat_id = c.id) AS messages,
                  (SELECT count(*) FROM chat_notes WHERE chat_id = c.id) AS notes
           FROM chat_sessions c WHERE id = $1""",
        uuid.UUID(chat["chat_id"]),
    )
    assert row["deleted_at"] is not None and row["last_seq"] == 3
    assert (row["topic"], row["resume_token_hash"], row["messages"], row["notes"]) == (
        None,
        None,
        0,
        0,
    )
    for method, tail in [("GET", "/transcript"), ("DELETE", "")]:
        refused(
            await api.request(method, url(chat["chat_id"], tail), headers=bearer(chat)),
            401,
            "bad_token",
        )


async def test_deleting_after_the_chat_keeps_the_figures_and_drops_the_words(
    server: ServerProcess, api: httpx.AsyncClient, module_db: asyncpg.Connection
) -> None:
    marker = secrets.token_hex(6)
    async with kari_on_duty(server) as kari:
        chat = await start(api, "03")
        seeker = await answered(server, kari, chat)
        await write_conversation(module_db, chat, marker)
        await ended_by_kari(kari, seeker, chat)
    chat_id = uuid.UUID(chat["chat_id"])
    await module_db.execute(
        """INSERT INTO wrap_ups (chat_id, counsellor_id, category, topics, note)
           VALUES ($1, $2, 'reflection', '{career_change}', $3)""",
        chat_id,
        await kari_id(module_db),
        f"wrap-up {marker}",
    )
    answer = await api.post(
        url(chat["chat_id"], "/survey"),
        json={"score": 5, "comment": f"Takk {marker}"},
        headers=bearer(chat),
    )
    assert answer.status_code == 201, answer.text

    assert (await delete(api, chat)).status_code == 204

    assert await rows_mentioning(module_db, marker) == {}
    # Every text column of the chat's rows, by name: no word is left.
    assert await words_left(module_db, chat_id) == {}
    survey = await module_db.fetchrow(
        "SELECT score, comment FROM survey_answers WHERE chat_id = $1", chat_id
    )
    assert dict(survey) == {"score": 5, "comment": None}
    wrap_up = await module_db.fetchrow(
        "SELECT category, topics, note FROM wrap_ups WHERE chat_id = $1", chat_id
    )
    assert dict(wrap_up) == {"category": "reflection", "topics": ["career_change"], "note": None}
    for _ in range(50):  # the recorder still records the chat's end
        state = await module_db.fetchval("SELECT state FROM chat_sessions WHERE id = $1", chat_id)
        if state == "ended":
            break
        await asyncio.sleep(0.1)
    assert state == "ended"


async def test_deleting_a_waiting_chat_takes_it_out_of_the_queue(
    server: ServerProcess, api: httpx.AsyncClient, module_db: asyncpg.Connection
) -> None:
    chat = await start(api, "46")
    seeker = await open_seeker(server.url, chat["token"])
    assert (await delete(api, chat)).status_code == 204
    ended = await receive(seeker, "ended")
    assert (ended["by"], ended["reason"]) == ("seeker", "left")
    await seeker.close()
    chat_id = uuid.UUID(chat["chat_id"])
    for _ in range(50):
        state = await module_db.fetchval("SELECT state FROM chat_sessions WHERE id = $1", chat_id)
        if state == "abandoned":
            break
        await asyncio.sleep(0.1)
    assert state == "abandoned"
