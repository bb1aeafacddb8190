"""The report form's query parameters, checked. Pure: the known centres and today come in.

`period` is day, week or month (default day); `date` any day in it, YYYY-MM-DD (default today
in Oslo); `centre` a centre id or `all` (default); `format` html (default) or csv. Anything else
raises `ReportRequestError` with a message the page shows, answered with 400.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

from app.report_figures import Period, PeriodKind

ALL_CENTRES = "all"
FORMATS = ("html", "csv")
# Reports reach back to the service's first years and no further ahead than next year: a date
# outside is a typing error, not a question.
FIRST_YEAR, LAST_YEAR = 2000, 2100
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ReportRequestError(ValueError):
    """A parameter is wrong; `field` names it and the message says what is expected."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ReportRequest:
    period: Period
    centre: str  # a centre id, or ALL_CENTRES
    format: str


def _one(params: Mapping[str, str], name: str, default: str) -> str:
    value = params.get(name, default).strip()
    return value or default


def parse_report_request(
    params: Mapping[str, str], centres: Collection[str], today: date
) -> ReportRequest:
    """The request the parameters describe; ReportRequestError naming the first bad one."""
    kind_text = _one(params, "period", PeriodKind.DAY.value)
    try:
        kind = PeriodKind(kind_text)
    except ValueError:
        raise ReportRequestError("period", "period must be day, week or month") from None
    day_text = _one(params, "date", today.isoformat())
    if not _DATE.fullmatch(day_text):
        raise ReportRequestError("date", "date must be a date written YYYY-MM-DD")
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise ReportRequestError("date", "date is not a day of the calendar") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ReportRequestError("date", "date must be in the years 2000 to 2100")
    centre = _one(params, "centre", ALL_CENTRES)
    if centre != ALL_CENTRES and centre not in centres:
        raise ReportRequestError("centre", "centre must be 'all' or the id of a centre")
    output = _one(params, "format", "html")
    if output not in FORMATS:
        raise ReportRequestError("format", "format must be html or csv")
    return ReportRequest(Period.containing(kind, day), centre, output)
