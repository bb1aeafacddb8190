"""Driving real sockets through fuzzed frames: an event loop of its own for synchronous tests, a
client socket read by a task of its own, and `Fuzzed`, which plays `fuzz_frames.Case`s through a
socket and checks every answer against the case's outcome (and the server's tally of refusals).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chat.connection import CloseCode
from chat.rate_limit import Strikes
from tests.support.fuzz_frames import PONG, Case, Closed, Frame, Refused, encode, ping_case
from tests.support.sockets import start_chat, ws_url

T = TypeVar("T")
Ambient = Callable[[Frame], bool]

# Every frame is answered within this, however malformed: a longer silence is a hang.
REPLY_WITHIN = 5.0
STRIKE_LIMIT = int(Strikes().limit)
PING = encode({"type": "ping"})


class LoopThread:
    """An event loop in a thread of its own: synchronous tests (hypothesis drives only those)
    run coroutines on it, and the sockets opened there outlive each call."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> LoopThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        async def cancel_the_rest() -> None:  # readers of sockets a failed test left open
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_the_rest(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 300) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


class Peer:
    """A client socket read by a task of its own: frames wait in `inbox` until asked for (a
    socket nobody reads never holds the server up), and its close arrives there as `Closed`."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.inbox: asyncio.Queue[Frame | Closed] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, path: str, **headers: str) -> Peer:
        # No keepalive pings of our own: their payload is drawn from `random`, which hypothesis
        # must see untouched while it draws (the server pings, and the client answers).
        socket = await connect(
            ws_url(url, path), additional_headers={"Origin": url, **headers}, ping_interval=None
        )
        return cls(socket)

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self.socket:
                self.inbox.put_nowait(json.loads(message))
        self.inbox.put_nowait(Closed(self.socket.close_code or 1006))

    async def send(self, raw: str | bytes, *, text: bool | None = None) -> None:
        # A socket the server closed says so in the inbox.
        with contextlib.suppress(ConnectionClosed):
            await self.socket.send(raw, text=text)

    async def send_frame(self, frame_type: str, **fields: Any) -> None:
        await self.send(encode({"type": frame_type, **fields}))

    async def next(self, ambient: Ambient, within: float = REPLY_WITHIN) -> Frame | Closed:
        """The next frame that is not ambient, or the close; TimeoutError after `within`."""
        async with asyncio.timeout(within):
            while True:
                item = await self.inbox.get()
                if isinstance(item, Closed) or not ambient(item):
                    return item

    async def until(self, frame_type: str, within: float = 10.0, **fields: Any) -> Frame:
        """The first frame of `frame_type` with these fields, skipping any others."""
        async with asyncio.timeout(within):
            while True:
                item = await self.inbox.get()
                if isinstance(item, Closed):
                    raise AssertionError(f"closed ({item.code}) while waiting for {frame_type}")
                if item["type"] == frame_type and all(item.get(k) == v for k, v in fields.items()):
                    return item

    def clear(self) -> None:
        """Forget what was received so far (but a close)."""
        while not self.inbox.empty():
            item = self.inbox.get_nowait()
            if isinstance(item, Closed):
                self.inbox.put_nowait(item)
                return

    async def close(self) -> None:
        await self.socket.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def open_console(url: str, cookie: str) -> Peer:
    """A counsellor's console, caught up: its hello, then a resume of every chat it follows."""
    peer = await Peer.open(url, "/ws/counsellor", Cookie=cookie)
    hello = await peer.until("hello")
    followed = {chat["chat_id"] for chat in hello["chats"]}
    await peer.send_frame("resume", last_seqs=dict.fromkeys(followed, 0))
    while followed:
        followed.discard((await peer.until("synced"))["chat_id"])
    return peer


async def open_seeker(url: str, token: str, rest: float = 0.0) -> Peer:
    """A seeker's socket, authenticated and caught up; after `rest`, its burst is whole again."""
    peer = await Peer.open(url, "/ws/seeker")
    await peer.send_frame("auth", token=token, last_seq=0)
    await peer.until("welcome")
    await peer.until("synced")
    await asyncio.sleep(rest)
    return peer


