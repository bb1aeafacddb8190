"""The console's HTTP API on a real server: counsellors only, their own centres' canned replies,
colleagues with their live status and room from the router."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from app.seed import DEMO_PASSWORD, seed_demo
from tests.support.aio import run_sync
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess
from tests.support.sockets import staff_cookie, ws_url

ENDPOINTS = ["/api/v1/console/canned-replies", "/api/v1/console/colleagues"]


@pytest.fixture(scope="module")
def console_server(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server of this module's own: the colleagues' statuses here are what its tests set."""
    log = tmp_path_factory.mktemp("console-api") / "server.log"
    with ServerProcess(module_env.variables(), log) as process:
        yield process


def say(socket: ClientConnection, frame_type: str, **fields: Any) -> None:
    socket.send(json.dumps({"v": 1, "type": frame_type, **fields}))


def hear(socket: ClientConnection, frame_type: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(socket.recv(timeout=10))
        if frame["type"] == frame_type:
            return frame


def signed_in(server: ServerProcess, username: str) -> httpx.Client:
    cookie = staff_cookie(server.url, username, DEMO_PASSWORD)
    name, _, value = cookie.partition("=")
    return httpx.Client(base_url=server.url, cookies={name: value})


@pytest.mark.parametrize("path", ENDPOINTS)
def test_visitors_without_a_staff_session_get_401_as_json(
    console_server: ServerProcess, path: str
) -> None:
    for cookies in ({}, {"eguide_session": "not-a-session"}):
        response = httpx.get(console_server.url + path, cookies=cookies)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
        assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("username", ["sofie", "admin"])
def test_staff_who_are_not_counsellors_get_403_as_json(
    console_server: ServerProcess, path: str, username: str
) -> None:
    with signed_in(console_server, username) as client:
        response = client.get(path)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_a_counsellor_gets_the_canned_replies_of_their_own_centres_only(
    console_server: ServerProcess,
) -> None:
    with signed_in(console_server, "kari") as client:
        replies = client.get("/api/v1/console/canned-replies").json()["replies"]
    assert {r["centre"] for r in replies} == {"03"}
    assert {r["language"] for r in replies} == {"nb", "nn", "en"}
    assert all(r["title"] and r["body"] and isinstance(r["id"], int) for r in replies)
    assert any("Karrieresenteret i Oslo" in r["body"] for r in replies)

    with signed_in(console_server, "nora") as client:
        national = client.get("/api/v1/console/canned-replies").json()["replies"]
    assert {r["centre"] for r in national} == {"national"}
    assert not any("Karrieresenteret i" in r["body"] for r in national)


def test_colleagues_show_status_and_room_as_the_router_sees_them(
    console_server: ServerProcess,
) -> None:
    with signed_in(console_server, "kari") as client:
        before = client.get("/api/v1/console/colleagues").json()
        names = [c["name"] for c in before["colleagues"]]
        assert "Kari (Oslo)" not in names, "never yourself"
        assert "Sofie (leder)" not in names and "Administrator" not in names
        nora = next(c for c in before["colleagues"] if c["name"] == "Nora (nasjonalt)")
        assert (nora["status"], nora["takes_transfers"]) == ("offline", False)
        assert nora["national_team"] is True and "nn" in nora["languages"]
        queues = {q["queue"]: (q["name"], q["county"]) for q in before["queues"]}
        assert queues["03"] == ("Karrieresenteret i Oslo", "Oslo")
        assert len(queues) == 16 and list(queues)[-1] == "national"

        cookie = staff_cookie(console_server.url, "nora", DEMO_PASSWORD)
        with connect(
            ws_url(console_server.url, "/ws/counsellor"),
            additional_headers={"Origin": console_server.url, "Cookie": cookie},
        ) as socket:
            hear(socket, "hello")
            try:
                say(socket, "status", status="available")
                assert hear(socket, "status")["status"] == "available"
                after = client.get("/api/v1/console/colleagues").json()["colleagues"]
                nora = next(c for c in after if c["name"] == "Nora (nasjonalt)")
                assert nora["status"] == "available"
                assert (nora["capacity"], nora["active"], nora["free"]) == (3, 0, 3)
                assert nora["takes_transfers"] is True

                say(socket, "status", status="away")
                assert hear(socket, "status")["status"] == "away"
                away = client.get("/api/v1/console/colleagues").json()["colleagues"]
                nora = next(c for c in away if c["name"] == "Nora (nasjonalt)")
                assert (nora["status"], nora["takes_transfers"]) == ("away", False)
            finally:
                say(socket, "status", status="offline")


def test_seeding_again_adds_no_canned_reply_twice(module_env: RunEnvironment) -> None:
    async def count_then_seed_then_count() -> tuple[int, int]:
        conn = await asyncpg.connect(module_env.database_url)
        try:
            before = await conn.fetchval("SELECT count(*) FROM canned_replies")
            await seed_demo(conn)
            return before, await conn.fetchval("SELECT count(*) FROM canned_replies")
        finally:
            await conn.close()

    before, after = run_sync(count_then_seed_then_count())
    assert before == 16 * 3 * 5
    assert after == before
