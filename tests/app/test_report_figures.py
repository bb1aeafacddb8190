"""Report figures from hand-made rows: every figure checked against a value worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.report_figures import (
    NATIONAL,
    ChatRow,
    Counsellor,
    Period,
    PeriodKind,
    StatusChange,
    available_seconds,
    compute_report,
    percentile,
)

DAY = Period.containing(PeriodKind.DAY, date(2024, 5, 14))  # a Tuesday, CEST (UTC+2)
START = datetime(2024, 5, 13, 22, 0, tzinfo=UTC)  # 00:00 in Oslo
LATER = datetime(2024, 6, 1, tzinfo=UTC)

KARI = Counsellor(1, "03", national=False)
NORA = Counsellor(2, None, national=True)
BOTH = Counsellor(3, "46", national=True)
STAFF = [KARI, NORA, BOTH]


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def test_an_empty_period_has_counts_of_zero_and_no_averages() -> None:
    report = compute_report(DAY, ["03", NATIONAL], [], STAFF, [], 60, LATER)
    for figures in (*report.centres.values(), report.total):
        assert (figures.chats, figures.answered, figures.abandoned, figures.overflowed) == (
            0,
            0,
            0,
            0,
        )
        assert figures.overflow_share is None
        assert figures.wait_p50 is None and figures.wait_p90 is None
        assert figures.wait_average is None and figures.service_level is None
        assert figures.handling_average is None and figures.survey_average is None
        assert figures.own_county_share is None
        assert figures.answers_per_counsellor_hour is None
        assert figures.overflow_reasons == {"waited": 0, "no_staff": 0, "closed": 0}
        assert figures.categories == {"reflection": 0, "information": 0, "referral": 0, "other": 0}
        assert figures.topics == {}


def test_percentiles_are_by_nearest_rank() -> None:
    values = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 90) == 90.0
    assert percentile(list(reversed(values)), 90) == 90.0
    assert percentile([7.0], 50) == 7.0 and percentile([7.0], 90) == 7.0
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0  # ceil(1.5) = 2nd
    assert percentile([1.0, 2.0, 3.0], 90) == 3.0  # ceil(2.7) = 3rd
    assert percentile([], 50) is None


def _day_of_chats() -> list[ChatRow]:
    return [
        # Oslo, answered by Kari after 30 s, ended 10 min later; wrap-up and a survey of 4.
        ChatRow(
            "03",
            "ended",
            at(60),
            at(60.5),
            at(70.5),
            answered_by=1,
            category="reflection",
            topics=("CV", "Jobbsøking"),
            score=4,
        ),
        # Oslo, overflowed after waiting, answered by Nora (national) after 120 s, ended
        # 5 min later.
        ChatRow(
            "03",
            "ended",
            at(120),
            at(122),
            at(127),
            overflow_reason="waited",
            answered_by=2,
            category="information",
            topics=("CV",),
            score=2,
        ),
        # Oslo, closed centre, abandoned.
        ChatRow("03", "abandoned", at(200), ended_at=at(201), overflow_reason="closed"),
        # Vestland, answered by BOTH (own county) after 90 s, still active.
        ChatRow("46", "active", at(300), at(301.5), answered_by=3),
        # No county: national, answered by BOTH (as national team) after 6 s; survey of 5.
        ChatRow(None, "ended", at(400), at(400.1), at(410.1), answered_by=3, score=5),
        # No county, still waiting.
        ChatRow(None, "waiting", at(500)),
        # The day before and the day after (Oslo time) are not in the period.
        ChatRow("03", "abandoned", START - timedelta(seconds=1)),
        ChatRow("03", "abandoned", START + timedelta(days=1)),
    ]


def test_a_day_of_chats_gives_the_figures_worked_out_by_hand() -> None:
    report = compute_report(DAY, ["03", "46", NATIONAL], _day_of_chats(), STAFF, [], 60, LATER)
    oslo, vestland, national, total = (
        report.centres["03"],
        report.centres["46"],
        report.centres[NATIONAL],
        report.total,
    )
    assert (oslo.chats, oslo.answered, oslo.abandoned, oslo.waiting) == (3, 2, 1, 0)
    assert oslo.overflowed == 2 and oslo.overflow_share == pytest.approx(2 / 3)
    assert oslo.overflow_reasons == {"waited": 1, "no_staff": 0, "closed": 1}
    assert (oslo.answered_own_county, oslo.answered_national) == (1, 1)
    assert oslo.own_county_share == 0.5
    assert oslo.wait_p50 == 30.0 and oslo.wait_p90 == 120.0
    assert oslo.wait_average == 75.0
    # One of two answered within 60 s, one abandoned: 1 / 3.
    assert oslo.answered_within_target == 1
    assert oslo.service_level == pytest.approx(1 / 3)
    assert oslo.handled == 2 and oslo.handling_average == pytest.approx(450.0)
    assert oslo.categories == {"reflection": 1, "information": 1, "referral": 0, "other": 0}
    assert oslo.topics == {"CV": 2, "Jobbsøking": 1}
    assert (oslo.survey_count, oslo.survey_average) == (2, 3.0)

    assert (vestland.chats, vestland.answered, vestland.own_county_share) == (1, 1, 1.0)
    assert vestland.handled == 0 and vestland.handling_average is None
    assert vestland.service_level == 0.0  # 90 s is over the 60 s target

    assert (national.chats, national.answered, national.waiting) == (2, 1, 1)
    assert national.own_county_share is None  # no county chats
    assert national.overflow_share == 0.0
    assert national.service_level == 1.0  # the waiting chat has no outcome yet

    assert (total.chats, total.answered, total.abandoned, total.waiting) == (6, 4, 1, 1)
    assert total.wait_p50 == 30.0 and total.wait_p90 == 120.0  # of 6, 30, 90, 120
    assert total.wait_average == pytest.approx((30 + 120 + 90 + 6) / 4)
    assert total.service_level == pytest.approx(2 / 5)
    assert total.survey_average == pytest.approx(11 / 3)
    assert (total.answered_own_county, total.answered_national) == (2, 1)


def test_counsellor_hours_count_available_time_only_and_the_status_held_at_the_start() -> None:
    changes = [
        # Kari was available from the evening before; away 08:00-08:30 Oslo, offline at 10:00.
        StatusChange(1, START - timedelta(hours=3), "available"),
        StatusChange(1, at(8 * 60), "away"),
        StatusChange(1, at(8 * 60 + 30), "available"),
        StatusChange(1, at(10 * 60), "offline"),
        # Nora: available 09:00 and never signs out: counted until the end of the day.
        StatusChange(2, at(9 * 60), "available"),
        StatusChange(2, at(9 * 60 + 1), "available"),  # a repeat changes nothing
        # Someone offline since before the period: nothing.
        StatusChange(3, START - timedelta(hours=1), "offline"),
    ]
    start, end = DAY.bounds()
    seconds = available_seconds(changes, start, end)
    assert seconds[1] == pytest.approx(9.5 * 3600)
    assert seconds[2] == pytest.approx(15 * 3600)
    assert seconds[3] == 0.0

    chats = [
        ChatRow("03", "ended", at(60), at(61), at(70), answered_by=1),
        ChatRow("03", "ended", at(62), at(63), at(70), answered_by=1),
        ChatRow("46", "ended", at(64), at(65), at(70), answered_by=2),
    ]
    report = compute_report(DAY, ["03", "46", NATIONAL], chats, STAFF, changes, 60, LATER)
    assert report.centres["03"].counsellor_hours == pytest.approx(9.5)
    assert report.centres["03"].answers_per_counsellor_hour == pytest.approx(2 / 9.5)
    assert report.centres[NATIONAL].counsellor_hours == pytest.approx(15)  # Nora; BOTH had 0
    assert report.centres[NATIONAL].answers_per_counsellor_hour == pytest.approx(1 / 15)
    assert report.centres["46"].answers_per_counsellor_hour is None  # BOTH: no hours
    assert report.total.counsellor_hours == pytest.approx(24.5)
    assert report.total.answers_per_counsellor_hour == pytest.approx(3 / 24.5)


def test_a_running_period_counts_hours_up_to_now_and_a_future_one_none() -> None:
    changes = [StatusChange(2, at(9 * 60), "available")]
    now = at(11 * 60)
    report = compute_report(DAY, [NATIONAL], [], STAFF, changes, 60, now)
    assert report.total.counsellor_hours == pytest.approx(2.0)
    future = compute_report(DAY, [NATIONAL], [], STAFF, changes, 60, START - timedelta(days=2))
    assert future.total.counsellor_hours == 0.0


@pytest.mark.parametrize(
    ("day", "hours", "utc_start"),
    [
        # Clocks go forward at 02:00 on the last Sunday of March: a 23-hour day.
        (date(2024, 3, 31), 23, datetime(2024, 3, 30, 23, 0, tzinfo=UTC)),
        # And back at 03:00 on the last Sunday of October: a 25-hour day.
        (date(2024, 10, 27), 25, datetime(2024, 10, 26, 22, 0, tzinfo=UTC)),
        (date(2024, 1, 15), 24, datetime(2024, 1, 14, 23, 0, tzinfo=UTC)),
    ],
)
def test_days_run_from_oslo_midnight_to_midnight_across_daylight_saving(
    day: date, hours: int, utc_start: datetime
) -> None:
    start, end = Period.containing(PeriodKind.DAY, day).bounds()
    assert start == utc_start
    assert (end - start) == timedelta(hours=hours)


def test_a_chat_just_after_oslo_midnight_on_the_short_day_counts_on_that_day() -> None:
    spring = Period.containing(PeriodKind.DAY, date(2024, 3, 31))
    day_before = Period.containing(PeriodKind.DAY, date(2024, 3, 30))
    # 00:30 in Oslo on 31 March is 23:30 UTC on the 30th (still CET).
    chat = ChatRow(None, "abandoned", datetime(2024, 3, 30, 23, 30, tzinfo=UTC))
    assert compute_report(spring, [NATIONAL], [chat], [], [], 60, LATER).total.chats == 1
    assert compute_report(day_before, [NATIONAL], [chat], [], [], 60, LATER).total.chats == 0
    # 23:30 in Oslo on 31 March is 21:30 UTC (CEST): still the 31st.
    late = ChatRow(None, "abandoned", datetime(2024, 3, 31, 21, 30, tzinfo=UTC))
    assert compute_report(spring, [NATIONAL], [late], [], [], 60, LATER).total.chats == 1


def test_weeks_are_iso_weeks_and_months_calendar_months() -> None:
    week = Period.containing(PeriodKind.WEEK, date(2024, 12, 31))
    assert (week.first, week.last, week.label) == (date(2024, 12, 30), date(2025, 1, 5), "2025-W01")
    month = Period.containing(PeriodKind.MONTH, date(2024, 2, 29))
    assert (month.first, month.last, month.label) == (
        date(2024, 2, 1),
        date(2024, 2, 29),
        "2024-02",
    )
    december = Period.containing(PeriodKind.MONTH, date(2024, 12, 5))
    assert december.end == date(2025, 1, 1)
    start, end = month.bounds()
    assert start == datetime(2024, 1, 31, 23, 0, tzinfo=UTC)
    assert end == datetime(2024, 2, 29, 23, 0, tzinfo=UTC)
