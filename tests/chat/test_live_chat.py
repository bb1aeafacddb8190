"""Live chat through the real service: seeker and counsellor on two different instances, real
sockets, real Redis pub/sub and PostgreSQL. Every message arrives exactly once and in order,
through drops, resumes and transfers."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from app.seed import DEMO_PASSWORD
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess, two_instances
from tests.support.sockets import (
    open_console,
    open_counsellor,
    open_seeker,
    receive,
    send,
    staff_cookie,
    start_chat,
)


@pytest.fixture(scope="module")
def instances(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:"
    )
    with two_instances(env, tmp_path_factory.mktemp("live")) as pair:
        yield pair


async def frames_until(
    socket: ClientConnection, done: Any, within: float = 10.0
) -> list[dict[str, Any]]:
    """Every frame up to and including the first for which `done(frame)` holds."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while True:
            frame: dict[str, Any] = json.loads(await socket.recv())
            seen.append(frame)
            if done(frame):
                return seen


async def quiet(socket: ClientConnection, for_seconds: float = 0.5) -> list[dict[str, Any]]:
    """Whatever arrives within a short while (to show that nothing more does)."""
    seen: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(for_seconds):
            while True:
                seen.append(json.loads(await socket.recv()))
    except TimeoutError:
        return seen


def is_message(frame: dict[str, Any]) -> bool:
    return bool(frame["type"] == "message")


def messages(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == "message"]


async def answered_chat(
    counsellor: ClientConnection, seeker_server: str, county: str, language: str = "nb"
) -> tuple[dict[str, Any], ClientConnection]:
    """A chat started on `seeker_server`, offered to and accepted by the counsellor."""
    chat = start_chat(seeker_server, county, language)
    seeker = await open_seeker(seeker_server, chat["token"])
    offer = await receive(counsellor, "offer")
    assert offer["chat_id"] == chat["chat_id"]
    await send(counsellor, "accept", chat_id=chat["chat_id"])
    await receive(counsellor, "synced")
    await receive(seeker, "assigned")
    return chat, seeker


async def signed_in(server: ServerProcess, username: str) -> ClientConnection:
    socket = await open_counsellor(server.url, staff_cookie(server.url, username, DEMO_PASSWORD))
    await send(socket, "resume", last_seqs={})
    return socket


