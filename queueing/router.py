"""One instance's handle on the shared routing state: events in, timers fired, effects out.

Every instance runs a `Router`. Events go through `submit`, which applies them atomically in
Redis with the current time and the set of centres closed by opening hours. Every instance also
runs the shared timer: it sleeps until the earliest deadline in Redis (or the next opening-hours
change) and then ticks. Ticks are atomic and idempotent, so several instances ticking at the same
moment do the work once; the effects stream wakes every timer when anything changes, so a new
earlier deadline set by another instance is seen at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from queueing.effects import Effect
from queueing.events import Event
from queueing.model import Config
from queueing.redis_queue import RedisQueue

log = structlog.stdlib.get_logger(__name__)

# The longest the timer sleeps without looking at Redis again. Not how timers work (every change
# of a deadline comes with an effect on the stream, which wakes every instance's timer), only a
# safety net should a wake-up be lost with a dropped Redis connection.
MAX_TIMER_SLEEP = 10.0
# After a failed tick (Redis unreachable, say), try again this soon: deadlines are seconds apart.
RETRY_AFTER_FAILURE = 1.0


class Router:
    """Applies events and fires timers against the shared Redis routing state."""

    def __init__(
        self, queue: RedisQueue, config: Config, clock: Callable[[], float] = time.time
    ) -> None:
        self.queue = queue
        self.config = config
        self._clock = clock
        self._wake = asyncio.Event()

    def closed(self, now: float) -> frozenset[str]:
        """County centres closed by their opening hours at `now`."""
        return frozenset(
            county
            for county, centre in self.config.centres.items()
            if centre.schedule is not None and not centre.schedule.is_open(now)
        )

    def next_schedule_change(self, now: float) -> float | None:
        changes = [
            change
            for centre in self.config.centres.values()
            if centre.schedule is not None
            and (change := centre.schedule.next_change(now)) is not None
        ]
        return min(changes, default=None)

    async def submit(self, event: Event) -> list[Effect]:
        """Apply one event now; raises PolicyError (state unchanged) when it is refused."""
        now = self._clock()
        effects = await self.queue.apply(event, now, self.closed(now))
        self.wake()
        return effects

    async def tick(self) -> list[Effect]:
        now = self._clock()
        return await self.queue.tick(now, self.closed(now))

    def wake(self) -> None:
        """Make the timer look at the deadlines again (something may have changed them)."""
        self._wake.set()

    async def run_timer(self) -> None:
        """Fire every deadline as it falls due, until cancelled."""
        while True:
            self._wake.clear()
            now = self._clock()
            due = [
                moment
                for moment in (await self.queue.next_deadline(), self.next_schedule_change(now))
                if moment is not None
            ]
            wait = min([MAX_TIMER_SLEEP, *(moment - now for moment in due)])
            if wait > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                    continue  # woken: deadlines may have moved; look again before ticking
                except TimeoutError:
                    pass
            try:
                await self.tick()
            except Exception:  # the timer must outlive a failed tick
                log.exception("routing.tick_failed")
                await asyncio.sleep(RETRY_AFTER_FAILURE)
