"""The WebSocket protocol's client frames: their types, fields and validation, in one place.

Every frame is a JSON object `{"v": 1, "type": "...", ...}` in a text message. Parsing is pure:
bytes or text in, a typed frame out, or `FrameError` with a machine-readable code that the
connection sends back as an error frame. Nothing here touches a socket, a database or a clock.
See docs/protocol.md for the whole protocol, server frames included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from queueing.model import MAX_CAPACITY, MIN_CAPACITY

PROTOCOL_VERSION = 1

# A frame carries at most one message of MAX_TEXT_CHARS characters; four bytes a character in
# UTF-8 plus JSON escaping stays well inside this, and anything larger is not a chat frame.
MAX_FRAME_BYTES = 32 * 1024
MAX_TEXT_CHARS = 4000
MAX_NOTE_CHARS = 4000
MAX_TOPICS = 10
MAX_TOPIC_CHARS = 60
MAX_CLIENT_ID_CHARS = 64

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CHAT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_COUNSELLOR_ID = re.compile(r"^[0-9]{1,18}$")


class ErrorCode(StrEnum):
    """Why a frame was refused. Sent in error frames; never changes with the wording."""

    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_TYPE = "unknown_type"
    MISSING_FIELD = "missing_field"
    BAD_FIELD = "bad_field"
    FRAME_TOO_LARGE = "frame_too_large"
    TEXT_TOO_LONG = "text_too_long"
    RATE_LIMITED = "rate_limited"
    NOT_AUTHENTICATED = "not_authenticated"
    BAD_TOKEN = "bad_token"  # noqa: S105 - an error code, not a secret
    NOT_YOUR_CHAT = "not_your_chat"
    NOT_ALLOWED = "not_allowed"
    CHAT_CLOSED = "chat_closed"
    NOT_ENDED = "not_ended"
    CONFLICT = "conflict"
    INTERNAL = "internal"


class FrameError(ValueError):
    """A frame the server refuses; `ref` echoes the client's id for the frame when it had one.

    `code` is an `ErrorCode`, or a routing policy's code (`offer_expired`, ...) when the frame was
    well formed but the routing refused what it asked for.
    """

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.ref = ref


class Role(StrEnum):
    SEEKER = "seeker"
    COUNSELLOR = "counsellor"
    SUPERVISOR = "supervisor"


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class Auth:
    """A seeker's first frame: the resume token, and the last sequence number already seen."""

    token: str
    last_seq: int


@dataclass(frozen=True)
class Resume:
    """A counsellor's catch-up after (re)connecting: the last sequence seen in each chat."""

    last_seqs: Mapping[str, int]


@dataclass(frozen=True)
class SendMessage:
    """A chat message (or, for counsellors, an internal note) with the sender's own id."""

    chat_id: str | None  # None for seekers: a seeker socket serves exactly one chat
    client_id: str
    text: str
    note: bool = False


@dataclass(frozen=True)
class Typing:
    chat_id: str | None
    active: bool


@dataclass(frozen=True)
class Read:
    """Everything up to `seq` has been read."""

    chat_id: str | None
    seq: int


@dataclass(frozen=True)
class Leave:
    """The seeker ends the chat (or leaves the queue)."""


@dataclass(frozen=True)
class Ping:
    """An application-level keepalive for clients that cannot send WebSocket pings."""


@dataclass(frozen=True)
class SetStatus:
    status: str


@dataclass(frozen=True)
class SetAutoAccept:
    """Offers to this counsellor are accepted at once while on."""

    enabled: bool


@dataclass(frozen=True)
class Accept:
    chat_id: str


@dataclass(frozen=True)
class Decline:
    chat_id: str


@dataclass(frozen=True)
class Transfer:
    """Hand a chat to a named counsellor, a county queue or the national queue."""

    chat_id: str
    counsellor_id: str | None = None
    queue: str | None = None  # a two-digit county number or "national"


@dataclass(frozen=True)
class End:
    chat_id: str


@dataclass(frozen=True)
class WrapUp:
    chat_id: str
    category: str
    topics: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class SetCapacity:
    """A supervisor changes how many chats a counsellor holds at once."""

    counsellor_id: str
    capacity: int


@dataclass(frozen=True)
class SetAway:
    """A supervisor sets a signed-in counsellor away: no more offers until they come back."""

    counsellor_id: str


@dataclass(frozen=True)
class Observe:
    """A supervisor reads a chat as it goes on, without taking part (recorded in the audit log)."""

    chat_id: str


@dataclass(frozen=True)
class StopObserving:
    chat_id: str


ClientFrame = (
    Auth
    | Resume
    | SendMessage
    | Typing
    | Read
    | Leave
    | Ping
    | SetStatus
    | SetAutoAccept
    | Accept
    | Decline
    | Transfer
    | End
    | WrapUp
    | SetCapacity
    | SetAway
    | Observe
    | StopObserving
)

STATUSES = ("available", "away", "offline")
WRAP_UP_CATEGORIES = ("reflection", "information", "referral", "other")


# --------------------------------------------------------------------------- field readers


