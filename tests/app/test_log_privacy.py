"""A whole chat against a real server, at the most talkative log level, and then its log searched
for every word written, the resume token, the session cookie, the CSRF token and the password:
none may be there."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.users import create_user
from tests.support.aio import run_sync
from tests.support.environment import RunEnvironment
from tests.support.forms import csrf_token
from tests.support.server import ServerProcess
from tests.support.sockets import open_counsellor, open_seeker, receive, send

PASSWORD = f"log-check-{secrets.token_hex(8)}"
USERNAME = "loggy"


@pytest.fixture(scope="module")
def server(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    async def add_counsellor() -> None:
        conn = await asyncpg.connect(module_env.database_url)
        try:
            await create_user(
                conn,
                username=USERNAME,
                display_name="Loggy",
                role="counsellor",
                password=PASSWORD,
                centres=["15"],
                national_team=False,
                languages=["nb"],
                capacity=2,
            )
        finally:
            await conn.close()

    run_sync(add_counsellor())
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:",
        EGUIDE_LOG_LEVEL="debug",
    )
    log: Path = tmp_path_factory.mktemp("log-privacy") / "server.log"
    with ServerProcess(env, log) as process:
        yield process


async def test_a_whole_chat_leaves_no_words_tokens_or_passwords_in_the_log(
    server: ServerProcess,
) -> None:
    marker = secrets.token_hex(5)
    texts = {
        "topic": f"Emne {marker}-topic",
        "seeker": f"Seekers words {marker}-s1, ring 912 34 567",
        "counsellor": f"Counsellors words {marker}-c1",
        "note": f"Internal note {marker}-n1",
        "wrap_up": f"Wrap-up note {marker}-w1",
        "comment": f"Survey comment {marker}-k1",
    }
    async with httpx.AsyncClient(base_url=server.url) as staff:
        page = await staff.get("/signin")
        csrf = csrf_token(page)
        signed_in = await staff.post(
            "/signin",
            data={"csrf_token": csrf, "username": USERNAME, "password": PASSWORD, "next": ""},
        )
        assert signed_in.status_code == 303, signed_in.text
        session = staff.cookies["eguide_session"]
        csrf_cookie = staff.cookies.get("eguide_csrf")
        console = await open_counsellor(server.url, f"eguide_session={session}")
        try:
            await send(console, "resume", last_seqs={})
            await send(console, "status", status="available")
            async with httpx.AsyncClient(base_url=server.url) as api:
                started = await api.post(
                    "/api/v1/chats",
                    json={
                        "county": "15",
                        "language": "nb",
                        "topic": texts["topic"],
                        "consent": True,
                    },
                )
                assert started.status_code == 201, started.text
                chat = started.json()
                chat_id, token = chat["chat_id"], chat["token"]
                seeker = await open_seeker(server.url, token)
                assert (await receive(console, "offer"))["chat_id"] == chat_id
                await send(console, "accept", chat_id=chat_id)
                await receive(seeker, "assigned")
                await send(seeker, "message", client_id="s1", text=texts["seeker"])
                assert (await receive(console, "message"))["text"] == texts["seeker"]
                await send(
                    console, "message", chat_id=chat_id, client_id="c1", text=texts["counsellor"]
                )
                while (reply := await receive(seeker, "message"))["sender"] != "counsellor":
                    pass
                assert reply["text"] == texts["counsellor"]
                await send(console, "note", chat_id=chat_id, client_id="n1", text=texts["note"])
                await receive(console, "note")
                await send(console, "end", chat_id=chat_id)
                await receive(seeker, "ended")
                await send(
                    console,
                    "wrap_up",
                    chat_id=chat_id,
                    category="reflection",
                    note=texts["wrap_up"],
                )
                await receive(console, "chat_closed")
                bearer = {"authorization": f"Bearer {token}"}
                survey = await api.post(
                    f"/api/v1/chats/{chat_id}/survey",
                    json={"score": 5, "comment": texts["comment"]},
                    headers=bearer,
                )
                assert survey.status_code == 201, survey.text
                transcript = await api.get(f"/api/v1/chats/{chat_id}/transcript", headers=bearer)
                assert marker in transcript.text
                # A wrong token and a failed sign-in are logged too: still without the secrets.
                wrong = await api.get(
                    f"/api/v1/chats/{chat_id}/transcript",
                    headers={"authorization": f"Bearer {token}x"},
                )
                assert wrong.status_code == 401
                await seeker.close()
            failed = await staff.post(
                "/signin",
                data={"csrf_token": csrf, "username": USERNAME, "password": PASSWORD + "x"},
            )
            assert failed.status_code != 303
        finally:
            await console.close()
    await asyncio.sleep(0.5)  # the last lines reach the file

    log = server.log()
    assert "chat.message_stored" in log and "retention.purged" in log, "the log is the real one"
    secrets_to_find = {
        **texts,
        "marker": marker,
        "resume token": token,
        "session cookie": session,
        "csrf token": csrf,
        "password": PASSWORD,
    }
    if csrf_cookie:
        secrets_to_find["csrf cookie"] = csrf_cookie
    leaked = {name: value for name, value in secrets_to_find.items() if value in log}
    assert leaked == {}, f"found in the server log: {sorted(leaked)}"
