"""Events the routing policy accepts: what seekers, counsellors and the console ask for.

Each is a frozen dataclass carrying ids and values only; the time comes separately as `now`.
Timer expiries are not events: `queueing.policy.tick` applies them.
"""

from __future__ import annotations

from dataclasses import dataclass

from queueing.model import DEFAULT_CAPACITY


@dataclass(frozen=True)
class RegisterCounsellor:
    """Make a counsellor known to the router (starts offline). A centre, the national team or
    both. Registered counsellors are a centre's configured staff."""

    counsellor_id: str
    centre: str | None
    national: bool
    languages: frozenset[str]
    capacity: int = DEFAULT_CAPACITY
    auto_accept: bool = False


@dataclass(frozen=True)
class UpdateCounsellor:
    """An administrator changed a counsellor's centre, national-team membership or languages
    (the same checks as `RegisterCounsellor`). Offers from now on follow the new ones; chats held
    stay, and a pending offer the counsellor may no longer take is withdrawn."""

    counsellor_id: str
    centre: str | None
    national: bool
    languages: frozenset[str]


@dataclass(frozen=True)
class SetStatus:
    """A counsellor picks `available`, `away` or `offline` (any other string is refused)."""

    counsellor_id: str
    status: str


@dataclass(frozen=True)
class SetCapacity:
    """A counsellor or supervisor changes how many chats the counsellor holds at once (1..10)."""

    counsellor_id: str
    capacity: int


@dataclass(frozen=True)
class SetAutoAccept:
    """A counsellor turns auto-accept of offers on or off."""

    counsellor_id: str
    auto_accept: bool


@dataclass(frozen=True)
class CounsellorDisconnected:
    """The counsellor's console lost its connection; their grace time starts."""

    counsellor_id: str


@dataclass(frozen=True)
class CounsellorReconnected:
    """The console is back within the grace time."""

    counsellor_id: str


@dataclass(frozen=True)
class ChatArrived:
    """A seeker starts a chat, naming a county (or none) and a language."""

    chat_id: str
    county: str | None
    language: str


@dataclass(frozen=True)
class AcceptOffer:
    """A counsellor accepts the chat offered to them."""

    chat_id: str
    counsellor_id: str


@dataclass(frozen=True)
class DeclineOffer:
    """A counsellor declines the chat offered to them."""

    chat_id: str
    counsellor_id: str


@dataclass(frozen=True)
class SeekerLeft:
    """The seeker ends their chat, whether still waiting (abandoned) or active (ended)."""

    chat_id: str


@dataclass(frozen=True)
class SeekerDisconnected:
    """A waiting seeker's connection dropped; their grace time starts."""

    chat_id: str


@dataclass(frozen=True)
class SeekerReconnected:
    """A waiting seeker is back within the grace time."""

    chat_id: str


@dataclass(frozen=True)
class EndChat:
    """The counsellor ends an active chat of theirs."""

    chat_id: str
    counsellor_id: str


@dataclass(frozen=True)
class TransferToCounsellor:
    """Hand an active chat to a named colleague, as an offer to them."""

    chat_id: str
    counsellor_id: str
    target_id: str


@dataclass(frozen=True)
class TransferToQueue:
    """Hand an active chat to a county queue or the national queue, at its front."""

    chat_id: str
    counsellor_id: str
    queue: str


Event = (
    RegisterCounsellor
    | UpdateCounsellor
    | SetStatus
    | SetCapacity
    | SetAutoAccept
    | CounsellorDisconnected
    | CounsellorReconnected
    | ChatArrived
    | AcceptOffer
    | DeclineOffer
    | SeekerLeft
    | SeekerDisconnected
    | SeekerReconnected
    | EndChat
    | TransferToCounsellor
    | TransferToQueue
)
