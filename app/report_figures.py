"""Report figures for a period, computed from rows of the record. Pure: no I/O, no clock.

A report covers one Oslo calendar day, ISO week or month. Every chat belongs to the period and
the centre in which it *arrived*: its seeker's county centre, or the national team when the
seeker named no county. A chat that arrives at 23:59 and is answered after midnight counts on the
day it arrived, so a closed day's figures never change afterwards.

Definitions (docs/architecture.md, "Reports", repeats them for readers of the page):
- answered: a counsellor took the chat (its first answer; a transfer is not a new answer).
- abandoned: the seeker left, or stayed away past the grace time, before any answer.
- overflow share: chats opened to the national team / chats; reasons as the router recorded
  the first overflow of each chat.
- own county: of the answered chats of seekers who named a county, those first answered by a
  counsellor of that county's centre; the rest were answered by the national team.
- wait before answer: first answer - arrival. Percentiles by nearest rank: p of n values is the
  smallest value with at least p % of the values at or below it.
- service level: chats answered within the target / chats answered or abandoned. An abandoned
  chat was not served, so it counts against the level; chats still waiting are left out.
- handling time: answer - end, for answered chats that have ended.
- counsellor-hours: time in status "available" according to the routing record (status changes
  recorded by `chat/routing_record.py`), clipped to the period and to `now`. Time away or offline
  is not counted; time available but busy with chats is. A counsellor's hours count for their
  county centre and, when they are on the national team, for it too; the total counts each
  counsellor once. Answers per counsellor-hour for a team divide the chats it answered (as
  above: own-county answers for a county centre, national answers for the national team) by
  its hours.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")
NATIONAL = "national"
TOTAL = "total"

OVERFLOW_REASONS = ("waited", "no_staff", "closed")
WRAP_UP_CATEGORIES = ("reflection", "information", "referral", "other")


class PeriodKind(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Period:
    """One Oslo calendar day, ISO week (Monday to Sunday) or month: [first, end)."""

    kind: PeriodKind
    first: date
    end: date  # the day after the last

    @classmethod
    def containing(cls, kind: PeriodKind, day: date) -> Period:
        """The period of `kind` that `day` falls in."""
        if kind is PeriodKind.DAY:
            return cls(kind, day, day + timedelta(days=1))
        if kind is PeriodKind.WEEK:
            monday = day - timedelta(days=day.weekday())
            return cls(kind, monday, monday + timedelta(days=7))
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return cls(kind, first, following)

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def label(self) -> str:
        """2024-03-31, 2024-W13 or 2024-03."""
        if self.kind is PeriodKind.DAY:
            return self.first.isoformat()
        if self.kind is PeriodKind.WEEK:
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.first:%Y-%m}"

    def bounds(self) -> tuple[datetime, datetime]:
        """Oslo midnight at the start and at the end, in UTC: a day is 23 or 25 hours long on
        the days clocks change."""
        start = datetime.combine(self.first, time(0), OSLO).astimezone(UTC)
        end = datetime.combine(self.end, time(0), OSLO).astimezone(UTC)
        return start, end


@dataclass(frozen=True)
class ChatRow:
    """One chat as the record holds it, with its wrap-up and survey answer if any."""

    county: str | None
    state: str  # waiting, offered, active, ended, abandoned
    created_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    overflow_reason: str | None = None
    answered_by: int | None = None  # the counsellor who answered first
    category: str | None = None
    topics: tuple[str, ...] = ()
    score: int | None = None


@dataclass(frozen=True)
class Counsellor:
    """A counsellor's teams, as the router sees them: one county centre (or none) and the
    national team or not."""

    id: int
    centre: str | None
    national: bool


@dataclass(frozen=True)
class StatusChange:
    counsellor_id: int
    at: datetime
    status: str  # available, away, offline


@dataclass
class Figures:
    """The figures of one centre, or of all, for a period."""

    chats: int = 0
    answered: int = 0
    abandoned: int = 0
    waiting: int = 0  # not yet answered nor abandoned (a period still running)
    overflowed: int = 0
    overflow_reasons: dict[str, int] = field(default_factory=dict)
    answered_own_county: int = 0
    answered_national: int = 0
    answered_within_target: int = 0
    wait_p50: float | None = None
    wait_p90: float | None = None
    wait_average: float | None = None
    handled: int = 0
    handling_average: float | None = None
    categories: dict[str, int] = field(default_factory=dict)
    topics: dict[str, int] = field(default_factory=dict)
    survey_count: int = 0
    survey_average: float | None = None
    counsellor_hours: float = 0.0
    answers_by_team: int = 0  # answers counted against this team's counsellor-hours

    @property
    def overflow_share(self) -> float | None:
        return self.overflowed / self.chats if self.chats else None

    @property
    def own_county_share(self) -> float | None:
        county_answers = self.answered_own_county + self.answered_national
        return self.answered_own_county / county_answers if county_answers else None

    @property
    def service_level(self) -> float | None:
        served_or_lost = self.answered + self.abandoned
        return self.answered_within_target / served_or_lost if served_or_lost else None

    @property
    def answers_per_counsellor_hour(self) -> float | None:
        if self.counsellor_hours <= 0:
            return None
        return self.answers_by_team / self.counsellor_hours


@dataclass(frozen=True)
class Report:
    period: Period
    target_seconds: int
    centres: dict[str, Figures]  # every centre asked for, in the order given
    total: Figures


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of `values` (any order); None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _average(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


def _answering_team(chat: ChatRow, counsellor: Counsellor | None) -> str | None:
    """Whose answer a chat's first answer was: the seeker's county centre when a counsellor of
    that centre answered, else the national team (a county counsellor answering another county's
    chat counts for their own centre, though the router does not offer them one)."""
    if counsellor is None:
        return None
    if chat.county is not None and counsellor.centre == chat.county:
        return chat.county
    return NATIONAL if counsellor.national else counsellor.centre


def _chat_figures(
    chats: Iterable[ChatRow], counsellors: dict[int, Counsellor], target: float
) -> Figures:
    figures = Figures()
    waits: list[float] = []
    handling: list[float] = []
    scores: list[int] = []
    reasons: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    for chat in chats:
        figures.chats += 1
        if chat.overflow_reason is not None:
            figures.overflowed += 1
            reasons[chat.overflow_reason] += 1
        if chat.answered_at is not None:
            figures.answered += 1
            wait = _seconds(chat.answered_at, chat.created_at)
            waits.append(wait)
            if wait <= target:
                figures.answered_within_target += 1
            if chat.county is not None:
                team = _answering_team(chat, counsellors.get(chat.answered_by or -1))
                if team == chat.county:
                    figures.answered_own_county += 1
                else:
                    figures.answered_national += 1
            if chat.state == "ended" and chat.ended_at is not None:
                handling.append(_seconds(chat.ended_at, chat.answered_at))
        elif chat.state == "abandoned":
            figures.abandoned += 1
        elif chat.state in ("waiting", "offered"):
            figures.waiting += 1
        if chat.category is not None:
            categories[chat.category] += 1
        topics.update(chat.topics)
        if chat.score is not None:
            scores.append(chat.score)
    figures.overflow_reasons = {reason: reasons[reason] for reason in OVERFLOW_REASONS}
    figures.categories = {category: categories[category] for category in WRAP_UP_CATEGORIES}
    figures.topics = dict(sorted(topics.items(), key=lambda item: (-item[1], item[0])))
    figures.wait_p50 = percentile(waits, 50)
    figures.wait_p90 = percentile(waits, 90)
    figures.wait_average = _average(waits)
    figures.handled = len(handling)
    figures.handling_average = _average(handling)
    figures.survey_count = len(scores)
    figures.survey_average = _average([float(s) for s in scores])
    return figures


def available_seconds(
    changes: Iterable[StatusChange], start: datetime, end: datetime
) -> dict[int, float]:
    """Seconds each counsellor was available within [start, end). `changes` must include each
    counsellor's last change before `start` (their status when the period began)."""
    by_counsellor: dict[int, list[StatusChange]] = {}
    for change in changes:
        by_counsellor.setdefault(change.counsellor_id, []).append(change)
    seconds: dict[int, float] = {}
    for counsellor_id, own in by_counsellor.items():
        own.sort(key=lambda c: c.at)
        total = 0.0
        since: datetime | None = None  # when the current available stretch began
        for change in own:
            at = min(max(change.at, start), end)
            if change.status == "available":
                since = at if since is None else since
            elif since is not None:
                total += _seconds(at, since)
                since = None
        if since is not None:
            total += _seconds(end, since)
        seconds[counsellor_id] = total
    return seconds


