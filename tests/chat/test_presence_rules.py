"""Whom a presence sweep lets go: counted as connected by the router, but no socket anywhere."""

from __future__ import annotations

from chat.presence import FIRST_CONNECT_SECONDS, to_disconnect

NOW = 1_000_000.0


def test_a_seeker_with_no_socket_anywhere_gets_the_grace_time() -> None:
    chats = [
        ("gone", NOW - 600, False),
        ("here", NOW - 600, False),
        ("in-grace", NOW - 600, True),  # already disconnected: the grace time runs
        ("just-started", NOW - FIRST_CONNECT_SECONDS / 2, False),  # still connecting
    ]
    seekers, _ = to_disconnect(chats, [], {"gone", "in-grace", "just-started"}, set(), NOW)
    assert seekers == ["gone"]


def test_a_counsellor_with_no_console_anywhere_gets_the_grace_time() -> None:
    counsellors = [
        ("1", "available", False),
        ("2", "away", False),
        ("3", "offline", False),  # signed out: nothing to let go
        ("4", "available", True),  # the grace time already runs
        ("5", "available", False),  # a console is open
    ]
    _, staff = to_disconnect([], counsellors, set(), {"1", "2", "3", "4"}, NOW)
    assert staff == ["1", "2"]
