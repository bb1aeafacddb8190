"""The seeker's HTTP API: starting a chat, and what a seeker may do with it afterwards (download
the transcript, answer the survey, delete the conversation). The chat itself runs over the seeker
socket.

Every request about an existing chat carries the chat's resume token as `Authorization: Bearer`
(never in the URL, where logs and browser history would keep it); the token opens exactly one
chat, which must be the one the URL names. Every error is JSON `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

import redis.asyncio as redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.address_limits import CHAT_STARTS_WINDOW, AddressLimits, Limit, bad_tokens
from app.identity import services_of
from app.logs import get_logger
from app.services import Services
from chat import transcript as transcripts
from chat.masking import masker
from chat.requests import (
    MAX_BODY_BYTES,
    MAX_SURVEY_BODY_BYTES,
    RequestError,
    parse_new_chat,
    parse_survey,
)
from chat.seeker_records import (
    OPEN,
    Progress,
    SurveyOutcome,
    delete_conversation,
    live_progress,
    recorded_progress,
    save_survey,
    transcript_lines,
)
from chat.store import ChatRecord, chat_for_token, create_chat
from queueing.events import ChatArrived, SeekerLeft
from queueing.model import NATIONAL, Chat, PolicyError
from web.i18n import LOCALE_COOKIE, LOCALES, choose_locale, translations

log = get_logger(__name__)

# Nothing the seeker's API answers may be kept by a browser or a proxy: a chat id with its
# token, a transcript, a refusal.
NO_STORE = {"cache-control": "no-store"}
_MEDIA_TYPES = {"text": "text/plain; charset=utf-8", "html": "text/html; charset=utf-8"}
_EXTENSIONS = {"text": "txt", "html": "html"}


def _error(status: int, code: str, message: str) -> JSONResponse:
    headers = dict(NO_STORE)
    if status == 401:  # RFC 6750: say which scheme, and whether a token was sent but refused
        headers["www-authenticate"] = (
            "Bearer" if code == "not_authenticated" else 'Bearer error="invalid_token"'
        )
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


class RateLimited(RequestError):
    """429: the client address is over a limit (app/address_limits.py) for `retry_after` s."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(429, "rate_limited", message)
        self.retry_after = retry_after


