"""Hypothesis strategies for client frames with one known defect each, and the exact reply due.

Each case starts from a well-formed frame whose outcome is known in the scene the socket tests
set up (`Chats`), then gets one defect: a field missing, of the wrong type or malformed, a text
over its limit, another protocol version, an unknown type, invalid JSON, deep nesting, a number
too big, a binary frame, a frame over 32 KiB (`frame_too_large`) or over 64 KiB (the protocol
layer's close, 1009). Since only one thing is wrong, `chat.frames` can refuse it for one reason
only, and the case carries that reason's code. A well-formed frame is sent as it is only when
carrying it out changes nothing (a ping, a resend of a stored message, a typing signal).

Text is drawn from every character but NUL and lone surrogates, which PostgreSQL cannot store:
putting one in is a defect of its own. Patterned ids never end in a newline, which `re.match`
with `$` lets through: tests/chat/test_socket_fuzz.py has a test of its own for that.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from chat.connection import CloseCode
from chat.frames import (
    FRAME_TYPES,
    MAX_FRAME_BYTES,
    MAX_NOTE_CHARS,
    MAX_TEXT_CHARS,
    MAX_TOPIC_CHARS,
    MAX_TOPICS,
    STATUSES,
    WRAP_UP_CATEGORIES,
    ErrorCode,
    Role,
)
from queueing.model import ErrorCode as RoutingCode

Frame = dict[str, Any]

# The protocol layer refuses frames over this before any parsing (app/cli.py, ws_max_size).
PROTOCOL_MAX_BYTES = 64 * 1024
MESSAGE_TOO_BIG = 1009  # RFC 6455: the close code for a message over the size limit
# Python refuses to read integers of more digits than this (sys.get_int_max_str_digits), so the
# JSON reader calls such a number invalid JSON; the cases keep clear of the exact limit.
READABLE_DIGITS = 4000
UNREADABLE_DIGITS = 5000

CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
CHAT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
COUNSELLOR_ID = re.compile(r"[0-9]{1,18}")
QUEUE = re.compile(r"[0-9]{2}|national")


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Refused:
    """An error frame with this code and ref. `strike`: it counts towards the limit of refused
    frames in a row (a routing refusal never does); `closes`: the socket is then closed so."""

    code: str
    ref: str | None = None
    strike: bool = True
    closes: int | None = None


@dataclass(frozen=True)
class Answered:
    """A valid frame's replies in order, as (type, fields each must have); none at all for a
    frame without a reply (a typing signal), which the socket tests check with a ping after it."""

    replies: tuple[tuple[str, Mapping[str, Any]], ...] = ()


@dataclass(frozen=True)
class Closed:
    """The socket is closed with this code (and nothing is answered)."""

    code: int


Outcome = Refused | Answered | Closed

PONG = Answered((("pong", {}),))
SILENT = Answered()


@dataclass(frozen=True)
class Case:
    """One frame to send (text, or bytes in a binary frame) and what it must get."""

    kind: str
    raw: str | bytes
    outcome: Outcome

    def __repr__(self) -> str:
        # Frames run to 70 KB: show how they start, and their size.
        shown = self.raw[:300]
        more = f"... ({len(self.raw)} in all)" if len(self.raw) > 300 else ""
        return f"Case({self.kind!r}, {shown!r}{more}, {self.outcome!r})"


def ping_case() -> Case:
    return Case("ping", encode({"type": "ping"}), PONG)


def ack(chat_id: str, client_id: str, **fields: Any) -> Answered:
    return Answered((("ack", {"chat_id": chat_id, "client_id": client_id, **fields}),))


def routing(code: RoutingCode, chat_id: str) -> Refused:
    """A well-formed frame the router refused: named by its chat, never a strike."""
    return Refused(str(code), ref=chat_id, strike=False)


def standing(code: ErrorCode, ref: str) -> Refused:
    """A well-formed frame refused for where the chat stands: a race a correct client runs
    into, never a strike (chat/rate_limit.py)."""
    return Refused(code, ref=ref, strike=False)


def parse_ref(fields: Mapping[str, Any]) -> str | None:
    """The ref of an error frame for a frame refused while parsing: its well-formed client id."""
    client_id = fields.get("client_id")
    return client_id if isinstance(client_id, str) and CLIENT_ID.fullmatch(client_id) else None


def encode(fields: Frame, ascii_only: bool = True) -> str:
    return json.dumps({"v": 1, **fields}, ensure_ascii=ascii_only)


# --------------------------------------------------------------------------- the scene


@dataclass(frozen=True)
class Chats:
    """What the socket tests set up: Kari holds `own` (and `spare`, kept for tests that may write
    in it), Ola holds `other`, Kari ended and wrapped up `closed`. Ola is away. In `own` the
    seeker said `seeker_said` (seq 1), Kari said `said` (seq 2) and noted `noted`."""

    own: str
    other: str
    closed: str
    spare: str
    kari: str
    ola: str
    note_id: int
    seeker_said: str = "s1"
    said: str = "k1"
    noted: str = "n1"


# Where a console's frame points: Kari's active chat, Ola's, Kari's closed one, or no chat at all.
PLACES = ("own", "other", "closed", "unknown")
# accept and decline: the router finds no offer of the chat to Kari.
OFFER_REFUSALS = {
    "own": RoutingCode.ALREADY_ACCEPTED,
    "other": RoutingCode.OFFER_NOT_YOURS,
    "closed": RoutingCode.CHAT_CLOSED,
    "unknown": RoutingCode.UNKNOWN_CHAT,
}
# end and transfer of a chat Kari does not hold.
HOLDER_REFUSALS = {
    "other": RoutingCode.NOT_YOUR_CHAT,
    "closed": RoutingCode.CHAT_CLOSED,
    "unknown": RoutingCode.UNKNOWN_CHAT,
}
# message, note, typing and read, checked against the router's view (chat.access). Kari wrote
# nothing in these chats: there is no earlier message of hers to acknowledge again instead.
WRITE_REFUSALS = {
    "other": ErrorCode.NOT_YOUR_CHAT,
    "closed": ErrorCode.CHAT_CLOSED,
    "unknown": ErrorCode.NOT_YOUR_CHAT,
}
WRAP_UP_REFUSALS = {
    "own": ErrorCode.NOT_ENDED,
    "other": ErrorCode.NOT_YOUR_CHAT,
    "closed": ErrorCode.CONFLICT,
    "unknown": ErrorCode.NOT_YOUR_CHAT,
}

REQUIRED: dict[Role, dict[str, tuple[str, ...]]] = {
    Role.SEEKER: {
        "auth": ("token",),
        "message": ("client_id", "text"),
        "typing": ("active",),
        "read": ("seq",),
        "leave": (),
        "ping": (),
    },
    Role.COUNSELLOR: {
        "resume": ("last_seqs",),
        "status": ("status",),
        "auto_accept": ("enabled",),
        "accept": ("chat_id",),
        "decline": ("chat_id",),
        "message": ("chat_id", "client_id", "text"),
        "note": ("chat_id", "client_id", "text"),
        "typing": ("chat_id", "active"),
        "read": ("chat_id", "seq"),
        "transfer": ("chat_id",),
        "end": ("chat_id",),
        "wrap_up": ("chat_id", "category"),
        "ping": (),
    },
    Role.SUPERVISOR: {
        "set_capacity": ("counsellor_id", "capacity"),
        "set_away": ("counsellor_id",),
        "observe": ("chat_id",),
        "stop_observing": ("chat_id",),
        "ping": (),
    },
}
OPTIONAL = {
    "auth": ("last_seq",),
    "transfer": ("counsellor_id", "queue"),
    "wrap_up": ("topics", "note"),
}
KIND_OF = {
    "token": "token",
    "last_seq": "count",
    "seq": "count",
    "client_id": "client_id",
    "text": "text",
    "active": "flag",
    "enabled": "flag",
    "chat_id": "chat_id",
    "status": "status",
    "counsellor_id": "counsellor_id",
    "queue": "queue",
    "category": "category",
    "topics": "topics",
    "note": "note",
    "last_seqs": "last_seqs",
    "capacity": "count",
}
STRINGS = {"token", "client_id", "text", "chat_id", "status", "counsellor_id", "queue"}
STRINGS |= {"category", "note"}
# Each role's frame types the other role's socket does not know.
OTHER_TYPES = {
    Role.SEEKER: sorted(FRAME_TYPES[Role.COUNSELLOR] - FRAME_TYPES[Role.SEEKER]),
    Role.COUNSELLOR: sorted(FRAME_TYPES[Role.SEEKER] - FRAME_TYPES[Role.COUNSELLOR]),
}
# Fields PostgreSQL keeps the text of.
STORED = {"text", "note", "topics"}
MALFORMABLE = {"chat_id", "client_id", "counsellor_id", "queue", "status", "category", "text"}
MALFORMABLE |= {"count", "topics", "last_seqs"}


# --------------------------------------------------------------------------- values

CLEAN = st.characters(codec="utf-8", exclude_characters="\x00")  # no surrogates, no NUL
WHITESPACE = st.sampled_from(" \t\n\r\x0b\x0c\u00a0\u1680\u2003\u2028\u3000")
typed = st.text(CLEAN, min_size=1, max_size=40).filter(lambda text: bool(text.strip()))
counts = st.integers(0, 2**53 - 1)
tokens = st.text(CLEAN, max_size=140)
topics = st.text(CLEAN, min_size=1, max_size=20).filter(lambda text: bool(text.strip()))
small = st.integers(-1000, 10**6)
finite = st.floats(allow_nan=False, allow_infinity=False)
lists = st.lists(small, max_size=3)
objects = st.dictionaries(st.text(CLEAN, max_size=5), small, max_size=2)
json_values = st.recursive(
    st.none() | st.booleans() | small | finite | st.text(CLEAN, max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(CLEAN, max_size=8), inner),
    max_leaves=8,
)


def odd(pattern: re.Pattern[str], known: list[str]) -> st.SearchStrategy[str]:
    """Strings `pattern` refuses (none ending in a newline: see the module docstring)."""
    drawn = st.text(CLEAN, max_size=70).filter(
        lambda text: not pattern.fullmatch(text) and not text.endswith("\n")
    )
    return st.sampled_from(known) | drawn


def new_ids(taken: str) -> st.SearchStrategy[str]:
    return st.from_regex(CLIENT_ID, fullmatch=True).filter(lambda client_id: client_id != taken)


@st.composite
def texts_of(draw: st.DrawFn, length: int) -> str:
    """A text of `length` characters, not blank, repeating a drawn piece."""
    piece = draw(typed)
    return (piece * (length // len(piece) + 1))[:length]


def wrong_types(kind: str) -> st.SearchStrategy[Any]:
    """JSON values of any type but the field's."""
    if kind in STRINGS:
        return st.none() | st.booleans() | small | finite | lists | objects
    if kind == "flag":
        return st.none() | small | finite | st.sampled_from(["true", "false", ""]) | lists | objects
    if kind == "count":
        return st.none() | st.booleans() | finite | st.text(CLEAN, max_size=5) | lists | objects
    if kind == "topics":
        return st.none() | st.booleans() | small | st.text(CLEAN, max_size=5) | objects
    assert kind == "last_seqs"
    return st.none() | st.booleans() | small | st.text(CLEAN, max_size=5) | lists


