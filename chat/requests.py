"""The seeker's HTTP requests: validation of the bodies that start a chat and answer its survey.
Pure.

No name is ever asked or accepted: a body with fields other than those below is refused, so a
client cannot slip identifying data into the record by accident.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

MAX_BODY_BYTES = 4 * 1024
MAX_TOPIC_CHARS = 200
_COUNTY = re.compile(r"^[0-9]{2}$")
_FIELDS = frozenset({"county", "language", "topic", "consent"})

# The same as the survey_answers table's limits.
MIN_SCORE, MAX_SCORE = 1, 5
MAX_COMMENT_CHARS = 2000
# Room for a comment of MAX_COMMENT_CHARS even when a client writes every character as a JSON
# escape: twelve bytes (a surrogate pair) for a character outside the Basic Multilingual Plane.
MAX_SURVEY_BODY_BYTES = 24 * 1024
_SURVEY_FIELDS = frozenset({"score", "comment"})


class RequestError(ValueError):
    """A request refused with an HTTP status and a machine-readable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class NewChat:
    county: str | None
    language: str
    topic: str | None


@dataclass(frozen=True)
class SurveyAnswer:
    score: int
    comment: str | None


def _json_object(body: bytes, limit: int, fields: frozenset[str]) -> dict[str, Any]:
    """The body as a JSON object with no field outside `fields`."""
    if len(body) > limit:
        raise RequestError(413, "body_too_large", f"the body is over {limit} bytes")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise RequestError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestError(400, "not_an_object", "the body is a JSON object")
    unknown = sorted(set(data) - fields)
    if unknown:
        raise RequestError(422, "unknown_field", f"unknown field '{unknown[0]}'")
    return data


def _storable(text: str) -> bool:
    """Whether PostgreSQL can keep the text: it refuses NUL, and UTF-8 has no lone surrogates
    (which JSON's \\ud800 escapes can still produce)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_new_chat(body: bytes, counties: Collection[str], languages: Collection[str]) -> NewChat:
    """Validate `{"county": "55"|null, "language": "nb", "topic": "...", "consent": true}`."""
    data = _json_object(body, MAX_BODY_BYTES, _FIELDS)
    if data.get("consent") is not True:
        raise RequestError(422, "consent_required", "the privacy statement must be accepted")
    county = data.get("county")
    if county is not None and (
        not isinstance(county, str) or not _COUNTY.fullmatch(county) or county not in counties
    ):
        raise RequestError(422, "unknown_county", "county is a county number such as 03, or null")
    language = data.get("language")
    if not isinstance(language, str) or language not in languages:
        raise RequestError(422, "unknown_language", "language is not one the service offers")
    topic = data.get("topic")
    if topic is not None:
        if not isinstance(topic, str) or len(topic) > MAX_TOPIC_CHARS or not _storable(topic):
            raise RequestError(
                422, "bad_topic", f"topic is a text of at most {MAX_TOPIC_CHARS} characters"
            )
        topic = topic.strip() or None
    return NewChat(county=county, language=language, topic=topic)


def parse_survey(body: bytes) -> SurveyAnswer:
    """Validate `{"score": 1..5, "comment": "..."|null}`; the comment may be left out."""
    data = _json_object(body, MAX_SURVEY_BODY_BYTES, _SURVEY_FIELDS)
    score = data.get("score")
    # bool is an int in Python, and true is not a score.
    if isinstance(score, bool) or not isinstance(score, int) or not MIN_SCORE <= score <= MAX_SCORE:
        raise RequestError(
            422, "bad_score", f"score is a whole number from {MIN_SCORE} to {MAX_SCORE}"
        )
    comment = data.get("comment")
    if comment is not None:
        if (
            not isinstance(comment, str)
            or len(comment) > MAX_COMMENT_CHARS
            or not _storable(comment)
        ):
            raise RequestError(
                422, "bad_comment", f"comment is a text of at most {MAX_COMMENT_CHARS} characters"
            )
        comment = comment.strip() or None
    return SurveyAnswer(score=score, comment=comment)
