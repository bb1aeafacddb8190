"""The live routing of one instance: the shared Redis queue, its timer, the effects feed, the
recorder that writes what happened to PostgreSQL, and rebuilding the queue after Redis lost it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as redis
import structlog

from app.dashboard import Dashboard
from app.dashboard_today import TodayWorker
from app.keys import AppKeys
from app.routing_config import load_routing_config, registration_for
from app.settings import Settings
from app.users import find_user, list_users
from chat.conversation import Conversations
from chat.hub import Hub
from chat.live import LiveChats
from chat.masking import masker
from chat.presence import SWEEP_SECONDS, Presence, to_disconnect
from chat.routing_record import RoutingRecorder
from queueing import policy
from queueing.effect_codec import decode_effects
from queueing.effects import Effect
from queueing.events import (
    ChatArrived,
    CounsellorDisconnected,
    CounsellorReconnected,
    Event,
    RegisterCounsellor,
    SeekerDisconnected,
    SeekerReconnected,
    SetStatus,
)
from queueing.model import Config, PolicyError, State
from queueing.redis_queue import RedisQueue
from queueing.router import Router

log = structlog.stdlib.get_logger(__name__)

# Rebuilding takes a lock so two instances starting together do not both restore; it expires
# by itself in case the holder dies mid-way.
REBUILD_LOCK_SECONDS = 30
# How often an instance checks that Redis still holds the routing state (it keeps nothing on
# disk; a restarted Redis is empty).
STATE_CHECK_INTERVAL = 5.0


async def waiting_chats(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Chats still waiting for a counsellor according to the record, oldest first."""
    return list(
        await conn.fetch(
            """SELECT id, county_number, language, created_at FROM chat_sessions
               WHERE state IN ('waiting', 'offered') AND deleted_at IS NULL
               ORDER BY created_at, id"""
        )
    )


