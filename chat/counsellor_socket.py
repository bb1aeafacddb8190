"""A counsellor's console socket: status, offers, every chat the counsellor holds, wrap-ups.

The socket is opened with the staff session cookie (checked by the app before this runs). Each
frame is validated (`chat.frames`) and rate limited. Routing frames (status, accept, decline,
end, transfer) become routing events; chat frames (message, note, typing, read, wrap-up) go to
`chat.conversation`. A refused frame comes back as an error frame with a code and changes
nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import structlog

from chat import frames
from chat.connection import CloseCode, Connection
from chat.conversation import Conversations
from chat.frame_gate import FrameGate
from chat.hub import Hub
from chat.rate_limit import TokenBucket
from queueing import events
from queueing.effects import CounsellorStatusChanged
from queueing.model import PolicyError
from queueing.router import Router

log = structlog.stdlib.get_logger(__name__)


class CounsellorSocket:
    """Handles one console connection of one counsellor."""

    def __init__(
        self,
        connection: Connection,
        counsellor_id: str,
        router: Router,
        hub: Hub,
        conversations: Conversations,
        frame_rate: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connection = connection
        self.counsellor_id = counsellor_id
        self._router = router
        self._hub = hub
        self._conversations = conversations
        self._gate = FrameGate(
            connection,
            frames.Role.COUNSELLOR,
            TokenBucket(burst=3 * frame_rate, per_second=frame_rate, tokens=3 * frame_rate),
            clock,
        )

    async def open(self) -> None:
        """Join the hub, end a disconnect grace time if one is running, and say hello with the
        counsellor's routing state and chats."""
        self.connection.hold()  # hello first, whatever the hub hears meanwhile
        try:
            await self._join()
        except Exception:
            # Half joined is no state to stay in: the console reconnects and tries again.
            log.exception("ws.join_failed", role="counsellor")
            self.connection.close(CloseCode.INTERNAL_ERROR)

    async def _join(self) -> None:
        self._hub.add_counsellor(self.counsellor_id, self.connection)
        await self._hub.presence.join("counsellor", self.counsellor_id, self.connection)
        # Refused when no grace time runs: a first connection, or a second console.
        with contextlib.suppress(PolicyError):
            await self._router.submit(events.CounsellorReconnected(self.counsellor_id))
        chats = await self._hub.counsellor_chats(self.counsellor_id, self.connection)
        me = await self._router.queue.counsellor(self.counsellor_id)
        if me is not None:
            self._hub.note_status(self.counsellor_id, str(me.status))
        self.connection.release(
            frames.server_frame(
                "hello",
                counsellor_id=self.counsellor_id,
                status=None if me is None else str(me.status),
                capacity=None if me is None else me.capacity,
                auto_accept=None if me is None else me.auto_accept,
                chats=chats,
                offer=await self._hub.pending_offer(
                    self.counsellor_id, None if me is None else me.offer
                ),
            )
        )

    async def close(self) -> None:
        """Leave the hub; the last console of the counsellor going starts the grace time."""
        self._conversations.live.unfollow_all(self.connection)
        last_here = self._hub.remove_counsellor(self.counsellor_id, self.connection)
        me = self.counsellor_id
        if await self._hub.last_anywhere("counsellor", me, self.connection, last_here):
            # Refused when already offline, or already disconnected elsewhere.
            with contextlib.suppress(PolicyError):
                await self._router.submit(events.CounsellorDisconnected(self.counsellor_id))

    async def handle(self, raw: str | bytes) -> None:
        """Validate and carry out one frame."""
        await self._gate.handle(raw, self._carry_out)

    async def _carry_out(self, frame: frames.ClientFrame) -> None:
        me = self.counsellor_id
        match frame:
            case frames.Ping():
                self.connection.send(frames.server_frame("pong"))
            case frames.SetStatus(status=status):
                changes = await self._router.submit(events.SetStatus(me, status))
                if not any(isinstance(change, CounsellorStatusChanged) for change in changes):
                    # Already so: say it, or the console waits for an answer that never comes.
                    self.connection.send(
                        frames.server_frame("status", status=status, reason="unchanged")
                    )
            case frames.SetAutoAccept(enabled=enabled):
                await self._router.submit(events.SetAutoAccept(me, enabled))
                self._hub.to_counsellor(me, "auto_accept", enabled=enabled)
            case frames.Accept(chat_id=chat_id):
                await self._router.submit(events.AcceptOffer(chat_id, me))
            case frames.Decline(chat_id=chat_id):
                await self._router.submit(events.DeclineOffer(chat_id, me))
            case frames.End(chat_id=chat_id):
                await self._router.submit(events.EndChat(chat_id, me))
            case frames.Transfer(chat_id=chat_id, counsellor_id=target, queue=queue):
                if target is not None:
                    await self._router.submit(events.TransferToCounsellor(chat_id, me, target))
                else:
                    assert queue is not None
                    await self._router.submit(events.TransferToQueue(chat_id, me, queue))
            case frames.Resume(last_seqs=last_seqs):
                live = self._conversations.live
                for chat_id in await live.resume(self.connection, dict(last_seqs)):
                    self.connection.send(
                        frames.server_frame("chat_removed", chat_id=chat_id, reason="not_yours")
                    )
            case _:
                await self._conversations.counsellor_says(self.connection, me, frame)
