"""Whether anyone can answer a chat, and when the chat opens: pure, with a fixed clock."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from app.availability import Availability, availability, schedules_from_rows
from queueing.hours import OpeningHours

OSLO = ZoneInfo("Europe/Oslo")


def _at(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=OSLO).timestamp()


COUNTY = OpeningHours.weekdays(time(9), time(15))
NATIONAL = OpeningHours.from_mapping(
    {**{day: [(time(9), time(19))] for day in range(4)}, 4: [(time(9), time(15))]}
)
MONDAY = (2027, 3, 1)  # an ordinary Monday


@pytest.mark.parametrize(
    ("now", "has_county", "expected"),
    [
        # Both open.
        (_at(*MONDAY, 10), True, Availability(True, True, True, None)),
        # The county has closed; the national team answers until 19:00.
        (_at(*MONDAY, 16), True, Availability(True, False, True, None)),
        # No county named: only the national team counts.
        (_at(*MONDAY, 16), False, Availability(True, None, True, None)),
        # Monday night: both closed, the county opens first on Tuesday at 09:00.
        (_at(*MONDAY, 22), True, Availability(False, False, False, _at(2027, 3, 2, 9))),
        # Friday evening: closed until Monday morning.
        (_at(2027, 3, 5, 16), True, Availability(False, False, False, _at(2027, 3, 8, 9))),
        (_at(2027, 3, 6, 12), False, Availability(False, None, False, _at(2027, 3, 8, 9))),
    ],
)
def test_the_service_is_open_when_the_county_or_the_national_team_is(
    now: float, has_county: bool, expected: Availability
) -> None:
    assert availability(COUNTY, NATIONAL, has_county, now) == expected


def test_a_centre_without_hours_is_always_open_as_in_the_routing() -> None:
    night = _at(*MONDAY, 3)
    assert availability(None, NATIONAL, True, night) == Availability(True, True, False, None)
    assert availability(COUNTY, None, True, night) == Availability(True, False, True, None)
    assert availability(None, None, False, night).open


def test_the_next_opening_steps_over_public_holidays() -> None:
    # Maundy Thursday to Easter Monday 2027 are holidays: closed from Wednesday evening until
    # Tuesday 30 March.
    easter = frozenset({date(2027, 3, 25), date(2027, 3, 26), date(2027, 3, 28), date(2027, 3, 29)})
    county = OpeningHours.weekdays(time(9), time(15), easter)
    national = OpeningHours.weekdays(time(9), time(19), easter)
    answer = availability(county, national, True, _at(2027, 3, 24, 20))
    assert answer == Availability(False, False, False, _at(2027, 3, 30, 9))


def test_a_centre_that_never_opens_gives_no_opening_time() -> None:
    never = OpeningHours.from_mapping({})
    assert availability(never, never, True, _at(*MONDAY, 10)) == Availability(
        False, False, False, None
    )


def test_rows_become_weekly_hours_by_centre_with_iso_weekdays() -> None:
    rows = [
        ("55", 1, time(9), time(12)),
        ("55", 1, time(13), time(15)),
        ("national", 7, time(10), time(14)),
    ]
    schedules = schedules_from_rows(rows, frozenset())
    assert set(schedules) == {"55", "national"}
    assert schedules["55"].is_open(_at(*MONDAY, 10))
    assert not schedules["55"].is_open(_at(*MONDAY, 12, 30))  # lunch
    assert schedules["national"].is_open(_at(2027, 3, 7, 11))  # a Sunday
    assert not schedules["national"].is_open(_at(*MONDAY, 11))