async def answered(console: Peer, url: str, county: str) -> tuple[str, str, Peer]:
    """A chat started, offered to the console's counsellor and accepted: its id, its token and
    its seeker's socket."""
    chat = await asyncio.to_thread(start_chat, url, county)
    seeker = await open_seeker(url, chat["token"])
    await console.until("offer", chat_id=chat["chat_id"])
    await console.send_frame("accept", chat_id=chat["chat_id"])
    await console.until("synced", chat_id=chat["chat_id"])
    await seeker.until("assigned")
    return chat["chat_id"], chat["token"], seeker


class Fuzzed:
    """A socket under fuzzing: plays cases through it and checks every answer, opens it again
    when the server closed it, and keeps the server's tally of refused frames in a row
    (`Strikes`) to know after which frame the server must close it."""

    def __init__(
        self, opener: Callable[[], Awaitable[Peer]], ambient: Ambient, *, fresh: bool
    ) -> None:
        self._opener = opener
        self._ambient = ambient
        self._fresh = fresh  # a socket of its own for every example, closed after it
        self.peer: Peer | None = None
        self.strikes = 0
        self.closed_with: list[int] = []

    async def play(self, played: Sequence[Case]) -> None:
        try:
            if self._fresh or self.peer is None:
                await self.drop()
                await self._open()
            else:
                await self.play_one(ping_case())  # a valid frame: the tally starts from zero
            for case in played:
                await self.play_one(case)
        except BaseException:
            await self.drop()  # what is still in flight belongs to the failed example
            raise
        if self._fresh:
            await self.drop()

    async def play_one(self, case: Case) -> None:
        if self.peer is None:
            await self._open()
        assert self.peer is not None
        await self.peer.send(case.raw)
        outcome = case.outcome
        if isinstance(outcome, Closed):
            await self._closed(outcome.code, case)
        elif isinstance(outcome, Refused):
            reply = await self._reply(case)
            got = {key: reply.get(key) for key in ("type", "code", "ref")}
            expected = {"type": "error", "code": outcome.code, "ref": outcome.ref}
            assert got == expected, f"{case!r} was answered {reply}"
            if outcome.strike:
                self.strikes += 1
            if outcome.closes is not None:
                await self._closed(outcome.closes, case)
            elif self.strikes >= STRIKE_LIMIT:
                await self._closed(CloseCode.POLICY_VIOLATION, case)
        else:
            replies = outcome.replies
            if not replies:  # no reply of its own: the ping after it must be answered next
                await self.peer.send(PING)
                replies = PONG.replies
            for frame_type, fields in replies:
                reply = await self._reply(case)
                got = {key: reply.get(key) for key in ("type", *fields)}
                assert got == {"type": frame_type, **fields}, f"{case!r} was answered {reply}"
            self.strikes = 0

    async def _reply(self, case: Case) -> Frame:
        assert self.peer is not None
        try:
            item = await self.peer.next(self._ambient)
        except TimeoutError:
            raise AssertionError(f"no answer within {REPLY_WITHIN} s to {case!r}") from None
        if isinstance(item, Closed):
            raise AssertionError(
                f"the socket was closed ({item.code}) instead of answering {case!r}"
            )
        return item

    async def _closed(self, code: int, case: Case) -> None:
        assert self.peer is not None
        try:
            item = await self.peer.next(self._ambient)
        except TimeoutError:
            raise AssertionError(f"not closed within {REPLY_WITHIN} s after {case!r}") from None
        assert item == Closed(code), f"{case!r} was followed by {item}, not a close with {code}"
        self.closed_with.append(code)
        await self.drop()

    async def _open(self) -> None:
        self.peer = await self._opener()
        self.strikes = 0

    async def drop(self) -> None:
        peer, self.peer = self.peer, None
        if peer is not None:
            await peer.close()
