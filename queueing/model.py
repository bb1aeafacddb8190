"""State of the routing queue: configuration, counsellors, chats, offers and live counters.

These are the nouns the routing policy (`queueing.policy`) works on. Configuration is frozen; the
live state is a tree of plain mutable dataclasses that the policy's transitions update in place,
so a Redis adapter can mirror each field as a hash field or sorted-set member and a test can
compare two states with `==` (or `copy.deepcopy` one to prove an error changed nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

NATIONAL = "national"
"""Key of the national queue; county queues are keyed by the two-digit county number."""

BASE_LANGUAGES = frozenset({"nb", "nn", "en"})
"""Languages every deployment serves: bokmål, nynorsk and English."""

MIN_CAPACITY, MAX_CAPACITY = 1, 10
DEFAULT_CAPACITY = 2


class CounsellorStatus(StrEnum):
    """What a counsellor has chosen; only `available` counsellors receive offers."""

    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"


class ChatStatus(StrEnum):
    """Where a chat is in its life. Every chat is in exactly one of these."""

    WAITING = "waiting"
    OFFERED = "offered"
    ACTIVE = "active"
    ENDED = "ended"
    ABANDONED = "abandoned"


UNANSWERED = frozenset({ChatStatus.WAITING, ChatStatus.OFFERED})
"""A seeker in one of these is still waiting for a counsellor and holds a place in the queue."""


class OverflowReason(StrEnum):
    """Why a county chat was opened to the national team."""

    WAITED = "waited"
    NO_STAFF = "no_staff"
    CLOSED = "closed"


class ErrorCode(StrEnum):
    """Machine-readable reasons an event was refused; the state is untouched when one is raised."""

    UNKNOWN_COUNTY = "unknown_county"
    UNKNOWN_LANGUAGE = "unknown_language"
    UNKNOWN_CHAT = "unknown_chat"
    UNKNOWN_COUNSELLOR = "unknown_counsellor"
    DUPLICATE_CHAT = "duplicate_chat"
    DUPLICATE_COUNSELLOR = "duplicate_counsellor"
    BAD_STATUS = "bad_status"
    BAD_CAPACITY = "bad_capacity"
    BAD_MEMBERSHIP = "bad_membership"
    NO_OFFER = "no_offer"
    OFFER_NOT_YOURS = "offer_not_yours"
    OFFER_EXPIRED = "offer_expired"
    ALREADY_ACCEPTED = "already_accepted"
    NOT_ACTIVE = "not_active"
    NOT_YOUR_CHAT = "not_your_chat"
    NOT_WAITING = "not_waiting"
    CHAT_CLOSED = "chat_closed"
    ALREADY_DISCONNECTED = "already_disconnected"
    NOT_DISCONNECTED = "not_disconnected"
    GRACE_EXPIRED = "grace_expired"
    TRANSFER_TO_SELF = "transfer_to_self"
    TARGET_INELIGIBLE = "target_ineligible"
    TARGET_UNAVAILABLE = "target_unavailable"
    TARGET_FULL = "target_full"


class PolicyError(Exception):
    """An event the policy refuses. Raised before any change to the state."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Schedule(Protocol):
    """When a centre is open. `queueing.hours.OpeningHours` is the real one."""

    def is_open(self, at: float) -> bool:
        """Whether the centre is open at epoch second `at`."""
        ...

    def next_change(self, at: float) -> float | None:
        """The first instant after `at` at which `is_open` flips, or None if it never does."""
        ...


@dataclass(frozen=True)
class CentreConfig:
    """Per-centre routing settings."""

    # 90 s: long enough for a centre's own counsellors to pick a chat up after finishing one,
    # short enough that a seeker is not left alone while the national team has room.
    overflow_after: float = 90.0
    schedule: Schedule | None = None  # None: never closed by opening hours


