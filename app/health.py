"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.identity import services_of
from app.migrator import pending_migrations

# A dependency that takes longer than this to answer is as good as down for a load balancer,
# which polls every few seconds.
CHECK_TIMEOUT_SECONDS = 2.0


async def healthz(request: Request) -> Response:
    """The process is alive and serving; says nothing about its dependencies."""
    return JSONResponse({"status": "ok"})


async def _check_redis(request: Request) -> str | None:
    await services_of(request).redis.ping()
    return None


async def _check_postgres(request: Request) -> str | None:
    async with services_of(request).db.acquire() as conn:
        pending = await pending_migrations(conn)
    if pending:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in pending)
        return f"migrations not applied: {names}"
    return None


async def _run_check(check: Callable[[Request], Awaitable[str | None]], request: Request) -> str:
    try:
        problem = await asyncio.wait_for(check(request), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as error:
        return f"{type(error).__name__}: {error}"[:200]
    return problem or "ok"


async def readyz(request: Request) -> Response:
    """200 when Redis and PostgreSQL answer and the schema is current; 503 naming what is not."""
    redis_state, postgres_state = await asyncio.gather(
        _run_check(_check_redis, request), _run_check(_check_postgres, request)
    )
    checks = {"redis": redis_state, "postgres": postgres_state}
    ready = all(state == "ok" for state in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers={"cache-control": "no-store"},
    )


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
