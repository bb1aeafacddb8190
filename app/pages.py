"""The HTML pages: landing, seeker chat entry, sign-in and sign-out, and the role-guarded pages."""

from __future__ import annotations

from datetime import time

from babel import Locale
from babel.core import UnknownLocaleError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import audit, availability, csrf
from app.auth import ROLE_HOME, requires_role, safe_next
from app.forms import Form, csrf_ok, one, read_form
from app.identity import SESSION_COOKIE, current_session, services_of
from app.logs import get_logger
from app.middleware import content_security_policy
from app.rendering import locale_of, render, render_error
from app.users import authenticate, find_user
from web.i18n import LOCALES, translations

log = get_logger(__name__)


async def landing(request: Request) -> Response:
    return await render(request, "landing.html")


async def accessibility_statement(request: Request) -> Response:
    return await render(request, "accessibility.html")


def _hours(opens: time, closes: time) -> str:
    return f"{opens:%H:%M}\N{EN DASH}{closes:%H:%M}"


# Norwegian sorts Æ, Ø, Å after Z, in that order; code points put Å first.
_NORWEGIAN_LETTERS = str.maketrans({"Æ": "[", "Ø": "\\", "Å": "]", "æ": "{", "ø": "|", "å": "}"})


def _norwegian_order(name: str) -> str:
    return name.translate(_NORWEGIAN_LETTERS)


def language_name(code: str, locale: str) -> str:
    """A chat language as the seeker reads it: its name in the page's language, then its own
    name when that differs (`Arabisk (العربية)`)."""
    try:
        language = Locale.parse(code)
        name = language.get_display_name(locale) or code
        own = language.get_display_name(code) or name
    except (ValueError, UnknownLocaleError):
        return code
    name = name[:1].upper() + name[1:]
    return name if own.lower() == name.lower() else f"{name} ({own})"


async def chat_entry(request: Request) -> Response:
    """The seeker's chat: standalone, or (`?embed=1`) inside the widget's frame on a host site.
    `?county=NN` pre-selects the seeker's county."""
    locale = locale_of(request)
    gettext = translations(locale).gettext
    day_names = [
        gettext("Monday"),
        gettext("Tuesday"),
        gettext("Wednesday"),
        gettext("Thursday"),
        gettext("Friday"),
        gettext("Saturday"),
        gettext("Sunday"),
    ]
    services = services_of(request)
    async with services.db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT weekday, opens, closes FROM opening_hours WHERE centre_id = 'national' "
            "ORDER BY weekday, opens"
        )
        county_rows = await conn.fetch("SELECT number, name, other_names FROM counties")
    by_day: dict[int, list[str]] = {}
    for row in rows:
        by_day.setdefault(row["weekday"], []).append(_hours(row["opens"], row["closes"]))
    # No hours entered means always open (the routing's rule), not closed every day.
    national_hours = (
        [
            {"name": name, "hours": ", ".join(by_day.get(number, []))}
            for number, name in enumerate(day_names, start=1)
        ]
        if rows
        else []
    )
    counties = [
        {"number": row["number"], "name": ", ".join([row["name"], *row["other_names"]])}
        for row in sorted(county_rows, key=lambda r: _norwegian_order(r["name"]))
        if row["number"] in services.routing.config.centres
    ]
    asked = request.query_params.get("county", "")
    county = asked if any(c["number"] == asked for c in counties) else ""
    embed = request.query_params.get("embed") == "1"
    # Bokmål, nynorsk and English first, as everywhere; then the others by code.
    languages = sorted(
        services.routing.config.languages,
        key=lambda c: (LOCALES.index(c) if c in LOCALES else len(LOCALES), c),
    )
    context = {
        "national_hours": national_hours,
        "counties": counties,
        "county": county,
        "languages": [{"code": c, "name": language_name(c, locale)} for c in languages],
        "chat_language": locale,
        "embed": embed,
        "layout": "embed.html" if embed else "base.html",
        # The frame's own language links keep it a frame for the same county.
        "embed_query": f"embed=1&county={county}&" if embed else "",
    }
    response = await render(request, "chat.html", context)
    # The widget shows this page in a frame on the host sites named in EGUIDE_WIDGET_HOSTS.
    hosts = " ".join(services.settings.widget_hosts)
    response.headers["content-security-policy"] = content_security_policy(f"'self' {hosts}".strip())
    return response


async def sign_in_page(request: Request) -> Response:
    session = await current_session(request)
    next_path = safe_next(request.query_params.get("next"), "")
    if session is not None:
        return RedirectResponse(next_path or ROLE_HOME[session.role], status_code=303)
    error = "expired" if request.query_params.get("expired") else None
    return await render(
        request,
        "signin.html",
        {"next": next_path, "error": error, "username": "", "retry_after": 0},
    )


