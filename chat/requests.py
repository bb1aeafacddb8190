"""The seeker's HTTP requests: validation of the body that starts a chat. Pure.

No name is ever asked or accepted: a body with fields other than those below is refused, so a
client cannot slip identifying data into the record by accident.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass

MAX_BODY_BYTES = 4 * 1024
MAX_TOPIC_CHARS = 200
_COUNTY = re.compile(r"^[0-9]{2}$")
_FIELDS = frozenset({"county", "language", "topic", "consent"})


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


def parse_new_chat(body: bytes, counties: Collection[str], languages: Collection[str]) -> NewChat:
    """Validate `{"county": "55"|null, "language": "nb", "topic": "...", "consent": true}`."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise RequestError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestError(400, "not_an_object", "the body is a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise RequestError(422, "unknown_field", f"unknown field '{unknown[0]}'")
    if data.get("consent") is not True:
        raise RequestError(422, "consent_required", "the privacy statement must be accepted")
    county = data.get("county")
    if county is not None and (
        not isinstance(county, str) or not _COUNTY.match(county) or county not in counties
    ):
        raise RequestError(422, "unknown_county", "county is a county number such as 03, or null")
    language = data.get("language")
    if not isinstance(language, str) or language not in languages:
        raise RequestError(422, "unknown_language", "language is not one the service offers")
    topic = data.get("topic")
    if topic is not None:
        if not isinstance(topic, str) or len(topic) > MAX_TOPIC_CHARS:
            raise RequestError(
                422, "bad_topic", f"topic is a text of at most {MAX_TOPIC_CHARS} characters"
            )
        topic = topic.strip() or None
    return NewChat(county=county, language=language, topic=topic)
