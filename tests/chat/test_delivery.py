"""The delivery cursor: every message once and in order, however pub/sub loses or reorders them."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from chat.delivery import Cursor, Phase, Verdict


@dataclass(frozen=True)
class Msg:
    seq: int


def live(cursor: Cursor[Msg]) -> Cursor[Msg]:
    cursor.start(0)
    assert cursor.settle([]) == ([], False)
    return cursor


def test_a_socket_that_has_not_resumed_is_sent_nothing() -> None:
    cursor: Cursor[Msg] = Cursor()
    assert cursor.on_live(Msg(1)) is Verdict.DROP
    assert cursor.phase is Phase.WAITING


def test_the_next_message_is_sent_and_an_old_one_dropped() -> None:
    cursor = live(Cursor())
    assert cursor.on_live(Msg(1)) is Verdict.SEND
    assert cursor.on_live(Msg(1)) is Verdict.DROP
    assert cursor.on_live(Msg(2)) is Verdict.SEND
    assert cursor.last == 2


def test_a_gap_is_read_and_live_messages_meanwhile_are_merged_by_number() -> None:
    cursor = live(Cursor())
    assert cursor.on_live(Msg(3)) is Verdict.CATCH_UP
    assert cursor.on_live(Msg(5)) is Verdict.HOLD
    assert cursor.on_live(Msg(4)) is Verdict.HOLD
    # The read began before 4 and 5 were committed: it returns 1..3 only.
    sent, again = cursor.settle([Msg(1), Msg(2), Msg(3)])
    assert ([m.seq for m in sent], again) == ([1, 2, 3, 4, 5], False)
    assert cursor.phase is Phase.LIVE


def test_a_held_message_beyond_what_was_read_asks_for_another_read() -> None:
    cursor = live(Cursor())
    cursor.on_live(Msg(2))
    cursor.on_live(Msg(4))
    sent, again = cursor.settle([Msg(1), Msg(2)])
    assert ([m.seq for m in sent], again) == ([1, 2], True)
    assert cursor.phase is Phase.CATCHING_UP
    sent, again = cursor.settle([Msg(3), Msg(4)])
    assert ([m.seq for m in sent], again) == ([3, 4], False)


@dataclass(frozen=True)
class Copy:
    seq: int
    live: bool


def test_a_message_both_read_and_held_goes_out_as_the_live_copy() -> None:
    """The stored copy may be masked; while a chat is live its words go out as written."""
    cursor: Cursor[Copy] = Cursor()
    cursor.start(0)
    cursor.settle([])
    assert cursor.on_live(Copy(2, live=True)) is Verdict.CATCH_UP
    assert cursor.on_live(Copy(3, live=True)) is Verdict.HOLD
    assert cursor.on_live(Copy(5, live=True)) is Verdict.HOLD
    # The read began before 4 and 5 were committed. 2, which asked for the read, is not held.
    sent, again = cursor.settle([Copy(1, False), Copy(2, False), Copy(3, False)])
    assert (sent, again) == ([Copy(1, False), Copy(2, False), Copy(3, True)], True)
    sent, again = cursor.settle([Copy(4, False), Copy(5, False)])
    assert (sent, again) == ([Copy(4, False), Copy(5, True)], False)


def test_resuming_from_the_clients_last_number() -> None:
    cursor: Cursor[Msg] = Cursor()
    cursor.start(after=7)
    sent, _ = cursor.settle([Msg(8), Msg(9)])
    assert [m.seq for m in sent] == [8, 9]


# One step of a world in which messages are committed in order, published (or lost), delivered
# late, twice or out of order, and reads from the database see the committed prefix at the
# moment they begin.
Step = tuple[str, int]
steps = st.lists(
    st.tuples(st.sampled_from(["commit", "deliver", "read_begin", "read_end"]), st.integers(0, 50)),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_every_message_once_and_in_order_whatever_the_pub_sub_does(schedule: list[Step]) -> None:
    committed = 0
    published: list[int] = []  # committed numbers whose news is still on its way
    cursor: Cursor[Msg] = Cursor()
    cursor.start(0)
    read_snapshot: int | None = committed  # a read in progress sees up to this number
    sent: list[int] = []

    def finish_read() -> None:
        nonlocal read_snapshot
        assert read_snapshot is not None
        out, again = cursor.settle([Msg(n) for n in range(cursor.last + 1, read_snapshot + 1)])
        sent.extend(m.seq for m in out)
        read_snapshot = committed if again else None

    for action, number in schedule:
        if action == "commit":
            committed += 1
            if number % 4:  # a quarter of the news is lost
                published.append(committed)
        elif action == "deliver" and published:
            seq = published.pop(number % len(published))
            if number % 7 == 0:
                published.append(seq)  # delivered twice
            verdict = cursor.on_live(Msg(seq))
            if verdict is Verdict.SEND:
                sent.append(seq)
            elif verdict is Verdict.CATCH_UP:
                read_snapshot = committed
        elif action == "read_begin" and read_snapshot is not None:
            read_snapshot = committed
        elif action == "read_end" and read_snapshot is not None:
            finish_read()
    # In the end every read finishes, and a last one (as after a reconnect) reads everything.
    while read_snapshot is not None:
        finish_read()
    cursor.start()
    read_snapshot = committed
    finish_read()
    assert sent == list(range(1, committed + 1))
