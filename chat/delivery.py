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
                return Verdict.DROP  # the catch-up that starts with the client's resume reads it
            case Phase.CATCHING_UP:
                self.held.append(item)
                return Verdict.HOLD
        if item.seq <= self.last:
            return Verdict.DROP
        if item.seq == self.last + 1:
            self.last = item.seq
            return Verdict.SEND
        self.phase = Phase.CATCHING_UP
        return Verdict.CATCH_UP

    def start(self, after: int | None = None) -> None:
        """Begin a catch-up; `after` is where the client says it stands (None: where it is)."""
        if after is not None:
            self.last = after
        self.phase = Phase.CATCHING_UP
        self.held.clear()

    def settle(self, fetched: Sequence[Item]) -> tuple[list[Item], bool]:
        """Merge what PostgreSQL returned (everything after `last`, in order) with the held live
        messages; return what to send now, in order, and whether to read again (a held message
        is ahead of anything read: it was committed after the read began). When no read is
        needed the cursor is live again."""
        out: list[Item] = []
        for item in fetched:
            if item.seq == self.last + 1:
                out.append(item)
                self.last = item.seq
        held, self.held = sorted(self.held, key=lambda i: i.seq), []
        for item in held:
            if item.seq <= self.last:
                continue
            if item.seq != self.last + 1:
                return out, True
            out.append(item)
            self.last = item.seq
        self.phase = Phase.LIVE
        return out, False
