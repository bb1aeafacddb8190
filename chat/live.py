"""Live delivery: each chat's messages and signals to every socket following it, on any instance.

PostgreSQL holds the messages; Redis pub/sub only carries the news of one, with its content, to
every instance. An instance subscribes (on one pub/sub connection) to the channel of each chat
that one of its sockets follows. What each socket is sent is decided by its cursor
(`chat.delivery`): every message once and in order, gaps filled from PostgreSQL.

Contract for publishers: publish a message only after it is committed. Signals (typing, read,
delivered) are not stored and may be lost with a dropped connection; notes are keyed by id and
sent again in full whenever a console catches up, so a console keeps them by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import redis.asyncio as redis
import structlog

from chat.connection import Sink
from chat.counsellor_records import StoredNote, display_name, notes_of
from chat.delivery import Cursor, Phase, Verdict
from chat.frames import server_frame
from chat.publisher import Publisher
from chat.store import StoredMessage, last_seq, messages_after

log = structlog.stdlib.get_logger(__name__)

SEEKER = "seeker"
COUNSELLOR = "counsellor"
# A supervisor reading a chat: sees what a console sees (messages with sender ids, notes), but
# takes no part: no delivered or read marks go out for it, and typing signals are not sent to it.
OBSERVER = "observer"
STAFF = frozenset({COUNSELLOR, OBSERVER})

# A channel nobody here follows any more is dropped after this long, not at once: a reload or a
# reconnect follows it again within seconds, and never unsubscribing and resubscribing within one
# round trip keeps the subscription confirmations unambiguous.
IDLE_CHANNEL_SECONDS = 30.0
# The pub/sub connection is pinged this often; silence for LIVENESS_SECONDS means it is dead
# without having said so (a half-open TCP connection), and it is replaced.
PING_SECONDS = 10.0
LIVENESS_SECONDS = 25.0
# After the pub/sub connection failed, wait this long before connecting again.
RECONNECT_DELAY = 0.5
# How long joining a chat waits for Redis to confirm the subscription before going on without.
SUBSCRIBE_TIMEOUT = 5.0
# A catch-up that keeps finding a gap PostgreSQL cannot fill (messages deleted with the
# conversation) gives up after this many reads.
MAX_READS = 5


@dataclass(frozen=True)
class LiveMessage:
    """A stored message as it travels between instances."""

    seq: int
    sender: str
    sender_id: int | None
    name: str | None  # the counsellor's display name; None for the seeker
    text: str | None
    at: float
    client_id: str | None

    @classmethod
    def of(cls, message: StoredMessage, name: str | None) -> LiveMessage:
        return cls(
            seq=message.seq,
            sender=message.sender_role,
            sender_id=message.sender_user_id,
            name=name,
            text=message.body,
            at=message.created_at.timestamp(),
            client_id=message.client_id,
        )


@dataclass(eq=False)
class Follower:
    """One socket following one chat."""

    sink: Sink
    role: str
    cursor: Cursor[LiveMessage] = field(default_factory=Cursor)
    reading: asyncio.Lock = field(default_factory=asyncio.Lock)  # one catch-up at a time


class LiveChats:
    """This instance's followers of chats, and its one pub/sub connection."""

    def __init__(self, client: redis.Redis, db: asyncpg.Pool, prefix: str) -> None:
        self._client = client
        self._publisher = Publisher(client)
        self._db = db
        self._prefix = f"{prefix}live:"
        self._followers: dict[str, dict[Sink, Follower]] = {}
        self._subscribed: dict[str, asyncio.Event] = {}  # channel -> confirmed by Redis
        self._idle_since: dict[str, float] = {}
        self._pubsub: Any = None
        self._heard = time.monotonic()
        self._names: dict[int, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def channel(self, chat_id: str) -> str:
        """The pub/sub channel of one chat (under the deployment's prefix)."""
        return f"{self._prefix}{chat_id}"

    # ------------------------------------------------------------------ following

    def follows(self, chat_id: str, sink: Sink) -> bool:
        return sink in self._followers.get(chat_id, {})

    def followed_by(self, sink: Sink) -> list[str]:
        return [chat_id for chat_id, followers in self._followers.items() if sink in followers]

    async def follow(self, chat_id: str, sink: Sink, role: str, after: int | None) -> None:
        """Follow a chat: from message `after` on, or (None) once `catch_up` says where from.
        Returns once the channel is subscribed and, with `after`, the socket caught up."""
        followers = self._followers.setdefault(chat_id, {})
        follower = followers.get(sink)
        if follower is None:
            follower = followers[sink] = Follower(sink, role)
            self._idle_since.pop(chat_id, None)
        await self._subscribe(chat_id)
        if after is not None and follower.cursor.phase is Phase.WAITING:
            await self.catch_up(chat_id, sink, after)

    def unfollow(self, chat_id: str, sink: Sink) -> None:
        followers = self._followers.get(chat_id)
        if followers is None or followers.pop(sink, None) is None:
            return
        if not followers:
            del self._followers[chat_id]
            self._idle_since[chat_id] = time.monotonic()

    def unfollow_all(self, sink: Sink) -> None:
        for chat_id in self.followed_by(sink):
            self.unfollow(chat_id, sink)

    async def resume(self, sink: Sink, last_seqs: dict[str, int]) -> list[str]:
        """A console says what it has of each chat: catch it up on every chat it follows and
        has not been sent anything of on this connection (what was sent here, the server knows
        better than the client). Returns the chats named that the socket does not follow."""
        for chat_id in self.followed_by(sink):
            follower = self._followers[chat_id][sink]
            if follower.cursor.phase is Phase.WAITING:
                await self.catch_up(chat_id, sink, last_seqs.get(chat_id, 0))
        return [chat_id for chat_id in last_seqs if not self.follows(chat_id, sink)]

    async def catch_up(self, chat_id: str, sink: Sink, after: int | None = None) -> None:
        """Send the socket every message after `after` (None: after what it was last sent),
        then carry on live. After a client's resume (`after` given) a `synced` frame says the
        history is complete, and a console also gets the chat's notes."""
        follower = self._followers.get(chat_id, {}).get(sink)
        if follower is None:
            return
        async with follower.reading:
            if after is not None:
                # A client that claims more than the chat holds (a stale or foreign state)
                # would silently miss what comes next: it gets what follows the real end.
                async with self._db.acquire() as conn:
                    after = min(after, await last_seq(conn, uuid.UUID(chat_id)))
            # Live messages are held from here; whatever they were, the read below sees them.
            follower.cursor.start(after)
            try:
                await self._read_until_live(chat_id, follower)
                if after is None:
                    return
                if follower.role in STAFF:
                    async with self._db.acquire() as conn:
                        notes = await notes_of(conn, uuid.UUID(chat_id))
                    for note in notes:
                        await sink.send_in_turn(await self._note_frame(chat_id, note))
                sink.send(server_frame("synced", chat_id=chat_id, last_seq=follower.cursor.last))
            except (OSError, asyncpg.PostgresError):
                # The client would wait for the rest (or `synced`) for ever: it reconnects and
                # resumes instead.
                log.exception("chat.catch_up_failed", chat=chat_id)
                follower.cursor.phase = Phase.LIVE
                sink.fail()

    async def _read_until_live(self, chat_id: str, follower: Follower) -> None:
        for _ in range(MAX_READS):
            async with self._db.acquire() as conn:
                stored = await messages_after(conn, uuid.UUID(chat_id), follower.cursor.last)
            fetched = [LiveMessage.of(m, await self._name_of(m.sender_user_id)) for m in stored]
            out, again = follower.cursor.settle(fetched)
            for message in out:
                frame = self._message_frame(chat_id, message, follower.role)
                await follower.sink.send_in_turn(frame)
            theirs = [m for m in out if m.sender != follower.role]
            if theirs and follower.role != OBSERVER:
                self._delivered(chat_id, follower, theirs[-1])
            if not again:
                return
            await asyncio.sleep(0.05)
        log.warning("chat.catch_up_gave_up", chat=chat_id)
        follower.cursor.phase = Phase.LIVE

    # ------------------------------------------------------------------ publishing

    async def publish_message(self, chat_id: str, message: StoredMessage) -> None:
        """Tell every follower of the chat about a committed message."""
        live = LiveMessage.of(message, await self._name_of(message.sender_user_id))
        await self._publish(chat_id, {"k": "message", **live.__dict__})

    async def publish_note(self, chat_id: str, note: StoredNote) -> None:
        """Tell the consoles following the chat about a committed note."""
        await self._publish(chat_id, {"k": "note", **await self._note_fields(note)})

    def publish_signal(self, chat_id: str, kind: str, sender: str, **fields: Any) -> None:
        """Typing, read or delivered: passed to the other side's sockets, never stored, and
        sent without waiting for Redis (a signal may be lost; the next one says the same)."""
        payload = {"k": kind, "sender": sender, **fields}
        self._publisher.publish_soon(self.channel(chat_id), json.dumps(payload))

    async def publish_closed(self, chat_id: str) -> None:
        """The chat is wrapped up: consoles following it close it and stop following."""
        await self._publish(chat_id, {"k": "closed"})

    async def publish_deleted(self, chat_id: str) -> None:
        """The seeker deleted the conversation: every screen showing it drops its words, and
        no socket follows it any more."""
        await self._publish(chat_id, {"k": "deleted"})

    async def _publish(self, chat_id: str, payload: dict[str, Any]) -> None:
        await self._publisher.publish(self.channel(chat_id), json.dumps(payload))

    # ------------------------------------------------------------------ receiving

    def _dispatch(self, chat_id: str, payload: dict[str, Any]) -> None:
        followers = self._followers.get(chat_id)
        if not followers:
            return
        kind = payload.pop("k", None)
        if kind == "message":
            self._on_message(chat_id, followers, LiveMessage(**payload))
        elif kind == "note":
            text = server_frame("note", chat_id=chat_id, **payload)
            for follower in list(followers.values()):
                # Notes never reach a seeker; a console that has not resumed yet gets them with
                # its catch-up.
                if follower.role in STAFF and follower.cursor.phase is not Phase.WAITING:
                    follower.sink.send(text)
        elif kind == "closed":
            text = server_frame("chat_closed", chat_id=chat_id)
            for sink, follower in list(followers.items()):
                if follower.role in STAFF:
                    sink.send(text)
                    self.unfollow(chat_id, sink)
        elif kind == "deleted":
            text = server_frame("chat_deleted", chat_id=chat_id)
            for sink in list(followers):
                sink.send(text)
                self.unfollow(chat_id, sink)
        elif kind in ("typing", "read", "delivered"):
            sender = payload.pop("sender", None)
            text = server_frame(kind, chat_id=chat_id, **payload)
            for follower in list(followers.values()):
                if follower.role not in (sender, OBSERVER):
                    follower.sink.send(text)

    def _on_message(
        self, chat_id: str, followers: dict[Sink, Follower], message: LiveMessage
    ) -> None:
        texts: dict[str, str] = {}  # one rendering per side
        for follower in list(followers.values()):
            verdict = follower.cursor.on_live(message)
            if verdict is Verdict.SEND:
                text = texts.get(follower.role)
                if text is None:
                    text = texts[follower.role] = self._message_frame(
                        chat_id, message, follower.role
                    )
                follower.sink.send(text)
                self._delivered(chat_id, follower, message)
            elif verdict is Verdict.CATCH_UP:
                self._spawn(self.catch_up(chat_id, follower.sink))

    def _delivered(self, chat_id: str, follower: Follower, message: LiveMessage) -> None:
        """The other side's message reached this socket: tell the sender's side."""
        if message.sender != follower.role and follower.role != OBSERVER:
            self.publish_signal(chat_id, "delivered", follower.role, seq=message.seq)

    # ------------------------------------------------------------------ frames

    def _message_frame(self, chat_id: str, message: LiveMessage, role: str) -> str:
        fields: dict[str, Any] = {}
        if role in STAFF and message.sender_id is not None:
            # Consoles tell colleagues apart by id (two may share a name); seekers never see it.
            fields["sender_id"] = str(message.sender_id)
        return server_frame(
            "message",
            chat_id=chat_id,
            seq=message.seq,
            sender=message.sender,
            name=message.name,
            text=message.text,
            at=message.at,
            client_id=message.client_id,
            **fields,
        )

    async def _note_fields(self, note: StoredNote) -> dict[str, Any]:
        return {
            "id": note.id,
            "author": await self._name_of(note.author_id),
            "text": note.body,
            "at": note.created_at.timestamp(),
            "client_id": note.client_id,
        }

    async def _note_frame(self, chat_id: str, note: StoredNote) -> str:
        return server_frame("note", chat_id=chat_id, **await self._note_fields(note))

    async def _name_of(self, user_id: int | None) -> str | None:
        """A staff member's display name, read once per instance; None for the seeker."""
        if user_id is None:
            return None
        name = self._names.get(user_id)
        if name is None:
            async with self._db.acquire() as conn:
                name = self._names[user_id] = await display_name(conn, user_id)
        return name

    # ------------------------------------------------------------------ subscriptions

    async def _subscribe(self, chat_id: str) -> None:
        """Subscribe to the chat's channel and wait for Redis to confirm it (a message
        published after the confirmation reaches us); on a Redis outage, go on after a while:
        the catch-up from PostgreSQL still runs, and the confirmation when Redis is back
        triggers another."""
        channel = self.channel(chat_id)
        ready = self._subscribed.get(channel)
        if ready is None:
            ready = self._subscribed[channel] = asyncio.Event()
            if self._pubsub is not None:
                try:
                    await self._pubsub.subscribe(channel)
                except (OSError, redis.RedisError, RuntimeError):
                    log.warning("chat.subscribe_failed", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), SUBSCRIBE_TIMEOUT)

    def _confirmed(self, channel: str) -> None:
        ready = self._subscribed.get(channel)
        if ready is None:
            return
        ready.set()
        # A socket already live on this chat was subscribed before (a reconnect) or went on
        # without the confirmation: anything published in between was missed, so read it.
        chat_id = channel[len(self._prefix) :]
        for follower in list(self._followers.get(chat_id, {}).values()):
            if follower.cursor.phase is Phase.LIVE:
                self._spawn(self.catch_up(chat_id, follower.sink))

    async def _drop_idle_channels(self) -> None:
        now = time.monotonic()
        idle = [c for c, since in self._idle_since.items() if now - since >= IDLE_CHANNEL_SECONDS]
        channels = []
        for chat_id in idle:
            del self._idle_since[chat_id]
            if chat_id in self._followers:
                continue
            channel = self.channel(chat_id)
            self._subscribed.pop(channel, None)
            channels.append(channel)
        if channels and self._pubsub is not None:
            await self._pubsub.unsubscribe(*channels)

    # ------------------------------------------------------------------ running

    async def run(self) -> None:
        """Publish, and hold the pub/sub connection and dispatch what it brings; until
        cancelled."""
        publishing = asyncio.create_task(self._publisher.run())
        try:
            await self._subscribe_for_ever()
        finally:
            publishing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publishing

    async def _subscribe_for_ever(self) -> None:
        while True:
            self._pubsub = self._client.pubsub()
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("chat.pubsub_lost", exc_info=True)
            finally:
                pubsub, self._pubsub = self._pubsub, None
                for ready in self._subscribed.values():
                    ready.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(RECONNECT_DELAY)

    async def _listen(self) -> None:
        pubsub = self._pubsub
        # A channel of this instance's own keeps the connection subscribed when no chat is.
        await pubsub.subscribe(f"{self._prefix}instance:{uuid.uuid4().hex}")
        if self._subscribed:
            await pubsub.subscribe(*self._subscribed)
        self._heard = time.monotonic()
        keeper = asyncio.create_task(self._keep_alive(pubsub))
        try:
            while True:
                message = await pubsub.get_message(timeout=PING_SECONDS)
                if message is None:
                    continue
                self._heard = time.monotonic()
                kind = message["type"]
                channel = _text(message["channel"]) if message["channel"] is not None else ""
                if kind == "message":
                    self._dispatch(channel[len(self._prefix) :], json.loads(message["data"]))
                elif kind == "subscribe":
                    self._confirmed(channel)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _keep_alive(self, pubsub: Any) -> None:
        while True:
            await asyncio.sleep(PING_SECONDS)
            if time.monotonic() - self._heard > LIVENESS_SECONDS:
                log.warning("chat.pubsub_silent")
                await pubsub.aclose()  # the listener fails and the connection is replaced
                return
            await pubsub.ping()
            await self._drop_idle_channels()

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
