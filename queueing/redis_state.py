"""The routing state as Redis stores it, both ways: hash fields to a policy `State` (snapshot) and
back (restore), and the settings hash the scripts read. Pure: no I/O.

The Lua in `queueing/lua/lib.lua` reads and writes the same fields (`Q.chat_fields`,
`Q.counsellor_fields`); a round trip through Redis is tested in tests/queueing.

  chat:<id>        county?, queue, language, arrived_at, arrival_seq, status, waiting_since,
                   front_seq?, overflowed? ("1"), overflows? ("at reason;at reason"),
                   overflow_at?, overflow_due?, offer_counsellor?, offer_deadline?, offer_from?,
                   counsellor_id?, grace_until?, first_answered_at?, offers_made, accepts,
                   x:<counsellor>=until (one per exclusion), closed_at? (adapter only: when an
                   ended or abandoned chat closed, for forgetting it later)
  counsellor:<id>  centre?, national? ("1"), languages ("en nb"), capacity, auto_accept? ("1"),
                   status, idle_since, offer?, grace_until?, a:<chat>=1 (one per active chat)
  counters         waiting:<queue>, offers_made, ..., answer_wait_sum, abandon_wait_sum,
                   overflowed:<reason>, overflow_wait_sum:<reason>
  meta             seq, clock, answers, unsettled?
Absent fields are None, False or empty. Numbers are decimal strings that round-trip exactly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from queueing import order
from queueing.model import (
    MAX_CAPACITY,
    MIN_CAPACITY,
    Answer,
    Chat,
    ChatStatus,
    Config,
    Counsellor,
    CounsellorStatus,
    Counters,
    Offer,
    Overflow,
    OverflowReason,
    State,
)

Fields = Mapping[str, str]

_INT_COUNTERS = (
    "offers_made",
    "offers_accepted",
    "offers_declined",
    "offers_timed_out",
    "offers_withdrawn",
    "answered",
    "abandoned",
    "requeued",
    "ended",
)
_FLOAT_COUNTERS = ("answer_wait_sum", "abandon_wait_sum")


def _num(value: float) -> str:
    return repr(float(value))


def _opt_float(value: str | None) -> float | None:
    return None if value is None else float(value)


def _put(fields: dict[str, str], name: str, value: str | None) -> None:
    if value is not None:
        fields[name] = value


# --- settings -------------------------------------------------------------------------------------


def config_fields(config: Config, closed_retention: float) -> dict[str, str]:
    """The settings hash the scripts read, with a digest of its contents under "digest"."""
    fields = {
        "offer_timeout": _num(config.offer_timeout),
        "away_on_offer_timeout": "1" if config.away_on_offer_timeout else "0",
        "seeker_grace": _num(config.seeker_grace),
        "counsellor_grace": _num(config.counsellor_grace),
        "reoffer_after": _num(config.reoffer_after),
        "rate_window": _num(config.rate_window),
        "closed_retention": _num(closed_retention),
        "min_capacity": str(MIN_CAPACITY),
        "max_capacity": str(MAX_CAPACITY),
    }
    for county, centre in config.centres.items():
        fields[f"centre:{county}"] = _num(centre.overflow_after)
    for language in config.languages:
        fields[f"lang:{language}"] = "1"
    canonical = "\n".join(f"{name}={value}" for name, value in sorted(fields.items()))
    fields["digest"] = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return fields


# --- chats ----------------------------------------------------------------------------------------


def chat_fields(chat: Chat) -> dict[str, str]:
    """The hash of one chat."""
    fields = {
        "queue": chat.queue,
        "language": chat.language,
        "arrived_at": _num(chat.arrived_at),
        "arrival_seq": str(chat.arrival_seq),
        "status": chat.status.value,
        "waiting_since": _num(chat.waiting_since),
        "offers_made": str(chat.offers_made),
        "accepts": str(chat.accepts),
    }
    _put(fields, "county", chat.county)
    _put(fields, "front_seq", None if chat.front_seq is None else str(chat.front_seq))
    _put(fields, "overflowed", "1" if chat.overflowed else None)
    if chat.overflows:
        fields["overflows"] = ";".join(f"{_num(o.at)} {o.reason.value}" for o in chat.overflows)
    _put(fields, "overflow_at", None if chat.overflow_at is None else _num(chat.overflow_at))
    _put(fields, "overflow_due", None if chat.overflow_due is None else chat.overflow_due.value)
    if chat.offer is not None:
        fields["offer_counsellor"] = chat.offer.counsellor_id
        fields["offer_deadline"] = _num(chat.offer.deadline)
        _put(fields, "offer_from", chat.offer.transferred_from)
    _put(fields, "counsellor_id", chat.counsellor_id)
    _put(fields, "grace_until", None if chat.grace_until is None else _num(chat.grace_until))
    for who, until in chat.excluded.items():
        fields[f"x:{who}"] = _num(until)
    if chat.first_answered_at is not None:
        fields["first_answered_at"] = _num(chat.first_answered_at)
    if chat.status in (ChatStatus.ENDED, ChatStatus.ABANDONED):
        # When it closed is not in the policy's state: the latest moment the state records is a
        # lower bound, so a restored closed chat is forgotten no later than a live one.
        moments = [chat.waiting_since, *(o.at for o in chat.overflows)]
        if chat.first_answered_at is not None:
            moments.append(chat.first_answered_at)
        fields["closed_at"] = _num(max(moments))
    return fields


def decode_chat(chat_id: str, fields: Fields) -> Chat:
    """One chat from its hash."""
    overflows = []
    for part in filter(None, fields.get("overflows", "").split(";")):
        at, reason = part.split(" ")
        overflows.append(Overflow(float(at), OverflowReason(reason)))
    offer = None
    if "offer_counsellor" in fields:
        offer = Offer(
            fields["offer_counsellor"], float(fields["offer_deadline"]), fields.get("offer_from")
        )
    due = fields.get("overflow_due")
    front = fields.get("front_seq")
    return Chat(
        id=chat_id,
        county=fields.get("county"),
        queue=fields["queue"],
        language=fields["language"],
        arrived_at=float(fields["arrived_at"]),
        arrival_seq=int(fields["arrival_seq"]),
        status=ChatStatus(fields["status"]),
        waiting_since=float(fields["waiting_since"]),
        front_seq=None if front is None else int(front),
        overflowed=fields.get("overflowed") == "1",
        overflows=overflows,
        overflow_at=_opt_float(fields.get("overflow_at")),
        overflow_due=None if due is None else OverflowReason(due),
        offer=offer,
        counsellor_id=fields.get("counsellor_id"),
        grace_until=_opt_float(fields.get("grace_until")),
        excluded={name[2:]: float(v) for name, v in fields.items() if name.startswith("x:")},
        first_answered_at=_opt_float(fields.get("first_answered_at")),
        offers_made=int(fields["offers_made"]),
        accepts=int(fields["accepts"]),
    )


# --- counsellors ----------------------------------------------------------------------------------


def counsellor_fields(counsellor: Counsellor) -> dict[str, str]:
    """The hash of one counsellor."""
    fields = {
        "languages": " ".join(sorted(counsellor.languages)),
        "capacity": str(counsellor.capacity),
        "status": counsellor.status.value,
        "idle_since": _num(counsellor.idle_since),
    }
    _put(fields, "centre", counsellor.centre)
    _put(fields, "national", "1" if counsellor.national else None)
    _put(fields, "auto_accept", "1" if counsellor.auto_accept else None)
    _put(fields, "offer", counsellor.offer)
    if counsellor.grace_until is not None:
        fields["grace_until"] = _num(counsellor.grace_until)
    for chat_id in counsellor.active:
        fields[f"a:{chat_id}"] = "1"
    return fields


def decode_counsellor(counsellor_id: str, fields: Fields) -> Counsellor:
    """One counsellor from its hash."""
    return Counsellor(
        id=counsellor_id,
        centre=fields.get("centre"),
        national=fields.get("national") == "1",
        languages=frozenset(fields["languages"].split()),
        capacity=int(fields["capacity"]),
        auto_accept=fields.get("auto_accept") == "1",
        status=CounsellorStatus(fields["status"]),
        idle_since=float(fields["idle_since"]),
        active={name[2:] for name in fields if name.startswith("a:")},
        offer=fields.get("offer"),
        grace_until=_opt_float(fields.get("grace_until")),
    )


# --- counters and the whole state -----------------------------------------------------------------


def counter_fields(counters: Counters) -> dict[str, str]:
    """The counters hash."""
    fields = {f"waiting:{queue}": str(n) for queue, n in counters.waiting.items()}
    for name in _INT_COUNTERS:
        fields[name] = str(getattr(counters, name))
    for name in _FLOAT_COUNTERS:
        fields[name] = _num(getattr(counters, name))
    for reason, n in counters.overflowed.items():
        fields[f"overflowed:{reason.value}"] = str(n)
    for reason, total in counters.overflow_wait_sum.items():
        fields[f"overflow_wait_sum:{reason.value}"] = _num(total)
    return fields


def decode_counters(fields: Fields, answer_waits: Sequence[str]) -> Counters:
    """The counters from their hash and the list of answer waits."""
    counters = Counters(answer_waits=[float(w) for w in answer_waits])
    for name, value in fields.items():
        kind, _, key = name.partition(":")
        if kind == "waiting":
            counters.waiting[key] = int(value)
        elif kind == "overflowed":
            counters.overflowed[OverflowReason(key)] = int(value)
        elif kind == "overflow_wait_sum":
            counters.overflow_wait_sum[OverflowReason(key)] = float(value)
        elif name in _INT_COUNTERS:
            setattr(counters, name, int(value))
        elif name in _FLOAT_COUNTERS:
            setattr(counters, name, float(value))
    return counters


def decode_answers(flat: Sequence[str]) -> list[Answer]:
    """Answers from (member, time) pairs; members are "<zero-padded id> <queue> <0|1>"."""
    pairs = sorted(zip(flat[::2], flat[1::2], strict=True))
    answers = []
    for member, at in pairs:
        _, queue, overflowed = member.split(" ")
        answers.append(Answer(float(at), queue, overflowed == "1"))
    return answers


def encode_state(state: State) -> str:
    """The state as the JSON `restore.lua` reads."""
    return json.dumps(
        {
            "seq": str(state.seq),
            "counters": counter_fields(state.counters),
            "answer_waits": [_num(w) for w in state.counters.answer_waits],
            "answers": [[_num(a.at), a.queue, a.overflowed] for a in state.recent_answers],
            "counsellors": {c.id: counsellor_fields(c) for c in state.counsellors.values()},
            "chats": {c.id: chat_fields(c) for c in state.chats.values()},
        }
    )


def decode_state(
    config: Config,
    meta: Fields,
    counters: Fields,
    answer_waits: Sequence[str],
    answers: Sequence[str],
    counsellors: Mapping[str, Fields],
    chats: Mapping[str, Fields],
) -> State:
    """A policy State from what `snapshot.lua` read. `published_positions` is not stored: after
    every call it equals the current places, so it is derived here."""
    state = State(
        config=config,
        counsellors={i: decode_counsellor(i, f) for i, f in counsellors.items()},
        chats={i: decode_chat(i, f) for i, f in chats.items()},
        seq=int(meta.get("seq", "0")),
        counters=decode_counters(counters, answer_waits),
        recent_answers=decode_answers(answers),
    )
    places = order.positions(state, float(meta.get("clock", "0")))
    state.published_positions = {i: (p.pool, p.position) for i, p in places.items()}
    return state