def storable(text: str) -> bool:
    """Text PostgreSQL can keep: no NUL, no lone surrogate (JSON can carry both)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Fields:
    """Typed access to a frame's fields, raising FrameError that names the field."""

    def __init__(self, data: Mapping[str, Any], ref: str | None) -> None:
        self._data = data
        self.ref = ref

    def value(self, name: str, kind: type | tuple[type, ...], required: bool) -> Any:
        if name not in self._data:
            if required:
                raise FrameError(ErrorCode.MISSING_FIELD, f"'{name}' is required", self.ref)
            return None
        value = self._data[name]
        # bool is an int in Python; a JSON true is never a number here.
        if isinstance(value, bool) and kind is not bool:
            raise FrameError(ErrorCode.BAD_FIELD, f"'{name}' has the wrong type", self.ref)
        if not isinstance(value, kind):
            raise FrameError(ErrorCode.BAD_FIELD, f"'{name}' has the wrong type", self.ref)
        return value

    def text(self, name: str, pattern: re.Pattern[str] | None = None) -> str:
        value: str = self.value(name, str, True)
        if pattern is not None and not pattern.fullmatch(value):
            raise FrameError(ErrorCode.BAD_FIELD, f"'{name}' is not well formed", self.ref)
        return value

    def optional_text(self, name: str, pattern: re.Pattern[str]) -> str | None:
        value: str | None = self.value(name, str, False)
        if value is not None and not pattern.fullmatch(value):
            raise FrameError(ErrorCode.BAD_FIELD, f"'{name}' is not well formed", self.ref)
        return value

    def count(self, name: str, required: bool = True) -> int:
        value: int | None = self.value(name, int, required)
        if value is None:
            return 0
        if not 0 <= value < 2**53:
            raise FrameError(ErrorCode.BAD_FIELD, f"'{name}' is out of range", self.ref)
        return value

    def flag(self, name: str) -> bool:
        value: bool = self.value(name, bool, True)
        return value

    def choice(self, name: str, options: tuple[str, ...]) -> str:
        value = self.text(name)
        if value not in options:
            raise FrameError(
                ErrorCode.BAD_FIELD, f"'{name}' must be one of {', '.join(options)}", self.ref
            )
        return value

    def message_text(self, name: str, limit: int) -> str:
        value = self.text(name)
        if not value.strip():
            raise FrameError(ErrorCode.BAD_FIELD, f"'{name}' is empty", self.ref)
        if len(value) > limit:
            raise FrameError(
                ErrorCode.TEXT_TOO_LONG, f"'{name}' is over {limit} characters", self.ref
            )
        if not storable(value):
            raise FrameError(
                ErrorCode.BAD_FIELD, f"'{name}' holds a character that cannot be kept", self.ref
            )
        return value

    def chat_id(self) -> str:
        return self.text("chat_id", _CHAT_ID)

    def counsellor_id(self) -> str:
        return self.text("counsellor_id", _COUNSELLOR_ID)

    def capacity(self) -> int:
        value: int = self.value("capacity", int, True)
        if not MIN_CAPACITY <= value <= MAX_CAPACITY:
            raise FrameError(
                ErrorCode.BAD_FIELD,
                f"'capacity' is from {MIN_CAPACITY} to {MAX_CAPACITY}",
                self.ref,
            )
        return value

    def token(self) -> str:
        value = self.text("token")
        if not storable(value):
            raise FrameError(ErrorCode.BAD_FIELD, "'token' is not well formed", self.ref)
        return value


def _message(fields: _Fields, role: Role, note: bool = False) -> SendMessage:
    return SendMessage(
        chat_id=None if role is Role.SEEKER else fields.chat_id(),
        client_id=fields.text("client_id", _CLIENT_ID),
        text=fields.message_text("text", MAX_NOTE_CHARS if note else MAX_TEXT_CHARS),
        note=note,
    )


def _resume(fields: _Fields) -> Resume:
    raw: dict[str, Any] = fields.value("last_seqs", dict, True)
    if len(raw) > 100:
        raise FrameError(ErrorCode.BAD_FIELD, "'last_seqs' names too many chats", fields.ref)
    seqs: dict[str, int] = {}
    for chat_id, seq in raw.items():
        if not _CHAT_ID.fullmatch(chat_id) or isinstance(seq, bool) or not isinstance(seq, int):
            raise FrameError(
                ErrorCode.BAD_FIELD, "'last_seqs' maps chat ids to numbers", fields.ref
            )
        if not 0 <= seq < 2**53:
            raise FrameError(ErrorCode.BAD_FIELD, "'last_seqs' is out of range", fields.ref)
        seqs[chat_id] = seq
    return Resume(seqs)


def _transfer(fields: _Fields) -> Transfer:
    chat_id = fields.chat_id()
    counsellor = fields.optional_text("counsellor_id", _COUNSELLOR_ID)
    queue = fields.optional_text("queue", re.compile(r"^([0-9]{2}|national)$"))
    if (counsellor is None) == (queue is None):
        raise FrameError(
            ErrorCode.BAD_FIELD, "name exactly one of 'counsellor_id' and 'queue'", fields.ref
        )
    return Transfer(chat_id, counsellor, queue)


