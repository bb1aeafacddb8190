"""The supervisor dashboard socket over two real instances, real Redis and PostgreSQL: the
dashboard follows a chat from arrival to answer within two seconds, whichever instance the
change happened on; one instance computes it for all, and another takes over when that one
dies; capacity and away reach the router and the audit log; observing a chat is audited and
read-only; only supervisors and admins get the socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.seed import DEMO_PASSWORD
from tests.support.dashboard import merged
from tests.support.environment import RunEnvironment
from tests.support.forms import csrf_token
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

UPDATE_WITHIN = 2.0  # the promise: any change on the dashboard within 2 s


@pytest.fixture(scope="module")
def instances(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:"
    )
    with two_instances(env, tmp_path_factory.mktemp("supervisor")) as pair:
        yield pair


async def open_dashboard(server: ServerProcess, username: str = "sofie") -> ClientConnection:
    cookie = staff_cookie(server.url, username, DEMO_PASSWORD)
    return await connect(
        ws_url(server.url, "/ws/supervisor"),
        additional_headers={"Cookie": cookie, "Origin": server.url},
    )


VIEWS: dict[ClientConnection, dict[str, Any]] = {}


async def dashboard_where(
    socket: ClientConnection, holds: Callable[[dict[str, Any]], bool], within: float
) -> dict[str, Any]:
    """The dashboard as the socket's frames have built it, once `holds` is true of it (within
    `within` seconds)."""
    if socket in VIEWS and holds(VIEWS[socket]):
        return VIEWS[socket]
    async with asyncio.timeout(within):
        while True:
            frame: dict[str, Any] = json.loads(await socket.recv())
            if frame["type"] == "dashboard":
                view = VIEWS[socket] = merged(VIEWS.get(socket, {}), frame)
                if holds(view):
                    return view


async def next_frame(socket: ClientConnection, frame_type: str, within: float = 5.0) -> Any:
    """The next frame of `frame_type` on a dashboard socket; the dashboard frames passed on
    the way are kept (each carries only what changed)."""
    async with asyncio.timeout(within):
        while True:
            frame: dict[str, Any] = json.loads(await socket.recv())
            if frame["type"] == "dashboard":
                VIEWS[socket] = merged(VIEWS.get(socket, {}), frame)
            if frame["type"] == frame_type:
                return frame
            if frame["type"] == "error":
                raise AssertionError(f"error frame while waiting for {frame_type}: {frame}")


def queue_row(frame: dict[str, Any], queue: str) -> dict[str, Any]:
    return next(row for row in frame["queues"] if row["queue"] == queue)


def counsellor_row(frame: dict[str, Any], name: str) -> dict[str, Any]:
    return next(row for row in frame["counsellors"] if row["name"].startswith(name))


async def test_the_dashboard_follows_a_chat_across_instances_within_two_seconds(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = instances
    dashboard = await open_dashboard(b)
    kari = await open_counsellor(a.url, staff_cookie(a.url, "kari", DEMO_PASSWORD))
    try:
        first = await dashboard_where(dashboard, lambda f: True, UPDATE_WITHIN)
        assert {row["queue"] for row in first["queues"]} >= {"03", "46", "national"}
        assert first["total"]["queue"] == "total"
        before = queue_row(first, "03")

        await send(kari, "status", status="available")
        await receive(kari, "status")
        became_available = time.monotonic()
        seen = await dashboard_where(
            dashboard,
            lambda f: counsellor_row(f, "Kari")["state"] == "available",
            UPDATE_WITHIN,
        )
        assert time.monotonic() - became_available < UPDATE_WITHIN
        assert queue_row(seen, "03")["counsellors"]["available"] >= 1
        await send(kari, "status", status="away")
        await receive(kari, "status")

        chat = start_chat(a.url, "03")
        arrived = time.monotonic()
        seeker = await open_seeker(a.url, chat["token"])
        waiting = await dashboard_where(
            dashboard,
            lambda f: (
                any(c["chat_id"] == chat["chat_id"] for c in f["waiting"]["03"]["chats"])
                if "03" in f["waiting"]
                else False
            ),
            UPDATE_WITHIN,
        )
        assert time.monotonic() - arrived < UPDATE_WITHIN
        row = queue_row(waiting, "03")
        assert row["waiting"] == before["waiting"] + 1
        assert row["oldest_since"] is not None
        listed = next(
            c for c in waiting["waiting"]["03"]["chats"] if c["chat_id"] == chat["chat_id"]
        )
        # Ids, county, language and times: never a word of what was said.
        assert set(listed) == {
            "chat_id",
            "county",
            "language",
            "waiting_since",
            "overflowed",
            "offered_to",
        }

        await send(kari, "status", status="available")
        offer = await receive(kari, "offer")
        await send(kari, "accept", chat_id=offer["chat_id"])
        await receive(kari, "synced")
        answered = time.monotonic()
        active = await dashboard_where(
            dashboard,
            lambda f: any(c["chat_id"] == chat["chat_id"] for c in f["active"]["chats"]),
            UPDATE_WITHIN,
        )
        assert time.monotonic() - answered < UPDATE_WITHIN
        assert queue_row(active, "03")["active"] == before["active"] + 1
        assert queue_row(active, "03")["waiting"] == before["waiting"]
        mine = counsellor_row(active, "Kari")
        assert (mine["load"], mine["status"]) == (1, "available")
        assert mine["since"] is not None
        await send(kari, "end", chat_id=chat["chat_id"])
        await seeker.close()
    finally:
        await kari.close()
        await dashboard.close()


async def test_a_dropped_console_shows_offline_within_two_seconds_while_chats_keep_coming(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    """A counsellor whose connection drops is offline on the dashboard (within their grace
    time the router makes no effect of it), however busy the queues are meanwhile: arrivals
    alone never keep the counsellors' rows from being read again."""
    a, b = instances
    dashboard = await open_dashboard(b)
    aslak = await open_counsellor(a.url, staff_cookie(a.url, "aslak", DEMO_PASSWORD))

    async def keep_arriving() -> None:
        while True:
            await asyncio.to_thread(start_chat, a.url, "18")
            await asyncio.sleep(0.2)

    arrivals = asyncio.create_task(keep_arriving())
    try:
        await send(aslak, "status", status="away")
        await receive(aslak, "status")
        away = await dashboard_where(
            dashboard, lambda f: counsellor_row(f, "Aslak")["state"] == "away", UPDATE_WITHIN
        )
        waiting_before = away["total"]["waiting"]
        await aslak.close()
        dropped = time.monotonic()
        seen = await dashboard_where(
            dashboard, lambda f: counsellor_row(f, "Aslak")["state"] == "offline", UPDATE_WITHIN
        )
        assert time.monotonic() - dropped < UPDATE_WITHIN
        assert counsellor_row(seen, "Aslak")["connected"] is False
        assert seen["total"]["waiting"] > waiting_before, "chats were arriving meanwhile"
    finally:
        arrivals.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await arrivals
        await dashboard.close()


