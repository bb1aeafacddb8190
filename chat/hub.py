"""This instance's sockets, and the routing effects each of them must hear about.

Every instance follows the routing effects stream (`queueing.effect_feed`); the hub turns each
effect into frames for the sockets it holds here: an offer for a counsellor connected to this
instance, a "you are next" for a seeker waiting here. Places in line are recomputed for local
waiting seekers after any change, at most every `POSITION_INTERVAL` seconds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import redis.asyncio as redis
import structlog

from chat.connection import Sink
from chat.counsellor_records import awaiting_wrap_up
from chat.frames import server_frame
from chat.live import COUNSELLOR, LiveChats
from chat.presence import Presence
from chat.store import last_seq
from queueing.effects import (
    ChatAbandoned,
    ChatAssigned,
    ChatEnded,
    ChatOverflowed,
    ChatQueued,
    ChatRequeued,
    CounsellorCapacityChanged,
    CounsellorStatusChanged,
    Effect,
    OfferMade,
    OfferWithdrawn,
)
from queueing.model import NATIONAL, UNANSWERED, Chat, ChatStatus
from queueing.redis_queue import RedisQueue

log = structlog.stdlib.get_logger(__name__)

# A seeker's place is recomputed at most this often: places change with every arrival and
# answer, and a seeker reading "3rd in line" needs it fresh to the second, not to the millisecond.
POSITION_INTERVAL = 0.5
# A console's queue summary (waiting chats and the oldest wait) is sent at most this often: it
# is glanced at, and with many consoles each round reads every line the consoles serve.
SUMMARY_INTERVAL = 1.0


def ended_by(end_reason: str | None, status: ChatStatus) -> tuple[str | None, str]:
    """Who ended a closed chat and why, as an `ended` frame says it, from the record's
    `end_reason` (None while the record has not caught up with the router)."""
    if end_reason in ("by_counsellor", "by_seeker"):
        return end_reason.removeprefix("by_"), "ended"
    if end_reason is not None:
        return "seeker", end_reason  # abandoned: left, disconnected; or deleted
    return ("seeker" if status is ChatStatus.ABANDONED else None), "ended"


class Hub:
    """Local sockets by counsellor id and by chat id."""

    def __init__(
        self,
        db: asyncpg.Pool,
        queue: RedisQueue,
        live: LiveChats,
        presence: Presence,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._queue = queue
        self.live = live
        self.presence = presence
        self._clock = clock
        self._following: set[asyncio.Task[None]] = set()
        self.counsellors: dict[str, set[Sink]] = {}
        self.seekers: dict[str, set[Sink]] = {}
        self._waiting: set[str] = set()  # local seekers' chats that are unanswered
        self._last_place: dict[str, tuple[str, int, float | None]] = {}
        self._positions_dirty = asyncio.Event()
        self._summaries_dirty = asyncio.Event()
        self._served: dict[str, list[str]] = {}  # counsellor -> the queues they serve
        self._last_summary: dict[str, list[dict[str, Any]]] = {}
        self._statuses: dict[str, str] = {}  # local counsellor -> their last known status

    # ------------------------------------------------------------------ registry

    def add_counsellor(self, counsellor_id: str, sink: Sink) -> None:
        self.counsellors.setdefault(counsellor_id, set()).add(sink)
        self._last_summary.pop(counsellor_id, None)  # the new console needs one too
        self._summaries_dirty.set()

    def remove_counsellor(self, counsellor_id: str, sink: Sink) -> bool:
        """Forget a socket; True when it was the counsellor's last one on this instance."""
        sinks = self.counsellors.get(counsellor_id, set())
        sinks.discard(sink)
        if not sinks:
            self.counsellors.pop(counsellor_id, None)
            self._last_summary.pop(counsellor_id, None)
            self._statuses.pop(counsellor_id, None)
            return True
        return False

    def add_seeker(self, chat_id: str, sink: Sink, waiting: bool) -> None:
        self.seekers.setdefault(chat_id, set()).add(sink)
        if waiting:
            self._waiting.add(chat_id)
            self._last_place.pop(chat_id, None)
            self._positions_dirty.set()

    def remove_seeker(self, chat_id: str, sink: Sink) -> bool:
        sinks = self.seekers.get(chat_id, set())
        sinks.discard(sink)
        if not sinks:
            self.seekers.pop(chat_id, None)
            self._waiting.discard(chat_id)
            self._last_place.pop(chat_id, None)
            return True
        return False

    async def greet_seeker(self, chat_id: str, chat: Chat | None) -> None:
        """Tell a seeker who just joined what the router already did with their chat (they may
        have been answered, or the chat may have ended, before their socket opened)."""
        if chat is None:
            return
        if chat.status is ChatStatus.ACTIVE and chat.counsellor_id is not None:
            self._answered(chat_id)
            name = await self._display_name(chat.counsellor_id)
            self.to_seeker(chat_id, "assigned", counsellor=name)
        elif chat.status in UNANSWERED and chat.overflowed:
            self.to_seeker(chat_id, "overflowed")
        elif chat.status in (ChatStatus.ENDED, ChatStatus.ABANDONED):
            self._answered(chat_id)
            row = await self._db.fetchrow(
                "SELECT end_reason, last_seq FROM chat_sessions WHERE id = $1", uuid.UUID(chat_id)
            )
            by, reason = ended_by(None if row is None else row["end_reason"], chat.status)
            last = 0 if row is None else int(row["last_seq"])
            self.to_seeker(chat_id, "ended", by=by, reason=reason, last_seq=last)

    async def last_anywhere(
        self, role: str, subject: str, connection: Sink, last_here: bool
    ) -> bool:
        """Whether a socket that just closed was the person's last one on any instance.
        Without Redis, this instance's own count is the best there is."""
        try:
            return await self.presence.leave(role, subject, connection)
        except (OSError, redis.RedisError):
            log.warning("presence.unknown", exc_info=True)
            return last_here

    def note_status(self, counsellor_id: str, status: str) -> None:
        """Remember a local counsellor's status (told again after a rebuild of the state)."""
        if counsellor_id in self.counsellors:
            self._statuses[counsellor_id] = status

    def connected_statuses(self) -> dict[str, str | None]:
        """Every counsellor with a console here, and the status they last had."""
        return {cid: self._statuses.get(cid) for cid in self.counsellors}

    async def counsellor_chats(self, counsellor_id: str, sink: Sink) -> list[dict[str, Any]]:
        """The chats a console opening now shows: those the counsellor holds, then those they
        ended without a wrap-up. The socket follows each, sending nothing until the console's
        `resume` says what it has."""
        holder = await self._queue.counsellor(counsellor_id)
        active = sorted(holder.active) if holder is not None else []
        async with self._db.acquire() as conn:
            ended = [str(c) for c in await awaiting_wrap_up(conn, int(counsellor_id))]
        chats = []
        for chat_id, state in [*((c, "active") for c in active), *((c, "wrap_up") for c in ended)]:
            await self.live.follow(chat_id, sink, COUNSELLOR, after=None)
            chats.append({**await self._chat_fields(chat_id), "state": state})
        return chats

    # ------------------------------------------------------------------ sending

    def to_counsellor(self, counsellor_id: str, frame_type: str, **fields: Any) -> None:
        sinks = self.counsellors.get(counsellor_id)
        if sinks:
            text = server_frame(frame_type, **fields)
            for sink in list(sinks):
                sink.send(text)

    def to_seeker(self, chat_id: str, frame_type: str, **fields: Any) -> None:
        sinks = self.seekers.get(chat_id)
        if sinks:
            text = server_frame(frame_type, chat_id=chat_id, **fields)
            for sink in list(sinks):
                sink.send(text)

    # ------------------------------------------------------------------ effects

    async def on_effect(self, effect: Effect, at: float) -> None:
        """Carry one routing effect, made by the router at `at`, to the sockets on this instance
        that it concerns."""
        match effect:
            case OfferMade():
                if effect.transferred_from is not None:
                    self._hand_over(effect.chat_id, effect.transferred_from, "transfer")
                if effect.counsellor_id in self.counsellors:
                    # When the router offered it and when this instance relayed it: the
                    # console shows how long ago it was offered, and the benchmark measures it.
                    relayed = self._clock()
                    fields = await self._offer_fields(effect)
                    self.to_counsellor(
                        effect.counsellor_id, "offer", routed_at=at, relayed_at=relayed, **fields
                    )
            case OfferWithdrawn():
                self.to_counsellor(
                    effect.counsellor_id,
                    "offer_withdrawn",
                    chat_id=effect.chat_id,
                    reason=str(effect.reason),
                )
            case ChatAssigned():
                self._answered(effect.chat_id)
                if effect.counsellor_id in self.counsellors:
                    fields = await self._chat_fields(effect.chat_id)
                    self.to_counsellor(
                        effect.counsellor_id,
                        "chat_assigned",
                        auto_accepted=effect.auto_accepted,
                        **fields,
                    )
                    # The whole conversation so far follows: what the seeker wrote while
                    # waiting, or the transcript and notes of a transferred chat.
                    for sink in list(self.counsellors.get(effect.counsellor_id, ())):
                        self._follow(effect.chat_id, sink)
                if effect.chat_id in self.seekers:
                    name = await self._display_name(effect.counsellor_id)
                    self.to_seeker(effect.chat_id, "assigned", counsellor=name)
            case ChatOverflowed():
                self.to_seeker(effect.chat_id, "overflowed")
            case ChatQueued():
                self._positions_dirty.set()
            case ChatRequeued():
                self._hand_over(effect.chat_id, effect.from_counsellor, str(effect.reason))
            case ChatAbandoned():
                self._answered(effect.chat_id)
                if effect.chat_id in self.seekers:
                    self.to_seeker(
                        effect.chat_id,
                        "ended",
                        by="seeker",
                        reason=str(effect.reason),
                        last_seq=await self._last_seq(effect.chat_id),
                    )
            case ChatEnded():
                # The end travels the effects stream, the last messages pub/sub: `last_seq`
                # tells a client whether a message is still on its way.
                if effect.counsellor_id in self.counsellors or effect.chat_id in self.seekers:
                    last = await self._last_seq(effect.chat_id)
                    self.to_counsellor(
                        effect.counsellor_id,
                        "chat_ended",
                        chat_id=effect.chat_id,
                        by=str(effect.by),
                        last_seq=last,
                    )
                    self.to_seeker(
                        effect.chat_id, "ended", by=str(effect.by), reason="ended", last_seq=last
                    )
            case CounsellorCapacityChanged():
                self.to_counsellor(effect.counsellor_id, "capacity", capacity=effect.capacity)
            case CounsellorStatusChanged():
                self.note_status(effect.counsellor_id, str(effect.status))
                self.to_counsellor(
                    effect.counsellor_id,
                    "status",
                    status=str(effect.status),
                    reason=str(effect.reason),
                )
        self._positions_dirty.set()
        self._summaries_dirty.set()

    def _hand_over(self, chat_id: str, counsellor_id: str, reason: str) -> None:
        """The counsellor no longer holds the chat (it went back to a queue, or is offered to
        a colleague): their consoles drop it, and the seeker waits again."""
        self.to_counsellor(counsellor_id, "chat_removed", chat_id=chat_id, reason=reason)
        for sink in list(self.counsellors.get(counsellor_id, ())):
            self.live.unfollow(chat_id, sink)
        if chat_id in self.seekers:
            self._waiting.add(chat_id)
            self.to_seeker(chat_id, "requeued", reason=reason)

    def _follow(self, chat_id: str, sink: Sink) -> None:
        task = asyncio.create_task(self.live.follow(chat_id, sink, COUNSELLOR, after=0))
        self._following.add(task)
        task.add_done_callback(self._following.discard)

    def _answered(self, chat_id: str) -> None:
        self._waiting.discard(chat_id)
        self._last_place.pop(chat_id, None)

    async def _offer_fields(self, effect: OfferMade) -> dict[str, Any]:
        return {
            **await self._chat_fields(effect.chat_id),
            "deadline": effect.deadline,
            "transferred": effect.transferred_from is not None,
        }

    async def _chat_fields(self, chat_id: str) -> dict[str, Any]:
        """What a console shows about a chat, its content aside."""
        row = await self._db.fetchrow(
            """SELECT county_number, language, topic, created_at, overflowed_at
               FROM chat_sessions WHERE id = $1""",
            uuid.UUID(chat_id),
        )
        fields: dict[str, Any] = {"chat_id": chat_id}
        if row is not None:
            fields.update(
                county=row["county_number"],
                language=row["language"],
                topic=row["topic"],
                waiting_since=row["created_at"].timestamp(),
                overflowed=row["overflowed_at"] is not None,
            )
        # The router knows of an overflow at once; the record a moment later.
        routed = await self._queue.chat(chat_id)
        if routed is not None:
            fields["overflowed"] = routed.overflowed
        return fields

    async def pending_offer(self, counsellor_id: str, chat_id: str | None) -> dict[str, Any] | None:
        """The offer waiting for the counsellor's answer, as an `offer` frame's fields: a
        console opening meanwhile must be able to answer it."""
        if chat_id is None:
            return None
        routed = await self._queue.chat(chat_id)
        if routed is None or routed.offer is None or routed.offer.counsellor_id != counsellor_id:
            return None
        return {
            **await self._chat_fields(chat_id),
            "deadline": routed.offer.deadline,
            "transferred": routed.offer.transferred_from is not None,
        }

    async def _last_seq(self, chat_id: str) -> int:
        async with self._db.acquire() as conn:
            return await last_seq(conn, uuid.UUID(chat_id))

    async def _display_name(self, counsellor_id: str) -> str:
        name = await self._db.fetchval(
            "SELECT display_name FROM users WHERE id = $1", int(counsellor_id)
        )
        return str(name) if name is not None else ""

    # ------------------------------------------------------------------ places in line

    async def run_positions(self) -> None:
        """Send each local waiting seeker their place whenever it changes; until cancelled."""
        while True:
            await self._positions_dirty.wait()
            self._positions_dirty.clear()
            # Every local seeker's place in one read: one call per seeker would be a round trip
            # each, thousands after every change with thousands waiting here.
            try:
                places = await self._queue.positions(self._waiting, self._clock())
            except Exception:  # a Redis hiccup: try again on the next change
                log.exception("chat.position_failed")
                places = {}
            for chat_id, place in places.items():
                figure = (place.pool, place.position, place.expected_wait)
                if self._last_place.get(chat_id) != figure and chat_id in self._waiting:
                    self._last_place[chat_id] = figure
                    self.to_seeker(
                        chat_id,
                        "queue",
                        position=place.position,
                        national=place.pool == "national",
                        expected_wait=place.expected_wait,
                    )
            await asyncio.sleep(POSITION_INTERVAL)

    # ------------------------------------------------------------------ queue summaries

    async def run_queue_summaries(self) -> None:
        """Tell each local console how many chats wait in the queues its counsellor serves,
        and since when, whenever that changes; until cancelled."""
        while True:
            await self._summaries_dirty.wait()
            self._summaries_dirty.clear()
            try:
                await self._send_summaries()
            except Exception:  # a Redis hiccup: try again on the next change
                log.exception("chat.queue_summary_failed")
            await asyncio.sleep(SUMMARY_INTERVAL)

    async def _send_summaries(self) -> None:
        served = {cid: await self._queues_served(cid) for cid in list(self.counsellors)}
        queues = sorted({queue for found in served.values() for queue in found})
        figures = await self._queue.waiting(queues) if queues else {}
        for counsellor_id, found in served.items():
            summary = [
                {"queue": queue, "waiting": figures[queue][0], "oldest_since": figures[queue][1]}
                for queue in found
            ]
            if self._last_summary.get(counsellor_id) != summary:
                self._last_summary[counsellor_id] = summary
                self.to_counsellor(counsellor_id, "queue_summary", queues=summary)

    async def _queues_served(self, counsellor_id: str) -> list[str]:
        """The counsellor's county queue, then the national one if they are on the team."""
        found = self._served.get(counsellor_id)
        if found is None:
            counsellor = await self._queue.counsellor(counsellor_id)
            found = []
            if counsellor is not None and counsellor.centre is not None:
                found.append(counsellor.centre)
            if counsellor is not None and counsellor.national:
                found.append(NATIONAL)
            self._served[counsellor_id] = found
        return found
