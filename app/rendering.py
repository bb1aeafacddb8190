"""Turning a template into a response: the locale, the CSRF cookie and the signed-in user."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from app import csrf
from app.identity import current_session, services_of
from web.i18n import LOCALE_COOKIE, choose_locale, translations

# A chosen language is remembered for a year.
LOCALE_COOKIE_SECONDS = 365 * 24 * 3600


def locale_of(request: Request) -> str:
    return choose_locale(
        request.query_params.get("lang"),
        request.cookies.get(LOCALE_COOKIE),
        request.headers.get("accept-language"),
    )


def csrf_cookie_of(request: Request) -> str:
    """This browser's CSRF cookie value, minting one (set on the response) when it has none."""
    if "csrf_cookie" not in request.scope:
        existing = request.cookies.get(csrf.CSRF_COOKIE)
        request.scope["csrf_cookie"] = existing if existing else csrf.new_cookie_value()
    value: str = request.scope["csrf_cookie"]
    return value


async def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render a page for the request's locale and user, keeping the CSRF and locale cookies."""
    services = services_of(request)
    locale = locale_of(request)
    cookie = csrf_cookie_of(request)
    page = services.pages.render(
        template,
        locale,
        {
            "user": await current_session(request),
            "csrf_token": csrf.form_token(services.settings.secret_key, cookie),
            "path": request.url.path,
            **(context or {}),
        },
    )
    response = HTMLResponse(page, status_code=status_code, headers={"content-language": locale})
    response.headers["cache-control"] = "no-store"
    secure = services.settings.cookie_secure
    if request.cookies.get(csrf.CSRF_COOKIE) != cookie:
        response.set_cookie(
            csrf.CSRF_COOKIE, cookie, httponly=True, samesite="strict", secure=secure
        )
    if request.query_params.get("lang") == locale and request.cookies.get(LOCALE_COOKIE) != locale:
        response.set_cookie(
            LOCALE_COOKIE, locale, max_age=LOCALE_COOKIE_SECONDS, samesite="lax", secure=secure
        )
    return response


async def render_error(request: Request, status_code: int) -> HTMLResponse:
    """A translated error page for 403, 404, 405 and 413 (anything else reads as 'went wrong')."""
    gettext = translations(locale_of(request)).gettext
    texts = {
        403: (gettext("No access"), gettext("Your account does not have access to this page.")),
        404: (gettext("Page not found"), gettext("We could not find the page you asked for.")),
        405: (gettext("Not allowed"), gettext("This page cannot be used that way.")),
        413: (gettext("Too large"), gettext("What you sent is too large.")),
    }
    heading, message = texts.get(
        status_code, (gettext("Something went wrong"), gettext("Please try again in a moment."))
    )
    return await render(
        request, "error.html", {"heading": heading, "message": message}, status_code=status_code
    )