async def test_capacity_and_away_reach_the_router_and_the_audit_log(
    instances: tuple[ServerProcess, ServerProcess], module_db: asyncpg.Connection
) -> None:
    a, b = instances
    dashboard = await open_dashboard(a)
    ola = await open_counsellor(b.url, staff_cookie(b.url, "ola", DEMO_PASSWORD))
    ola_id = await module_db.fetchval("SELECT id::text FROM users WHERE username = 'ola'")
    try:
        await send(ola, "status", status="available")
        await receive(ola, "status")
        await send(dashboard, "set_capacity", counsellor_id=ola_id, capacity=4)
        applied = await next_frame(dashboard, "applied")
        assert applied == {
            "v": 1,
            "type": "applied",
            "action": "set_capacity",
            "counsellor_id": ola_id,
            "capacity": 4,
        }
        shown = await dashboard_where(
            dashboard, lambda f: counsellor_row(f, "Ola")["capacity"] == 4, UPDATE_WITHIN
        )
        assert counsellor_row(shown, "Ola")["state"] == "available"
        assert (
            await module_db.fetchval("SELECT capacity FROM users WHERE id = $1", int(ola_id)) == 4
        )

        await send(dashboard, "set_away", counsellor_id=ola_id)
        await next_frame(dashboard, "applied")
        told = await receive(ola, "status")
        assert told["status"] == "away"
        await dashboard_where(
            dashboard, lambda f: counsellor_row(f, "Ola")["state"] == "away", UPDATE_WITHIN
        )
        audit = await module_db.fetch(
            """SELECT action, detail, actor_user_id FROM audit_log
               WHERE target_type = 'user' AND target_id = $1 ORDER BY id""",
            ola_id,
        )
        actions = [row["action"] for row in audit]
        assert actions[-2:] == ["counsellor.capacity_set", "counsellor.set_away"]
        assert json.loads(audit[-2]["detail"]) == {"capacity": 4, "was": 2}
        sofie = await module_db.fetchval("SELECT id FROM users WHERE username = 'sofie'")
        assert {row["actor_user_id"] for row in audit[-2:]} == {sofie}

        # Refused and unchanged: a capacity out of range, a counsellor who does not exist, a
        # supervisor's id; then away for someone not signed in.
        for fields, code in (
            ({"counsellor_id": ola_id, "capacity": 11}, "bad_field"),
            ({"counsellor_id": ola_id, "capacity": 0}, "bad_field"),
            ({"counsellor_id": ola_id, "capacity": "3"}, "bad_field"),
            ({"counsellor_id": "999999", "capacity": 3}, "unknown_counsellor"),
            ({"counsellor_id": str(sofie), "capacity": 3}, "unknown_counsellor"),
        ):
            await send(dashboard, "set_capacity", **fields)
            assert (await next_frame(dashboard, "error"))["code"] == code
        ingrid = await module_db.fetchval("SELECT id::text FROM users WHERE username = 'ingrid'")
        await send(dashboard, "set_away", counsellor_id=ingrid)
        assert (await next_frame(dashboard, "error"))["code"] == "not_allowed"
        assert (
            await module_db.fetchval("SELECT capacity FROM users WHERE id = $1", int(ola_id)) == 4
        )
        count = await module_db.fetchval(
            "SELECT count(*) FROM audit_log WHERE target_id = $1", ola_id
        )
        assert count == len(audit)
        assert not await module_db.fetchval(
            "SELECT count(*) FROM audit_log WHERE target_id = $1 AND action LIKE 'counsellor.%'",
            ingrid,
        )
    finally:
        await send(dashboard, "set_capacity", counsellor_id=ola_id, capacity=2)
        await next_frame(dashboard, "applied")
        await ola.close()
        await dashboard.close()


