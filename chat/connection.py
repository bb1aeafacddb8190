"""One WebSocket connection: one reader, one writer, a bounded send queue, a close code per reason.

Frames to the client go through `send`, which never blocks: a client that cannot keep up fills
its queue and is disconnected (it resumes from its last sequence number when it comes back)
rather than slowing everyone who shares an instance with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Protocol

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect

log = structlog.stdlib.get_logger(__name__)

# Frames queued for one client before it counts as too slow: a few seconds of a busy chat.
SEND_BUFFER = 512
# A bulk send (a resume's history) waits for the client to read while the queue is half full;
# a client that reads nothing for this long is too slow.
BULK_PATIENCE_SECONDS = 10.0


class CloseCode(IntEnum):
    """Why the server closed a socket. 1xxx are RFC 6455 codes, 4xxx are eguide's own.

    The server's WebSocket layer also closes with 1009 (a frame over 64 KiB) and, when the
    server shuts down, 1012 (reconnect, to another instance). A disallowed Origin never gets a
    socket: its handshake is refused with HTTP 403.
    """

    NORMAL = 1000
    POLICY_VIOLATION = 1008  # persistent abuse: a long run of refused frames
    INTERNAL_ERROR = 1011  # joining failed half way (a database or Redis failure); reconnect
    TOO_SLOW = 4008  # the send queue overflowed; reconnect and resume
    NOT_AUTHENTICATED = 4401  # no valid session or token
    FORBIDDEN = 4403  # signed in, but not allowed this socket
    AUTH_TIMEOUT = 4408  # the first frame did not authenticate in time
    SESSION_ENDED = 4410  # the staff session was ended (sign-out, account disabled)


FrameHandler = Callable[[str | bytes], Awaitable[None]]


class Sink(Protocol):
    """Anything frames can be sent to: a connection, or a test's recorder."""

    def send(self, text: str) -> None: ...

    async def send_in_turn(self, text: str) -> None: ...

    def fail(self) -> None: ...


class Connection:
    """A socket's writer task and bounded queue; `serve` runs the reader until the end.

    `on_error_frame` hears the code of every error frame sent (the app counts them for
    `/metrics`); it must not block."""

    def __init__(
        self,
        websocket: WebSocket,
        send_buffer: int = SEND_BUFFER,
        on_error_frame: Callable[[str], None] | None = None,
    ) -> None:
        self.websocket = websocket
        self._on_error_frame = on_error_frame
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=send_buffer)
        self.close_code: CloseCode | None = None
        self._done = asyncio.Event()
        self._room = asyncio.Event()  # set while the queue is under half full
        self._room.set()
        self._held: list[str] | None = None
        self._released = asyncio.Event()  # set unless frames are held back
        self._released.set()

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    def hold(self) -> None:
        """Keep frames back, in order, until `release`: while a socket opens, frames about what
        happens meanwhile must not overtake its first frame. Bulk sends wait meanwhile."""
        self._held = []
        self._released.clear()

    def release(self, first: str) -> None:
        """Send `first`, then every frame held back since `hold`."""
        held, self._held = self._held or [], None
        self.send(first)
        for text in held:
            self.send(text)
        self._released.set()

    def fail(self) -> None:
        """Something this connection needed failed half way (a catch-up's read): close so the
        client reconnects and resumes, rather than wait for what will not come."""
        self.close(CloseCode.INTERNAL_ERROR)

    def send_error(self, code: str, text: str) -> None:
        """Queue an error frame `text` whose error code is `code`."""
        if self._on_error_frame is not None and not self.closing:
            self._on_error_frame(code)
        self.send(text)

    def send(self, text: str) -> None:
        """Queue a frame; a full queue closes the connection as too slow."""
        if self.closing:
            return
        if self._held is not None:
            self._held.append(text)
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("ws.client_too_slow", queued=self._queue.qsize())
            self.close(CloseCode.TOO_SLOW)

    async def send_in_turn(self, text: str) -> None:
        """Queue a frame of a bulk send (a catch-up of many messages): wait while the queue is
        half full, so a long history streams at the client's pace instead of overflowing the
        queue; a client that reads nothing for BULK_PATIENCE_SECONDS is too slow."""
        await self._released.wait()
        if self._queue.qsize() >= self._queue.maxsize // 2:
            self._room.clear()
            try:
                await asyncio.wait_for(self._room.wait(), BULK_PATIENCE_SECONDS)
            except TimeoutError:
                log.warning("ws.client_too_slow", queued=self._queue.qsize())
                self.close(CloseCode.TOO_SLOW)
        self.send(text)

    def close(self, code: CloseCode) -> None:
        """Close after the frames already queued (all of them dropped when closing as too slow)."""
        if self.closing:
            return
        self.close_code = code
        # A slow client loses what is queued (it resumes from its last sequence number); any
        # other close makes room for the end marker only if the queue is full.
        while not self._queue.empty() and (code is CloseCode.TOO_SLOW or self._queue.full()):
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def _write(self) -> None:
        try:
            while (text := await self._queue.get()) is not None:
                if self._queue.qsize() < self._queue.maxsize // 2:
                    self._room.set()
                await self.websocket.send_text(text)
            await self.websocket.close(int(self.close_code or CloseCode.NORMAL))
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client went away first; the reader sees that too
        finally:
            self._done.set()
            self._room.set()  # nothing waits for a queue nobody drains
            self._released.set()

    async def serve(self, handle: FrameHandler) -> None:
        """Read frames and hand each to `handle` until the client leaves or we close."""
        writer = asyncio.create_task(self._write())
        try:
            while not self.closing:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("text")
                if data is None:
                    data = message.get("bytes") or b""
                await handle(data)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            if not self.closing:
                self.close(CloseCode.NORMAL)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._done.wait(), 5)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
