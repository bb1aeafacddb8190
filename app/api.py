"""The seeker's HTTP API: starting a chat. The chat itself runs over the seeker socket."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.identity import services_of
from chat.requests import MAX_BODY_BYTES, RequestError, parse_new_chat
from chat.store import create_chat
from queueing.events import ChatArrived
from queueing.model import NATIONAL, PolicyError


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def start_chat(request: Request) -> Response:
    """POST /api/v1/chats: record a chat, queue it, and return its id and resume token."""
    services = services_of(request)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        # A cross-site form cannot send JSON without a CORS preflight, which we never grant.
        return _error(415, "unsupported_media_type", "send application/json")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        return _error(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    routing = services.routing
    try:
        new = parse_new_chat(body, routing.config.centres.keys(), routing.config.languages)
    except RequestError as error:
        return _error(error.status, error.code, error.message)
    now = time.time()
    async with services.db.acquire() as conn:
        chat, token = await create_chat(
            conn,
            county_number=new.county,
            language=new.language,
            topic=new.topic,
            queue=new.county or NATIONAL,
            now=datetime.fromtimestamp(now, UTC),
        )
    try:
        await routing.router.submit(ChatArrived(str(chat.id), new.county, new.language))
    except PolicyError as error:  # validated above, so only a configuration change lands here
        async with services.db.acquire() as conn:
            await conn.execute("DELETE FROM chat_sessions WHERE id = $1", chat.id)
        return _error(422, str(error.code), error.message)
    return JSONResponse(
        {"chat_id": str(chat.id), "token": token, "protocol": 1},
        status_code=201,
        headers={"cache-control": "no-store"},
    )


routes = [Route("/api/v1/chats", start_chat, methods=["POST"])]