async def test_observing_a_chat_is_audited_and_takes_no_part(
    instances: tuple[ServerProcess, ServerProcess], module_db: asyncpg.Connection
) -> None:
    a, b = instances
    kari = await open_counsellor(b.url, staff_cookie(b.url, "kari", DEMO_PASSWORD))
    await send(kari, "resume", last_seqs={})
    dashboard = await open_dashboard(a)
    try:
        await send(kari, "status", status="available")
        chat = start_chat(a.url, "03")
        chat_id = chat["chat_id"]
        seeker = await open_seeker(a.url, chat["token"])
        await send(seeker, "message", client_id="s1", text="Hei, jeg vil bytte yrke.")
        await receive(seeker, "ack")
        offer = await receive(kari, "offer")
        assert offer["chat_id"] == chat_id
        await send(kari, "accept", chat_id=chat_id)
        await receive(kari, "synced")
        await send(kari, "note", chat_id=chat_id, client_id="n1", text="Trenger tid.")
        await receive(kari, "ack")

        await send(dashboard, "observe", chat_id=chat_id)
        assert (await next_frame(dashboard, "observing"))["chat_id"] == chat_id
        history = await next_frame(dashboard, "message")
        assert (history["seq"], history["text"]) == (1, "Hei, jeg vil bytte yrke.")
        note = await next_frame(dashboard, "note")
        assert note["text"] == "Trenger tid."
        synced = await next_frame(dashboard, "synced")
        assert synced["last_seq"] == 1
        row = await module_db.fetchrow(
            """SELECT actor_user_id, target_type FROM audit_log
               WHERE action = 'chat.observe' AND target_id = $1""",
            chat_id,
        )
        assert row is not None and row["target_type"] == "chat"

        await send(kari, "message", chat_id=chat_id, client_id="k1", text="Fortell mer!")
        live = await next_frame(dashboard, "message")
        assert (live["seq"], live["sender"]) == (2, "counsellor")
        # The seeker's `delivered` comes from the seeker alone; an observer sends none.
        await receive(seeker, "message")
        delivered = await receive(kari, "delivered")
        assert delivered["seq"] == 1 or delivered["seq"] == 2
        await send(seeker, "typing", active=True)
        await send(seeker, "message", client_id="s2", text="Ja.")
        nxt = await next_frame(dashboard, "message")
        assert nxt["seq"] == 3  # the typing signal never reached the observer

        # Observing is reading: nothing a supervisor sends reaches the chat.
        await send(dashboard, "message", chat_id=chat_id, client_id="x", text="hei")
        assert (await next_frame(dashboard, "error"))["code"] == "unknown_type"
        await send(dashboard, "stop_observing", chat_id=chat_id)
        await next_frame(dashboard, "observing_stopped")
        await send(kari, "message", chat_id=chat_id, client_id="k2", text="Godt.")
        await receive(kari, "ack")
        stray: list[str] = []
        try:
            async with asyncio.timeout(0.7):
                while True:
                    stray.append(json.loads(await dashboard.recv())["type"])
        except TimeoutError:
            pass
        assert "message" not in stray

        for bad, code in (
            ({"chat_id": "00000000-0000-0000-0000-000000000000"}, "unknown_chat"),
            ({"chat_id": "not-a-chat"}, "bad_field"),
            ({}, "missing_field"),
        ):
            await send(dashboard, "observe", **bad)
            assert (await next_frame(dashboard, "error"))["code"] == code
        await send(kari, "end", chat_id=chat_id)
        await receive(kari, "chat_ended")
        await send(dashboard, "observe", chat_id=chat_id)
        assert (await next_frame(dashboard, "error"))["code"] == "chat_closed"
        await seeker.close()
    finally:
        await kari.close()
        await dashboard.close()