async def test_a_whole_chat_from_waiting_to_the_survey(
    instances: tuple[ServerProcess, ServerProcess], module_db: asyncpg.Connection
) -> None:
    a, b = instances
    chat = start_chat(a.url, "03")
    chat_id = chat["chat_id"]
    seeker = await open_seeker(a.url, chat["token"])
    # A waiting seeker may start telling their story; it is stored and acknowledged.
    await send(seeker, "message", client_id="s1", text="Hei, jeg lurer på studievalg.")
    ack = await receive(seeker, "ack")
    assert (ack["client_id"], ack["seq"]) == ("s1", 1)

    kari = await signed_in(b, "kari")
    try:
        await send(kari, "status", status="available")
        await receive(kari, "offer")
        # A second console opened while the offer waits can answer it.
        second, hello = await open_console(a.url, staff_cookie(a.url, "kari", DEMO_PASSWORD))
        assert hello["offer"]["chat_id"] == chat_id and hello["offer"]["deadline"] > 0
        hello_id = hello["counsellor_id"]
        await second.close()
        await send(kari, "accept", chat_id=chat_id)
        history = await frames_until(kari, lambda f: f["type"] == "synced")
        assert [m["text"] for m in messages(history)] == ["Hei, jeg lurer på studievalg."]
        assert messages(history)[0]["sender"] == "seeker"
        assert (await receive(seeker, "assigned"))["counsellor"] == "Kari (Oslo)"

        await send(kari, "typing", chat_id=chat_id, active=True)
        assert (await receive(seeker, "typing"))["active"] is True
        await send(kari, "message", chat_id=chat_id, client_id="k1", text="Hei! Fortell mer.")
        assert (await receive(kari, "ack"))["seq"] == 2
        reply = await receive(seeker, "message")
        assert (reply["seq"], reply["sender"], reply["name"]) == (2, "counsellor", "Kari (Oslo)")
        assert "sender_id" not in reply, "staff ids stay with the staff"
        own = await receive(kari, "message")
        assert (own["seq"], own["client_id"], own["sender_id"]) == (2, "k1", hello_id)
        # The counsellor's message reached the seeker's socket: Kari sees it delivered.
        assert (await receive(kari, "delivered"))["seq"] == 2
        await send(seeker, "read", seq=2)
        assert (await receive(kari, "read"))["seq"] == 2
        await send(seeker, "message", client_id="s2", text="Jeg liker <b>realfag</b>.")
        assert (await receive(kari, "message"))["text"] == "Jeg liker <b>realfag</b>."

        await send(kari, "end", chat_id=chat_id)
        ended = await receive(seeker, "ended")
        # The last message number says whether anything is still on its way.
        assert (ended["by"], ended["last_seq"], ended["chat_id"]) == ("counsellor", 3, chat_id)
        await receive(kari, "chat_ended")
        await send(seeker, "message", client_id="s3", text="Hallo?")
        assert (await receive(seeker, "error"))["code"] == "chat_closed"

        await send(kari, "wrap_up", chat_id=chat_id, category="reflection", topics=["studievalg"])
        await receive(kari, "chat_closed")
        await send(kari, "wrap_up", chat_id=chat_id, category="information")
        assert (await receive(kari, "error"))["code"] == "conflict"
        stored = await module_db.fetch(
            "SELECT seq, sender_role, body FROM messages WHERE chat_id = $1::uuid ORDER BY seq",
            chat_id,
        )
        assert [(r["seq"], r["sender_role"]) for r in stored] == [
            (1, "seeker"),
            (2, "counsellor"),
            (3, "seeker"),
        ]
        wrap_up = await module_db.fetchrow(
            "SELECT category, topics FROM wrap_ups WHERE chat_id = $1::uuid", chat_id
        )
        assert (wrap_up["category"], wrap_up["topics"]) == ("reflection", ["studievalg"])

        # After the end the seeker keeps the transcript and answers the survey.
        bearer = {"authorization": f"Bearer {chat['token']}"}
        async with httpx.AsyncClient(base_url=b.url, headers=bearer) as api:
            transcript = await api.get(f"/api/v1/chats/{chat_id}/transcript?format=text")
            assert transcript.status_code == 200
            assert "studievalg" in transcript.text and "Fortell mer" in transcript.text
            survey = await api.post(
                f"/api/v1/chats/{chat_id}/survey", json={"score": 5, "comment": "Nyttig"}
            )
            assert survey.status_code == 201, survey.text
        assert (
            await module_db.fetchval(
                "SELECT score FROM survey_answers WHERE chat_id = $1::uuid", chat_id
            )
            == 5
        )
        await seeker.close()
    finally:
        await send(kari, "status", status="offline")
        await kari.close()