def malformed(kind: str, chats: Chats) -> st.SearchStrategy[Any] | None:
    """Values of the field's type that its rules refuse, or None when every value is fine."""
    own = chats.own
    bad_topic_lists = st.one_of(
        st.lists(topics, min_size=MAX_TOPICS + 1, max_size=MAX_TOPICS + 4),
        st.tuples(st.lists(topics, max_size=3), st.text(WHITESPACE, max_size=4)).map(
            lambda drawn: [*drawn[0], drawn[1]]
        ),
        st.integers(MAX_TOPIC_CHARS + 1, 90).map(lambda length: ["t" * length]),
        st.tuples(st.lists(topics, max_size=3), small | st.none() | lists).map(
            lambda drawn: [*drawn[0], drawn[1]]
        ),
    )
    bad_seqs = st.one_of(
        st.integers(101, 110).map(lambda n: {str(uuid.UUID(int=i)): 0 for i in range(n)}),
        odd(CHAT_ID, ["X" + own[1:], "../etc"]).map(lambda chat_id: {chat_id: 0}),
        st.one_of(
            st.booleans(),
            st.none(),
            finite,
            st.integers(max_value=-1),
            st.integers(min_value=2**53, max_value=10**30),
            st.text(CLEAN, max_size=3),
        ).map(lambda seq: {own: seq}),
    )
    strategies: dict[str, st.SearchStrategy[Any]] = {
        "chat_id": odd(
            CHAT_ID,
            [
                "X" + own[1:],
                own.replace("-", ""),
                "{" + own + "}",
                own[:-1],
                own + "0",
                " " + own,
                "../../etc/passwd",
                "",
            ],
        ),
        "client_id": odd(CLIENT_ID, ["", "a" * 65, "k 1", "kø", "k1;", "../k1", "k1\r", "\nk1"]),
        "counsellor_id": odd(COUNSELLOR_ID, ["", "1" * 19, "-1", "1.0", " 1", "+1", "\u0661"]),
        "queue": odd(
            QUEUE, ["", "3", "003", "Nasjonal", "NATIONAL", "national ", " 03", "\u0660\u0663"]
        ),
        "status": st.text(CLEAN, max_size=12).filter(lambda text: text not in STATUSES),
        "category": st.text(CLEAN, max_size=12).filter(lambda t: t not in WRAP_UP_CATEGORIES),
        "text": st.text(WHITESPACE, max_size=20),
        "count": st.integers(max_value=-1) | st.integers(min_value=2**53, max_value=10**40),
        "topics": bad_topic_lists,
        "last_seqs": bad_seqs,
    }
    return strategies.get(kind)


