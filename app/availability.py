"""Whether anyone can answer a chat now, and if not, when the service opens.

A seeker who would find both their county's centre and the national team closed is told when
the chat opens instead of being put in a queue nobody watches. `availability` is pure (schedules
and the time in, an answer out); `availability_endpoint` reads the opening hours from PostgreSQL
on each request, so an operator's change shows at once.

The rule for a centre with no opening hours entered is the routing's (`app.routing_config`): it
counts as always open.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from datetime import time as clock_time
from functools import cache
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.identity import services_of
from queueing.hours import OSLO, OpeningHours, norwegian_public_holidays
from queueing.model import NATIONAL

# Opening hours change seldom and the answer is the same for everyone; a short cache spares the
# database a query per page view and is never more than a minute wrong about an opening.
MAX_AGE_SECONDS = 30


@dataclass(frozen=True)
class Availability:
    """`open`: someone may answer now. `opens_at`: when closed, the first instant (epoch seconds)
    at which the county centre or the national team opens; None when open, or when no opening
    is scheduled within a year."""

    open: bool
    county_open: bool | None  # None when the seeker named no county
    national_open: bool
    opens_at: float | None


def _is_open(schedule: OpeningHours | None, now: float) -> bool:
    return schedule is None or schedule.is_open(now)


def availability(
    county: OpeningHours | None, national: OpeningHours | None, has_county: bool, now: float
) -> Availability:
    """Who could answer a chat started at `now`. A schedule of None is always open; `county` is
    ignored unless `has_county`."""
    county_open = _is_open(county, now) if has_county else None
    national_open = _is_open(national, now)
    if county_open or national_open:
        return Availability(True, county_open, national_open, None)
    # Both are closed, so each one's next change is an opening.
    candidates = [county] if has_county else []
    openings = [
        change
        for schedule in (*candidates, national)
        if schedule is not None and (change := schedule.next_change(now)) is not None
    ]
    return Availability(False, county_open, national_open, min(openings, default=None))


def schedules_from_rows(
    rows: Iterable[tuple[str, int, clock_time, clock_time]], closed_dates: frozenset[date]
) -> dict[str, OpeningHours]:
    """Opening hours by centre from (centre id, ISO weekday, opens, closes) rows; a centre
    without rows is absent (always open)."""
    weekly: dict[str, dict[int, list[tuple[clock_time, clock_time]]]] = {}
    for centre, weekday, opens, closes in rows:
        weekly.setdefault(centre, {}).setdefault(weekday - 1, []).append((opens, closes))
    return {
        centre: OpeningHours.from_mapping(days, closed_dates) for centre, days in weekly.items()
    }


@cache
def _holidays(year: int) -> frozenset[date]:
    # This year and the next: an opening looked for in late December may fall in January.
    return norwegian_public_holidays([year, year + 1])


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def availability_endpoint(request: Request) -> Response:
    """GET /api/v1/availability?county=55 (county optional): `{open, county_open,
    national_open, opens_at}`."""
    county = request.query_params.get("county") or None
    services = services_of(request)
    if county is not None and county not in services.routing.config.centres:
        return _error(422, "unknown_county", "county is a county number such as 03, or left out")
    now = time.time()
    centres = [NATIONAL] if county is None else [county, NATIONAL]
    rows = await services.db.fetch(
        "SELECT centre_id, weekday, opens, closes FROM opening_hours WHERE centre_id = ANY($1)",
        centres,
    )
    year = datetime.fromtimestamp(now, ZoneInfo(OSLO)).year
    schedules = schedules_from_rows(
        ((r["centre_id"], r["weekday"], r["opens"], r["closes"]) for r in rows), _holidays(year)
    )
    answer = availability(
        schedules.get(county) if county else None, schedules.get(NATIONAL), county is not None, now
    )
    return JSONResponse(
        asdict(answer), headers={"cache-control": f"public, max-age={MAX_AGE_SECONDS}"}
    )


routes = [Route("/api/v1/availability", availability_endpoint, methods=["GET"])]
