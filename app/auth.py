"""Who is asking: the staff session behind the cookie, and the role each page requires."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.identity import SESSION_COOKIE, current_session
from app.rendering import render_error

# Where each role lands after signing in.
ROLE_HOME = {"counsellor": "/counsellor", "supervisor": "/supervisor", "admin": "/admin"}

Endpoint = Callable[[Request], Awaitable[Response]]


def safe_next(target: str | None, fallback: str = "/") -> str:
    """A local path to return to after sign-in; anything that could leave the site is refused."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    return target


def requires_role(*roles: str) -> Callable[[Endpoint], Endpoint]:
    """Guard a page: anonymous visitors go to sign-in, signed-in users of another role get 403."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @wraps(endpoint)
        async def guarded(request: Request) -> Response:
            session = await current_session(request)
            if session is None:
                target = "/signin?next=" + quote(request.url.path, safe="/")
                if request.cookies.get(SESSION_COOKIE):
                    target += "&expired=1"
                return RedirectResponse(target, status_code=303)
            if session.role not in roles:
                return await render_error(request, 403)
            return await endpoint(request)

        return guarded

    return decorate
