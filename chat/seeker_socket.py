"""A seeker's chat socket: authenticated by the resume token in its first frame, never the URL.

The seeker hears their place in line, the move to the national team, the counsellor's name when
answered, the conversation, and the end. The first frame names the last message the client
has; everything after it follows, then the live stream. A dropped connection while waiting
starts the grace time; coming back within it (a reload, a tunnel) keeps the place.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

from chat import frames
from chat.connection import CloseCode, Connection
from chat.conversation import Conversations
from chat.frame_gate import FrameGate
from chat.hub import Hub
from chat.live import SEEKER
from chat.rate_limit import TokenBucket
from chat.store import ChatRecord
from queueing import events
from queueing.model import PolicyError
from queueing.router import Router

log = structlog.stdlib.get_logger(__name__)

# The first frame must authenticate within this: long enough for a slow phone, short enough
# that an idle unauthenticated socket does not hold a slot.
AUTH_TIMEOUT = 10.0

TokenCheck = Callable[[str], Awaitable[ChatRecord | None]]


class SeekerSocket:
    """Handles one seeker connection, from its authenticating first frame to its end."""

    def __init__(
        self,
        connection: Connection,
        check_token: TokenCheck,
        router: Router,
        hub: Hub,
        conversations: Conversations,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connection = connection
        self._check_token = check_token
        self._router = router
        self._hub = hub
        self._conversations = conversations
        self._gate = FrameGate(connection, frames.Role.SEEKER, TokenBucket(), clock)
        self.chat: ChatRecord | None = None

    @property
    def chat_id(self) -> str | None:
        return None if self.chat is None else str(self.chat.id)

    async def expire_unauthenticated(self) -> None:
        """Close the socket if its first frame has not authenticated it in time."""
        await asyncio.sleep(AUTH_TIMEOUT)
        if self.chat is None:
            self.connection.close(CloseCode.AUTH_TIMEOUT)

    async def close(self) -> None:
        chat_id = self.chat_id
        self._conversations.live.unfollow_all(self.connection)
        if chat_id is None:
            return
        last_here = self._hub.remove_seeker(chat_id, self.connection)
        if await self._hub.last_anywhere("seeker", chat_id, self.connection, last_here):
            # Refused unless the chat is still waiting: an answered chat has its own grace.
            with contextlib.suppress(PolicyError):
                await self._router.submit(events.SeekerDisconnected(chat_id))

    async def handle(self, raw: str | bytes) -> None:
        """Validate and carry out one frame: the first must authenticate."""
        await self._gate.handle(raw, self._dispatch)

    async def _dispatch(self, frame: frames.ClientFrame) -> None:
        if self.chat is None:
            await self._authenticate(frame)
        else:
            await self._carry_out(frame, self.chat_id or "")

    async def _authenticate(self, frame: frames.ClientFrame) -> None:
        if not isinstance(frame, frames.Auth):
            raise frames.FrameError(
                frames.ErrorCode.NOT_AUTHENTICATED, "the first frame must be 'auth'"
            )
        try:
            chat = await self._check_token(frame.token)
        except frames.FrameError as refusal:  # too many wrong tokens from this address
            self.connection.send(frames.error_frame(refusal))
            self.connection.close(CloseCode.POLICY_VIOLATION)
            return
        if chat is None:
            self._gate.send_error(
                frames.FrameError(frames.ErrorCode.BAD_TOKEN, "unknown or expired token")
            )
            self.connection.close(CloseCode.NOT_AUTHENTICATED)
            return
        chat_id = str(chat.id)
        try:
            # Where the router has the chat now (the record may lag it by a moment). Join the
            # hub first: whatever happens from here arrives as frames; what happened before,
            # `greet_seeker` tells.
            routed = await self._router.queue.chat(chat_id)
            state = str(routed.status) if routed is not None else chat.state
            waiting = state in ("waiting", "offered")
            self._hub.add_seeker(chat_id, self.connection, waiting=waiting)
            await self._hub.presence.join("seeker", chat_id, self.connection)
            self.connection.send(
                frames.server_frame("welcome", chat_id=chat_id, state=state, last_seq=chat.last_seq)
            )
            await self._hub.greet_seeker(chat_id, routed)
            if waiting:
                # Refused when no grace time runs (a first connection): nothing to cancel.
                with contextlib.suppress(PolicyError):
                    await self._router.submit(events.SeekerReconnected(chat_id))
            await self._conversations.live.follow(
                chat_id, self.connection, SEEKER, after=frame.last_seq
            )
        except Exception:
            # Half joined is no state to stay in: the client reconnects and tries again.
            log.exception("ws.join_failed", role="seeker")
            self._conversations.live.unfollow_all(self.connection)
            self._hub.remove_seeker(chat_id, self.connection)
            with contextlib.suppress(Exception):
                await self._hub.presence.leave("seeker", chat_id, self.connection)
            self.connection.close(CloseCode.INTERNAL_ERROR)
            return
        self.chat = chat

    async def _carry_out(self, frame: frames.ClientFrame, chat_id: str) -> None:
        match frame:
            case frames.Ping():
                self.connection.send(frames.server_frame("pong"))
            case frames.Leave():
                await self._router.submit(events.SeekerLeft(chat_id))
            case frames.Auth():
                raise frames.FrameError(frames.ErrorCode.NOT_ALLOWED, "already authenticated")
            case _:
                await self._conversations.seeker_says(self.connection, chat_id, frame)
