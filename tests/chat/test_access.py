"""Who may say what in which chat."""

from __future__ import annotations

import pytest

from chat.access import require_counsellor_active, require_counsellor_ended, require_seeker_open
from chat.frames import FrameError
from queueing.model import ChatStatus

CHAT = "00000000-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        (ChatStatus.WAITING, True),
        (ChatStatus.OFFERED, True),
        (ChatStatus.ACTIVE, True),
        (ChatStatus.ENDED, False),
        (ChatStatus.ABANDONED, False),
        (None, False),
    ],
)
def test_a_seeker_writes_from_arrival_until_the_end(
    status: ChatStatus | None, allowed: bool
) -> None:
    if allowed:
        require_seeker_open(status)
    else:
        with pytest.raises(FrameError) as refused:
            require_seeker_open(status)
        assert refused.value.code == "chat_closed"


@pytest.mark.parametrize(
    ("status", "holder", "code"),
    [
        (ChatStatus.ACTIVE, "7", None),
        (ChatStatus.ACTIVE, "8", "not_your_chat"),
        (ChatStatus.WAITING, None, "not_your_chat"),  # handed back to the queue
        (ChatStatus.OFFERED, None, "not_your_chat"),  # offered to a colleague on transfer
        (ChatStatus.ENDED, "7", "chat_closed"),
        (ChatStatus.ENDED, "8", "not_your_chat"),
        (None, None, "not_your_chat"),
    ],
)
def test_a_counsellor_writes_only_in_a_chat_they_hold(
    status: ChatStatus | None, holder: str | None, code: str | None
) -> None:
    if code is None:
        require_counsellor_active(status, holder, "7", CHAT)
        return
    with pytest.raises(FrameError) as refused:
        require_counsellor_active(status, holder, "7", CHAT)
    assert (refused.value.code, refused.value.ref) == (code, CHAT)


@pytest.mark.parametrize(
    ("status", "holder", "code"),
    [
        (ChatStatus.ENDED, "7", None),
        (ChatStatus.ACTIVE, "7", "not_ended"),
        (ChatStatus.ENDED, "8", "not_your_chat"),
        (ChatStatus.ABANDONED, None, "not_your_chat"),
        (None, None, "not_your_chat"),
    ],
)
def test_the_wrap_up_is_written_by_whoever_ended_the_chat(
    status: ChatStatus | None, holder: str | None, code: str | None
) -> None:
    if code is None:
        require_counsellor_ended(status, holder, "7", CHAT)
        return
    with pytest.raises(FrameError) as refused:
        require_counsellor_ended(status, holder, "7", CHAT)
    assert refused.value.code == code
