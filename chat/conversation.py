"""What seekers and counsellors say in a chat: messages, notes, typing, read marks, the wrap-up.

Each action is checked against where the chat stands in the router (`chat.access`), committed to
PostgreSQL when it is kept, acknowledged to its sender, and only then published to the chat's
followers (`chat.live`). A refused action raises FrameError and changes nothing.

What PostgreSQL keeps of a message, a note or a wrap-up note is masked (`chat.masking`: identity
numbers, phone numbers, e-mail addresses); what is published live is the text as written, so the
other side of the chat reads it whole while the chat lasts. A later catch-up reads the record,
and so shows the masked copy.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import structlog

from chat import access, frames
from chat.connection import Sink
from chat.counsellor_records import add_note, save_wrap_up
from chat.live import COUNSELLOR, SEEKER, LiveChats
from chat.masking import mask
from chat.store import StoredMessage, append_message, find_by_client_id
from queueing.model import ChatStatus
from queueing.redis_queue import RedisQueue

log = structlog.stdlib.get_logger(__name__)


def _now() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)


class Conversations:
    """The chat actions of one instance's sockets."""

    def __init__(
        self,
        db: asyncpg.Pool,
        queue: RedisQueue,
        live: LiveChats,
        stored: Callable[[str], str] = mask,
    ) -> None:
        self._db = db
        self._queue = queue
        self.live = live
        # Hears the sender's role of every message stored for the first time (the app counts
        # them for `/metrics`); must not block.
        self.on_message_stored: Callable[[str], None] | None = None
        # What PostgreSQL keeps of a text people wrote (`chat.masking.masker`).
        self._stored = stored

    async def standing(self, chat_id: str) -> tuple[ChatStatus | None, str | None]:
        """The chat's routing status and the counsellor who holds (or last held) it. The
        router's view first; once the router has forgotten a closed chat, the record's."""
        found = await self._queue.standing(chat_id)
        if found is not None:
            return found
        async with self._db.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT state, counsellor_id FROM chat_sessions WHERE id = $1",
                uuid.UUID(chat_id),
            )
        if row is None:
            return None, None
        holder = None if row["counsellor_id"] is None else str(row["counsellor_id"])
        return ChatStatus(row["state"]), holder

    # ------------------------------------------------------------------ seekers

    async def seeker_says(self, sink: Sink, chat_id: str, frame: frames.ClientFrame) -> None:
        """Carry out a seeker's message, typing or read frame in their own chat."""
        match frame:
            case frames.SendMessage(client_id=client_id, text=text):
                try:
                    access.require_seeker_open((await self.standing(chat_id))[0])
                except frames.FrameError as refusal:
                    await self._ack_earlier(sink, chat_id, SEEKER, None, client_id, refusal)
                    return
                await self._store_message(sink, chat_id, SEEKER, None, client_id, text)
            case frames.Typing(active=active):
                access.require_seeker_open((await self.standing(chat_id))[0])
                self.live.publish_signal(chat_id, "typing", SEEKER, active=active)
            case frames.Read(seq=seq):
                access.require_seeker_open((await self.standing(chat_id))[0])
                self.live.publish_signal(chat_id, "read", SEEKER, seq=seq)
            case _:
                raise frames.FrameError(frames.ErrorCode.NOT_ALLOWED, "not a chat frame")

    # ------------------------------------------------------------------ counsellors

    async def counsellor_says(
        self, sink: Sink, counsellor_id: str, frame: frames.ClientFrame
    ) -> None:
        """Carry out a counsellor's message, note, typing, read or wrap-up frame."""
        match frame:
            case frames.SendMessage(chat_id=str(chat_id), client_id=client_id, text=text):
                me = int(counsellor_id)
                try:
                    await self._require_active(chat_id, counsellor_id)
                except frames.FrameError as refusal:
                    if frame.note:
                        raise
                    await self._ack_earlier(sink, chat_id, COUNSELLOR, me, client_id, refusal)
                    return
                if frame.note:
                    await self._store_note(sink, chat_id, counsellor_id, client_id, text)
                else:
                    await self._store_message(sink, chat_id, COUNSELLOR, me, client_id, text)
            case frames.Typing(chat_id=str(chat_id), active=active):
                await self._require_active(chat_id, counsellor_id)
                self.live.publish_signal(chat_id, "typing", COUNSELLOR, active=active)
            case frames.Read(chat_id=str(chat_id), seq=seq):
                await self._require_active(chat_id, counsellor_id)
                self.live.publish_signal(chat_id, "read", COUNSELLOR, seq=seq)
            case frames.WrapUp():
                await self._wrap_up(sink, counsellor_id, frame)
            case _:
                raise frames.FrameError(frames.ErrorCode.NOT_ALLOWED, "not a chat frame")

    async def _require_active(self, chat_id: str, counsellor_id: str) -> None:
        status, holder = await self.standing(chat_id)
        access.require_counsellor_active(status, holder, counsellor_id, chat_id)

    async def _ack_earlier(
        self,
        sink: Sink,
        chat_id: str,
        role: str,
        user_id: int | None,
        client_id: str,
        refusal: frames.FrameError,
    ) -> None:
        """A message refused because the chat moved on (it ended, was handed on) may be the
        resend of one stored before: acknowledge that one again; otherwise refuse it."""
        async with self._db.acquire() as conn:
            earlier = await find_by_client_id(conn, uuid.UUID(chat_id), role, user_id, client_id)
        if earlier is None:
            raise refusal
        self._ack(sink, chat_id, earlier)

    async def _wrap_up(self, sink: Sink, counsellor_id: str, frame: frames.WrapUp) -> None:
        status, holder = await self.standing(frame.chat_id)
        access.require_counsellor_ended(status, holder, counsellor_id, frame.chat_id)
        async with self._db.acquire() as conn:
            stored = await save_wrap_up(
                conn,
                chat_id=uuid.UUID(frame.chat_id),
                counsellor_id=int(counsellor_id),
                category=frame.category,
                topics=frame.topics,
                note=self._stored(frame.note),
                now=_now(),
            )
        if not stored:
            raise frames.FrameError(
                frames.ErrorCode.CONFLICT, "the chat has a wrap-up already", frame.chat_id
            )
        log.info("chat.wrapped_up", chat=frame.chat_id, category=frame.category)
        # The console that sent it hears at once; every other console of the counsellor, on
        # any instance, through the chat's channel.
        sink.send(frames.server_frame("chat_closed", chat_id=frame.chat_id))
        self.live.unfollow(frame.chat_id, sink)
        await self.live.publish_closed(frame.chat_id)

    # ------------------------------------------------------------------ storing

    async def _store_message(
        self,
        sink: Sink,
        chat_id: str,
        role: str,
        user_id: int | None,
        client_id: str,
        text: str,
    ) -> None:
        kept = self._stored(text)
        try:
            async with self._db.acquire() as conn:
                stored, new = await append_message(
                    conn,
                    chat_id=uuid.UUID(chat_id),
                    sender_role=role,
                    sender_user_id=user_id,
                    client_id=client_id,
                    body=kept,
                    now=_now(),
                )
        except LookupError:
            raise frames.FrameError(
                frames.ErrorCode.CHAT_CLOSED, "the chat is gone", client_id
            ) from None
        self._ack(sink, chat_id, stored)
        if new:
            # One a message: at info level a busy day's log would be mostly these; `/metrics`
            # counts them.
            log.debug("chat.message_stored", chat=chat_id, role=role, seq=stored.seq)
            if self.on_message_stored is not None:
                self.on_message_stored(role)
        # A resend is published again: if the first copy's publisher died between commit and
        # publish, this is how the other side hears of it; followers drop what they have.
        # Live, the text goes as written; a resend whose text is not the stored message's goes
        # as stored, so a client id never lets a sender change what was said.
        if stored.body == kept:
            stored = dataclasses.replace(stored, body=text)
        await self.live.publish_message(chat_id, stored)

    def _ack(self, sink: Sink, chat_id: str, stored: StoredMessage) -> None:
        sink.send(
            frames.server_frame(
                "ack",
                chat_id=chat_id,
                client_id=stored.client_id,
                seq=stored.seq,
                at=stored.created_at.timestamp(),
            )
        )

    async def _store_note(
        self, sink: Sink, chat_id: str, counsellor_id: str, client_id: str, text: str
    ) -> None:
        try:
            async with self._db.acquire() as conn:
                note, new = await add_note(
                    conn,
                    chat_id=uuid.UUID(chat_id),
                    author_id=int(counsellor_id),
                    client_id=client_id,
                    body=self._stored(text),
                    now=_now(),
                )
        except LookupError:
            raise frames.FrameError(
                frames.ErrorCode.CHAT_CLOSED, "the chat is gone", client_id
            ) from None
        sink.send(
            frames.server_frame(
                "ack",
                chat_id=chat_id,
                client_id=client_id,
                note_id=note.id,
                at=note.created_at.timestamp(),
            )
        )
        if new:
            log.info("chat.note_stored", chat=chat_id)
            # The consoles following the chat read the note as written; a later catch-up
            # reads the masked copy.
            await self.live.publish_note(chat_id, dataclasses.replace(note, body=text))
