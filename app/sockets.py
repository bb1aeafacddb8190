"""The WebSocket endpoints: the counsellor console, the seeker chat and the supervisor dashboard.

Both check the Origin header before accepting (a page on another site must not open a socket
with a staff cookie). The counsellor socket requires a signed-in counsellor, the supervisor
socket a supervisor or an admin; the seeker
socket authenticates with the resume token in its first frame, never in the URL, so tokens stay
out of proxy and server logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import structlog
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from app.address_limits import AddressLimits, bad_tokens
from app.identity import current_session, services_of
from app.supervisor_socket import SupervisorSocket
from chat.connection import CloseCode, Connection
from chat.counsellor_socket import CounsellorSocket
from chat.frames import ErrorCode, FrameError
from chat.seeker_socket import SeekerSocket
from chat.store import ChatRecord, chat_for_token

log = structlog.stdlib.get_logger(__name__)


def origin_allowed(websocket: WebSocket) -> bool:
    # A disallowed Origin gets its handshake refused (HTTP 403): nothing is ever accepted for a
    # page on another site.
    """Same origin as the page's host, or one of EGUIDE_ALLOWED_ORIGINS."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: browsers always send Origin on WebSockets
    allowed = services_of(websocket).settings.allowed_origins
    if origin in allowed:
        return True
    host = websocket.headers.get("host", "")
    return urlsplit(origin).netloc == host and urlsplit(origin).scheme in ("http", "https")


async def counsellor_socket(websocket: WebSocket) -> None:
    if not origin_allowed(websocket):
        log.info("ws.origin_refused", role="counsellor")
        await websocket.close(int(CloseCode.POLICY_VIOLATION))
        return
    session = await current_session(websocket)
    routing = services_of(websocket).routing
    counsellor_id = None
    if session is not None and session.role == "counsellor":
        counsellor_id = await routing.register(session.username)
    # Accept, then close with a code the console can read (a browser cannot see why a
    # handshake was refused): 4401 means "sign in again", 4403 "not a counsellor's socket".
    await websocket.accept()
    if counsellor_id is None:
        code = CloseCode.NOT_AUTHENTICATED if session is None else CloseCode.FORBIDDEN
        await websocket.close(int(code))
        return
    structlog.contextvars.bind_contextvars(role="counsellor", counsellor=counsellor_id)
    metrics = services_of(websocket).metrics
    connection = Connection(websocket, on_error_frame=metrics.error_frame_sent)
    handler = CounsellorSocket(
        connection,
        counsellor_id,
        routing.router,
        routing.hub,
        routing.conversations,
        frame_rate=services_of(websocket).settings.counsellor_frame_rate,
    )
    watch = services_of(websocket).session_watch

    def session_ended() -> None:
        connection.close(CloseCode.SESSION_ENDED)

    assert session is not None
    watch.watch(session, session_ended)
    with metrics.socket_open("counsellor"):
        await handler.open()
        try:
            await connection.serve(handler.handle)
        finally:
            watch.forget(session, session_ended)
            await handler.close()


async def supervisor_socket(websocket: WebSocket) -> None:
    if not origin_allowed(websocket):
        log.info("ws.origin_refused", role="supervisor")
        await websocket.close(int(CloseCode.POLICY_VIOLATION))
        return
    session = await current_session(websocket)
    await websocket.accept()
    if session is None or session.role not in ("supervisor", "admin"):
        code = CloseCode.NOT_AUTHENTICATED if session is None else CloseCode.FORBIDDEN
        await websocket.close(int(code))
        return
    structlog.contextvars.bind_contextvars(role="supervisor", user=session.user_id)
    services = services_of(websocket)
    routing = services.routing
    connection = Connection(websocket, on_error_frame=services.metrics.error_frame_sent)
    handler = SupervisorSocket(
        connection,
        session.user_id,
        websocket.client.host if websocket.client else None,
        services.db,
        routing.router,
        routing.conversations.live,
        routing.dashboard,
    )

    def session_ended() -> None:
        connection.close(CloseCode.SESSION_ENDED)

    services.session_watch.watch(session, session_ended)
    handler.open()
    with services.metrics.socket_open("supervisor"):
        try:
            await connection.serve(handler.handle)
        finally:
            services.session_watch.forget(session, session_ended)
            handler.close()


async def seeker_socket(websocket: WebSocket) -> None:
    if not origin_allowed(websocket):
        log.info("ws.origin_refused", role="seeker")
        await websocket.close(int(CloseCode.POLICY_VIOLATION))
        return
    services = services_of(websocket)
    await websocket.accept()
    structlog.contextvars.bind_contextvars(role="seeker")

    limits = AddressLimits(services.redis, services.settings.redis_prefix)
    bad_token_limit = bad_tokens(services.settings.bad_tokens_per_address)
    address = websocket.client.host if websocket.client else None

    async def check_token(token: str) -> ChatRecord | None:
        now = time.time()
        wait = await limits.exceeded(bad_token_limit, address, now)
        if wait is not None:
            log.info("ws.bad_tokens_limited", role="seeker")
            raise FrameError(
                ErrorCode.RATE_LIMITED,
                f"too many wrong tokens from this address; try again in {wait} s",
            )
        async with services.db.acquire() as conn:
            chat = await chat_for_token(conn, token, datetime.fromtimestamp(now, UTC))
        if chat is None:
            await limits.count(bad_token_limit, address, now)
        return chat

    connection = Connection(websocket, on_error_frame=services.metrics.error_frame_sent)
    routing = services.routing
    handler = SeekerSocket(
        connection, check_token, routing.router, routing.hub, routing.conversations
    )
    deadline = asyncio.create_task(handler.expire_unauthenticated())
    with services.metrics.socket_open("seeker"):
        try:
            await connection.serve(handler.handle)
        finally:
            deadline.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await deadline
            await handler.close()


routes = [
    WebSocketRoute("/ws/counsellor", counsellor_socket),
    WebSocketRoute("/ws/seeker", seeker_socket),
    WebSocketRoute("/ws/supervisor", supervisor_socket),
]