# --------------------------------------------------------------------------- well-formed frames


@dataclass(frozen=True)
class Base:
    """A well-formed frame (with its type, without `v`) and what it gets as it is; None when
    carrying it out would change something, so it is only ever sent with a defect."""

    fields: Frame
    outcome: Outcome | None


@st.composite
def console_frames(draw: st.DrawFn, chats: Chats) -> Base:
    """Well-formed frames of Kari's console, about each kind of chat."""
    frame_type = draw(st.sampled_from(sorted(FRAME_TYPES[Role.COUNSELLOR])))
    place = draw(st.sampled_from(PLACES))
    chat = {"own": chats.own, "other": chats.other, "closed": chats.closed}.get(place)
    chat = chat or str(draw(st.uuids()))
    own = place == "own"
    if frame_type == "ping":
        return Base({"type": "ping"}, PONG)
    if frame_type == "status":
        status = draw(st.sampled_from(STATUSES))  # Kari is available already
        unchanged = Answered((("status", {"status": status, "reason": "unchanged"}),))
        return Base(
            {"type": "status", "status": status}, unchanged if status == "available" else None
        )
    if frame_type == "auto_accept":
        enabled = draw(st.booleans())  # and does not accept automatically
        said = Answered((("auto_accept", {"enabled": enabled}),))
        return Base({"type": "auto_accept", "enabled": enabled}, None if enabled else said)
    if frame_type in ("accept", "decline"):
        return Base({"type": frame_type, "chat_id": chat}, routing(OFFER_REFUSALS[place], chat))
    if frame_type == "end":
        return Base(
            {"type": "end", "chat_id": chat}, None if own else routing(HOLDER_REFUSALS[place], chat)
        )
    if frame_type == "transfer":
        return draw(transfers(chats, place, chat))
    if frame_type in ("message", "note"):
        stored = chats.said if frame_type == "message" else chats.noted
        resend = own and draw(st.booleans())
        client_id = stored if resend else draw(new_ids(stored))
        text = draw(typed | texts_of(MAX_TEXT_CHARS))
        fields: Frame = {"type": frame_type, "chat_id": chat, "client_id": client_id, "text": text}
        if not own:
            return Base(fields, standing(WRITE_REFUSALS[place], client_id))
        if not resend:
            return Base(fields, None)
        # A resend is acknowledged with what was stored, whatever its text now.
        if frame_type == "message":
            return Base(fields, ack(chat, client_id, seq=2))
        return Base(fields, ack(chat, client_id, note_id=chats.note_id))
    if frame_type in ("typing", "read"):
        signal = (
            {"active": draw(st.booleans())} if frame_type == "typing" else {"seq": draw(counts)}
        )
        fields = {"type": frame_type, "chat_id": chat, **signal}
        return Base(fields, SILENT if own else standing(WRITE_REFUSALS[place], chat))
    if frame_type == "wrap_up":
        fields = {"type": "wrap_up", "chat_id": chat}
        fields["category"] = draw(st.sampled_from(WRAP_UP_CATEGORIES))
        if draw(st.booleans()):
            fields["topics"] = draw(st.lists(topics, max_size=MAX_TOPICS))
        if draw(st.booleans()):
            fields["note"] = draw(st.text(CLEAN, max_size=200))
        return Base(fields, standing(WRAP_UP_REFUSALS[place], chat))
    assert frame_type == "resume"
    # The console follows Kari's two active chats: any other chat named is "not yours".
    named = st.sampled_from([chats.own, chats.spare, chats.other, chats.closed])
    keys = draw(st.lists(named | st.uuids().map(str), unique=True, max_size=5))
    fields = {"type": "resume", "last_seqs": {key: draw(counts) for key in keys}}
    removed = tuple(
        ("chat_removed", {"chat_id": key, "reason": "not_yours"})
        for key in keys
        if key not in (chats.own, chats.spare)
    )
    return Base(fields, Answered(removed))


