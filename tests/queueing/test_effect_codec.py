"""The JSON codec of effects and events: every type round-trips, malformed input is refused."""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest
from hypothesis import given
from hypothesis import strategies as st

from queueing.effect_codec import (
    EFFECT_TYPES,
    EVENT_TYPES,
    decode_effects,
    decode_event,
    encode_effects,
    encode_event,
)
from queueing.effects import (
    ChatPosition,
    Effect,
    OfferMade,
    OfferWithdrawn,
    PositionsChanged,
    WithdrawReason,
)
from queueing.events import RegisterCounsellor

TEXT = st.text(max_size=12)
NUMBER = st.floats(allow_nan=False, allow_infinity=False)


def strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    """Values of a field's type, with exact floats (NaN is never a time or a wait)."""
    origin = get_origin(hint)
    if origin is Union or (origin is not None and type(None) in get_args(hint)):
        inner = [option for option in get_args(hint) if option is not type(None)]
        return st.none() | strategy_for(inner[0])
    if origin is frozenset:
        return st.frozensets(TEXT, max_size=4)
    if origin is tuple:
        return st.lists(strategy_for(get_args(hint)[0]), max_size=3).map(tuple)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(list(hint))
    if hint is float:
        return NUMBER
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(-(2**53), 2**53)
    if hint is str:
        return TEXT
    return instances_of(hint)


def instances_of(cls: type[Any]) -> st.SearchStrategy[Any]:
    hints = get_type_hints(cls)
    return st.builds(cls, **{f.name: strategy_for(hints[f.name]) for f in fields(cls)})


EFFECTS = st.one_of([instances_of(cls) for cls in EFFECT_TYPES.values()])
EVENTS = st.one_of([instances_of(cls) for cls in EVENT_TYPES.values()])


def test_every_effect_and_event_type_is_known_to_the_codec() -> None:
    assert len(EFFECT_TYPES) == 11
    assert len(EVENT_TYPES) == 16


@given(st.lists(EFFECTS, max_size=6))
def test_effects_round_trip(effects: list[Effect]) -> None:
    assert decode_effects(encode_effects(effects)) == effects


@given(EVENTS)
def test_events_round_trip(event: Any) -> None:
    assert decode_event(encode_event(event)) == event


def test_effects_written_as_the_lua_writes_them_are_read() -> None:
    # %.17g numbers, a null, an escaped slash, as lua-cjson and lib.lua produce them.
    text = (
        '[{"type":"OfferMade","chat_id":"a\\/b","counsellor_id":"n","deadline":1030,'
        '"transferred_from":null},{"type":"OfferWithdrawn","chat_id":"x","counsellor_id":"n",'
        '"reason":"timed_out"}]'
    )
    assert decode_effects(text) == [
        OfferMade("a/b", "n", 1030.0),
        OfferWithdrawn("x", "n", WithdrawReason.TIMED_OUT),
    ]
    assert isinstance(decode_effects(text)[0].deadline, float)  # type: ignore[union-attr]


def test_defaulted_fields_may_be_left_out() -> None:
    assert decode_event(
        '{"type":"RegisterCounsellor","counsellor_id":"a","centre":null,'
        '"national":true,"languages":["nb"]}'
    ) == RegisterCounsellor("a", None, True, frozenset({"nb"}))


def test_positions_round_trip_nested() -> None:
    effect = PositionsChanged((ChatPosition("c", "03", 1, None), ChatPosition("d", "03", 2, 5.0)))
    assert decode_effects(encode_effects([effect])) == [effect]


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "{}",
        '[{"type":"Nope"}]',
        '[{"type":"ChatQueued","chat_id":"c"}]',
        '[{"type":"ChatQueued","chat_id":"c","queue":3}]',
        '[{"type":"ChatQueued","chat_id":"c","queue":"03","extra":1}]',
        '[{"type":"OfferWithdrawn","chat_id":"c","counsellor_id":"a","reason":"bored"}]',
        '[{"type":"OfferMade","chat_id":"c","counsellor_id":"a","deadline":true}]',
        '[{"type":"ChatAssigned","chat_id":"c","counsellor_id":"a","waited":1,'
        '"auto_accepted":"yes"}]',
        '["ChatQueued"]',
    ],
    ids=[
        "not-json",
        "not-an-array",
        "unknown-type",
        "missing-field",
        "wrong-type",
        "unknown-field",
        "unknown-enum-value",
        "bool-for-number",
        "string-for-bool",
        "not-an-object",
    ],
)
def test_malformed_effects_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        decode_effects(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"SetCapacity","counsellor_id":"a","capacity":true}',
        '{"type":"SetCapacity","counsellor_id":"a","capacity":2.5}',
        '{"type":"RegisterCounsellor","counsellor_id":"a","centre":null,"national":true,'
        '"languages":[1]}',
        '{"type":"ChatQueued","chat_id":"c","queue":"03"}',
    ],
    ids=["bool-capacity", "float-capacity", "non-string-language", "an-effect-is-no-event"],
)
def test_malformed_events_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        decode_event(text)
