"""The reports page and its CSV: rows read from PostgreSQL, figures by `app.report_figures`.

Figures come from the record (chats, routing events, wrap-ups, survey answers), never from the
live counters in Redis, so a closed period always gives the same figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import asyncpg
from babel.numbers import format_decimal, format_percent
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.auth import requires_role
from app.identity import services_of
from app.rendering import locale_of, render
from app.report_csv import report_csv
from app.report_figures import OSLO, Period, PeriodKind, Report, compute_report
from app.report_record import load_record
from app.report_request import ALL_CENTRES, ReportRequest, ReportRequestError, parse_report_request
from web.i18n import translations

CENTRES_SQL = "SELECT id, name FROM centres ORDER BY id = 'national', name"


async def load_report(
    conn: asyncpg.Connection,
    period: Period,
    centres: list[str],
    target_seconds: int,
    now: datetime,
) -> Report:
    """The figures of `centres` and in total for `period`, from the record."""
    record = await load_record(conn, period)
    return compute_report(
        period, centres, record.chats, record.counsellors, record.changes, target_seconds, now
    )


DASH = "\N{EN DASH}"


def formatters(locale: str) -> dict[str, Callable[[Any], str]]:
    """Number formats of the page's language; a dash for a figure with nothing to count."""

    def number(value: int | None) -> str:
        return DASH if value is None else format_decimal(value, locale=locale)

    def decimal(value: float | None) -> str:
        return DASH if value is None else format_decimal(value, "#,##0.0#", locale=locale)

    def percent(value: float | None) -> str:
        return DASH if value is None else format_percent(value, "#,##0.#%", locale=locale)

    def duration(value: float | None) -> str:
        if value is None:
            return DASH
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"

    return {"number": number, "decimal": decimal, "percent": percent, "duration": duration}


def _error_messages(gettext: Callable[[str], str]) -> dict[str, str]:
    return {
        "period": gettext("Choose a period: day, week or month."),
        "date": gettext("Write the date as YYYY-MM-DD, a day in the years 2000 to 2100."),
        "centre": gettext("Choose one of the centres, or all."),
        "format": gettext("The format must be html or csv."),
    }


def _today() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)


def _csv_response(report: Report, names: dict[str, str], request: ReportRequest) -> Response:
    include_total = request.centre == ALL_CENTRES
    body = report_csv(report, names, include_total)
    scope = "all" if include_total else request.centre
    filename = f"eguide-report-{report.period.kind}-{report.period.label}-{scope}.csv"
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
        },
    )


async def _report(request: Request, forced_format: str | None) -> Response:
    services = services_of(request)
    now = _today()
    async with services.db.acquire() as conn:
        names: dict[str, str] = {r["id"]: r["name"] for r in await conn.fetch(CENTRES_SQL)}
        params = dict(request.query_params)
        if forced_format is not None:
            params["format"] = forced_format
        try:
            asked = parse_report_request(params, names, now.astimezone(OSLO).date())
        except ReportRequestError as error:
            if forced_format == "csv" or params.get("format") == "csv":
                return PlainTextResponse(error.message, status_code=400)
            gettext = translations(locale_of(request)).gettext
            message = _error_messages(gettext)[error.field]
            return await _page(request, names, None, params, message, 400)
        centres = list(names) if asked.centre == ALL_CENTRES else [asked.centre]
        report = await load_report(
            conn, asked.period, centres, services.settings.service_level_seconds, now
        )
    if asked.format == "csv":
        return _csv_response(report, names, asked)
    values = {
        "period": asked.period.kind.value,
        "date": params.get("date") or asked.period.first.isoformat(),
        "centre": asked.centre,
    }
    return await _page(request, names, report, values, None, 200)


async def _page(
    request: Request,
    names: dict[str, str],
    report: Report | None,
    values: dict[str, str],
    error: str | None,
    status_code: int,
) -> Response:
    rows: list[dict[str, Any]] = []
    if report is not None:
        rows = [
            {"id": centre, "name": names.get(centre, centre), "figures": figures}
            for centre, figures in report.centres.items()
        ]
    form = {
        "period": values.get("period", "day"),
        "date": values.get("date", ""),
        "centre": values.get("centre", ALL_CENTRES),
    }
    context = {
        **formatters(locale_of(request)),
        "csv_url": "/supervisor/reports.csv?" + urlencode(form),
        "centres": [{"id": centre, "name": name} for centre, name in names.items()],
        "kinds": [kind.value for kind in PeriodKind],
        "values": form,
        "error": error,
        "report": report,
        "rows": rows,
    }
    return await render(request, "reports.html", context, status_code=status_code)


@requires_role("supervisor", "admin")
async def reports_page(request: Request) -> Response:
    return await _report(request, None)


@requires_role("supervisor", "admin")
async def reports_csv(request: Request) -> Response:
    return await _report(request, "csv")


routes = [
    Route("/supervisor/reports", reports_page, methods=["GET"]),
    Route("/supervisor/reports.csv", reports_csv, methods=["GET"]),
]
