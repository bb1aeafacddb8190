"""The audit log viewer: newest first, a page at a time, filtered by action, actor, target and
dates. Read only: the route takes GET alone, and the log itself refuses updates."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import audit
from app.auth import requires_role
from app.identity import services_of
from app.rendering import locale_of, render
from app.users import USERNAME_PATTERN, find_user
from web.i18n import translations

OSLO = ZoneInfo("Europe/Oslo")
PAGE_SIZE = 50
# Paging deeper than this is better done with a narrower date range; the bound keeps the
# OFFSET, which PostgreSQL walks row by row, cheap.
MAX_PAGE = 1000
ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}(\.[a-z0-9_]{1,32}){0,3}$")
TARGET_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
FILTERS = ("action", "actor", "target", "from", "to")


@dataclass
class AuditFilters:
    """The filters as given (to show them again), the query they make, and any errors."""

    values: dict[str, str]
    query: audit.AuditQuery = field(default_factory=audit.AuditQuery)
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)


def _date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw) else None
    except ValueError:
        return None


async def _filters(request: Request) -> AuditFilters:
    """Read and check the query parameters; every problem is named by its parameter."""
    gettext = translations(locale_of(request)).gettext
    params = request.query_params
    values = {name: params.get(name, "").strip()[:120] for name in FILTERS}
    errors: dict[str, str] = {}
    action = values["action"] or None
    if action is not None and not ACTION_PATTERN.fullmatch(action):
        errors["action"] = gettext("Choose an action from the list.")
    actor_id = None
    if values["actor"]:
        actor = None
        if USERNAME_PATTERN.fullmatch(values["actor"].lower()):
            async with services_of(request).db.acquire() as conn:
                actor = await find_user(conn, values["actor"].lower())
        if actor is None:
            errors["actor"] = gettext("No account has that username.")
        else:
            actor_id = actor.id
    target = values["target"] or None
    if target is not None and not TARGET_PATTERN.fullmatch(target):
        errors["target"] = gettext(
            "A target is a username or an id: letters, digits, '.', '_', ':' or '-'."
        )
    dates: dict[str, date | None] = {}
    for name in ("from", "to"):
        dates[name] = _date(values[name]) if values[name] else None
        if values[name] and dates[name] is None:
            errors[name] = gettext("Give a date as YYYY-MM-DD, for example 2025-03-31.")
    since, until = dates["from"], dates["to"]
    if since and until and since > until:
        errors["to"] = gettext("The last day comes before the first day.")
    raw_page = params.get("page", "1")
    page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() and len(raw_page) < 6 else 0
    if not 1 <= page <= MAX_PAGE:
        errors["page"] = gettext("There is no such page.")
        page = 1
    query = audit.AuditQuery(
        action=action,
        actor_user_id=actor_id,
        target=target,
        since=None if since is None else datetime.combine(since, time(), OSLO),
        before=None if until is None else datetime.combine(until + timedelta(days=1), time(), OSLO),
    )
    return AuditFilters(values=values, query=query, page=page, errors=errors)


def _page_link(filters: AuditFilters, page: int) -> str:
    given = {name: value for name, value in filters.values.items() if value}
    return "/admin/audit?" + urlencode({**given, "page": page})


def _entry(row: Any) -> dict[str, Any]:
    return {
        "at": row["at"].astimezone(OSLO).strftime("%Y-%m-%d %H:%M:%S"),
        "action": row["action"],
        "actor": row["actor_username"],
        "via_cli": json.loads(row["detail"]).get("via") == "cli",
        "target_type": row["target_type"],
        "target_id": row["target_id"],
        "target_username": row["target_username"],
        "address": row["address"],
        "detail": row["detail"] if row["detail"] != "{}" else "",
    }


@requires_role("admin")
async def audit_log_page(request: Request) -> Response:
    filters = await _filters(request)
    async with services_of(request).db.acquire() as conn:
        known_actions = await audit.actions(conn)
        rows = (
            []
            if filters.errors
            else await audit.search(
                conn, filters.query, PAGE_SIZE + 1, (filters.page - 1) * PAGE_SIZE
            )
        )
    context = {
        "filters": filters.values,
        "errors": filters.errors,
        "actions": known_actions,
        "entries": [_entry(row) for row in rows[:PAGE_SIZE]],
        "page": filters.page,
        "newer": _page_link(filters, filters.page - 1) if filters.page > 1 else None,
        "older": _page_link(filters, filters.page + 1) if len(rows) > PAGE_SIZE else None,
    }
    return await render(request, "audit.html", context, status_code=400 if filters.errors else 200)


routes = [Route("/admin/audit", audit_log_page, methods=["GET"])]
