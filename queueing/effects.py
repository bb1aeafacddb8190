"""Effects the routing policy returns: what an adapter must tell people or publish.

The policy has already changed its state when it returns them; an adapter carries them out in
order (send a frame to a seeker or console, publish to the dashboard, log).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from queueing.model import CounsellorStatus, OverflowReason


class WithdrawReason(StrEnum):
    """Why a pending offer ended without being accepted."""

    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    SEEKER_LEFT = "seeker_left"
    COUNSELLOR_AWAY = "counsellor_away"
    COUNSELLOR_OFFLINE = "counsellor_offline"
    COUNSELLOR_DISCONNECTED = "counsellor_disconnected"
    CAPACITY_LOWERED = "capacity_lowered"
    NO_LONGER_ELIGIBLE = "no_longer_eligible"


class RequeueReason(StrEnum):
    """Why an answered chat went back to a queue."""

    COUNSELLOR_LEFT = "counsellor_left"  # signed out, or disconnected past the grace time
    TRANSFER = "transfer"


class AbandonReason(StrEnum):
    """How a waiting seeker was lost."""

    LEFT = "left"
    DISCONNECTED = "disconnected"


class Side(StrEnum):
    """Who ended an active chat."""

    SEEKER = "seeker"
    COUNSELLOR = "counsellor"


class StatusReason(StrEnum):
    """Why a counsellor's status changed."""

    REQUESTED = "requested"
    OFFER_TIMED_OUT = "offer_timed_out"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class ChatQueued:
    """A new chat joined `queue` (NATIONAL when it has no county or its centre has no staff)."""

    chat_id: str
    queue: str


@dataclass(frozen=True)
class ChatOverflowed:
    """A county chat may now be taken by the national team too; tell the seeker."""

    chat_id: str
    queue: str
    reason: OverflowReason
    waited: float


@dataclass(frozen=True)
class OfferMade:
    """Show the chat to the counsellor; they must answer by `deadline`."""

    chat_id: str
    counsellor_id: str
    deadline: float
    transferred_from: str | None = None


@dataclass(frozen=True)
class OfferWithdrawn:
    """The offer is gone; remove it from the counsellor's console."""

    chat_id: str
    counsellor_id: str
    reason: WithdrawReason


@dataclass(frozen=True)
class ChatAssigned:
    """The counsellor has the chat; join them. `waited` is this wait, from joining the queue."""

    chat_id: str
    counsellor_id: str
    waited: float
    auto_accepted: bool


@dataclass(frozen=True)
class ChatAbandoned:
    """A waiting seeker left or stayed away past the grace time."""

    chat_id: str
    waited: float
    reason: AbandonReason


@dataclass(frozen=True)
class ChatEnded:
    """An active chat ended."""

    chat_id: str
    counsellor_id: str
    by: Side


@dataclass(frozen=True)
class ChatRequeued:
    """An answered chat is back at the front of `queue`; tell the seeker they are waiting again."""

    chat_id: str
    queue: str
    from_counsellor: str
    reason: RequeueReason


@dataclass(frozen=True)
class CounsellorCapacityChanged:
    """A counsellor's capacity changed (they or a supervisor set it)."""

    counsellor_id: str
    capacity: int


@dataclass(frozen=True)
class CounsellorStatusChanged:
    """A counsellor's status changed, by their choice or by the policy."""

    counsellor_id: str
    status: CounsellorStatus
    reason: StatusReason


@dataclass(frozen=True)
class ChatPosition:
    """A waiting chat's place: 1 is next. `pool` is its county, or NATIONAL once the national team
    may take it. `expected_wait` is in seconds, None while no recent answers give a rate."""

    chat_id: str
    pool: str
    position: int
    expected_wait: float | None


@dataclass(frozen=True)
class PositionsChanged:
    """The chats whose place changed (including new ones), in no particular order."""

    positions: tuple[ChatPosition, ...]


Effect = (
    ChatQueued
    | ChatOverflowed
    | OfferMade
    | OfferWithdrawn
    | ChatAssigned
    | ChatAbandoned
    | ChatEnded
    | ChatRequeued
    | CounsellorStatusChanged
    | CounsellorCapacityChanged
    | PositionsChanged
)