@st.composite
def transfers(draw: st.DrawFn, chats: Chats, place: str, chat: str) -> Base:
    if draw(st.booleans()):
        queue = draw(st.sampled_from(["national", "03", "46", "99", "00"]))
        fields = {"type": "transfer", "chat_id": chat, "queue": queue}
        # A transfer to a real queue would go ahead; 99 and 00 are no county's.
        mine = routing(RoutingCode.UNKNOWN_COUNTY, chat) if queue in ("99", "00") else None
    else:
        target = draw(st.sampled_from([chats.kari, chats.ola, "999999"]))
        fields = {"type": "transfer", "chat_id": chat, "counsellor_id": target}
        codes = {
            chats.kari: RoutingCode.TRANSFER_TO_SELF,
            chats.ola: RoutingCode.TARGET_UNAVAILABLE,
        }
        mine = routing(codes.get(target, RoutingCode.UNKNOWN_COUNSELLOR), chat)
    return Base(fields, mine if place == "own" else routing(HOLDER_REFUSALS[place], chat))


@st.composite
def seeker_frames(draw: st.DrawFn, chats: Chats) -> Base:
    """Well-formed frames of the seeker of `own`, once authenticated."""
    frame_type = draw(st.sampled_from(sorted(FRAME_TYPES[Role.SEEKER])))
    if frame_type == "ping":
        return Base({"type": "ping"}, PONG)
    if frame_type == "auth":
        fields: Frame = {"type": "auth", "token": draw(tokens)}
        if draw(st.booleans()):
            fields["last_seq"] = draw(counts)
        return Base(fields, Refused(ErrorCode.NOT_ALLOWED))
    if frame_type == "message":
        resend = draw(st.booleans())
        client_id = chats.seeker_said if resend else draw(new_ids(chats.seeker_said))
        text = draw(typed | texts_of(MAX_TEXT_CHARS))
        fields = {"type": "message", "client_id": client_id, "text": text}
        if draw(st.booleans()):
            # A seeker's socket serves one chat: another chat named in the frame is ignored.
            fields["chat_id"] = draw(
                st.sampled_from([chats.other, chats.closed]) | st.uuids().map(str)
            )
        return Base(fields, ack(chats.own, client_id, seq=1) if resend else None)
    if frame_type == "typing":
        return Base({"type": "typing", "active": draw(st.booleans())}, SILENT)
    if frame_type == "read":
        return Base({"type": "read", "seq": draw(counts)}, SILENT)
    assert frame_type == "leave"
    return Base({"type": "leave"}, None)