async def answered_chats(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Chats a counsellor is answering according to the record."""
    return list(
        await conn.fetch(
            """SELECT id, county_number, language, created_at, answered_at, counsellor_id
               FROM chat_sessions
               WHERE state = 'active' AND counsellor_id IS NOT NULL AND deleted_at IS NULL
               ORDER BY created_at, id"""
        )
    )


def rebuilt_state(
    config: Config,
    registrations: list[RegisterCounsellor],
    chats: list[asyncpg.Record],
    answered: Sequence[asyncpg.Record] = (),
    now: float = 0.0,
) -> State:
    """The routing state as the record describes it: every counsellor (offline until their
    console reconnects), every chat being answered back with its counsellor (who has the grace
    time to show their console is still open), and every waiting chat in its original order,
    with its original wait."""
    state = State(config)
    for registration in registrations:
        policy.apply(state, registration, 0.0)
    for chat in answered:
        try:
            policy.restore_answered(
                state,
                ChatArrived(str(chat["id"]), chat["county_number"], chat["language"]),
                str(chat["counsellor_id"]),
                arrived=chat["created_at"].timestamp(),
                answered=(chat["answered_at"] or chat["created_at"]).timestamp(),
                now=now,
            )
        except PolicyError as error:
            log.warning("routing.rebuild_skipped_chat", code=str(error.code))
    for chat in chats:
        arrived = chat["created_at"].timestamp()
        try:
            policy.apply(
                state,
                ChatArrived(str(chat["id"]), chat["county_number"], chat["language"]),
                arrived,
            )
        except PolicyError as error:
            log.warning("routing.rebuild_skipped_chat", code=str(error.code))
    return state


@dataclass
class RoutingService:
    """Everything routing needs in one instance, and the tasks that keep it running."""

    settings: Settings
    db: asyncpg.Pool
    client: redis.Redis
    config: Config
    queue: RedisQueue
    router: Router
    hub: Hub
    conversations: Conversations
    dashboard: Dashboard
    instance: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    seen_epoch: str | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # More listeners of the effects stream, beside the hub's (the app's metrics).
    listeners: Sequence[Callable[[Effect, float], Awaitable[None]]] = ()

    async def registrations(self) -> list[RegisterCounsellor]:
        async with self.db.acquire() as conn:
            users = await list_users(conn)
        return [r for user in users if (r := registration_for(user, self.config)) is not None]

    async def register(self, username: str) -> str | None:
        """Make a counsellor known to the router (idempotent); their router id, or None."""
        async with self.db.acquire() as conn:
            user = await find_user(conn, username)
        registration = None if user is None else registration_for(user, self.config)
        if registration is None:
            return None
        with contextlib.suppress(PolicyError):  # duplicate: registered before
            await self.router.submit(registration)
        return registration.counsellor_id

    async def ensure_state(self) -> bool:
        """Rebuild the routing state from PostgreSQL if Redis lost it; True if rebuilt.

        The epoch key is written only here, after a rebuild, and no script creates it: when it
        is missing, Redis started empty (or lost its data) whatever the scripts have written
        since, and the record in PostgreSQL is the truth to rebuild from.
        """
        epoch = self.queue.keys.epoch()
        if await self.client.exists(epoch):
            return False
        lock = self.queue.keys.rebuild_lock()
        if not await self.client.set(lock, self.instance, nx=True, ex=REBUILD_LOCK_SECONDS):
            return False  # another instance is rebuilding
        try:
            if await self.client.exists(epoch):
                return False
            registrations = await self.registrations()
            async with self.db.acquire() as conn:
                chats = await waiting_chats(conn)
                answered = await answered_chats(conn)
            now = time.time()
            state = rebuilt_state(self.config, registrations, chats, answered, now)
            await self.queue.restore(state)
            await self.client.set(epoch, f"{self.instance}:{now}")
            log.info(
                "routing.rebuilt",
                chats=len(chats),
                answered=len(answered),
                counsellors=len(registrations),
            )
            return True
        finally:
            await self.client.delete(lock)

    async def watch_state(self) -> None:
        """Notice a Redis that lost its data while running, and rebuild; after any instance
        rebuilt, say again which consoles are connected here."""
        while True:
            await asyncio.sleep(STATE_CHECK_INTERVAL)
            try:
                await self.ensure_state()
                await self.reannounce_if_rebuilt()
            except (OSError, redis.RedisError, asyncpg.PostgresError) as error:
                log.warning("routing.state_check_failed", error=type(error).__name__)

    async def reannounce_if_rebuilt(self) -> None:
        """A rebuild (by any instance: the epoch changed) left every counsellor offline, or
        away with a grace time for the chats they hold. The consoles connected here are still
        open: say so, with the status each had."""
        found = await self.client.get(self.queue.keys.epoch())
        value = None if found is None else str(found)
        changed = self.seen_epoch is not None and value != self.seen_epoch
        self.seen_epoch = value
        if not changed:
            return
        for counsellor_id, status in self.hub.connected_statuses().items():
            with contextlib.suppress(PolicyError):
                await self.router.submit(CounsellorReconnected(counsellor_id))
            if status in ("available", "away"):
                with contextlib.suppress(PolicyError):
                    await self.router.submit(SetStatus(counsellor_id, status))
        log.info("routing.consoles_reannounced", consoles=len(self.hub.counsellors))

    async def sweep_absent(self) -> None:
        """Start the grace time of whoever the router counts as connected but has no socket
        on any instance; one instance at a time sweeps. Until cancelled."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                lock = f"{self.settings.redis_prefix}presence-sweep"
                if await self.client.set(lock, self.instance, nx=True, ex=int(SWEEP_SECONDS)):
                    await self._sweep()
            except (OSError, redis.RedisError):
                log.warning("presence.sweep_failed", exc_info=True)

    async def reclaim_present(self) -> None:
        """Cancel the grace time the router runs for anyone with a socket open here: a sweep
        took them for gone while this instance's presence did not count (Redis unreachable for
        longer than an entry counts, or restarted empty). Called after each refresh."""
        presence = self.hub.presence
        seekers, staff = await self.queue.in_grace(
            presence.here("seeker"), presence.here("counsellor")
        )
        await self._submit_each(
            [*map(SeekerReconnected, seekers), *map(CounsellorReconnected, staff)]
        )
        if seekers or staff:
            log.info("presence.reclaimed", seekers=len(seekers), counsellors=len(staff))

    async def _sweep(self) -> None:
        chats, counsellors = await self.queue.connection_roster()
        presence = self.hub.presence
        seekers, staff = to_disconnect(
            chats,
            counsellors,
            await presence.absent("seeker", [c[0] for c in chats]),
            await presence.absent("counsellor", [c[0] for c in counsellors]),
            time.time(),
        )
        await self._submit_each(
            [*map(SeekerDisconnected, seekers), *map(CounsellorDisconnected, staff)]
        )
        if seekers or staff:
            log.info("presence.swept", seekers=len(seekers), counsellors=len(staff))

    async def _submit_each(self, events: Sequence[Event]) -> None:
        """Submit each event; one the router refuses (the state moved on since it was read)
        is dropped."""
        for event in events:
            with contextlib.suppress(PolicyError):
                await self.router.submit(event)

    def start(self, spawn: Callable[..., asyncio.Task[None]] = asyncio.create_task) -> None:
        from queueing.effect_feed import EffectFeed

        feed = EffectFeed(self.client, self.queue.keys.effects_stream(), decode_effects)
        # The dashboard hears first: it only marks itself out of date, and its computation then
        # starts ahead of the seekers' places, which are sent at most every half second anyway.
        feed.add_listener(self.dashboard.on_effect)
        self.dashboard.feed_position = lambda: str(feed.last_id)
        feed.add_listener(self.hub.on_effect)

        async def wake_timer(_effect: object, _at: float) -> None:
            self.router.wake()

        feed.add_listener(wake_timer)
        for listener in self.listeners:
            feed.add_listener(listener)
        recorder = RoutingRecorder(
            self.client, self.queue.keys.effects_stream(), self.db, self.instance
        )
        self.tasks = [
            spawn(feed.run()),
            spawn(self.router.run_timer()),
            spawn(self.hub.run_positions()),
            spawn(self.hub.run_queue_summaries()),
            spawn(recorder.run()),
            spawn(self.watch_state()),
            spawn(self.conversations.live.run()),
            spawn(self.hub.presence.run(refreshed=self.reclaim_present)),
            spawn(self.sweep_absent()),
            spawn(self.dashboard.run_pushes()),
            spawn(self.dashboard.run_samples()),
            spawn(self.dashboard.run_today()),
            spawn(self.dashboard.run_relay()),
            spawn(self.dashboard.run_lease()),
        ]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def start_routing(
    settings: Settings,
    db: asyncpg.Pool,
    client: redis.Redis,
    listeners: Sequence[Callable[[Effect, float], Awaitable[None]]] = (),
) -> RoutingService:
    """Load the configuration, make sure Redis holds the routing state, start the tasks;
    `listeners` hear every routing effect, as the hub does."""
    async with db.acquire() as conn:
        config = await load_routing_config(conn, settings, time.time())
    queue = RedisQueue(client, settings.redis_prefix, config)
    router = Router(queue, config)
    live = LiveChats(client, db, settings.redis_prefix)
    presence = Presence(client, settings.redis_prefix)
    instance = uuid.uuid4().hex[:12]
    service = RoutingService(
        instance=instance,
        settings=settings,
        db=db,
        client=client,
        config=config,
        queue=queue,
        router=router,
        hub=Hub(db, queue, live, presence),
        conversations=Conversations(db, queue, live, masker(settings.mask_stored_text)),
        dashboard=Dashboard(
            db,
            client,
            queue,
            AppKeys(settings.redis_prefix),
            settings.service_level_seconds,
            instance,
            TodayWorker(settings.database_url),
        ),
        listeners=listeners,
    )
    await service.ensure_state()
    epoch = await client.get(queue.keys.epoch())
    service.seen_epoch = None if epoch is None else str(epoch)
    for registration in await service.registrations():
        with contextlib.suppress(PolicyError):
            await router.submit(registration)
    service.start()
    return service
