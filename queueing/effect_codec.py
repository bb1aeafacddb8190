"""JSON encoding of routing effects and events: what the Lua scripts emit and the stream carries.

One JSON object per value, `{"type": <class name>, <field>: <value>, ...}`, the fields named as in
the dataclasses. Floats travel as JSON numbers with enough digits to round-trip (Python writes
`repr`, the Lua `%.17g`), enums as their string values, frozensets as sorted arrays. Pure: no I/O.
Decoding checks every field's type and raises ValueError on anything else, so a bad stream entry
is refused rather than half-understood.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterable
from dataclasses import fields
from enum import Enum
from typing import Any, Union, cast, get_args, get_origin, get_type_hints

from queueing import effects as effects_module
from queueing import events as events_module
from queueing.effects import Effect
from queueing.events import Event

EFFECT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls for cls in get_args(effects_module.Effect) if isinstance(cls, type)
}
EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls for cls in get_args(events_module.Event) if isinstance(cls, type)
}


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _encode_value(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset | set):
        return sorted(cast(Iterable[str], value))
    if isinstance(value, tuple):
        return [_encode_value(item) for item in value]
    if hasattr(value, "__dataclass_fields__"):
        return _encode_object(value)
    return value


def _encode_object(value: object) -> dict[str, object]:
    encoded: dict[str, object] = {"type": type(value).__name__}
    for field in fields(cast(Any, value)):
        encoded[field.name] = _encode_value(getattr(value, field.name))
    return encoded


def _decode_value(raw: object, hint: Any, where: str) -> object:
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        options = get_args(hint)
        if raw is None and type(None) in options:
            return None
        (inner,) = [option for option in options if option is not type(None)]
        return _decode_value(raw, inner, where)
    if origin is frozenset:
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise ValueError(f"{where}: expected an array of strings")
        return frozenset(raw)
    if origin is tuple:
        (inner, _) = get_args(hint)
        if not isinstance(raw, list):
            raise ValueError(f"{where}: expected an array")
        return tuple(_decode_value(item, inner, where) for item in raw)
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(raw)
        except ValueError:
            raise ValueError(f"{where}: no {hint.__name__} {raw!r}") from None
    if hint is bool:
        if not isinstance(raw, bool):
            raise ValueError(f"{where}: expected a boolean")
        return raw
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError(f"{where}: expected a number")
        return float(raw)
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"{where}: expected an integer")
        return raw
    if hint is str:
        if not isinstance(raw, str):
            raise ValueError(f"{where}: expected a string")
        return raw
    if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__"):
        return _decode_object(raw, {hint.__name__: hint}, where)
    raise TypeError(f"{where}: cannot decode {hint!r}")  # a new field type needs a rule here


def _decode_object(raw: object, known: dict[str, type[Any]], where: str) -> Any:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object")
    name = raw.get("type")
    cls = known.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"{where}: unknown type {name!r}")
    hints = _hints(cls)
    expected = {field.name for field in fields(cls)}
    extra = set(raw) - expected - {"type"}
    if extra:
        raise ValueError(f"{where}: unknown fields {sorted(extra)} of {name}")
    values: dict[str, object] = {}
    for field in fields(cls):  # a field left out takes its default, if it has one
        if field.name in raw:
            values[field.name] = _decode_value(raw[field.name], hints[field.name], where)
    try:
        return cls(**values)
    except TypeError as error:  # a required field is missing
        raise ValueError(f"{where}: {error}") from None


def _parse(text: str | bytes) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None


def encode_effect(effect: Effect) -> dict[str, object]:
    """One effect as a JSON-ready dict."""
    return _encode_object(effect)


def decode_effect(raw: object) -> Effect:
    """One effect from its JSON-decoded dict; ValueError if it is not one."""
    return cast(Effect, _decode_object(raw, EFFECT_TYPES, "effect"))


def encode_effects(effects: Iterable[Effect]) -> str:
    """A JSON array of effects, as the Lua scripts write to the effects stream."""
    return json.dumps([encode_effect(effect) for effect in effects], separators=(",", ":"))


def decode_effects(text: str | bytes) -> list[Effect]:
    """Effects from a JSON array (a stream entry's `effects` field); ValueError if malformed."""
    raw = _parse(text)
    if not isinstance(raw, list):
        raise ValueError("effects: expected an array")
    return [decode_effect(item) for item in raw]


def encode_event(event: Event) -> str:
    """An event as a JSON object, as the `apply` script reads it."""
    return json.dumps(_encode_object(event), separators=(",", ":"))


def decode_event(text: str | bytes) -> Event:
    """An event from its JSON object; ValueError if it is not one."""
    return cast(Event, _decode_object(_parse(text), EVENT_TYPES, "event"))
