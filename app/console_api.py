"""The console's HTTP API for the signed-in counsellor: their centres' canned replies, and the
colleagues and queues a chat can be transferred to.

The chat itself runs over the console socket; these are the look-ups around it. Every answer is
JSON and never cached; a request without a staff session gets 401 and one from staff who are not
counsellors 403, both as `{"error": {"code", "message"}}` like the seeker's API.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.identity import current_session, services_of
from app.users import User, find_user, list_users
from queueing.model import NATIONAL, Counsellor, CounsellorStatus
from queueing.order import is_free

# What a counsellor sees of the console's look-ups is theirs alone and changes by the second.
NO_STORE = {"cache-control": "no-store"}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=NO_STORE
    )


async def _counsellor(request: Request) -> User | JSONResponse:
    """The signed-in counsellor's account, or the refusal to send instead."""
    session = await current_session(request)
    if session is None:
        return _error(401, "not_authenticated", "sign in as a counsellor")
    if session.role != "counsellor":
        return _error(403, "forbidden", "only counsellors use the console")
    async with services_of(request).db.acquire() as conn:
        user = await find_user(conn, session.username)
    if user is None or user.disabled:
        return _error(403, "forbidden", "the account is not an enabled counsellor")
    return user


async def canned_replies(request: Request) -> Response:
    """GET /api/v1/console/canned-replies: the replies of the counsellor's county centres, then
    the national team's when they are on it, each with its centre and language."""
    me = await _counsellor(request)
    if isinstance(me, Response):
        return me
    centres = [*me.centres, *([NATIONAL] if me.national_team else [])]
    rows = await services_of(request).db.fetch(
        """SELECT id, centre_id, language, title, body FROM canned_replies
           WHERE centre_id = any($1::text[])
           ORDER BY centre_id = 'national', centre_id, language, title""",
        centres,
    )
    replies = [
        {
            "id": row["id"],
            "centre": row["centre_id"],
            "language": row["language"],
            "title": row["title"],
            "body": row["body"],
        }
        for row in rows
    ]
    return JSONResponse({"replies": replies}, headers=NO_STORE)


def _colleague(user: User, live: Counsellor | None) -> dict[str, object]:
    """A colleague as the transfer list shows them. `takes_transfers` is the router's own test
    (available, connected, no offer pending, room left); the chat's language is checked by the
    console, which knows it, and again by the router."""
    active = len(live.active) if live is not None else 0
    offered = live is not None and live.offer is not None
    capacity = live.capacity if live is not None else user.capacity
    return {
        "id": str(user.id),
        "name": user.display_name,
        "centres": list(user.centres),
        "national_team": user.national_team,
        "languages": list(user.languages),
        "status": str(live.status if live is not None else CounsellorStatus.OFFLINE),
        "capacity": capacity,
        "active": active,
        "free": max(0, capacity - active - int(offered)),
        "takes_transfers": live is not None and is_free(live),
    }


async def colleagues(request: Request) -> Response:
    """GET /api/v1/console/colleagues: every other enabled counsellor with their status and load
    from the router (those sharing a centre first, then the national team), and the queues a
    chat may be handed to: each county centre with its county's name, in the order of the
    counties' names, then the national queue."""
    me = await _counsellor(request)
    if isinstance(me, Response):
        return me
    services = services_of(request)
    async with services.db.acquire() as conn:
        users = [
            u
            for u in await list_users(conn)
            if u.role == "counsellor" and not u.disabled and u.id != me.id
        ]
        centres = await conn.fetch(
            """SELECT c.id, c.name, k.name AS county FROM centres c
               LEFT JOIN counties k ON k.number = c.county_number ORDER BY k.name NULLS LAST"""
        )
    queue = services.routing.queue
    try:
        live = await asyncio.gather(*(queue.counsellor(str(u.id)) for u in users))
    except (OSError, redis.RedisError):
        return _error(503, "unavailable", "please try again in a moment")
    mine = set(me.centres)
    users_live = sorted(
        zip(users, live, strict=True),
        key=lambda pair: (
            not mine & set(pair[0].centres),
            not pair[0].national_team,
            pair[0].display_name.casefold(),
        ),
    )
    routed = services.routing.config.centres
    queues = [
        {"queue": r["id"], "name": r["name"], "county": r["county"]}
        for r in centres
        if r["id"] in routed
    ]
    national = next((r["name"] for r in centres if r["id"] == NATIONAL), NATIONAL)
    queues.append({"queue": NATIONAL, "name": national, "county": None})
    return JSONResponse(
        {"colleagues": [_colleague(u, c) for u, c in users_live], "queues": queues},
        headers=NO_STORE,
    )


routes = [
    Route("/api/v1/console/canned-replies", canned_replies, methods=["GET"]),
    Route("/api/v1/console/colleagues", colleagues, methods=["GET"]),
]
