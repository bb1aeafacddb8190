"""Routing through the real service: a seeker on one instance, a counsellor on another, real
sockets, real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.seed import DEMO_PASSWORD
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess, two_instances
from tests.support.sockets import (
    open_counsellor,
    open_seeker,
    receive,
    send,
    staff_cookie,
    start_chat,
    ws_url,
)


@pytest.fixture(scope="module")
def instances(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two instances sharing a routing state of this module's own (its own Redis prefix)."""
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:"
    )
    with two_instances(env, tmp_path_factory.mktemp("instances")) as pair:
        yield pair


async def test_a_seeker_on_one_instance_is_offered_to_a_counsellor_on_the_other(
    instances: tuple[ServerProcess, ServerProcess], module_env: RunEnvironment
) -> None:
    db = await asyncpg.connect(module_env.database_url)
    a, b = instances
    kari = await open_counsellor(b.url, staff_cookie(b.url, "kari", DEMO_PASSWORD))
    try:
        await send(kari, "status", status="available")
        await receive(kari, "status")  # available before the chat arrives
        chat = start_chat(a.url, "03")
        seeker = await open_seeker(a.url, chat["token"])
        offer = await receive(kari, "offer")
        assert offer["chat_id"] == chat["chat_id"]
        assert (offer["county"], offer["language"]) == ("03", "nb")
        # Overflowed or not by the router's own account: at night the centre is closed and the
        # chat overflows at once, but Kari serves her county's chats either way.
        assert isinstance(offer["overflowed"], bool)
        await send(kari, "accept", chat_id=chat["chat_id"])
        assigned = await receive(seeker, "assigned")
        assert assigned["counsellor"] == "Kari (Oslo)"
        await receive(kari, "chat_assigned")
        for _ in range(50):  # the recorder writes what happened to PostgreSQL
            state = await db.fetchval(
                "SELECT state FROM chat_sessions WHERE id = $1::uuid", chat["chat_id"]
            )
            if state == "active":
                break
            await asyncio.sleep(0.1)
        assert state == "active"
        await send(kari, "end", chat_id=chat["chat_id"])
        assert (await receive(seeker, "ended"))["by"] == "counsellor"
        await seeker.close()
    finally:
        await send(kari, "status", status="offline")
        await kari.close()
        await db.close()


async def test_a_declined_offer_returns_the_chat_and_an_accept_of_it_is_refused(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = instances
    ola = await open_counsellor(a.url, staff_cookie(a.url, "ola", DEMO_PASSWORD))
    try:
        await send(ola, "status", status="available")
        chat = start_chat(b.url, "46")
        seeker = await open_seeker(b.url, chat["token"])
        await receive(ola, "offer")
        await send(ola, "decline", chat_id=chat["chat_id"])
        await receive(ola, "offer_withdrawn")
        await send(ola, "accept", chat_id=chat["chat_id"])
        refused = await receive(ola, "error")
        assert refused["code"] in ("no_offer", "offer_not_yours")
        assert refused["ref"] == chat["chat_id"]
        await send(seeker, "leave")
        assert (await receive(seeker, "ended"))["reason"] == "left"
        await seeker.close()
    finally:
        await send(ola, "status", status="offline")
        await ola.close()


async def test_auto_accept_assigns_without_an_offer_to_answer(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = instances
    aslak = await open_counsellor(a.url, staff_cookie(a.url, "aslak", DEMO_PASSWORD))
    try:
        await send(aslak, "auto_accept", enabled=True)
        await send(aslak, "status", status="available")
        chat = start_chat(b.url, "55", language="se")
        seeker = await open_seeker(b.url, chat["token"])
        assigned = await receive(aslak, "chat_assigned")
        assert assigned["chat_id"] == chat["chat_id"]
        assert (await receive(seeker, "assigned"))["counsellor"] == "Aslak (Troms)"
        await send(aslak, "end", chat_id=chat["chat_id"])
        await receive(seeker, "ended")
        await seeker.close()
    finally:
        await send(aslak, "status", status="offline")
        await aslak.close()


async def test_the_seeker_hears_their_place_in_line(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, _ = instances
    first = start_chat(a.url, "50", language="nn")
    second = start_chat(a.url, "50", language="nn")
    seekers = [await open_seeker(a.url, c["token"]) for c in (first, second)]
    places = [await receive(s, "queue") for s in seekers]
    assert [p["position"] for p in places] == [1, 2]
    await send(seekers[0], "leave")
    assert (await receive(seekers[1], "queue"))["position"] == 1
    for seeker in seekers:
        await seeker.close()


async def test_counsellor_socket_refuses_strangers(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, _ = instances
    cookie = staff_cookie(a.url, "kari", DEMO_PASSWORD)
    with pytest.raises(InvalidStatus) as refused:  # a page on another site: no handshake
        await connect(
            ws_url(a.url, "/ws/counsellor"),
            additional_headers={"Origin": "https://evil.example", "Cookie": cookie},
        )
    assert refused.value.response.status_code == 403
    cases = [
        ({"Origin": a.url}, 4401),  # no session
        ({"Origin": a.url, "Cookie": staff_cookie(a.url, "sofie", DEMO_PASSWORD)}, 4403),
    ]
    for headers, code in cases:
        socket = await connect(ws_url(a.url, "/ws/counsellor"), additional_headers=headers)
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_seeker_socket_needs_a_valid_token_in_its_first_frame(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, _ = instances
    socket = await connect(ws_url(a.url, "/ws/seeker"), additional_headers={"Origin": a.url})
    await send(socket, "ping")
    assert (await receive(socket, "error"))["code"] == "not_authenticated"
    await send(socket, "auth", token="not-a-token")
    assert (await receive(socket, "error"))["code"] == "bad_token"
    with pytest.raises(ConnectionClosed) as closed:
        await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_starting_a_chat_refuses_bad_requests(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, _ = instances
    form = httpx.post(a.url + "/api/v1/chats", data={"county": "03"})
    assert form.status_code == 415
    missing_consent = httpx.post(a.url + "/api/v1/chats", json={"county": "03", "language": "nb"})
    assert missing_consent.status_code == 422
    assert missing_consent.json()["error"]["code"] == "consent_required"
