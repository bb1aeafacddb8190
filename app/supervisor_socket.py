"""A supervisor's dashboard socket: the live dashboard, capacity and away for counsellors, and a
read-only view of a chat.

Opened with the staff session cookie of a supervisor or an admin (checked in `app.sockets`).
Frames are validated and rate limited like the other sockets' (`chat.frame_gate`). What a
supervisor changes is written to the audit log in the same transaction that records it, and the
routing change is made inside that transaction: if the router refuses, nothing is recorded.
Observing a chat is recorded in the audit log before a word of it is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import asyncpg
import structlog

from app.audit import record
from app.dashboard import Dashboard
from chat import frames
from chat.connection import Connection
from chat.frame_gate import FrameGate
from chat.live import OBSERVER, LiveChats
from chat.rate_limit import TokenBucket
from queueing import events
from queueing.model import UNANSWERED, ChatStatus, CounsellorStatus, ErrorCode, PolicyError
from queueing.router import Router

log = structlog.stdlib.get_logger(__name__)

# Chats one dashboard socket may observe at once: a supervisor reads a chat or two, never a
# whole queue of them.
MAX_OBSERVED = 5
OBSERVABLE = UNANSWERED | {ChatStatus.ACTIVE}


class SupervisorSocket:
    """Handles one dashboard connection of one supervisor (or admin)."""

    def __init__(
        self,
        connection: Connection,
        user_id: int,
        address: str | None,
        db: asyncpg.Pool,
        router: Router,
        live: LiveChats,
        dashboard: Dashboard,
        frame_rate: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connection = connection
        self.user_id = user_id
        self._address = address
        self._db = db
        self._router = router
        self._live = live
        self._dashboard = dashboard
        self._gate = FrameGate(
            connection,
            frames.Role.SUPERVISOR,
            TokenBucket(burst=3 * frame_rate, per_second=frame_rate, tokens=3 * frame_rate),
            clock,
        )

    def open(self) -> None:
        self._dashboard.add(self.connection)

    def close(self) -> None:
        self._dashboard.remove(self.connection)
        self._live.unfollow_all(self.connection)

    async def handle(self, raw: str | bytes) -> None:
        await self._gate.handle(raw, self._carry_out)

    async def _carry_out(self, frame: frames.ClientFrame) -> None:
        match frame:
            case frames.Ping():
                self.connection.send(frames.server_frame("pong"))
            case frames.SetCapacity(counsellor_id=counsellor_id, capacity=capacity):
                await self._set_capacity(counsellor_id, capacity)
            case frames.SetAway(counsellor_id=counsellor_id):
                await self._set_away(counsellor_id)
            case frames.Observe(chat_id=chat_id):
                await self._observe(chat_id)
            case frames.StopObserving(chat_id=chat_id):
                self._live.unfollow(chat_id, self.connection)
                self.connection.send(frames.server_frame("observing_stopped", chat_id=chat_id))
            case _:
                raise frames.FrameError(frames.ErrorCode.UNKNOWN_TYPE, "unknown frame type")

    async def _set_capacity(self, counsellor_id: str, capacity: int) -> None:
        async with self._db.acquire() as conn, conn.transaction():
            was = await conn.fetchval(
                """SELECT capacity FROM users WHERE id = $1 AND role = 'counsellor'
                   FOR UPDATE""",
                int(counsellor_id),
            )
            if was is None:
                raise PolicyError(ErrorCode.UNKNOWN_COUNSELLOR, "no such counsellor")
            await conn.execute(
                "UPDATE users SET capacity = $2, updated_at = now() WHERE id = $1",
                int(counsellor_id),
                capacity,
            )
            await self._audit(conn, "counsellor.capacity_set", counsellor_id, capacity, was)
            await self._router.submit(events.SetCapacity(counsellor_id, capacity))
        self.connection.send(
            frames.server_frame(
                "applied", action="set_capacity", counsellor_id=counsellor_id, capacity=capacity
            )
        )

    async def _set_away(self, counsellor_id: str) -> None:
        counsellor = await self._router.queue.counsellor(counsellor_id)
        if counsellor is None:
            raise PolicyError(ErrorCode.UNKNOWN_COUNSELLOR, "no such counsellor")
        if counsellor.status is CounsellorStatus.OFFLINE:
            raise frames.FrameError(frames.ErrorCode.NOT_ALLOWED, "the counsellor is not signed in")
        async with self._db.acquire() as conn, conn.transaction():
            await self._audit(conn, "counsellor.set_away", counsellor_id)
            await self._router.submit(events.SetStatus(counsellor_id, "away"))
        self.connection.send(
            frames.server_frame("applied", action="set_away", counsellor_id=counsellor_id)
        )

    async def _audit(
        self,
        conn: asyncpg.Connection,
        action: str,
        counsellor_id: str,
        capacity: int | None = None,
        was: int | None = None,
    ) -> None:
        detail = {} if capacity is None else {"capacity": capacity, "was": was}
        await record(
            conn,
            action,
            actor_user_id=self.user_id,
            target_type="user",
            target_id=counsellor_id,
            detail=detail,
            address=self._address,
        )

    async def _observe(self, chat_id: str) -> None:
        if self._live.follows(chat_id, self.connection):
            return  # already observing: the view is live
        if len(self._live.followed_by(self.connection)) >= MAX_OBSERVED:
            raise frames.FrameError(
                frames.ErrorCode.NOT_ALLOWED, f"observe at most {MAX_OBSERVED} chats at once"
            )
        standing = await self._router.queue.standing(chat_id)
        if standing is None:
            raise PolicyError(ErrorCode.UNKNOWN_CHAT, "no such chat")
        if standing[0] not in OBSERVABLE:
            raise frames.FrameError(frames.ErrorCode.CHAT_CLOSED, "the chat has ended")
        async with self._db.acquire() as conn:
            await record(
                conn,
                "chat.observe",
                actor_user_id=self.user_id,
                target_type="chat",
                target_id=chat_id,
                address=self._address,
            )
        log.info("supervisor.observe", chat=chat_id)
        self.connection.send(frames.server_frame("observing", chat_id=chat_id))
        await self._live.follow(chat_id, self.connection, OBSERVER, after=0)