@pytest.mark.parametrize("username", ["kari", None])
async def test_only_supervisors_and_admins_get_the_socket(
    instances: tuple[ServerProcess, ServerProcess], username: str | None
) -> None:
    a, _ = instances
    headers = {"Origin": a.url}
    if username is not None:
        headers["Cookie"] = staff_cookie(a.url, username, DEMO_PASSWORD)
    socket = await connect(ws_url(a.url, "/ws/supervisor"), additional_headers=headers)
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == (4403 if username else 4401)


async def test_admins_get_the_dashboard_and_other_sites_do_not(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, _ = instances
    admin = await open_dashboard(a, "admin")
    try:
        await dashboard_where(admin, lambda f: True, UPDATE_WITHIN)
    finally:
        await admin.close()
    cookie = staff_cookie(a.url, "sofie", DEMO_PASSWORD)
    with pytest.raises(Exception) as refused:
        socket = await connect(
            ws_url(a.url, "/ws/supervisor"),
            additional_headers={"Cookie": cookie, "Origin": "https://evil.example"},
        )
        await asyncio.wait_for(socket.recv(), 5)
    assert "1008" in str(refused.value) or "403" in str(refused.value)


# --------------------------------------------------------------------------- fuzzing

UUIDISH = st.uuids().map(str)
GARBAGE = st.none() | st.booleans() | st.integers(-5, 2**60) | st.floats() | st.text(max_size=30)
BAD_IDS = st.sampled_from(["", "x", "1" * 19, "-1", "1.0", " 1", "\u0661", "1\n"]) | GARBAGE
NOBODY = st.integers(10**9, 10**12).map(str)  # well formed, but no such counsellor


def _real_id(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value) is not None


@st.composite
def refused_frames(draw: st.DrawFn) -> dict[str, Any]:
    """A supervisor frame the server must refuse: every field that matters is wrong somehow."""
    kind = draw(st.sampled_from(["set_capacity", "set_away", "observe", "stop", "other", "raw"]))
    if kind == "set_capacity":
        counsellor = draw(BAD_IDS | NOBODY)
        capacity = draw(st.integers(-3, 3) | st.integers(11, 2**40) | GARBAGE)
        if isinstance(counsellor, str) and counsellor.isdigit() and len(counsellor) < 10:
            capacity = draw(st.integers(11, 99))  # a real id: the capacity must be wrong
        return {"v": 1, "type": "set_capacity", "counsellor_id": counsellor, "capacity": capacity}
    if kind == "set_away":
        # A real id (a short run of ASCII digits, which the text strategy can draw) would name a
        # counsellor who may well be signed in: setting them away is no refusal.
        counsellor = draw((BAD_IDS | NOBODY).filter(lambda c: not _real_id(c)))
        return {"v": 1, "type": "set_away", "counsellor_id": counsellor}
    if kind == "observe":
        return {"v": 1, "type": "observe", "chat_id": draw(BAD_IDS | UUIDISH)}
    if kind == "stop":
        return {"v": 1, "type": "stop_observing", "chat_id": draw(BAD_IDS)}
    if kind == "other":
        frame_type = draw(st.sampled_from(["message", "note", "accept", "end", "status", "auth"]))
        return {"v": 1, "type": frame_type, "chat_id": draw(UUIDISH), "text": "x"}
    return draw(st.dictionaries(st.text(max_size=8), GARBAGE, max_size=4))


@pytest.fixture(scope="module")
def supervisor_cookie(instances: tuple[ServerProcess, ServerProcess]) -> str:
    return staff_cookie(instances[0].url, "sofie", DEMO_PASSWORD)


async def _state(conn: asyncpg.Connection) -> tuple[Any, ...]:
    """What a refused frame must not change: capacities and the audit log (sign-ins aside)."""
    capacities = await conn.fetch("SELECT id, capacity FROM users ORDER BY id")
    audit = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action NOT LIKE 'auth.%'")
    return tuple((r["id"], r["capacity"]) for r in capacities), audit


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=refused_frames())
def test_random_refused_frames_get_error_frames_and_change_nothing(
    instances: tuple[ServerProcess, ServerProcess],
    module_env: RunEnvironment,
    supervisor_cookie: str,
    frame: dict[str, Any],
) -> None:
    a, _ = instances

    async def exchange() -> tuple[list[dict[str, Any]], tuple[Any, ...], tuple[Any, ...]]:
        conn = await asyncpg.connect(module_env.database_url)
        try:
            before = await _state(conn)
            socket = await connect(
                ws_url(a.url, "/ws/supervisor"),
                additional_headers={"Cookie": supervisor_cookie, "Origin": a.url},
            )
            try:
                await socket.send(json.dumps(frame))
                await socket.send(json.dumps({"v": 1, "type": "ping"}))
                replies: list[dict[str, Any]] = []
                async with asyncio.timeout(5):
                    while True:
                        reply = json.loads(await socket.recv())
                        if reply["type"] == "pong":
                            break
                        if reply["type"] != "dashboard":
                            replies.append(reply)
            finally:
                await socket.close()
            return replies, before, await _state(conn)
        finally:
            await conn.close()

    replies, before, after = asyncio.run(exchange())
    assert [r["type"] for r in replies] == ["error"], replies
    assert isinstance(replies[0]["code"], str) and replies[0]["message"]
    assert after == before