@dataclass(frozen=True)
class Config:
    """Routing settings; one per deployment, read once from the environment and Postgres."""

    centres: Mapping[str, CentreConfig]
    extra_languages: frozenset[str] = frozenset()
    # 30 s: long enough to finish a sentence in another chat and click, short enough that a
    # seeker is not kept waiting for a counsellor who has walked away from the screen.
    offer_timeout: float = 30.0
    away_on_offer_timeout: bool = True
    # 60 s: covers a phone switching between Wi-Fi and mobile data or a page reload.
    seeker_grace: float = 60.0
    counsellor_grace: float = 60.0
    # After declining (or letting time out) a chat, a counsellor is not offered that same chat
    # again for this long; without it the chat would bounce straight back to them.
    reoffer_after: float = 60.0
    # 10 min of answers: enough to smooth single chats, recent enough to follow a rush.
    rate_window: float = 600.0

    def __post_init__(self) -> None:
        for key in self.centres:
            if not (len(key) == 2 and key.isdigit()):
                raise ValueError(f"centre keys are two-digit county numbers, not {key!r}")
        for name in ("offer_timeout", "seeker_grace", "counsellor_grace", "rate_window"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.reoffer_after < 0 or any(c.overflow_after < 0 for c in self.centres.values()):
            raise ValueError("reoffer_after and overflow_after must not be negative")
        # Freeze the mapping so a shared Config cannot be changed under a running policy.
        object.__setattr__(self, "centres", MappingProxyType(dict(self.centres)))

    def __deepcopy__(self, memo: dict[int, object]) -> Config:
        # Immutable, so a copied State may share it (and the mapping proxy cannot be pickled).
        return self

    @property
    def languages(self) -> frozenset[str]:
        """Every language a chat or counsellor may use."""
        return BASE_LANGUAGES | self.extra_languages


@dataclass(frozen=True)
class Offer:
    """A chat reserved for one counsellor until `deadline`."""

    counsellor_id: str
    deadline: float
    transferred_from: str | None = None


@dataclass(frozen=True)
class Overflow:
    """One overflow of a chat to the national team, kept for reports."""

    at: float
    reason: OverflowReason


@dataclass
class Counsellor:
    """A counsellor's routing state. `offer` is the id of the one chat they hold an offer for."""

    id: str
    centre: str | None
    national: bool
    languages: frozenset[str]
    capacity: int
    auto_accept: bool
    status: CounsellorStatus
    idle_since: float
    active: set[str] = field(default_factory=set)
    offer: str | None = None
    grace_until: float | None = None  # set while disconnected; None when connected


@dataclass
class Chat:
    """A seeker's chat as the router sees it.

    `queue` is the queue the chat belongs to (a county number or NATIONAL). Its place in that
    queue is `order_key`: chats a counsellor handed back (`front_seq`) before all others, then first
    arrival (`arrival_seq`). Offers never change the place, so a declined chat returns to it.
    """

    id: str
    county: str | None
    queue: str
    language: str
    arrived_at: float
    arrival_seq: int
    status: ChatStatus
    waiting_since: float
    front_seq: int | None = None
    overflowed: bool = False
    overflows: list[Overflow] = field(default_factory=list)
    overflow_at: float | None = None  # when it overflows if still unanswered (county chats only)
    overflow_due: OverflowReason | None = None  # the reason that will be recorded at overflow_at
    offer: Offer | None = None
    counsellor_id: str | None = None  # set while active
    grace_until: float | None = None  # set while the waiting seeker is disconnected
    excluded: dict[str, float] = field(default_factory=dict)  # counsellor -> no reoffer until
    first_answered_at: float | None = None
    offers_made: int = 0
    accepts: int = 0

    @property
    def order_key(self) -> tuple[int, int]:
        """Sort key of the chat's place in its queue: handed-back chats first, then oldest."""
        if self.front_seq is not None:
            return (0, self.front_seq)
        return (1, self.arrival_seq)

    @property
    def in_national_pool(self) -> bool:
        """Whether the national team may take the chat."""
        return self.queue == NATIONAL or self.overflowed


@dataclass(frozen=True)
class Answer:
    """An accepted offer, kept for `Config.rate_window` to estimate expected waits."""

    at: float
    queue: str
    overflowed: bool


@dataclass
class Counters:
    """Live counters, updated by the transitions as they happen (never recomputed by a scan)."""

    waiting: dict[str, int] = field(default_factory=dict)  # unanswered chats per queue key
    offers_made: int = 0
    offers_accepted: int = 0
    offers_declined: int = 0
    offers_timed_out: int = 0
    offers_withdrawn: int = 0
    answered: int = 0  # chats answered for the first time; a reassignment is not a new answer
    answer_wait_sum: float = 0.0
    answer_waits: list[float] = field(default_factory=list)  # for percentiles in reports
    abandoned: int = 0
    abandon_wait_sum: float = 0.0
    overflowed: dict[OverflowReason, int] = field(default_factory=dict)
    overflow_wait_sum: dict[OverflowReason, float] = field(default_factory=dict)
    requeued: int = 0
    ended: int = 0


@dataclass
class State:
    """The whole routing state. Transitions mutate it in place; see `queueing.policy`."""

    config: Config
    counsellors: dict[str, Counsellor] = field(default_factory=dict)
    chats: dict[str, Chat] = field(default_factory=dict)
    seq: int = 0  # one counter for arrivals and hand-backs, so every place in a queue is unique
    counters: Counters = field(default_factory=Counters)
    recent_answers: list[Answer] = field(default_factory=list)
    published_positions: dict[str, tuple[str, int]] = field(default_factory=dict)

    def next_seq(self) -> int:
        """Take the next place number."""
        self.seq += 1
        return self.seq
