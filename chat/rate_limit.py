"""Per-connection limits: a token bucket for frames, and a tally of refused frames.

Pure: the time is passed in. A connection asks `allow(now)` before handling each frame; a frame
over the limit gets a `rate_limited` error frame. A client that keeps sending refused frames is
abusing the socket, and `Strikes` tells the connection when to close it (policy violation, 1008).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """`burst` frames at once, refilled at `per_second`.

    Defaults: a person typing sends a message and a few typing signals a second at most; 20 at once
    covers a reconnecting client resending what was in flight, 5 a second sustained covers a fast
    typist with typing and read signals.
    """

    burst: float = 20.0
    per_second: float = 5.0
    tokens: float = 20.0
    updated: float | None = None

    def allow(self, now: float) -> bool:
        """Take one token if there is one."""
        if self.updated is not None and now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now if self.updated is None else max(self.updated, now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


# Refusals of a well-formed frame because of where the chat stands (it just ended, was just
# transferred): races a correct client runs into, never abuse.
STATE_REFUSALS = frozenset({"chat_closed", "not_your_chat", "not_ended", "conflict", "internal"})
# A frame over the rate limit is flow control, not abuse: a client resending its outbox after a
# reconnect meets it. Only a flood of them (a tenth of a strike each) closes the socket.
RATE_LIMITED_WEIGHT = 0.1


@dataclass
class Strikes:
    """Refused frames in a row, weighed by why; `limit` of them and the connection is closed.

    A good frame clears the tally: a client with one bug should get error frames, not a closed
    socket, while a client that only ever sends garbage is cut off.
    """

    limit: float = 20.0
    count: float = 0.0

    def refused(self, code: str = "") -> bool:
        """Count a refused frame; True when the connection should now be closed."""
        if code in STATE_REFUSALS:
            return False
        self.count += RATE_LIMITED_WEIGHT if code == "rate_limited" else 1.0
        return self.count >= self.limit - 1e-9

    def accepted(self) -> None:
        self.count = 0.0