async def test_signing_out_closes_the_dashboard_on_the_other_instance_within_a_second(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = instances
    async with httpx.AsyncClient(base_url=a.url) as browser:
        page = await browser.get("/signin")
        signed = await browser.post(
            "/signin",
            data={"csrf_token": csrf_token(page), "username": "sofie", "password": DEMO_PASSWORD},
        )
        assert signed.status_code == 303
        cookie = f"eguide_session={browser.cookies['eguide_session']}"
        dashboard = await connect(
            ws_url(b.url, "/ws/supervisor"),
            additional_headers={"Cookie": cookie, "Origin": b.url},
        )
        await dashboard_where(dashboard, lambda f: True, UPDATE_WITHIN)
        page = await browser.get("/supervisor")
        assert (await browser.post("/signout", data={"csrf_token": csrf_token(page)})).is_redirect
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(1.0):
                while True:
                    await dashboard.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4410


async def test_one_instance_computes_for_all_and_another_takes_over_when_it_dies(
    module_env: RunEnvironment, tmp_path: Path
) -> None:
    prefix = f"{module_env.redis_prefix}{secrets.token_hex(3)}:"
    client = redis.Redis.from_url(module_env.redis_url, decode_responses=True)
    with two_instances(module_env.variables(EGUIDE_REDIS_PREFIX=prefix), tmp_path) as (a, b):
        dashboards = {a: await open_dashboard(a), b: await open_dashboard(b)}
        try:
            for socket in dashboards.values():
                await dashboard_where(socket, lambda f: True, UPDATE_WITHIN)
            holder = None
            for _ in range(30):  # the lease is taken within a second of starting
                holder = await client.get(f"{prefix}dashboard:lease")
                if holder is not None:
                    break
                await asyncio.sleep(0.1)
            assert holder is not None
            leader = next(s for s in (a, b) if computes_for_all(s, holder))
            follower = b if leader is a else a

            # A change is computed once: both dashboards get the same frame, `at` and all.
            chat = start_chat(follower.url, "46")
            arrived: dict[ServerProcess, float] = {}
            for server, socket in dashboards.items():
                shown = await frame_showing(socket, chat["chat_id"], UPDATE_WITHIN)
                arrived[server] = shown["at"]
            assert arrived[a] == arrived[b]

            # The computing instance dies without a word: the other one's dashboard still
            # shows the next change within the promised time, and it takes the lease over.
            os.killpg(leader.pid, signal.SIGKILL)
            leader.stop()
            later = start_chat(follower.url, "46")
            changed = time.monotonic()
            await frame_showing(dashboards[follower], later["chat_id"], UPDATE_WITHIN)
            assert time.monotonic() - changed < UPDATE_WITHIN
            for _ in range(50):
                if computes_for_all(follower):
                    break
                await asyncio.sleep(0.1)
            assert computes_for_all(follower)
        finally:
            for socket in dashboards.values():
                await socket.close()
            await client.aclose()


def computes_for_all(server: ServerProcess, instance: str = "") -> bool:
    """The server's log says it took the dashboard's lease (as `instance`, when given)."""
    return any(
        "dashboard.computing_for_all" in line and instance in line
        for line in server.log().splitlines()
    )


async def frame_showing(socket: ClientConnection, chat_id: str, within: float) -> dict[str, Any]:
    """The first dashboard frame whose waiting lists name the chat."""
    async with asyncio.timeout(within):
        while True:
            frame: dict[str, Any] = json.loads(await socket.recv())
            if frame["type"] == "dashboard" and any(
                chat["chat_id"] == chat_id
                for listed in frame.get("waiting", {}).values()
                for chat in listed["chats"]
            ):
                return frame
