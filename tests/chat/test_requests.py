"""Validation of the body that starts a chat."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.requests import MAX_BODY_BYTES, NewChat, RequestError, parse_new_chat

COUNTIES = {"03", "55"}
LANGUAGES = {"nb", "nn", "en"}


def parse(data: Any) -> NewChat:
    return parse_new_chat(json.dumps(data).encode(), COUNTIES, LANGUAGES)


def test_a_chat_needs_no_name_only_county_language_and_consent() -> None:
    assert parse({"county": "55", "language": "nb", "consent": True}) == NewChat("55", "nb", None)
    assert parse({"county": None, "language": "en", "topic": " jobb ", "consent": True}) == (
        NewChat(None, "en", "jobb")
    )


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        ({"county": "55", "language": "nb"}, 422, "consent_required"),
        ({"county": "55", "language": "nb", "consent": "yes"}, 422, "consent_required"),
        ({"county": "99", "language": "nb", "consent": True}, 422, "unknown_county"),
        ({"county": 55, "language": "nb", "consent": True}, 422, "unknown_county"),
        ({"county": "55", "language": "de", "consent": True}, 422, "unknown_language"),
        ({"county": "55", "consent": True}, 422, "unknown_language"),
        ({"county": "55", "language": "nb", "consent": True, "topic": "x" * 201}, 422,
         "bad_topic"),
        ({"county": "55", "language": "nb", "consent": True, "name": "Kari"}, 422,
         "unknown_field"),
        ([], 400, "not_an_object"),
    ],
)  # fmt: skip
def test_bad_bodies_are_refused_with_status_and_code(data: Any, status: int, code: str) -> None:
    with pytest.raises(RequestError) as refused:
        parse(data)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_broken_and_oversized_bodies_are_refused() -> None:
    with pytest.raises(RequestError) as broken:
        parse_new_chat(b"{", COUNTIES, LANGUAGES)
    assert broken.value.code == "invalid_json"
    with pytest.raises(RequestError) as large:
        parse_new_chat(b" " * (MAX_BODY_BYTES + 1), COUNTIES, LANGUAGES)
    assert large.value.status == 413


@given(st.binary(max_size=300))
def test_any_bytes_give_a_chat_or_a_4xx_error(body: bytes) -> None:
    try:
        parse_new_chat(body, COUNTIES, LANGUAGES)
    except RequestError as error:
        assert 400 <= error.status < 500