def stranger_frames(chats: Chats) -> st.SearchStrategy[Base]:
    """Well-formed seeker frames on a socket not yet authenticated: every one is refused."""

    def refused(base: Base) -> Base:
        fields = base.fields
        if fields["type"] == "auth":  # no such token
            outcome = Refused(ErrorCode.BAD_TOKEN, strike=False, closes=CloseCode.NOT_AUTHENTICATED)
        else:
            outcome = Refused(ErrorCode.NOT_AUTHENTICATED, ref=fields.get("client_id"))
        return Base(fields, outcome)

    return seeker_frames(chats).map(refused)


# --------------------------------------------------------------------------- defects

NUMBER = "@@number@@"
DEEP = "@@deep@@"
KEEPING = ("as_is", "extra_fields")
DEFECTS = (
    "nesting",
    "missing",
    "wrong_type",
    "malformed",
    "too_long",
    "unstorable",
    "version",
    "type",
    "number",
    "syntax",
    "not_object",
    "duplicate_key",
    "garbage",
)
ABSENT = object()


def placed(body: Frame, marker: str, literal: str, ascii_only: bool) -> str:
    """The frame's JSON with the marker's value replaced by a literal json.dumps cannot write."""
    return json.dumps(body, ensure_ascii=ascii_only).replace(json.dumps(marker), literal, 1)


