"""What a request carries: the shared services, and the staff session behind its cookie."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from app.services import Services
from app.sessions import StaffSession

SESSION_COOKIE = "eguide_session"


def services_of(connection: HTTPConnection) -> Services:
    services: Services = connection.state.services
    return services


async def current_session(connection: HTTPConnection) -> StaffSession | None:
    """The signed-in staff member, looked up once per request or socket."""
    if "staff_session" not in connection.scope:
        token = connection.cookies.get(SESSION_COOKIE)
        session = await services_of(connection).sessions.load(token) if token else None
        connection.scope["staff_session"] = session
    cached: StaffSession | None = connection.scope["staff_session"]
    return cached
