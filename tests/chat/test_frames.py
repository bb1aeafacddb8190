"""Client frame validation: every accepted shape, every refusal code, and random input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.frames import (
    MAX_FRAME_BYTES,
    MAX_TEXT_CHARS,
    Accept,
    Auth,
    End,
    ErrorCode,
    FrameError,
    Leave,
    Observe,
    Ping,
    Read,
    Resume,
    Role,
    SendMessage,
    SetAutoAccept,
    SetAway,
    SetCapacity,
    SetStatus,
    StopObserving,
    Transfer,
    Typing,
    WrapUp,
    error_frame,
    parse_client_frame,
    server_frame,
)

CHAT = "0b9a3a52-5f0e-4d0e-9c1e-3f1d2b4a5c6d"


def frame(**fields: Any) -> str:
    return json.dumps({"v": 1, **fields})


@pytest.mark.parametrize(
    ("role", "raw", "expected"),
    [
        (Role.SEEKER, frame(type="auth", token="t"), Auth("t", 0)),
        (Role.SEEKER, frame(type="auth", token="t", last_seq=7), Auth("t", 7)),
        (Role.SEEKER, frame(type="message", client_id="c1", text="Hei"),
         SendMessage(None, "c1", "Hei")),
        (Role.SEEKER, frame(type="typing", active=True), Typing(None, True)),
        (Role.SEEKER, frame(type="read", seq=3), Read(None, 3)),
        (Role.SEEKER, frame(type="leave"), Leave()),
        (Role.SEEKER, frame(type="ping"), Ping()),
        (Role.COUNSELLOR, frame(type="status", status="away"), SetStatus("away")),
        (Role.COUNSELLOR, frame(type="accept", chat_id=CHAT), Accept(CHAT)),
        (Role.COUNSELLOR, frame(type="auto_accept", enabled=True), SetAutoAccept(True)),
        (Role.COUNSELLOR, frame(type="message", chat_id=CHAT, client_id="a", text="Hello"),
         SendMessage(CHAT, "a", "Hello")),
        (Role.COUNSELLOR, frame(type="note", chat_id=CHAT, client_id="a", text="internal"),
         SendMessage(CHAT, "a", "internal", note=True)),
        (Role.COUNSELLOR, frame(type="transfer", chat_id=CHAT, queue="national"),
         Transfer(CHAT, None, "national")),
        (Role.COUNSELLOR, frame(type="transfer", chat_id=CHAT, counsellor_id="12"),
         Transfer(CHAT, "12", None)),
        (Role.COUNSELLOR, frame(type="end", chat_id=CHAT), End(CHAT)),
        (Role.COUNSELLOR, frame(type="wrap_up", chat_id=CHAT, category="referral",
                                topics=["nav", " nav", "school"], note="n"),
         WrapUp(CHAT, "referral", ("nav", "school"), "n")),
        (Role.COUNSELLOR, frame(type="resume", last_seqs={CHAT: 4}), Resume({CHAT: 4})),
        (Role.SUPERVISOR, frame(type="set_capacity", counsellor_id="7", capacity=4),
         SetCapacity("7", 4)),
        (Role.SUPERVISOR, frame(type="set_away", counsellor_id="7"), SetAway("7")),
        (Role.SUPERVISOR, frame(type="observe", chat_id=CHAT), Observe(CHAT)),
        (Role.SUPERVISOR, frame(type="stop_observing", chat_id=CHAT), StopObserving(CHAT)),
        (Role.SUPERVISOR, frame(type="ping"), Ping()),
    ],
)  # fmt: skip
def test_well_formed_frames_parse(role: Role, raw: str, expected: object) -> None:
    assert parse_client_frame(raw, role) == expected


@pytest.mark.parametrize(
    ("role", "raw", "code"),
    [
        (Role.SEEKER, "{not json", ErrorCode.INVALID_JSON),
        (Role.SEEKER, "[1, 2]", ErrorCode.NOT_AN_OBJECT),
        (Role.SEEKER, json.dumps({"type": "ping"}), ErrorCode.UNSUPPORTED_VERSION),
        (Role.SEEKER, json.dumps({"v": 2, "type": "ping"}), ErrorCode.UNSUPPORTED_VERSION),
        (Role.SEEKER, json.dumps({"v": True, "type": "ping"}), ErrorCode.UNSUPPORTED_VERSION),
        (Role.SEEKER, frame(type="shout"), ErrorCode.UNKNOWN_TYPE),
        (Role.SEEKER, frame(type="accept", chat_id=CHAT), ErrorCode.UNKNOWN_TYPE),
        (Role.COUNSELLOR, frame(type="auth", token="t"), ErrorCode.UNKNOWN_TYPE),
        (Role.SEEKER, frame(type="message", text="x"), ErrorCode.MISSING_FIELD),
        (Role.SEEKER, frame(type="message", client_id="c", text=5), ErrorCode.BAD_FIELD),
        (Role.SEEKER, frame(type="message", client_id="c c", text="x"), ErrorCode.BAD_FIELD),
        (Role.SEEKER, frame(type="message", client_id="c", text="   "), ErrorCode.BAD_FIELD),
        (Role.SEEKER, frame(type="message", client_id="c", text="x" * (MAX_TEXT_CHARS + 1)),
         ErrorCode.TEXT_TOO_LONG),
        (Role.SEEKER, frame(type="typing", active=1), ErrorCode.BAD_FIELD),
        (Role.SEEKER, frame(type="read", seq=True), ErrorCode.BAD_FIELD),
        (Role.SEEKER, frame(type="read", seq=-1), ErrorCode.BAD_FIELD),
        (Role.SEEKER, frame(type="auth", token="t", last_seq=2**60), ErrorCode.BAD_FIELD),
        (Role.COUNSELLOR, frame(type="status", status="asleep"), ErrorCode.BAD_FIELD),
        (Role.SUPERVISOR, frame(type="set_capacity", counsellor_id="7", capacity=11),
         ErrorCode.BAD_FIELD),
        (Role.SUPERVISOR, frame(type="set_capacity", counsellor_id="7", capacity=True),
         ErrorCode.BAD_FIELD),
        (Role.SUPERVISOR, frame(type="set_capacity", counsellor_id="x", capacity=2),
         ErrorCode.BAD_FIELD),
        (Role.SUPERVISOR, frame(type="set_capacity", counsellor_id="7"), ErrorCode.MISSING_FIELD),
        (Role.SUPERVISOR, frame(type="message", chat_id=CHAT, client_id="a", text="hi"),
         ErrorCode.UNKNOWN_TYPE),
        (Role.SUPERVISOR, frame(type="accept", chat_id=CHAT), ErrorCode.UNKNOWN_TYPE),
        (Role.COUNSELLOR, frame(type="accept", chat_id="../../etc"), ErrorCode.BAD_FIELD),
        (Role.COUNSELLOR, frame(type="transfer", chat_id=CHAT), ErrorCode.BAD_FIELD),
        (Role.COUNSELLOR, frame(type="transfer", chat_id=CHAT, queue="99x"), ErrorCode.BAD_FIELD),
        (Role.COUNSELLOR, frame(type="transfer", chat_id=CHAT, queue="03", counsellor_id="1"),
         ErrorCode.BAD_FIELD),
        (Role.COUNSELLOR, frame(type="wrap_up", chat_id=CHAT, category="gossip"),
         ErrorCode.BAD_FIELD),
        (Role.COUNSELLOR, frame(type="wrap_up", chat_id=CHAT, category="other", topics=[""]),
         ErrorCode.BAD_FIELD),
        (Role.COUNSELLOR, frame(type="resume", last_seqs={"x": 1}), ErrorCode.BAD_FIELD),
        (Role.SEEKER, "x" * (MAX_FRAME_BYTES + 1), ErrorCode.FRAME_TOO_LARGE),
        (Role.SEEKER, "[" * 100_000, ErrorCode.FRAME_TOO_LARGE),
        (Role.SEEKER, "[" * 20_000, ErrorCode.INVALID_JSON),
        (Role.SEEKER, b'{"v": 1, "type": "ping"}', ErrorCode.INVALID_JSON),
        (Role.SEEKER, json.dumps({"v": 1.0, "type": "ping"}), ErrorCode.UNSUPPORTED_VERSION),
        (Role.SEEKER, frame(type="message", client_id="c", text="a\x00b"), ErrorCode.BAD_FIELD),
        (Role.SEEKER, '{"v": 1, "type": "message", "client_id": "c", "text": "a\\ud800"}',
         ErrorCode.BAD_FIELD),
        (Role.COUNSELLOR, frame(type="wrap_up", chat_id=CHAT, category="other", note="\x00"),
         ErrorCode.BAD_FIELD),
    ],
)  # fmt: skip
def test_malformed_frames_are_refused_with_a_code(
    role: Role, raw: str | bytes, code: ErrorCode
) -> None:
    with pytest.raises(FrameError) as refused:
        parse_client_frame(raw, role)
    assert refused.value.code is code


def test_error_frame_echoes_the_client_id_of_the_refused_frame() -> None:
    with pytest.raises(FrameError) as refused:
        parse_client_frame(frame(type="message", client_id="m-1", text=""), Role.SEEKER)
    sent = json.loads(error_frame(refused.value))
    assert sent == {"v": 1, "type": "error", "code": "bad_field", "message": "'text' is empty",
                    "ref": "m-1"}  # fmt: skip


def test_server_frames_carry_the_protocol_version_and_keep_text_as_text() -> None:
    encoded = server_frame("message", seq=1, text="<script>alert(1)</script> æøå")
    assert json.loads(encoded) == {
        "v": 1, "type": "message", "seq": 1, "text": "<script>alert(1)</script> æøå"
    }  # fmt: skip


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
frame_types = st.sampled_from(
    ["auth", "message", "note", "typing", "read", "leave", "ping", "status", "auto_accept",
     "accept", "decline",
     "transfer", "end", "wrap_up", "resume", "shout", ""]
)  # fmt: skip
field_names = st.sampled_from(
    ["token", "last_seq", "client_id", "text", "active", "seq", "chat_id", "status",
     "counsellor_id", "queue", "category", "topics", "note", "last_seqs", "v", "type",
     "enabled"]
)  # fmt: skip


@settings(max_examples=400)
@given(
    role=st.sampled_from(list(Role)),
    frame_type=frame_types,
    fields=st.dictionaries(field_names, json_values, max_size=6),
    version=st.sampled_from([1, 1, 1, 2, "1", None]),
)
def test_random_frames_parse_or_are_refused_with_a_known_code(
    role: Role, frame_type: str, fields: dict[str, Any], version: object
) -> None:
    raw = json.dumps({"v": version, "type": frame_type, **fields})
    try:
        parsed = parse_client_frame(raw, role)
    except FrameError as error:
        assert error.code in ErrorCode
        json.loads(error_frame(error))
    else:
        assert type(parsed).__name__ in {
            "Auth", "Resume", "SendMessage", "Typing", "Read", "Leave", "Ping", "SetStatus",
            "SetAutoAccept",
            "Accept", "Decline", "Transfer", "End", "WrapUp",
        }  # fmt: skip


@settings(max_examples=300)
@given(raw=st.binary(max_size=200) | st.text(max_size=200), role=st.sampled_from(list(Role)))
def test_arbitrary_bytes_never_crash_the_parser(raw: bytes | str, role: Role) -> None:
    try:
        parse_client_frame(raw, role)
    except FrameError as error:
        assert error.code in ErrorCode