@st.composite
def cases(draw: st.DrawFn, role: Role, frames: st.SearchStrategy[Base], chats: Chats) -> Case:
    """A frame of `role` with at most one defect, sent as text or binary, maybe padded."""
    base = draw(frames)
    fields, frame_type = base.fields, base.fields["type"]
    required = REQUIRED[role][frame_type]
    named = required + OPTIONAL.get(frame_type, ())
    options = [
        defect
        for defect in (*KEEPING, *DEFECTS)
        if (base.outcome is not None or defect not in KEEPING)
        and (defect != "missing" or required or frame_type == "transfer")
        and (defect != "wrong_type" or named)
        and (defect != "malformed" or any(KIND_OF[name] in MALFORMABLE for name in named))
        and (defect != "too_long" or {"text", "note"} & set(named))
        and (defect != "unstorable" or STORED & set(named))
    ]
    defect = draw(st.sampled_from(options))
    ascii_only = draw(st.booleans())
    raw: str | bytes
    outcome: Outcome | None
    if defect in KEEPING:
        extra = {}
        if defect == "extra_fields":
            keys = st.text(CLEAN, max_size=8).map(lambda key: "x_" + key)
            extra = draw(st.dictionaries(keys, json_values, min_size=1, max_size=3))
        raw, outcome = encode({**fields, **extra}, ascii_only), base.outcome
    elif defect == "nesting":
        raw, outcome = draw(nestings(fields, base.outcome, ascii_only))
    elif defect == "missing":
        choices = list(required)
        if frame_type == "transfer":
            choices += [name for name in OPTIONAL["transfer"] if name in fields]
        name = draw(st.sampled_from(choices))
        kept = {key: value for key, value in fields.items() if key != name}
        # Naming neither counsellor nor queue is a bad transfer, not a missing field.
        code = ErrorCode.BAD_FIELD if name in OPTIONAL["transfer"] else ErrorCode.MISSING_FIELD
        raw, outcome = encode(kept, ascii_only), Refused(code, ref=parse_ref(kept))
    elif defect == "wrong_type":
        name = draw(st.sampled_from(named))
        changed = {**fields, name: draw(wrong_types(KIND_OF[name]))}
        raw, outcome = encode(changed, ascii_only), Refused(ErrorCode.BAD_FIELD, parse_ref(changed))
    elif defect == "malformed":
        name = draw(st.sampled_from([n for n in named if KIND_OF[n] in MALFORMABLE]))
        value = draw(malformed(KIND_OF[name], chats))  # type: ignore[arg-type]
        changed = {**fields, name: value}
        raw, outcome = encode(changed, ascii_only), Refused(ErrorCode.BAD_FIELD, parse_ref(changed))
    elif defect == "too_long":
        name = "text" if "text" in named else "note"
        limit = MAX_TEXT_CHARS if name == "text" else MAX_NOTE_CHARS
        changed = {**fields, name: draw(st.integers(limit + 1, 2 * limit).flatmap(texts_of))}
        raw = encode(changed, ascii_only)
        outcome = Refused(ErrorCode.TEXT_TOO_LONG, parse_ref(changed))
    elif defect == "unstorable":
        name = draw(st.sampled_from(sorted(STORED & set(named))))
        piece, unstorable = (
            draw(typed),
            draw(st.sampled_from(["\x00", "\ud800", "\udbff", "\udfff"])),
        )
        cut = draw(st.integers(0, len(piece)))
        value = piece[:cut] + unstorable + piece[cut:]
        changed = {**fields, name: [value] if name == "topics" else value}
        # Escaped: a lone surrogate has no UTF-8 to send it in.
        raw, outcome = encode(changed), Refused(ErrorCode.BAD_FIELD, parse_ref(changed))
    elif defect == "version":
        version = draw(
            st.sampled_from(
                [ABSENT, 0, 2, -1, "1", "v1", True, False, None, 1.0, 1.5, [1], {"v": 1}]
            )
        )
        body = dict(fields) if version is ABSENT else {"v": version, **fields}
        raw = json.dumps(body, ensure_ascii=ascii_only)
        outcome = Refused(ErrorCode.UNSUPPORTED_VERSION, parse_ref(fields))
    elif defect == "type":
        raw, outcome = draw(unknown_types(role, fields, ascii_only))
    elif defect == "number":
        raw, outcome = draw(numbers(fields, named, chats, ascii_only))
    elif defect == "syntax":
        raw, outcome = draw(broken_json(fields, ascii_only)), Refused(ErrorCode.INVALID_JSON)
    elif defect == "not_object":
        scalars = st.none() | st.booleans() | small | finite | st.text(CLEAN, max_size=20)
        value = draw(scalars | st.lists(json_values, max_size=3) | st.just([{"v": 1, **fields}]))
        raw, outcome = json.dumps(value, ensure_ascii=ascii_only), Refused(ErrorCode.NOT_AN_OBJECT)
    elif defect == "duplicate_key":
        # The last of two equal keys wins.
        if draw(st.booleans()):
            raw = encode(fields, ascii_only)[:-1] + ',"type":"shout"}'
            outcome = Refused(ErrorCode.UNKNOWN_TYPE, parse_ref(fields))
        else:
            raw = encode(fields, ascii_only)[:-1] + ',"v":2}'
            outcome = Refused(ErrorCode.UNSUPPORTED_VERSION, parse_ref(fields))
    else:
        assert defect == "garbage"
        # Bytes that are no JSON in any encoding the reader detects: none starts with a
        # byte-order mark, and the first character is never one JSON may start with.
        start = draw(st.sampled_from([b"", b"\x80", b"\xc3\x28", b"\xc0\x80", b"\xed\xa0\x80"]))
        raw = start + (draw(st.binary(max_size=40)) if start else b"")
        outcome = Refused(ErrorCode.INVALID_JSON)
    assert outcome is not None
    return draw(transported(defect, raw, outcome))


