"""Frame rate limits and the strike tally, on a virtual clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chat.rate_limit import Strikes, TokenBucket


def test_a_burst_is_allowed_then_frames_are_refused_until_tokens_refill() -> None:
    bucket = TokenBucket(burst=3, per_second=1, tokens=3)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.allow(0.5)
    assert bucket.allow(1.5)


def test_tokens_never_exceed_the_burst() -> None:
    bucket = TokenBucket(burst=2, per_second=10, tokens=2)
    bucket.allow(0.0)
    assert [bucket.allow(100.0) for _ in range(3)] == [True, True, False]


def test_a_clock_going_backwards_grants_nothing() -> None:
    bucket = TokenBucket(burst=1, per_second=1, tokens=1)
    assert bucket.allow(10.0)
    assert not bucket.allow(5.0)
    assert not bucket.allow(10.5)
    assert bucket.allow(11.0)


@given(st.lists(st.floats(min_value=0, max_value=100), max_size=200))
def test_frames_allowed_never_exceed_burst_plus_refill(times: list[float]) -> None:
    bucket = TokenBucket(burst=5, per_second=2, tokens=5)
    moments = sorted(times)
    allowed = sum(bucket.allow(t) for t in moments)
    span = moments[-1] - moments[0] if moments else 0
    assert allowed <= 5 + span * 2 + 1e-9


def test_strikes_close_after_the_limit_in_a_row_and_reset_on_a_good_frame() -> None:
    strikes = Strikes(limit=3)
    assert not strikes.refused()
    assert not strikes.refused()
    strikes.accepted()
    assert not strikes.refused()
    assert not strikes.refused()
    assert strikes.refused()


def test_refusals_about_where_the_chat_stands_are_no_strikes() -> None:
    strikes = Strikes(limit=3)
    assert not any(strikes.refused("not_your_chat") for _ in range(100))
    assert not any(strikes.refused("chat_closed") for _ in range(100))
    assert strikes.count == 0


def test_rate_limited_frames_weigh_a_tenth_so_only_a_flood_closes() -> None:
    strikes = Strikes(limit=20)
    assert not any(strikes.refused("rate_limited") for _ in range(199))
    assert strikes.refused("rate_limited")
