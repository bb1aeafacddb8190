"""Who may say what in which chat: the rules every chat frame is checked against.

Pure: where the chat stands comes in (its routing status and the counsellor who holds or last
held it; a status of None when no record of the chat is left), a FrameError goes out when the
frame is not allowed. The router's view is the authority on who holds a chat: it changes
atomically with every offer, transfer and end.
"""

from __future__ import annotations

from chat.frames import ErrorCode, FrameError
from queueing.model import ChatStatus

CLOSED = (ChatStatus.ENDED, ChatStatus.ABANDONED)


def require_seeker_open(status: ChatStatus | None) -> None:
    """A seeker may write, type and mark read from arrival until the chat ends: waiting
    seekers may start telling their story before anyone answers."""
    if status is None or status in CLOSED:
        raise FrameError(ErrorCode.CHAT_CLOSED, "the chat has ended")


def require_counsellor_active(
    status: ChatStatus | None, holder: str | None, counsellor_id: str, chat_id: str
) -> None:
    """A counsellor may write, note, type and mark read only in a chat they hold right now."""
    if holder != counsellor_id or status is None:
        raise FrameError(ErrorCode.NOT_YOUR_CHAT, "the chat is not yours", chat_id)
    if status is not ChatStatus.ACTIVE:
        raise FrameError(ErrorCode.CHAT_CLOSED, "the chat has ended", chat_id)


def require_counsellor_ended(
    status: ChatStatus | None, holder: str | None, counsellor_id: str, chat_id: str
) -> None:
    """A wrap-up is written by the counsellor who held the chat when it ended, after the end."""
    if holder != counsellor_id or status is None:
        raise FrameError(ErrorCode.NOT_YOUR_CHAT, "the chat is not yours", chat_id)
    if status is not ChatStatus.ENDED:
        raise FrameError(ErrorCode.NOT_ENDED, "a wrap-up follows the end of the chat", chat_id)
