"""The Prometheus figures of one instance, in a registry of its own.

Each app instance has its own `CollectorRegistry` (never the process-wide default), so two apps
in one test process do not clash. Prometheus scrapes every instance and sums across them.

What is counted where, so that a figure summed over instances counts each thing once:
- queue figures (waiting, oldest wait, counsellors by status, chats held, capacity) are read from
  the shared Redis state at scrape time: every instance reports the same values (use `max`, not
  `sum`, across instances);
- sockets, stored messages, error frames and HTTP 5xx are counted by the instance they happen on;
- offer latency (offer made to offer accepted) and wait before answer are observed by the
  instance holding the accepting counsellor's console, which sees both ends of the offer.

`app.monitoring` serves them.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from queueing.effects import ChatAssigned, Effect, OfferMade, OfferWithdrawn
from queueing.model import NATIONAL, CounsellorStatus, State
from queueing.redis_queue import RedisQueue

SOCKET_ROLES = ("seeker", "counsellor", "supervisor")
# Offers remembered until accepted or withdrawn; a counsellor holds at most one, so this bounds
# memory even if a withdrawal were missed.
MAX_PENDING_OFFERS = 10_000
# An offer lasts at most EGUIDE_OFFER_TIMEOUT_SECONDS (30 s by default); acceptances come in
# seconds. Waits before an answer run from seconds to many minutes.
OFFER_BUCKETS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120)
WAIT_BUCKETS = (5, 10, 30, 60, 90, 120, 180, 300, 600, 900, 1800, 3600)


class Metrics:
    """The instruments of one app instance and the hooks that feed them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.waiting = Gauge(
            "eguide_queue_waiting_chats",
            "Chats waiting for a counsellor of the queue (a county queue counts its overflowed "
            "chats too; the national queue is the pool of national and overflowed chats).",
            ["queue"],
            registry=r,
        )
        self.oldest_wait = Gauge(
            "eguide_queue_oldest_wait_seconds",
            "How long the longest-waiting chat of the queue has waited (0 when none waits).",
            ["queue"],
            registry=r,
        )
        self.counsellors = Gauge(
            "eguide_queue_counsellors",
            "Counsellors serving the queue, by routing status (available, away, offline).",
            ["queue", "status"],
            registry=r,
        )
        self.chats_held = Gauge(
            "eguide_queue_active_chats",
            "Chats being answered by the counsellors serving the queue.",
            ["queue"],
            registry=r,
        )
        self.capacity = Gauge(
            "eguide_queue_available_capacity",
            "Sum of the capacities of the queue's available counsellors.",
            ["queue"],
            registry=r,
        )
        self.sockets = Gauge(
            "eguide_sockets_open", "WebSockets open on this instance.", ["role"], registry=r
        )
        self.messages = Counter(
            "eguide_messages_stored",
            "Chat messages stored (resends not counted again); rate() gives messages a second.",
            ["role"],
            registry=r,
        )
        self.error_frames = Counter(
            "eguide_error_frames",
            "Error frames sent to WebSocket clients, by error code.",
            ["code"],
            registry=r,
        )
        self.http_errors = Counter(
            "eguide_http_server_errors",
            "HTTP responses with a 5xx status (unhandled exceptions count as 500).",
            ["status"],
            registry=r,
        )
        self.offer_latency = Histogram(
            "eguide_offer_accept_seconds",
            "From an offer being made to the counsellor accepting it (auto-accepted chats have "
            "no offer to answer and are not observed).",
            buckets=OFFER_BUCKETS,
            registry=r,
        )
        self.answer_wait = Histogram(
            "eguide_answer_wait_seconds",
            "How long a chat waited in its queue (since arriving or being handed back) before "
            "a counsellor took it.",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        for role in SOCKET_ROLES:
            self.sockets.labels(role).set(0)
        self._offers: OrderedDict[tuple[str, str], float] = OrderedDict()
        # The counsellors with a console on this instance (the hub's registry, once routing
        # has started; nobody can be connected before).
        self.consoles: Mapping[str, object] = {}

    # ------------------------------------------------------------------ hooks

    @contextmanager
    def socket_open(self, role: str) -> Iterator[None]:
        """Count a socket of `role` as open for the duration of the block."""
        gauge = self.sockets.labels(role)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def message_stored(self, role: str) -> None:
        self.messages.labels(role).inc()

    def error_frame_sent(self, code: str) -> None:
        self.error_frames.labels(code).inc()

    async def on_effect(self, effect: Effect, at: float) -> None:
        """A listener of the effects stream (every instance hears every effect)."""
        self.observe_effect(effect, at, self.consoles)

    def observe_effect(
        self, effect: Effect, at: float, local_counsellors: Mapping[str, object]
    ) -> None:
        """Offer latency and answer waits, kept by the one instance holding the counsellor's
        console."""
        match effect:
            case OfferMade(chat_id=chat_id, counsellor_id=counsellor_id):
                if counsellor_id in local_counsellors:
                    self._offers[(chat_id, counsellor_id)] = at
                    while len(self._offers) > MAX_PENDING_OFFERS:
                        self._offers.popitem(last=False)
            case OfferWithdrawn(chat_id=chat_id, counsellor_id=counsellor_id):
                self._offers.pop((chat_id, counsellor_id), None)
            case ChatAssigned(chat_id=chat_id, counsellor_id=counsellor_id, waited=waited):
                offered = self._offers.pop((chat_id, counsellor_id), None)
                if offered is not None:
                    self.offer_latency.observe(max(0.0, at - offered))
                if counsellor_id in local_counsellors:
                    self.answer_wait.observe(max(0.0, waited))

    def set_queue_figures(
        self, state: State, waiting: dict[str, tuple[int, float | None]], now: float
    ) -> None:
        """The live queue gauges from the routing state and `RedisQueue.waiting`."""
        queues = [*state.config.centres, NATIONAL]
        for gauge in (self.waiting, self.oldest_wait, self.counsellors, self.chats_held):
            gauge.clear()
        self.capacity.clear()
        for queue in queues:
            count, since = waiting.get(queue, (0, None))
            self.waiting.labels(queue).set(count)
            self.oldest_wait.labels(queue).set(0 if since is None else max(0.0, now - since))
            statuses = dict.fromkeys(CounsellorStatus, 0)
            held = room = 0
            for counsellor in state.counsellors.values():
                serves = counsellor.national if queue == NATIONAL else counsellor.centre == queue
                if not serves:
                    continue
                statuses[counsellor.status] += 1
                held += len(counsellor.active)
                if counsellor.status is CounsellorStatus.AVAILABLE:
                    room += counsellor.capacity
            for status, number in statuses.items():
                self.counsellors.labels(queue, status.value).set(number)
            self.chats_held.labels(queue).set(held)
            self.capacity.labels(queue).set(room)

    async def refresh_queue_figures(self, queue: RedisQueue) -> None:
        """Read the live queue figures from Redis into the gauges."""
        state = await queue.snapshot()
        waiting = await queue.waiting([*queue.config.centres, NATIONAL])
        self.set_queue_figures(state, waiting, time.time())

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class ServerErrorMiddleware:
    """Counts HTTP responses with a 5xx status, and unhandled exceptions as 500. Pure ASGI."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 500:
                self.metrics.http_errors.labels(str(message["status"])).inc()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            self.metrics.http_errors.labels("500").inc()
            raise
