"""Validation of the bodies that start a chat and answer its survey."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.requests import (
    MAX_BODY_BYTES,
    MAX_COMMENT_CHARS,
    MAX_SURVEY_BODY_BYTES,
    NewChat,
    RequestError,
    SurveyAnswer,
    parse_new_chat,
    parse_survey,
)

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


@pytest.mark.parametrize("topic", ["nul \x00 byte", "lone \ud800 surrogate"])
def test_a_topic_postgresql_cannot_store_is_refused(topic: str) -> None:
    with pytest.raises(RequestError) as refused:
        parse({"county": "55", "language": "nb", "consent": True, "topic": topic})
    assert (refused.value.status, refused.value.code) == (422, "bad_topic")


# ---------------------------------------------------------------------------- the survey


def survey(data: Any) -> SurveyAnswer:
    return parse_survey(json.dumps(data).encode())


def test_a_survey_answer_is_a_score_and_perhaps_a_comment() -> None:
    assert survey({"score": 5}) == SurveyAnswer(5, None)
    assert survey({"score": 1, "comment": None}) == SurveyAnswer(1, None)
    assert survey({"score": 3, "comment": "  Nyttig, takk!\n"}) == SurveyAnswer(3, "Nyttig, takk!")
    assert survey({"score": 4, "comment": "   "}) == SurveyAnswer(4, None)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        ({}, 422, "bad_score"),
        ({"score": 0}, 422, "bad_score"),
        ({"score": 6}, 422, "bad_score"),
        ({"score": 4.0}, 422, "bad_score"),
        ({"score": "4"}, 422, "bad_score"),
        ({"score": True}, 422, "bad_score"),
        ({"score": None}, 422, "bad_score"),
        ({"score": 4, "comment": 7}, 422, "bad_comment"),
        ({"score": 4, "comment": "x" * (MAX_COMMENT_CHARS + 1)}, 422, "bad_comment"),
        ({"score": 4, "comment": "nul \x00 byte"}, 422, "bad_comment"),
        ({"score": 4, "comment": "lone \udfff surrogate"}, 422, "bad_comment"),
        ({"score": 4, "name": "Kari"}, 422, "unknown_field"),
        ([4], 400, "not_an_object"),
        ("4", 400, "not_an_object"),
    ],
)
def test_bad_survey_bodies_are_refused_with_status_and_code(
    data: Any, status: int, code: str
) -> None:
    with pytest.raises(RequestError) as refused:
        survey(data)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_broken_and_oversized_survey_bodies_are_refused() -> None:
    with pytest.raises(RequestError) as broken:
        parse_survey(b'{"score": 4')
    assert (broken.value.status, broken.value.code) == (400, "invalid_json")
    with pytest.raises(RequestError) as large:
        parse_survey(b" " * (MAX_SURVEY_BODY_BYTES + 1))
    assert (large.value.status, large.value.code) == (413, "body_too_large")


def test_the_longest_comment_fits_even_with_every_character_escaped() -> None:
    comment = "\N{GRINNING FACE}" * MAX_COMMENT_CHARS
    body = json.dumps({"score": 5, "comment": comment}, ensure_ascii=True).encode()
    assert parse_survey(body) == SurveyAnswer(5, comment)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.binary(max_size=300))
def test_any_bytes_give_a_survey_answer_or_a_4xx_error(body: bytes) -> None:
    try:
        parse_survey(body)
    except RequestError as error:
        assert 400 <= error.status < 500


@given(
    st.one_of(
        JSON,
        st.fixed_dictionaries(
            {"score": JSON}, optional={"comment": JSON | st.text(max_size=50), "other": JSON}
        ),
    )
)
def test_any_json_gives_a_survey_answer_or_a_4xx_error(data: Any) -> None:
    try:
        answer = parse_survey(json.dumps(data).encode())
    except RequestError as error:
        assert 400 <= error.status < 500
    else:
        assert answer.score in range(1, 6)
        assert answer.comment is None or 0 < len(answer.comment) <= MAX_COMMENT_CHARS


STORABLE_TEXT = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"),
    max_size=MAX_COMMENT_CHARS,
)


@given(
    st.integers(min_value=1, max_value=5),
    st.none() | STORABLE_TEXT,
    st.booleans(),
)
def test_valid_survey_answers_round_trip(score: int, comment: str | None, escaped: bool) -> None:
    body = json.dumps({"score": score, "comment": comment}, ensure_ascii=escaped).encode()
    assert parse_survey(body) == SurveyAnswer(score, comment.strip() or None if comment else None)
