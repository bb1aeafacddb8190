"""Opening hours of a career centre: weekly hours in Norwegian local time plus closed dates.

Pure: no I/O, no clock. Times go in and out as float epoch seconds; the weekly hours are wall-clock
times in Europe/Oslo, so a centre that opens at 09:00 opens at 09:00 on both sides of a daylight
saving change. `OpeningHours` satisfies the `Schedule` protocol the routing policy uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

OSLO = "Europe/Oslo"

# A year of days plus a week: far enough to step over any run of holidays, near enough to stay
# cheap. A schedule with no change inside that horizon is treated as never changing.
_HORIZON_DAYS = 372

Interval = tuple[time, time]


@dataclass(frozen=True)
class OpeningHours:
    """Weekly opening intervals (Monday = 0) and dates on which the centre stays closed.

    Each interval is half-open, [open, close): the centre is closed at the closing minute. Intervals
    do not cross midnight; a day with no intervals is a closed day.
    """

    weekly: tuple[tuple[Interval, ...], ...]
    closed_dates: frozenset[date] = frozenset()
    tz: str = OSLO

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("weekly hours need one entry per weekday, Monday first")
        for day in self.weekly:
            for opens, closes in day:
                if not opens < closes:
                    raise ValueError(f"an interval must open before it closes: {opens}-{closes}")

    @classmethod
    def from_mapping(
        cls,
        weekly: Mapping[int, Iterable[Interval]],
        closed_dates: Iterable[date] = (),
        tz: str = OSLO,
    ) -> OpeningHours:
        """Build hours from {weekday: [(open, close), ...]}; weekdays left out are closed."""
        days = tuple(tuple(sorted(weekly.get(day, ()))) for day in range(7))
        return cls(days, frozenset(closed_dates), tz)

    @classmethod
    def weekdays(
        cls, opens: time, closes: time, closed_dates: Iterable[date] = (), tz: str = OSLO
    ) -> OpeningHours:
        """The common case: the same hours Monday to Friday, closed at weekends."""
        return cls.from_mapping({day: [(opens, closes)] for day in range(5)}, closed_dates, tz)

    def is_open(self, at: float) -> bool:
        """Whether the centre is open at the instant `at` (epoch seconds)."""
        local = datetime.fromtimestamp(at, ZoneInfo(self.tz))
        if local.date() in self.closed_dates:
            return False
        now = local.time().replace(tzinfo=None)
        return any(opens <= now < closes for opens, closes in self.weekly[local.weekday()])

    def next_change(self, at: float) -> float | None:
        """The first instant after `at` at which `is_open` differs from `is_open(at)`, or None."""
        zone = ZoneInfo(self.tz)
        open_now = self.is_open(at)
        first_day = datetime.fromtimestamp(at, zone).date()
        for offset in range(_HORIZON_DAYS):
            day = first_day + timedelta(days=offset)
            if day in self.closed_dates:
                continue
            boundaries = sorted(
                datetime.combine(day, moment, zone).timestamp()
                for interval in self.weekly[day.weekday()]
                for moment in interval
            )
            for boundary in boundaries:
                # Adjacent intervals (12:00-13:00, 13:00-15:00) share a boundary with no change.
                if boundary > at and self.is_open(boundary) != open_now:
                    return boundary
        return None


def norwegian_public_holidays(years: Iterable[int]) -> frozenset[date]:
    """Norway's public holidays in `years`, from the `holidays` package, for `closed_dates`.

    Imported lazily so the routing core and its tests never need the package; the app computes the
    set once at start-up (and again each new year) and hands it to the centre configuration.
    """
    import holidays

    return frozenset(holidays.country_holidays("NO", years=list(years)).keys())
