"""`GET /metrics`: the instance's Prometheus figures (`app.metrics`), for a bearer token.

The endpoint requires `Authorization: Bearer <EGUIDE_METRICS_TOKEN>`; with no token configured it
answers 404, as if it did not exist: queue figures are not for everyone, and an operator who has
not chosen a token has not chosen to publish them.
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.identity import services_of


def token_matches(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries the bearer token (compared in constant time)."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


async def metrics_endpoint(request: Request) -> Response:
    services = services_of(request)
    token = services.settings.metrics_token
    if token is None:
        return PlainTextResponse("Not Found", status_code=404)
    if not token_matches(request.headers.get("authorization"), token):
        return PlainTextResponse(
            "a bearer token is required",
            status_code=401,
            headers={"www-authenticate": 'Bearer realm="metrics"'},
        )
    metrics = services.metrics
    await metrics.refresh_queue_figures(services.routing.queue)
    return Response(
        metrics.exposition(),
        media_type=CONTENT_TYPE_LATEST,
        headers={"cache-control": "no-store"},
    )


routes = [Route("/metrics", metrics_endpoint, methods=["GET"])]