async def test_the_seeker_resumes_on_the_other_instance_while_messages_are_in_flight(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = instances
    ola = await signed_in(b, "ola")
    try:
        await send(ola, "status", status="available")
        chat, seeker = await answered_chat(ola, a.url, "46")
        chat_id = chat["chat_id"]
        total = 60

        async def counsellor_writes() -> None:
            for n in range(1, total + 1):
                await send(ola, "message", chat_id=chat_id, client_id=f"o{n}", text=f"melding {n}")
                await asyncio.sleep(0.005)

        writing = asyncio.create_task(counsellor_writes())
        first = messages(await frames_until(seeker, lambda f: is_message(f) and f["seq"] == 15))
        await seeker.close()  # mid-stream: the counsellor is still writing
        last_seen = first[-1]["seq"]
        again = await open_seeker(b.url, chat["token"], last_seq=last_seen)
        rest = messages(await frames_until(again, lambda f: is_message(f) and f["seq"] == total))
        await writing
        rest += messages(await quiet(again))
        seqs = [m["seq"] for m in first + rest]
        assert seqs == list(range(1, total + 1)), "every message exactly once, in order"
        assert [m["text"] for m in rest][-1] == f"melding {total}"
        await send(ola, "end", chat_id=chat_id)
        await again.close()
    finally:
        await send(ola, "status", status="offline")
        await ola.close()


async def test_the_counsellor_resumes_every_chat_after_a_drop(
    instances: tuple[ServerProcess, ServerProcess], module_db: asyncpg.Connection
) -> None:
    a, b = instances
    ingrid = await signed_in(a, "ingrid")
    await send(ingrid, "status", status="available")
    chat, seeker = await answered_chat(ingrid, b.url, "50", language="nn")
    chat_id = chat["chat_id"]
    await send(seeker, "message", client_id="x1", text="første")
    assert (await receive(seeker, "ack"))["seq"] == 1
    assert (await receive(ingrid, "message"))["seq"] == 1
    await ingrid.close()  # the grace time starts; the chat stays hers meanwhile

    # The seeker goes on writing, and resends one message after a reconnect of their own.
    for n in range(2, 12):
        await send(seeker, "message", client_id=f"x{n}", text=f"melding {n}")
        assert (await receive(seeker, "ack"))["seq"] == n
    await send(seeker, "message", client_id="x5", text="melding 5")
    assert (await receive(seeker, "ack"))["seq"] == 5, "a resend is acknowledged, not stored"

    back, hello = await open_console(b.url, staff_cookie(b.url, "ingrid", DEMO_PASSWORD))
    try:
        assert [(c["chat_id"], c["state"]) for c in hello["chats"]] == [(chat_id, "active")]
        await send(back, "resume", last_seqs={chat_id: 1})
        resumed = await frames_until(back, lambda f: f["type"] == "synced")
        assert [m["seq"] for m in messages(resumed)] == list(range(2, 12))
        assert messages(await quiet(back)) == []
        count = await module_db.fetchval(
            "SELECT count(*) FROM messages WHERE chat_id = $1::uuid", chat_id
        )
        assert count == 11
        await send(back, "end", chat_id=chat_id)
        await seeker.close()
    finally:
        await send(back, "status", status="offline")
        await back.close()


async def test_notes_travel_with_a_transfer_and_never_reach_the_seeker(
    instances: tuple[ServerProcess, ServerProcess], module_db: asyncpg.Connection
) -> None:
    a, b = instances
    nora = await signed_in(a, "nora")
    amir = await signed_in(b, "amir")
    try:
        await send(nora, "status", status="available")
        chat, seeker = await answered_chat(nora, b.url, None)
        chat_id = chat["chat_id"]
        await send(seeker, "message", client_id="m1", text="Jeg trenger hjelp med CV.")
        await receive(nora, "message")
        note = "Vil ha CV-hjelp; send videre."
        await send(nora, "note", chat_id=chat_id, client_id="n1", text=note)
        note_ack = await receive(nora, "ack")
        assert note_ack["note_id"] and "seq" not in note_ack

        await send(amir, "status", status="available")
        # A transfer names someone available: wait until the router has heard Amir say so.
        assert (await receive(amir, "status"))["status"] == "available"
        amir_id = await module_db.fetchval("SELECT id FROM users WHERE username = 'amir'")
        await send(nora, "transfer", chat_id=chat_id, counsellor_id=str(amir_id))
        assert (await receive(nora, "chat_removed"))["reason"] == "transfer"
        assert (await receive(seeker, "requeued"))["reason"] == "transfer"
        offer = await receive(amir, "offer")
        assert offer["transferred"] is True
        await send(amir, "accept", chat_id=chat_id)
        handed = await frames_until(amir, lambda f: f["type"] == "synced")
        assert [m["text"] for m in messages(handed)] == ["Jeg trenger hjelp med CV."]
        assert [n["text"] for n in handed if n["type"] == "note"] == [note]
        assert (await receive(seeker, "assigned"))["counsellor"] == "Amir (nasjonalt)"

        # The one who handed it on may no longer write in it.
        await send(nora, "message", chat_id=chat_id, client_id="late", text="Hei igjen")
        assert (await receive(nora, "error"))["code"] == "not_your_chat"

        await send(amir, "message", chat_id=chat_id, client_id="a1", text="Hei, Amir her.")
        seen = await frames_until(seeker, lambda f: f["type"] == "message")
        assert seen[-1]["seq"] == 2, "notes take no sequence numbers"
        seen += await quiet(seeker)
        assert all(f["type"] != "note" for f in seen)
        assert all("CV-hjelp" not in json.dumps(f) for f in seen)
        await send(amir, "end", chat_id=chat_id)
        await seeker.close()
    finally:
        for socket in (nora, amir):
            await send(socket, "status", status="offline")
            await socket.close()


async def test_a_chat_that_is_not_yours_is_refused(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = instances
    kari = await signed_in(a, "kari")
    aslak = await signed_in(b, "aslak")
    try:
        await send(kari, "status", status="available")
        chat, seeker = await answered_chat(kari, a.url, "03")
        chat_id = chat["chat_id"]
        for frame_type, fields in [
            ("message", {"client_id": "z1", "text": "Hei"}),
            ("note", {"client_id": "z2", "text": "notat"}),
            ("typing", {"active": True}),
            ("read", {"seq": 1}),
            ("wrap_up", {"category": "other"}),
        ]:
            await send(aslak, frame_type, chat_id=chat_id, **fields)
            refused = await receive(aslak, "error")
            assert refused["code"] == "not_your_chat", frame_type
        await send(aslak, "resume", last_seqs={chat_id: 0})
        assert (await receive(aslak, "chat_removed"))["reason"] == "not_yours"
        assert messages(await quiet(aslak)) == []
        assert messages(await quiet(seeker)) == []
        await send(kari, "end", chat_id=chat_id)
        await seeker.close()
    finally:
        for socket in (kari, aslak):
            await send(socket, "status", status="offline")
            await socket.close()


async def test_both_sides_writing_at_once_see_one_order(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = instances
    kari = await signed_in(b, "kari")
    try:
        await send(kari, "status", status="available")
        chat, seeker = await answered_chat(kari, a.url, "03")
        chat_id = chat["chat_id"]
        each = 15  # within the seeker's burst of frames: a real typist never sends more

        async def write(socket: ClientConnection, tag: str, chat_field: dict[str, str]) -> None:
            for n in range(each):
                await send(
                    socket, "message", client_id=f"{tag}{n}", text=f"{tag} {n}", **chat_field
                )

        await asyncio.gather(write(seeker, "s", {}), write(kari, "k", {"chat_id": chat_id}))
        at_seeker = messages(
            await frames_until(seeker, lambda f: is_message(f) and f["seq"] == 2 * each)
        )
        at_kari = messages(
            await frames_until(kari, lambda f: is_message(f) and f["seq"] == 2 * each)
        )
        assert [m["seq"] for m in at_seeker] == list(range(1, 2 * each + 1))
        assert [(m["seq"], m["text"]) for m in at_seeker] == [
            (m["seq"], m["text"]) for m in at_kari
        ]
        await send(kari, "end", chat_id=chat_id)
        await seeker.close()
    finally:
        await send(kari, "status", status="offline")
        await kari.close()


async def test_a_console_sees_how_many_wait_in_the_queues_it_serves(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = instances
    aslak = await signed_in(b, "aslak")  # Troms (55), not on the national team
    try:
        first = await receive(aslak, "queue_summary")
        assert [q["queue"] for q in first["queues"]] == ["55"]
        before = first["queues"][0]["waiting"]
        chat = start_chat(a.url, "55", language="se")  # nobody available: it waits
        async with asyncio.timeout(10):
            while True:
                summary = (await receive(aslak, "queue_summary"))["queues"][0]
                if summary["waiting"] == before + 1:
                    break
        assert summary["oldest_since"] is not None
        seeker = await open_seeker(a.url, chat["token"])
        await send(seeker, "leave")
        await receive(seeker, "ended")
        await seeker.close()
    finally:
        await aslak.close()


async def test_resends_and_claims_are_answered_by_what_the_chat_really_holds(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = instances
    kari, hello = await open_console(b.url, staff_cookie(b.url, "kari", DEMO_PASSWORD))
    try:
        # Hello comes first, whatever else is sent to a console that is opening.
        assert hello["type"] == "hello"
        await send(kari, "resume", last_seqs={})
        await send(kari, "status", status="available")
        await send(kari, "status", status="available")
        assert (await receive(kari, "status"))["status"] == "available"
        assert (await receive(kari, "status"))["reason"] == "unchanged"
        chat, seeker = await answered_chat(kari, a.url, "03")
        chat_id = chat["chat_id"]
        await send(seeker, "message", client_id="r1", text="Én")
        first = await receive(seeker, "ack")
        await send(kari, "end", chat_id=chat_id)
        await receive(seeker, "ended")
        # The chat ended, but a resend of a stored message is still acknowledged as it was.
        await send(seeker, "message", client_id="r1", text="Én")
        assert (await receive(seeker, "ack"))["seq"] == first["seq"]
        await seeker.close()

        # A client claiming more than the chat holds still gets everything after its real end.
        again = await open_seeker(a.url, chat["token"], last_seq=999)
        # Coming back after the end, the seeker hears that it ended.
        assert (await receive(again, "ended"))["last_seq"] == first["seq"]
        assert (await receive(again, "synced"))["last_seq"] == first["seq"]
        await again.close()
    finally:
        await send(kari, "status", status="offline")
        await kari.close()


async def test_the_other_side_reads_numbers_live_while_the_record_keeps_them_masked(
    instances: tuple[ServerProcess, ServerProcess], module_db: asyncpg.Connection
) -> None:
    a, b = instances
    said = "Fnr 150765 00565, ring 912 34 567 eller skriv til ola.nordmann@nav.no."
    kept = "Fnr [id-number], ring [phone] eller skriv til [email]."
    noted = "Ringer tilbake på +47 22 33 44 55"
    kari = await signed_in(b, "kari")
    try:
        await send(kari, "status", status="available")
        chat, seeker = await answered_chat(kari, a.url, "03")
        chat_id = chat["chat_id"]
        await send(seeker, "message", client_id="m1", text=said)
        seq = (await receive(seeker, "ack"))["seq"]
        # Live, across instances, the counsellor reads what the seeker wrote.
        assert (await receive(kari, "message"))["text"] == said
        await send(kari, "note", chat_id=chat_id, client_id="n1", text=noted)
        assert (await receive(kari, "note"))["text"] == noted

        stored = await module_db.fetchval(
            "SELECT body FROM messages WHERE chat_id = $1::uuid AND seq = $2", chat_id, seq
        )
        assert stored == kept
        note = await module_db.fetchval(
            "SELECT body FROM chat_notes WHERE chat_id = $1::uuid", chat_id
        )
        assert note == "Ringer tilbake på [phone]"

        # A resend after a reconnect is still the same message, stored once.
        await send(seeker, "message", client_id="m1", text=said)
        assert (await receive(seeker, "ack"))["seq"] == seq
        assert (
            await module_db.fetchval(
                "SELECT count(*) FROM messages WHERE chat_id = $1::uuid", chat_id
            )
            == 1
        )
        # A catch-up reads the record: a reloaded page shows the masked copy.
        await seeker.close()
        again = await open_seeker(b.url, chat["token"], last_seq=0)
        history = await frames_until(again, lambda f: f["type"] == "synced")
        assert [m["text"] for m in messages(history)] == [kept]

        await send(kari, "end", chat_id=chat_id)
        await receive(kari, "chat_ended")
        await send(
            kari,
            "wrap_up",
            chat_id=chat_id,
            category="referral",
            note="Henvist; kontakt kari@karriere.no",
        )
        await receive(kari, "chat_closed")
        wrap_up = await module_db.fetchval(
            "SELECT note FROM wrap_ups WHERE chat_id = $1::uuid", chat_id
        )
        assert wrap_up == "Henvist; kontakt [email]"
        async with httpx.AsyncClient(
            base_url=a.url, headers={"authorization": f"Bearer {chat['token']}"}
        ) as api:
            survey = await api.post(
                f"/api/v1/chats/{chat_id}/survey",
                json={"score": 4, "comment": "Ring meg gjerne: 41 23 45 67"},
            )
        assert survey.status_code == 201, survey.text
        assert survey.json()["comment"] == "Ring meg gjerne: [phone]"
        assert (
            await module_db.fetchval(
                "SELECT comment FROM survey_answers WHERE chat_id = $1::uuid", chat_id
            )
            == "Ring meg gjerne: [phone]"
        )
        await again.close()
    finally:
        await send(kari, "status", status="offline")
        await kari.close()
