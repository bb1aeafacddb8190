"""Who ended a chat, as a seeker who comes back after the end is told it."""

from __future__ import annotations

import pytest

from chat.hub import ended_by
from queueing.model import ChatStatus


@pytest.mark.parametrize(
    ("end_reason", "status", "expected"),
    [
        ("by_counsellor", ChatStatus.ENDED, ("counsellor", "ended")),
        ("by_seeker", ChatStatus.ENDED, ("seeker", "ended")),
        ("left", ChatStatus.ABANDONED, ("seeker", "left")),
        ("disconnected", ChatStatus.ABANDONED, ("seeker", "disconnected")),
        ("deleted", ChatStatus.ENDED, ("seeker", "deleted")),
        (None, ChatStatus.ABANDONED, ("seeker", "ended")),
        (None, ChatStatus.ENDED, (None, "ended")),  # the record has not caught up yet
    ],
)
def test_the_record_says_who_ended_the_chat(
    end_reason: str | None, status: ChatStatus, expected: tuple[str | None, str]
) -> None:
    assert ended_by(end_reason, status) == expected
