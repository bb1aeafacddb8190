"""Seekers and counsellors driven from Python over real sockets (blocking clients), for tests
that drive the pages in a browser at the same time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from app.seed import DEMO_PASSWORD
from tests.support.server import ServerProcess
from tests.support.sockets import staff_cookie, ws_url

# A noisy two-core machine runs two servers, PostgreSQL, Redis and Chromium at once.
FRAME_TIMEOUT_S = 15.0


class Party:
    """One socket driven from the test; every frame it receives is kept in `seen`."""

    def __init__(self, socket: ClientConnection, token: str = "") -> None:
        self.socket = socket
        self.token = token  # a seeker's resume token
        self.seen: list[dict[str, Any]] = []

    def send(self, frame_type: str, **fields: Any) -> None:
        self.socket.send(json.dumps({"v": 1, "type": frame_type, **fields}))

    def receive(self, frame_type: str, where: Any = None) -> dict[str, Any]:
        """The next frame of `frame_type` (for which `where(frame)` holds, if given)."""
        while True:
            frame: dict[str, Any] = json.loads(self.socket.recv(timeout=FRAME_TIMEOUT_S))
            self.seen.append(frame)
            if frame["type"] == frame_type and (where is None or where(frame)):
                return frame


@contextmanager
def seeker(
    server: ServerProcess, county: str | None, language: str = "nb", topic: str | None = None
) -> Iterator[tuple[str, Party]]:
    """A new chat and its seeker's socket, authenticated."""
    body: dict[str, Any] = {"county": county, "language": language, "consent": True}
    if topic:
        body["topic"] = topic
    response = httpx.post(server.url + "/api/v1/chats", json=body)
    assert response.status_code == 201, response.text
    chat = response.json()
    with connect(
        ws_url(server.url, "/ws/seeker"), additional_headers={"Origin": server.url}
    ) as socket:
        party = Party(socket, chat["token"])
        party.send("auth", token=chat["token"], last_seq=0)
        party.receive("welcome")
        yield chat["chat_id"], party


@contextmanager
def colleague(server: ServerProcess, username: str) -> Iterator[Party]:
    """A colleague's console socket, driven from Python."""
    cookie = staff_cookie(server.url, username, DEMO_PASSWORD)
    with connect(
        ws_url(server.url, "/ws/counsellor"),
        additional_headers={"Origin": server.url, "Cookie": cookie},
    ) as socket:
        party = Party(socket)
        party.receive("hello")
        party.send("resume", last_seqs={})
        try:
            yield party
        finally:
            party.send("status", status="offline")