@st.composite
def nestings(
    draw: st.DrawFn, fields: Frame, outcome: Outcome | None, ascii_only: bool
) -> tuple[str, Outcome]:
    """Nested arrays or objects, in a field of their own or as the frame: a few hundred levels
    are read; thousands are past the reader's recursion limit, and refused as invalid JSON."""
    deep = outcome is None or draw(st.booleans())
    depth = draw(st.integers(2_000, 12_000) if deep else st.integers(1, 200))
    if draw(st.booleans()):
        nested = "[" * depth + "]" * depth
    else:
        nested = '{"a":' * depth + "0" + "}" * depth
    if draw(st.booleans()):  # the whole frame
        shallow: Outcome = Refused(
            ErrorCode.NOT_AN_OBJECT if nested.startswith("[") else ErrorCode.UNSUPPORTED_VERSION
        )
        return nested, Refused(ErrorCode.INVALID_JSON) if deep else shallow
    raw = placed({"v": 1, **fields, "x_deep": DEEP}, DEEP, nested, ascii_only)
    if deep:
        return raw, Refused(ErrorCode.INVALID_JSON)
    assert outcome is not None
    return raw, outcome


@st.composite
def unknown_types(
    draw: st.DrawFn, role: Role, fields: Frame, ascii_only: bool
) -> tuple[str, Outcome]:
    known = FRAME_TYPES[role]
    frame_type = draw(
        st.sampled_from([ABSENT, None, 1, True, [], {}, "", "PING", "Ping", " ping", "ping "])
        | st.sampled_from(OTHER_TYPES[role])
        | st.text(CLEAN, max_size=12).filter(lambda text: text not in known)
    )
    body = {key: value for key, value in fields.items() if key != "type"}
    if frame_type is not ABSENT:
        body["type"] = frame_type
    return encode(body, ascii_only), Refused(ErrorCode.UNKNOWN_TYPE, parse_ref(fields))


