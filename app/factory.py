"""The ASGI application: routes, middleware, and a lifespan that owns the connection pools."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from app import (
    admin_pages,
    api,
    audit_pages,
    client_assets,
    console_api,
    health,
    monitoring,
    pages,
    reports,
    sockets,
)
from app.collector import run_collector
from app.database import create_pool
from app.keys import AppKeys
from app.logs import configure_logging, get_logger
from app.metrics import Metrics, ServerErrorMiddleware
from app.middleware import RequestContextMiddleware
from app.redis_client import create_redis
from app.rendering import render_error
from app.retention_service import run_daily_purge
from app.routing_service import start_routing
from app.services import Services
from app.session_watch import SessionWatch
from app.sessions import SessionStore
from app.settings import Settings, load_settings
from app.signin_limits import SigninLimiter, SigninLimits
from app.stall_watch import watch_stalls
from web.templating import PageRenderer

log = get_logger(__name__)


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the app; connections open when the server starts it, not here."""
    settings = settings or load_settings()
    renderer = PageRenderer()
    instruments = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        db = await create_pool(settings)
        client = create_redis(settings)
        keys = AppKeys(settings.redis_prefix)
        routing = await start_routing(settings, db, client, [instruments.on_effect])
        instruments.consoles = routing.hub.counsellors
        routing.conversations.on_message_stored = instruments.message_stored
        sessions = SessionStore(client, keys, settings.session_idle_seconds)
        services = Services(
            settings=settings,
            db=db,
            redis=client,
            keys=keys,
            sessions=sessions,
            signin_limiter=SigninLimiter(client, keys, SigninLimits.from_settings(settings)),
            session_watch=SessionWatch(client, keys, sessions),
            pages=renderer,
            routing=routing,
            metrics=instruments,
        )
        watching = asyncio.create_task(services.session_watch.run())
        purging = asyncio.create_task(run_daily_purge(settings, db, client, keys, routing.instance))
        collecting = asyncio.create_task(run_collector())
        stalls = asyncio.create_task(watch_stalls())
        log.info("app.started", environment=settings.environment)
        try:
            yield {"services": services}
        finally:
            for task in (watching, purging, collecting, stalls):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await routing.stop()
            await client.aclose()
            await db.close()
            log.info("app.stopped")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (404, 405):
            if request.url.path.startswith("/api/"):
                return api.http_error(exc.status_code, exc.headers)
            return await render_error(request, exc.status_code)
        return Response(exc.detail, status_code=exc.status_code)

    static = StaticFiles(packages=[("web", "static")])
    return Starlette(
        routes=[
            *health.routes,
            *pages.routes,
            *admin_pages.routes,
            *audit_pages.routes,
            *client_assets.routes,
            *api.routes,
            *console_api.routes,
            *sockets.routes,
            *reports.routes,
            *monitoring.routes,
            Mount("/static", static, name="static"),
        ],
        middleware=[
            Middleware(RequestContextMiddleware),
            Middleware(ServerErrorMiddleware, metrics=instruments),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )


def app_from_environment() -> Starlette:
    """The factory uvicorn calls in each worker (`--factory`)."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