def _refusal(error: RequestError) -> JSONResponse:
    response = _error(error.status, error.code, error.message)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def http_error(status: int, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An API path's 404 or 405 in the API's own form (pages get a translated page instead);
    `headers` keeps the 405's `Allow`."""
    if status == 405:
        response = _error(405, "method_not_allowed", "this path does not take that method")
    else:
        response = _error(404, "not_found", "there is no such API path")
    response.headers.update(headers or {})
    return response


async def _json_body(request: Request, limit: int) -> bytes:
    """The request's JSON body, read no further than `limit` bytes."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        # A cross-site form cannot send JSON without a CORS preflight, which we never grant.
        raise RequestError(415, "unsupported_media_type", "send application/json")
    too_large = RequestError(413, "body_too_large", f"the body is over {limit} bytes")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise too_large
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return body


def _kept(services: Services, text: str | None) -> str | None:
    """What PostgreSQL keeps of a seeker's free text (a topic, a survey comment): masked."""
    return None if text is None else masker(services.settings.mask_stored_text)(text)


async def start_chat(request: Request) -> Response:
    """POST /api/v1/chats: record a chat, queue it, and return its id and resume token."""
    services = services_of(request)
    routing = services.routing
    limit = Limit("chat-starts", services.settings.chat_starts_per_address, CHAT_STARTS_WINDOW)
    address = request.client.host if request.client else None
    try:
        wait = await AddressLimits(services.redis, services.settings.redis_prefix).count(
            limit, address, time.time()
        )
    except (OSError, redis.RedisError):
        return _refusal(_unavailable())
    if wait is not None:
        log.info("chat.start_limited")
        return _refusal(
            RateLimited(f"too many chats from this address; try again in {wait} s", wait)
        )
    try:
        body = await _json_body(request, MAX_BODY_BYTES)
        new = parse_new_chat(body, routing.config.centres.keys(), routing.config.languages)
    except RequestError as error:
        return _refusal(error)
    now = time.time()
    async with services.db.acquire() as conn:
        chat, token = await create_chat(
            conn,
            county_number=new.county,
            language=new.language,
            topic=_kept(services, new.topic),
            queue=new.county or NATIONAL,
            now=datetime.fromtimestamp(now, UTC),
        )
    try:
        await routing.router.submit(ChatArrived(str(chat.id), new.county, new.language))
    except PolicyError as error:  # validated above, so only a configuration change lands here
        async with services.db.acquire() as conn:
            await conn.execute("DELETE FROM chat_sessions WHERE id = $1", chat.id)
        return _error(422, str(error.code), error.message)
    except (OSError, redis.RedisError):
        # Never a recorded chat that no queue holds: the seeker tries again in a moment.
        log.warning("chat.queue_unavailable")
        async with services.db.acquire() as conn:
            await conn.execute("DELETE FROM chat_sessions WHERE id = $1", chat.id)
        return _refusal(_unavailable())
    return JSONResponse(
        {"chat_id": str(chat.id), "token": token, "protocol": 1},
        status_code=201,
        headers=NO_STORE,
    )


# ---------------------------------------------------------------------- after the chat


async def _seeker_chat(request: Request) -> ChatRecord:
    """The chat the request's bearer token opens, which must be the chat its URL names."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise RequestError(401, "not_authenticated", "send Authorization: Bearer <resume token>")
    services = services_of(request)
    limits = AddressLimits(services.redis, services.settings.redis_prefix)
    address = request.client.host if request.client else None
    now = time.time()
    limit = bad_tokens(services.settings.bad_tokens_per_address)
    wait = await limits.exceeded(limit, address, now)
    if wait is not None:
        raise RateLimited(f"too many wrong tokens; try again in {wait} s", wait)
    async with services.db.acquire() as conn:
        chat = await chat_for_token(conn, token, datetime.fromtimestamp(now, UTC))
    if chat is None:
        await limits.count(limit, address, now)
        raise RequestError(401, "bad_token", "the token opens no chat, or no longer")
    try:
        named = uuid.UUID(request.path_params["chat_id"])
    except ValueError:
        named = None
    if named != chat.id:
        # The same answer whether or not the named chat exists: a token tells nothing of others.
        raise RequestError(403, "wrong_chat", "the token opens another chat")
    return chat


def _unavailable() -> RequestError:
    return RequestError(503, "unavailable", "please try again in a moment")


async def _live_chat(services: Services, chat_id: uuid.UUID) -> Chat | None:
    """The router's view of the chat; None once Redis no longer holds it."""
    try:
        return await services.routing.queue.chat(str(chat_id))
    except (OSError, redis.RedisError):
        raise _unavailable() from None


async def _progress(services: Services, chat_id: uuid.UUID) -> Progress | None:
    live = await _live_chat(services, chat_id)
    if live is not None:
        return live_progress(live)
    async with services.db.acquire() as conn:
        return await recorded_progress(conn, chat_id)


async def chat_transcript(request: Request) -> Response:
    """GET /api/v1/chats/{chat_id}/transcript?format=text|html&lang=nb|nn|en: the messages as
    a file to keep (internal notes are never part of it)."""
    services = services_of(request)
    try:
        chat = await _seeker_chat(request)
        form = request.query_params.get("format", "text")
        if form not in transcripts.FORMATS:
            raise RequestError(422, "unknown_format", "format is text or html")
        asked = request.query_params.get("lang")
        if asked is not None and asked not in LOCALES:
            raise RequestError(422, "unknown_lang", "lang is nb, nn or en")
    except RequestError as error:
        return _refusal(error)
    locale = choose_locale(
        asked, request.cookies.get(LOCALE_COOKIE), request.headers.get("accept-language")
    )
    async with services.db.acquire() as conn:
        lines = await transcript_lines(conn, chat.id)
    render = transcripts.render_html if form == "html" else transcripts.render_text
    content = render(lines, chat.created_at, locale, translations(locale).gettext)
    name = transcripts.filename(chat.created_at, _EXTENSIONS[form])
    return Response(
        content,
        media_type=_MEDIA_TYPES[form],
        headers={
            **NO_STORE,
            "content-disposition": f'attachment; filename="{name}"',
            "content-language": locale,
        },
    )


async def answer_survey(request: Request) -> Response:
    """POST /api/v1/chats/{chat_id}/survey: the seeker's one rating of an answered, ended chat."""
    services = services_of(request)
    try:
        chat = await _seeker_chat(request)
        answer = parse_survey(await _json_body(request, MAX_SURVEY_BODY_BYTES))
        progress = await _progress(services, chat.id)
        if progress is None:
            raise RequestError(401, "bad_token", "the token opens no chat, or no longer")
        if not progress.closed:
            raise RequestError(409, "chat_not_ended", "the survey opens when the chat has ended")
        if not progress.answered:
            raise RequestError(409, "not_answered", "no counsellor answered this chat")
    except RequestError as error:
        return _refusal(error)
    comment = _kept(services, answer.comment)  # answered as kept
    async with services.db.acquire() as conn:
        outcome = await save_survey(conn, chat.id, answer.score, comment, datetime.now(UTC))
    if outcome is SurveyOutcome.ALREADY_ANSWERED:
        return _error(409, "already_answered", "the survey of this chat is answered")
    if outcome is SurveyOutcome.DELETED:
        return _error(401, "bad_token", "the token opens no chat, or no longer")
    log.info("chat.survey_answered", chat_id=str(chat.id), score=answer.score)
    return JSONResponse(
        {"score": answer.score, "comment": comment}, status_code=201, headers=NO_STORE
    )


async def delete_chat(request: Request) -> Response:
    """DELETE /api/v1/chats/{chat_id}: end the chat if it is still open, then delete every word
    of it at once. The token opens nothing afterwards."""
    services = services_of(request)
    try:
        chat = await _seeker_chat(request)
        live = await _live_chat(services, chat.id)
        ending = live is not None and live.status in OPEN
        if ending:
            # Through the router, so the counsellor's console sees the chat end.
            try:
                await services.routing.router.submit(SeekerLeft(str(chat.id)))
            except PolicyError:  # it closed by itself meanwhile
                pass
            except (OSError, redis.RedisError):
                raise _unavailable() from None
    except RequestError as error:
        return _refusal(error)
    async with services.db.acquire() as conn:
        await delete_conversation(conn, chat.id, datetime.now(UTC), close=live is None)
    # Every screen showing the conversation drops it: the console's copy goes too.
    try:
        await services.routing.conversations.live.publish_deleted(str(chat.id))
    except (OSError, redis.RedisError):
        log.warning("chat.deleted_unannounced", chat_id=str(chat.id))
    log.info("chat.deleted", chat_id=str(chat.id), ended=ending)
    return Response(status_code=204, headers=NO_STORE)


routes = [
    Route("/api/v1/chats", start_chat, methods=["POST"]),
    Route("/api/v1/chats/{chat_id}", delete_chat, methods=["DELETE"]),
    Route("/api/v1/chats/{chat_id}/transcript", chat_transcript, methods=["GET"]),
    Route("/api/v1/chats/{chat_id}/survey", answer_survey, methods=["POST"]),
]