@st.composite
def numbers(
    draw: st.DrawFn, fields: Frame, named: tuple[str, ...], chats: Chats, ascii_only: bool
) -> tuple[str, Outcome]:
    """A number no field takes: past 2**53, a float, NaN or infinite; or one of more digits than
    Python reads, which the reader calls invalid JSON."""
    target = draw(
        st.sampled_from(["v", *(n for n in named if KIND_OF[n] in ("count", "last_seqs"))])
    )
    digits = draw(st.integers(16, READABLE_DIGITS) | st.integers(UNREADABLE_DIGITS, 20_000))
    sign = draw(st.sampled_from(["", "-"]))
    floats = ["1e400", "-1e400", "1E308", "NaN", "Infinity", "-Infinity", "0.5", "-0.0", "1.0"]
    literal = draw(st.sampled_from([sign + "9" * digits, *floats]))
    if target == "v":
        raw = placed({"v": NUMBER, **fields}, NUMBER, literal, ascii_only)
        refused = Refused(ErrorCode.UNSUPPORTED_VERSION, parse_ref(fields))
    else:
        value: Any = {chats.own: NUMBER} if target == "last_seqs" else NUMBER
        raw = placed({"v": 1, **fields, target: value}, NUMBER, literal, ascii_only)
        refused = Refused(ErrorCode.BAD_FIELD, parse_ref(fields))
    if literal.lstrip("-").isdigit() and len(literal.lstrip("-")) >= UNREADABLE_DIGITS:
        return raw, Refused(ErrorCode.INVALID_JSON)
    return raw, refused


@st.composite
def broken_json(draw: st.DrawFn, fields: Frame, ascii_only: bool) -> str:
    """The frame's text made invalid JSON in one of the ways a buggy client would."""
    raw = encode(fields, ascii_only)
    how = draw(st.sampled_from(["cut", "trail", "control", "escape", "quotes", "comment", "blank"]))
    if how == "cut":
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if how == "trail":
        return raw + draw(st.sampled_from([" x", ",", "}", "]", "{}", '"', " 1", "\x00"]))
    if how == "control":  # a raw control character inside a string
        return raw.replace('"type": "', '"type": "\t', 1)
    if how == "escape":
        return raw.replace('"type": "', '"type": "\\x', 1)
    if how == "quotes":
        return raw.replace('"', "'")
    if how == "comment":
        return "// a frame\n" + raw
    return draw(st.text(WHITESPACE, max_size=10))


@st.composite
def transported(draw: st.DrawFn, defect: str, raw: str | bytes, outcome: Outcome) -> Case:
    """Send as text or in a binary frame (refused: frames are text), padded with whitespace maybe:
    within 32 KiB nothing changes, over it the frame is too large, over 64 KiB the protocol layer
    closes."""
    kind = defect
    if isinstance(raw, str) and draw(st.sampled_from([False, False, False, True])):
        raw, kind = raw.encode(), kind + ", binary"
        outcome = Refused(ErrorCode.INVALID_JSON)
    size = len(raw.encode() if isinstance(raw, str) else raw)
    # Mostly unpadded: a close over 64 KiB costs a new socket, and sizes have a test of their own.
    padding = draw(st.sampled_from(["none"] * 6 + ["within", "over", "protocol"]))
    bounds = {
        "within": (size, MAX_FRAME_BYTES),
        "over": (max(size, MAX_FRAME_BYTES + 1), PROTOCOL_MAX_BYTES),
        "protocol": (max(size, PROTOCOL_MAX_BYTES + 1), PROTOCOL_MAX_BYTES + 4096),
    }.get(padding)
    if bounds is not None and bounds[0] <= bounds[1]:
        target = draw(st.integers(*bounds))
        pad = target - size
        raw = raw + b" " * pad if isinstance(raw, bytes) else raw + " " * pad
        size, kind = target, f"{kind}, padded {padding}"
    if size > PROTOCOL_MAX_BYTES:
        outcome = Closed(MESSAGE_TOO_BIG)
    elif size > MAX_FRAME_BYTES and isinstance(raw, str):  # bytes are refused before their size
        outcome = Refused(ErrorCode.FRAME_TOO_LARGE)
    return Case(kind, raw, outcome)


def striking(case: Case) -> bool:
    """A case refused in a way that counts towards closing the socket, and nothing more."""
    outcome = case.outcome
    return isinstance(outcome, Refused) and outcome.strike and outcome.closes is None
