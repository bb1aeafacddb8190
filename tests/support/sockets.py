"""WebSocket clients as a browser would open them: with an Origin, and a counsellor's cookie."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.support.forms import sign_in


def ws_url(http_url: str, path: str) -> str:
    return http_url.replace("http://", "ws://") + path


def staff_cookie(server_url: str, username: str, password: str) -> str:
    with httpx.Client(base_url=server_url) as client:
        response = sign_in(client, username, password)
        assert response.status_code == 303, response.text
        return f"eguide_session={client.cookies['eguide_session']}"


async def open_console(server_url: str, cookie: str) -> tuple[ClientConnection, dict[str, Any]]:
    """A counsellor's console socket and its hello (routing state and chats)."""
    socket = await connect(
        ws_url(server_url, "/ws/counsellor"),
        additional_headers={"Cookie": cookie, "Origin": server_url},
    )
    hello = await receive(socket, "hello")
    assert hello["counsellor_id"]
    return socket, hello


async def open_counsellor(server_url: str, cookie: str) -> ClientConnection:
    socket, _ = await open_console(server_url, cookie)
    return socket


async def open_seeker(server_url: str, token: str, last_seq: int = 0) -> ClientConnection:
    socket = await connect(
        ws_url(server_url, "/ws/seeker"), additional_headers={"Origin": server_url}
    )
    await send(socket, "auth", token=token, last_seq=last_seq)
    await receive(socket, "welcome")
    return socket


async def send(socket: ClientConnection, frame_type: str, **fields: Any) -> None:
    await socket.send(json.dumps({"v": 1, "type": frame_type, **fields}))


async def receive(socket: ClientConnection, frame_type: str, within: float = 5.0) -> dict[str, Any]:
    """The next frame of `frame_type`, skipping others (places in line arrive at any time)."""
    async with asyncio.timeout(within):
        while True:
            frame: dict[str, Any] = json.loads(await socket.recv())
            if frame["type"] == frame_type:
                return frame
            if frame["type"] == "error" and frame_type != "error":
                raise AssertionError(f"error frame while waiting for {frame_type}: {frame}")


def start_chat(server_url: str, county: str | None, language: str = "nb") -> dict[str, Any]:
    response = httpx.post(
        server_url + "/api/v1/chats",
        json={"county": county, "language": language, "consent": True},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
