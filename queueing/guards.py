"""Guards: checks that refuse a bad event with a PolicyError before the policy changes anything.

Each returns the objects it looked up, so a handler validates and fetches in one step.
"""

from __future__ import annotations

from queueing.model import (
    MAX_CAPACITY,
    MIN_CAPACITY,
    UNANSWERED,
    Chat,
    ChatStatus,
    Counsellor,
    ErrorCode,
    PolicyError,
    State,
)


def find_counsellor(state: State, counsellor_id: str) -> Counsellor:
    """The counsellor, or `unknown_counsellor`."""
    try:
        return state.counsellors[counsellor_id]
    except KeyError:
        raise PolicyError(
            ErrorCode.UNKNOWN_COUNSELLOR, f"no counsellor {counsellor_id!r}"
        ) from None


def find_chat(state: State, chat_id: str) -> Chat:
    """The chat, or `unknown_chat`."""
    try:
        return state.chats[chat_id]
    except KeyError:
        raise PolicyError(ErrorCode.UNKNOWN_CHAT, f"no chat {chat_id!r}") from None


def open_chat(state: State, chat_id: str) -> Chat:
    """A chat not yet ended or abandoned, or `chat_closed`."""
    chat = find_chat(state, chat_id)
    if chat.status in (ChatStatus.ENDED, ChatStatus.ABANDONED):
        raise PolicyError(ErrorCode.CHAT_CLOSED, f"chat {chat_id!r} is {chat.status}")
    return chat


def waiting_chat(state: State, chat_id: str) -> Chat:
    """A chat still waiting for a counsellor (waiting or offered), or `not_waiting`."""
    chat = open_chat(state, chat_id)
    if chat.status not in UNANSWERED:
        raise PolicyError(ErrorCode.NOT_WAITING, f"chat {chat_id!r} is {chat.status}")
    return chat


def own_active(state: State, chat_id: str, counsellor_id: str) -> tuple[Chat, Counsellor]:
    """An active chat of this counsellor, or `not_active` / `not_your_chat`."""
    chat = open_chat(state, chat_id)
    counsellor = find_counsellor(state, counsellor_id)
    if chat.status is not ChatStatus.ACTIVE:
        raise PolicyError(ErrorCode.NOT_ACTIVE, f"chat {chat_id!r} is {chat.status}")
    if chat.counsellor_id != counsellor_id:
        raise PolicyError(ErrorCode.NOT_YOUR_CHAT, f"chat {chat_id!r} is not {counsellor_id!r}'s")
    return chat, counsellor


def own_offer(
    state: State, chat_id: str, counsellor_id: str, now: float
) -> tuple[Chat, Counsellor]:
    """The chat offered to this counsellor, with an offer still open; else the reason why not."""
    chat = open_chat(state, chat_id)
    counsellor = find_counsellor(state, counsellor_id)
    if chat.status is ChatStatus.ACTIVE:
        if chat.counsellor_id == counsellor_id:
            raise PolicyError(ErrorCode.ALREADY_ACCEPTED, f"chat {chat_id!r} is already yours")
        raise PolicyError(ErrorCode.OFFER_NOT_YOURS, f"chat {chat_id!r} went to someone else")
    if chat.offer is None:
        raise PolicyError(ErrorCode.NO_OFFER, f"chat {chat_id!r} is not offered to anyone")
    if chat.offer.counsellor_id != counsellor_id:
        raise PolicyError(ErrorCode.OFFER_NOT_YOURS, f"chat {chat_id!r} is offered to another")
    if now >= chat.offer.deadline:
        raise PolicyError(ErrorCode.OFFER_EXPIRED, f"the offer of {chat_id!r} has expired")
    return chat, counsellor


def check_county(state: State, county: str) -> None:
    """Refuse a county without a configured centre (`unknown_county`)."""
    if county not in state.config.centres:
        raise PolicyError(ErrorCode.UNKNOWN_COUNTY, f"no county centre {county!r}")


def check_language(state: State, language: str) -> None:
    """Refuse a language outside the configured set (`unknown_language`)."""
    if language not in state.config.languages:
        raise PolicyError(ErrorCode.UNKNOWN_LANGUAGE, f"language {language!r} is not served")


def check_capacity(capacity: int) -> None:
    """Refuse a capacity outside 1..10 (`bad_capacity`)."""
    # bool is an int in Python; True as a capacity is a caller's bug, not a capacity of one.
    if isinstance(capacity, bool) or not MIN_CAPACITY <= capacity <= MAX_CAPACITY:
        raise PolicyError(
            ErrorCode.BAD_CAPACITY, f"capacity must be {MIN_CAPACITY}..{MAX_CAPACITY}"
        )


def check_grace(grace_until: float | None, now: float) -> None:
    """Refuse a reconnect when not disconnected, or after the grace time has passed."""
    if grace_until is None:
        raise PolicyError(ErrorCode.NOT_DISCONNECTED, "not disconnected")
    if now >= grace_until:
        raise PolicyError(ErrorCode.GRACE_EXPIRED, "the grace time has passed")
