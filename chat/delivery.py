"""Which messages one socket is sent, and when: a cursor over a chat's sequence numbers.

Pure: sequence numbers in, decisions out. The live layer (`chat.live`) feeds it what Redis
pub/sub brings and what PostgreSQL returns, and carries its decisions out.

The contract: a socket is sent a chat's messages exactly once and in order. Pub/sub may lose a
message (a dropped connection, a publisher that died between commit and publish) and may bring
messages from two senders in either order, but PostgreSQL always holds a gapless prefix of the
chat, since numbers are taken under a row lock and committed in order. So:

- a live message that is the next number is sent at once;
- one at or below the cursor was sent already and is dropped;
- one further ahead means something was missed: the gap is read from PostgreSQL, and live
  messages that arrive meanwhile are held and merged by number afterwards.

A socket that has just started following a chat waits until its client says where it stands
(the last number it saw) and is then caught up from PostgreSQL the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, Protocol, TypeVar


class Numbered(Protocol):
    @property
    def seq(self) -> int: ...


Item = TypeVar("Item", bound=Numbered)


# Live messages kept while a socket waits or catches up, at most: each only stands in for its
# stored copy (or runs ahead of the read), so one let go is read from PostgreSQL instead.
MAX_HELD = 200


class Phase(StrEnum):
    WAITING = "waiting"  # following, but the client has not said where it stands: send nothing
    CATCHING_UP = "catching_up"  # reading from PostgreSQL: hold live messages
    LIVE = "live"


class Verdict(StrEnum):
    SEND = "send"
    DROP = "drop"
    HOLD = "hold"
    CATCH_UP = "catch_up"  # a gap: read from PostgreSQL (the cursor is now catching up)


@dataclass
class Cursor(Generic[Item]):
    """The last number sent to one socket of one chat, and live messages held during a read."""

    last: int = 0
    phase: Phase = Phase.WAITING
    held: list[Item] = field(default_factory=list)

    def on_live(self, item: Item) -> Verdict:
        """A live message arrived; SEND means it was the next one and now counts as sent."""
        match self.phase:
            case Phase.WAITING:
                # Not sent: the catch-up that starts with the client's resume reads it; kept
                # so that it goes out as it came live (the stored copy may be masked).
                self._hold(item)
                return Verdict.DROP
            case Phase.CATCHING_UP:
                self._hold(item)
                return Verdict.HOLD
        if item.seq <= self.last:
            return Verdict.DROP
        if item.seq == self.last + 1:
            self.last = item.seq
            return Verdict.SEND
        self.phase = Phase.CATCHING_UP
        return Verdict.CATCH_UP

    def _hold(self, item: Item) -> None:
        self.held.append(item)
        if len(self.held) > MAX_HELD:
            del self.held[0]

    def start(self, after: int | None = None) -> None:
        """Begin a catch-up; `after` is where the client says it stands (None: where it is)."""
        if after is not None:
            self.last = after
        self.phase = Phase.CATCHING_UP
        self.held = [item for item in self.held if item.seq > self.last]

    def settle(self, fetched: Sequence[Item]) -> tuple[list[Item], bool]:
        """Merge what PostgreSQL returned (everything after `last`, in order) with the held live
        messages; return what to send now, in order, and whether to read again (a held message
        is ahead of anything read: it was committed after the read began). When no read is
        needed the cursor is live again. A message both read and held goes out as held: the
        live copy is the text as written, the stored one may be masked (chat.masking)."""
        out: list[Item] = []
        live = {item.seq: item for item in self.held}
        for item in fetched:
            if item.seq == self.last + 1:
                out.append(live.get(item.seq, item))
                self.last = item.seq
        held, self.held = sorted(self.held, key=lambda i: i.seq), []
        for n, item in enumerate(held):
            if item.seq <= self.last:
                continue
            if item.seq != self.last + 1:
                self.held = held[n:]  # merged with the next read
                return out, True
            out.append(item)
            self.last = item.seq
        self.phase = Phase.LIVE
        return out, False
