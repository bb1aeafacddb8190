"""A seeker who stops reading is disconnected (4008), not allowed to hold the counsellor up, and
loses nothing: reconnecting with the last number seen brings the rest exactly once."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.seed import DEMO_PASSWORD
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess
from tests.support.sockets import (
    open_counsellor,
    open_seeker,
    receive,
    send,
    staff_cookie,
    start_chat,
    ws_url,
)

MESSAGES = 1500
TEXT = "x" * 3000


@pytest.fixture(scope="module")
def server(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    # The counsellor's frame rate is raised so one test can outrun a reader in seconds.
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:",
        EGUIDE_COUNSELLOR_FRAME_RATE="5000",
    )
    with ServerProcess(env, tmp_path_factory.mktemp("slow") / "server.log") as process:
        yield process


async def stalled_seeker(server_url: str, token: str) -> ClientConnection:
    """A seeker whose socket has a tiny receive buffer and who then stops reading."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    host, port = server_url.removeprefix("http://").split(":")
    await asyncio.get_running_loop().sock_connect(raw, (host, int(port)))
    seeker = await connect(
        ws_url(server_url, "/ws/seeker"),
        sock=raw,
        additional_headers={"Origin": server_url},
        max_queue=1,
    )
    await send(seeker, "auth", token=token, last_seq=0)
    await receive(seeker, "welcome")
    return seeker


async def test_a_seeker_who_stops_reading_is_cut_off_and_resumes_without_loss(
    server: ServerProcess,
) -> None:
    kari = await open_counsellor(server.url, staff_cookie(server.url, "kari", DEMO_PASSWORD))
    await send(kari, "resume", last_seqs={})
    try:
        await send(kari, "status", status="available")
        chat = start_chat(server.url, "03")
        seeker = await stalled_seeker(server.url, chat["token"])
        await send(kari, "accept", chat_id=(await receive(kari, "offer"))["chat_id"])
        await receive(kari, "synced")
        await receive(seeker, "assigned")

        acks: list[int] = []

        async def read_acks() -> None:
            while len(acks) < MESSAGES:
                frame: dict[str, Any] = json.loads(await kari.recv())
                if frame["type"] == "ack":
                    acks.append(frame["seq"])
                assert frame["type"] != "error", frame

        reader = asyncio.create_task(read_acks())
        for n in range(MESSAGES):
            await send(kari, "message", chat_id=chat["chat_id"], client_id=f"k{n}", text=TEXT)
        # The counsellor is never held up by the seeker who does not read.
        await asyncio.wait_for(reader, 60)
        assert acks == list(range(1, MESSAGES + 1))

        seen: list[int] = []
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(30):
                while True:
                    frame = json.loads(await seeker.recv())
                    if frame["type"] == "message":
                        seen.append(frame["seq"])
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
        assert seen == list(range(1, len(seen) + 1))
        assert len(seen) < MESSAGES, "the seeker was cut off before the end"

        again = await open_seeker(server.url, chat["token"], last_seq=seen[-1] if seen else 0)
        rest: list[int] = []
        async with asyncio.timeout(30):
            while not rest or rest[-1] < MESSAGES:
                frame = json.loads(await again.recv())
                if frame["type"] == "message":
                    rest.append(frame["seq"])
        assert seen + rest == list(range(1, MESSAGES + 1))
        await send(kari, "end", chat_id=chat["chat_id"])
        await again.close()
    finally:
        await send(kari, "status", status="offline")
        await kari.close()