def _wrap_up(fields: _Fields) -> WrapUp:
    topics: list[Any] = fields.value("topics", list, False) or []
    if len(topics) > MAX_TOPICS or not all(
        isinstance(t, str) and 0 < len(t.strip()) <= MAX_TOPIC_CHARS and storable(t) for t in topics
    ):
        raise FrameError(
            ErrorCode.BAD_FIELD,
            f"'topics' is a list of at most {MAX_TOPICS} short texts",
            fields.ref,
        )
    note: str | None = fields.value("note", str, False)
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise FrameError(ErrorCode.TEXT_TOO_LONG, "'note' is too long", fields.ref)
    if note is not None and not storable(note):
        raise FrameError(
            ErrorCode.BAD_FIELD, "'note' holds a character that cannot be kept", fields.ref
        )
    return WrapUp(
        chat_id=fields.chat_id(),
        category=fields.choice("category", WRAP_UP_CATEGORIES),
        topics=tuple(dict.fromkeys(t.strip() for t in topics)),
        note=note or "",
    )


_Parser = Callable[[_Fields], ClientFrame]

_SEEKER_FRAMES: dict[str, _Parser] = {
    "auth": lambda f: Auth(f.token(), f.count("last_seq", required=False)),
    "message": lambda f: _message(f, Role.SEEKER),
    "typing": lambda f: Typing(None, f.flag("active")),
    "read": lambda f: Read(None, f.count("seq")),
    "leave": lambda f: Leave(),
    "ping": lambda f: Ping(),
}

_COUNSELLOR_FRAMES: dict[str, _Parser] = {
    "resume": _resume,
    "status": lambda f: SetStatus(f.choice("status", STATUSES)),
    "auto_accept": lambda f: SetAutoAccept(f.flag("enabled")),
    "accept": lambda f: Accept(f.chat_id()),
    "decline": lambda f: Decline(f.chat_id()),
    "message": lambda f: _message(f, Role.COUNSELLOR),
    "note": lambda f: _message(f, Role.COUNSELLOR, note=True),
    "typing": lambda f: Typing(f.chat_id(), f.flag("active")),
    "read": lambda f: Read(f.chat_id(), f.count("seq")),
    "transfer": _transfer,
    "end": lambda f: End(f.chat_id()),
    "wrap_up": _wrap_up,
    "ping": lambda f: Ping(),
}

_SUPERVISOR_FRAMES: dict[str, _Parser] = {
    "set_capacity": lambda f: SetCapacity(f.counsellor_id(), f.capacity()),
    "set_away": lambda f: SetAway(f.counsellor_id()),
    "observe": lambda f: Observe(f.chat_id()),
    "stop_observing": lambda f: StopObserving(f.chat_id()),
    "ping": lambda f: Ping(),
}

_FRAMES: dict[Role, dict[str, _Parser]] = {
    Role.SEEKER: _SEEKER_FRAMES,
    Role.COUNSELLOR: _COUNSELLOR_FRAMES,
    Role.SUPERVISOR: _SUPERVISOR_FRAMES,
}

FRAME_TYPES: dict[Role, frozenset[str]] = {role: frozenset(p) for role, p in _FRAMES.items()}


def parse_client_frame(raw: str | bytes, role: Role) -> ClientFrame:
    """Validate one client frame for a socket of `role`; raise FrameError on anything amiss."""
    if isinstance(raw, bytes):
        raise FrameError(ErrorCode.INVALID_JSON, "frames are JSON in text messages, not binary")
    size = len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_FRAME_BYTES:
        raise FrameError(ErrorCode.FRAME_TOO_LARGE, f"frames are at most {MAX_FRAME_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise FrameError(ErrorCode.INVALID_JSON, "the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise FrameError(ErrorCode.NOT_AN_OBJECT, "a frame is a JSON object")
    ref = data.get("client_id") if isinstance(data.get("client_id"), str) else None
    ref = ref if ref is not None and _CLIENT_ID.fullmatch(ref) else None
    version = data.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise FrameError(
            ErrorCode.UNSUPPORTED_VERSION, f"this server speaks protocol v{PROTOCOL_VERSION}", ref
        )
    frame_type = data.get("type")
    parsers = _FRAMES[role]
    if not isinstance(frame_type, str) or frame_type not in parsers:
        raise FrameError(ErrorCode.UNKNOWN_TYPE, "unknown frame type", ref)
    return parsers[frame_type](_Fields(data, ref))


def reference(frame: ClientFrame) -> str | None:
    """What an error frame's `ref` names for a refused frame: its client id when it has one,
    else the chat it is about."""
    return getattr(frame, "client_id", None) or getattr(frame, "chat_id", None)


def server_frame(frame_type: str, **fields: Any) -> str:
    """Encode a server frame as JSON text, with the protocol version."""
    return json.dumps({"v": PROTOCOL_VERSION, "type": frame_type, **fields}, ensure_ascii=False)


def error_frame(error: FrameError) -> str:
    """The error frame for a refused client frame."""
    fields: dict[str, Any] = {"code": str(error.code), "message": error.message}
    if error.ref is not None:
        fields["ref"] = error.ref
    return server_frame("error", **fields)
