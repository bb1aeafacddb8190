"""A load-generating process for the routing concurrency test.

Run as `python -m tests.support.routing_load --seed N --operations K --seconds S --url A --url B
USER...`: it signs the given counsellors in, spreads their consoles over the instances, and until it
has done K operations (or S seconds passed) does
random things real users do: seekers arrive, wait, leave or drop their connection; counsellors
change status, accept or decline offers (or let them lie), end chats and drop their consoles. It
prints one JSON line with what it did.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

PASSWORD = "load-password-123"


def frame(frame_type: str, **fields: Any) -> str:
    return json.dumps({"v": 1, "type": frame_type, **fields})


async def sign_in(url: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=url) as http:
        page = await http.get("/signin")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        response = await http.post(
            "/signin", data={"csrf_token": token, "username": username, "password": PASSWORD}
        )
        assert response.status_code == 303, response.status_code
        return f"eguide_session={http.cookies['eguide_session']}"


class Console:
    """One counsellor's console, reconnecting at random to a random instance."""

    def __init__(self, urls: list[str], cookie: str, rng: random.Random) -> None:
        self.urls = urls
        self.cookie = cookie
        self.rng = rng
        self.socket: ClientConnection | None = None
        self.offers: set[str] = set()
        self.active: set[str] = set()
        self.reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        url = self.rng.choice(self.urls)
        self.socket = await connect(
            url.replace("http://", "ws://") + "/ws/counsellor",
            additional_headers={"Cookie": self.cookie, "Origin": url},
        )
        self.reader = asyncio.create_task(self._read(self.socket))

    async def _read(self, socket: ClientConnection) -> None:
        try:
            async for raw in socket:
                message = json.loads(raw)
                chat_id = message.get("chat_id")
                match message["type"]:
                    case "offer":
                        self.offers.add(chat_id)
                    case "offer_withdrawn":
                        self.offers.discard(chat_id)
                    case "chat_assigned":
                        self.offers.discard(chat_id)
                        self.active.add(chat_id)
                    case "chat_ended" | "chat_removed":
                        self.active.discard(chat_id)
        except ConnectionClosed:
            pass

    async def send(self, text: str) -> None:
        if self.socket is not None:
            with contextlib.suppress(ConnectionClosed):
                await self.socket.send(text)

    async def drop(self) -> None:
        if self.socket is not None:
            await self.socket.close()
            if self.reader is not None:
                await self.reader
        self.socket = None
        self.offers.clear()
        self.active.clear()

    async def act(self, counts: dict[str, int]) -> None:
        roll = self.rng.random()
        if self.socket is None:
            await self.open()
            counts["reconnects"] += 1
        elif roll < 0.15:
            status = self.rng.choice(["available", "available", "away", "offline"])
            await self.send(frame("status", status=status))
            counts["status_changes"] += 1
        elif roll < 0.45 and self.offers:
            chat_id = self.rng.choice(sorted(self.offers))
            await self.send(frame("accept", chat_id=chat_id))
            counts["accepts"] += 1
        elif roll < 0.55 and self.offers:
            chat_id = self.rng.choice(sorted(self.offers))
            await self.send(frame("decline", chat_id=chat_id))
            counts["declines"] += 1
        elif roll < 0.75 and self.active:
            chat_id = self.rng.choice(sorted(self.active))
            await self.send(frame("end", chat_id=chat_id))
            counts["ends"] += 1
        elif roll < 0.78:
            await self.drop()
            counts["counsellor_disconnects"] += 1


class Seeker:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.socket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.socket = await connect(
            self.url.replace("http://", "ws://") + "/ws/seeker",
            additional_headers={"Origin": self.url},
        )
        await self.socket.send(frame("auth", token=self.token))
        # A browser reads what it is sent; a socket nobody reads is cut off as too slow.
        self._reader = asyncio.create_task(self._drain(self.socket))

    @staticmethod
    async def _drain(socket: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in socket:
                pass

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self._reader is not None:
            await self._reader
        self.socket = None
        self._reader = None


async def run(
    urls: list[str], users: list[str], seconds: float, seed: int, operations: int
) -> dict[str, int]:
    rng = random.Random(seed)
    cookies = [await sign_in(rng.choice(urls), user) for user in users]
    consoles = [Console(urls, cookie, rng) for cookie in cookies]
    for console in consoles:
        await console.open()
        await console.send(frame("status", status="available"))
    counts = {
        name: 0
        for name in (
            "arrivals", "seeker_leaves", "seeker_disconnects", "seeker_reconnects",
            "status_changes", "accepts", "declines", "ends", "counsellor_disconnects",
            "reconnects",
        )
    }  # fmt: skip
    seekers: list[Seeker] = []
    async with httpx.AsyncClient() as http:
        # Until this process has done its share of operations: a busy machine takes longer,
        # it does not test less. `seconds` only bounds a run that cannot make progress.
        deadline = time.monotonic() + seconds
        while sum(counts.values()) < operations and time.monotonic() < deadline:
            roll = rng.random()
            if roll < 0.3:
                url = rng.choice(urls)
                county = rng.choice(["03", "46", None])
                response = await http.post(
                    url + "/api/v1/chats",
                    json={"county": county, "language": rng.choice(["nb", "en"]), "consent": True},
                )
                seeker = Seeker(url, response.json()["token"])
                await seeker.open()
                seekers.append(seeker)
                counts["arrivals"] += 1
            elif roll < 0.36 and seekers:
                seeker = rng.choice(seekers)
                if seeker.socket is not None:
                    await seeker.socket.send(frame("leave"))
                    counts["seeker_leaves"] += 1
            elif roll < 0.42 and seekers:
                seeker = rng.choice(seekers)
                if seeker.socket is not None:
                    await seeker.close()
                    counts["seeker_disconnects"] += 1
                else:
                    await seeker.open()
                    counts["seeker_reconnects"] += 1
            else:
                await rng.choice(consoles).act(counts)
            await asyncio.sleep(0)
    # Leave everything connected and every counsellor available, so the test can watch the
    # queue drain; the test ends the processes.
    for console in consoles:
        if console.socket is None:
            await console.open()
        await console.send(frame("status", status="available"))
    for seeker in seekers:
        if seeker.socket is None:
            await seeker.open()
            counts["seeker_reconnects"] += 1
    print(json.dumps(counts), flush=True)
    # Drain: accept every offer and end every chat until told to stop.
    while True:
        for console in consoles:
            for chat_id in sorted(console.offers):
                await console.send(frame("accept", chat_id=chat_id))
            for chat_id in sorted(console.active):
                await console.send(frame("end", chat_id=chat_id))
        await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--operations", type=int, required=True)
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("users", nargs="+")
    args = parser.parse_args()
    asyncio.run(run(args.url, args.users, args.seconds, args.seed, args.operations))


if __name__ == "__main__":
    main()
