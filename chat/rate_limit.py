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


@dataclass
class Strikes:
    """Refused frames in a row; `limit` of them and the connection is closed.

    A good frame clears the tally: a client with one bug should get error frames, not a closed
    socket, while a client that only ever sends garbage is cut off.
    """

    limit: int = 20
    count: int = 0

    def refused(self) -> bool:
        """Count a refused frame; True when the connection should now be closed."""
        self.count += 1
        return self.count >= self.limit

    def accepted(self) -> None:
        self.count = 0