def client_address(request: Request) -> str | None:
    """The client's address: the socket peer, or, when the peer is a trusted proxy (uvicorn's
    FORWARDED_ALLOW_IPS, by default 127.0.0.1 and ::1), the client it names in
    X-Forwarded-For; uvicorn's proxy-headers middleware has already put it in the scope."""
    return request.client.host if request.client else None


async def _sign_in_refused(
    request: Request,
    form: Form,
    username: str,
    error: str,
    status_code: int,
    retry_after: int = 0,
) -> Response:
    """The sign-in page again with an error; the same for a missing account and a wrong
    password, so the reply never tells whether the username exists."""
    return await render(
        request,
        "signin.html",
        {
            "next": safe_next(one(form, "next"), ""),
            "error": error,
            "username": username,
            "retry_after": retry_after,
        },
        status_code=status_code,
    )


async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    if form is None:
        return await render_error(request, 413)
    if not csrf_ok(request, form):
        return await render_error(request, 403)
    services = services_of(request)
    username = one(form, "username").strip().lower()[:63]
    address = client_address(request)
    limiter = services.signin_limiter
    wait = await limiter.wait(username, address)
    if wait:
        log.info("auth.sign_in_limited", wait_seconds=wait)
        response = await _sign_in_refused(request, form, username, "limited", 429, wait)
        response.headers["retry-after"] = str(wait)
        return response
    async with services.db.acquire() as conn:
        user = await authenticate(conn, username, one(form, "password"))
        if user is None:
            # The account is named only when it exists: a username that is no account is
            # often a password typed in the wrong field, and the audit log must not keep it.
            known = await find_user(conn, username)
            await audit.record(
                conn,
                "auth.sign_in_failed",
                target_type="user" if known else None,
                target_id=str(known.id) if known else None,
                address=address,
            )
        else:
            await audit.record(
                conn,
                "auth.signed_in",
                actor_user_id=user.id,
                target_type="user",
                target_id=str(user.id),
                address=address,
            )
    if user is None:
        await limiter.failed(username, address)
        return await _sign_in_refused(request, form, username, "credentials", 401)
    await limiter.forget_account(username)
    token = await services.sessions.create(user)
    response = RedirectResponse(safe_next(one(form, "next"), ROLE_HOME[user.role]), status_code=303)
    secure = services.settings.cookie_secure
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure)
    # A new CSRF cookie at sign-in, so a token seen before signing in is worth nothing after.
    response.set_cookie(
        csrf.CSRF_COOKIE, csrf.new_cookie_value(), httponly=True, samesite="strict", secure=secure
    )
    return response


async def sign_out(request: Request) -> Response:
    form = await read_form(request)
    if form is None:
        return await render_error(request, 413)
    if not csrf_ok(request, form):
        return await render_error(request, 403)
    session = await current_session(request)
    if session is not None:
        await services_of(request).sessions.end(session)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


async def sign_out_everywhere(request: Request) -> Response:
    """End every session of the signed-in person: other browsers and devices too, and every
    socket opened with them, on every instance."""
    form = await read_form(request)
    if form is None:
        return await render_error(request, 413)
    if not csrf_ok(request, form):
        return await render_error(request, 403)
    session = await current_session(request)
    services = services_of(request)
    if session is not None:
        ended = await services.sessions.end_all(session.user_id)
        async with services.db.acquire() as conn:
            await audit.record(
                conn,
                "auth.signed_out_everywhere",
                actor_user_id=session.user_id,
                target_type="user",
                target_id=str(session.user_id),
                detail={"sessions": ended},
                address=client_address(request),
            )
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@requires_role("counsellor")
async def counsellor_console(request: Request) -> Response:
    session = await current_session(request)
    assert session is not None
    async with services_of(request).db.acquire() as conn:
        account = await find_user(conn, session.username)
        names = dict(await conn.fetch("SELECT id, name FROM centres"))
    if account is None:
        return await render_error(request, 403)
    centres = [names[c] for c in account.centres]
    return await render(request, "counsellor.html", {"account": account, "centres": centres})


@requires_role("supervisor", "admin")
async def supervisor_dashboard(request: Request) -> Response:
    """The page; its figures come over the supervisor socket (app.supervisor_socket)."""
    return await render(request, "supervisor.html", {})


routes = [
    Route("/", landing, methods=["GET"]),
    Route("/chat", chat_entry, methods=["GET"]),
    Route("/accessibility", accessibility_statement, methods=["GET"]),
    Route("/signin", sign_in_page, methods=["GET"]),
    Route("/signin", sign_in, methods=["POST"]),
    Route("/signout", sign_out, methods=["POST"]),
    Route("/signout/everywhere", sign_out_everywhere, methods=["POST"]),
    Route("/counsellor", counsellor_console, methods=["GET"]),
    Route("/supervisor", supervisor_dashboard, methods=["GET"]),
    # The chat page's own API: registered with the pages so the chat entry ships as one piece.
    *availability.routes,
]