def compute_report(
    period: Period,
    centres: Sequence[str],
    chats: Iterable[ChatRow],
    counsellors: Iterable[Counsellor],
    changes: Iterable[StatusChange],
    target_seconds: int,
    now: datetime,
) -> Report:
    """The figures of every centre in `centres` and in total for the chats that arrived in
    `period` (rows outside it are ignored). A period still running counts counsellor-hours up
    to `now`."""
    start, end = period.bounds()
    in_period = [chat for chat in chats if start <= chat.created_at < end]
    staff = {c.id: c for c in counsellors}
    by_centre: dict[str, list[ChatRow]] = {centre: [] for centre in centres}
    for chat in in_period:
        by_centre.setdefault(chat.county or NATIONAL, []).append(chat)
    figures = {
        centre: _chat_figures(by_centre[centre], staff, target_seconds) for centre in centres
    }
    total = _chat_figures(in_period, staff, target_seconds)

    counted_until = min(end, now)
    hours = (
        {
            counsellor_id: seconds / 3600
            for counsellor_id, seconds in available_seconds(changes, start, counted_until).items()
        }
        if counted_until > start
        else {}
    )
    answers: Counter[str] = Counter()
    for chat in in_period:
        if chat.answered_at is not None:
            team = _answering_team(chat, staff.get(chat.answered_by or -1))
            if team is not None:
                answers[team] += 1
    for centre, centre_figures in figures.items():
        centre_figures.answers_by_team = answers[centre]
        centre_figures.counsellor_hours = sum(
            hours.get(c.id, 0.0)
            for c in staff.values()
            if (c.national if centre == NATIONAL else c.centre == centre)
        )
    total.answers_by_team = total.answered
    total.counsellor_hours = sum(hours.values())
    return Report(period, target_seconds, figures, total)


def service_level_by_hour(
    chats: Iterable[ChatRow], period: Period, target_seconds: int
) -> list[tuple[int, int, float | None]]:
    """For each Oslo hour of a day with chats that arrived in it: (hour 0-23, chats answered,
    service level), by the same definitions as the day's figures."""
    start, end = period.bounds()
    by_hour: dict[int, list[ChatRow]] = {}
    for chat in chats:
        if start <= chat.created_at < end:
            by_hour.setdefault(chat.created_at.astimezone(OSLO).hour, []).append(chat)
    hours = []
    for hour in sorted(by_hour):
        figures = _chat_figures(by_hour[hour], {}, target_seconds)
        hours.append((hour, figures.answered, figures.service_level))
    return hours
