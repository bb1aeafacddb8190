"""docs/security.md's authorisation tables, walked row by row for every kind of person, against a
real server: the tables are the specification, this test holds the code to them, and it fails
when the app serves a route or a socket takes a frame type the tables do not name."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.factory import create_app
from app.seed import DEMO_PASSWORD
from app.settings import load_settings
from app.users import create_user
from chat.frames import FRAME_TYPES, Role, parse_client_frame
from tests.support.environment import RunEnvironment
from tests.support.forms import csrf_token, sign_in
from tests.support.server import ServerProcess
from tests.support.sockets import receive, send, start_chat, ws_url

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
PEOPLE = ("anonymous", "seeker", "counsellor", "supervisor", "admin")
STAFF = {"counsellor": "kari", "supervisor": "sofie", "admin": "admin"}
SOCKET_ROLES = {"/ws/seeker": Role.SEEKER, "/ws/counsellor": Role.COUNSELLOR}
SOCKET_ROLES["/ws/supervisor"] = Role.SUPERVISOR
METRICS_TOKEN = secrets.token_urlsafe(24)


def table(heading: str) -> list[list[str]]:
    """The rows of the first table under `### heading` in docs/security.md, cells unquoted."""
    text = DOC.read_text()
    start = text.index(f"### {heading}\n")
    rows: list[list[str]] = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("#"):
            break
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.replace("`", "").strip() for cell in line.strip().strip("|").split("|")]
        if set(cells[0]) <= {"-", " "}:
            continue
        rows.append(cells)
    return rows[1:]  # without the header


HTTP_ROWS = table("HTTP routes")
SOCKET_ROWS = table("WebSocket endpoints")
FRAME_ROWS = table("Frame types")


# --------------------------------------------------------------------------- the people


@dataclass
class Person:
    kind: str
    client: httpx.Client
    cookie: str = ""
    token: str = ""
    chat_id: str = ""


@pytest.fixture(scope="module")
def instance(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:",
        EGUIDE_METRICS_TOKEN=METRICS_TOKEN,
    )
    with ServerProcess(env, tmp_path_factory.mktemp("authz") / "server.log") as server:
        yield server


@pytest.fixture(scope="module")
def people(instance: ServerProcess, module_env: RunEnvironment) -> Iterator[dict[str, Person]]:
    async def target() -> None:
        conn = await asyncpg.connect(module_env.database_url)
        try:
            for username, role in ((TARGET, "counsellor"), *((u, r) for r, u in SPARE.items())):
                await create_user(
                    conn,
                    username=username,
                    display_name=f"Authorisation {role}",
                    role=role,
                    password=DEMO_PASSWORD,
                    centres=("55",) if role == "counsellor" else (),
                )
        finally:
            await conn.close()

    asyncio.run(target())
    found: dict[str, Person] = {}
    for kind in PEOPLE:
        client = httpx.Client(base_url=instance.url)
        person = Person(kind, client)
        if kind in STAFF:
            assert sign_in(client, STAFF[kind], DEMO_PASSWORD).status_code == 303
            person.cookie = f"eguide_session={client.cookies['eguide_session']}"
        found[kind] = person
    try:
        yield found
    finally:
        for person in found.values():
            person.client.close()


def new_chat(instance: ServerProcess) -> dict[str, Any]:
    return start_chat(instance.url, "55")  # Troms: nobody in these tests answers it


# --------------------------------------------------------------------------- HTTP


TARGET = "authz-target"  # the account the admin's forms in these rows change
# Accounts that sign in and out in the sign-in and sign-out rows: signing out everywhere ends
# every session of an account, so the people's own accounts are kept out of it.
SPARE = {"counsellor": "authz-counsellor", "supervisor": "authz-supervisor", "admin": "authz-admin"}


def _form_post(instance: ServerProcess, person: Person, path: str) -> httpx.Response:
    """Sign in or out in a client of its own (as the person, with a session of its own for
    staff), so the person's session in the other rows is left alone."""
    with httpx.Client(base_url=instance.url) as client:
        if person.kind in STAFF:
            assert sign_in(client, SPARE[person.kind], DEMO_PASSWORD).status_code == 303
        page = client.get("/" if person.kind in STAFF else "/signin")
        account = SPARE.get(person.kind, "authz-counsellor")
        data = {"csrf_token": csrf_token(page), "username": account, "password": DEMO_PASSWORD}
        return client.post(path, data=data)


def _request(
    instance: ServerProcess, person: Person, route: str
) -> tuple[httpx.Response, Callable[[], httpx.Response] | None]:
    """Make the route's request as `person`; for a seeker's own-chat route, also return how to
    make it on another chat's path."""
    method, template = route.split(" ", 1)
    client = person.client
    headers: dict[str, str] = {}
    path = template.replace("{locale}", "nb").replace("{path}", "css/eguide.css")
    path = path.replace("{username}", TARGET)
    other: Callable[[], httpx.Response] | None = None
    if "{chat_id}" in template:
        mine = new_chat(instance)
        path = template.format(chat_id=mine["chat_id"])
        if person.kind == "seeker":
            headers["Authorization"] = f"Bearer {mine['token']}"
            elsewhere = template.format(chat_id=new_chat(instance)["chat_id"])

            def other() -> httpx.Response:
                return client.request(method, elsewhere, headers=headers, json={"score": 4})

            if method == "DELETE":  # ask about the other chat while the token still opens one
                answer = other()

                def other() -> httpx.Response:
                    return answer

    if method == "GET":
        return client.get(path, headers=headers), other
    if path in ("/signin", "/signout", "/signout/everywhere"):
        return _form_post(instance, person, path), other
    if path.startswith("/admin/"):
        # With the person's own CSRF token: the refusal, if any, is for who they are. What an
        # admin sends is incomplete (a 400 at the fields) or harmless to the other rows.
        token = csrf_token(client.get("/" if person.kind in STAFF else "/signin"))
        return client.post(path, data={"csrf_token": token}), other
    if path == "/api/v1/chats":
        body = {"county": "55", "language": "nb", "consent": True}
        return client.post(path, json=body), other
    return client.request(method, path, headers=headers, json={"score": 4}), other


def _assert_cell(response: httpx.Response, cell: str, where: str) -> None:
    status = response.status_code
    location = response.headers.get("location", "")
    if cell in ("yes", "own"):
        assert status not in (401, 403, 404) and not location.startswith("/signin"), where
    elif cell == "token":
        assert status == 401, where
    elif cell == "sign-in":
        assert status == 303 and location.startswith("/signin?next="), where
    else:
        assert status == int(cell), f"{where}: {status} {response.text[:200]}"


@pytest.mark.parametrize("row", HTTP_ROWS, ids=[row[0] for row in HTTP_ROWS])
def test_every_http_route_answers_each_person_as_the_table_says(
    instance: ServerProcess, people: dict[str, Person], row: list[str]
) -> None:
    route, cells = row[0], row[1:]
    for kind, cell in zip(PEOPLE, cells, strict=True):
        response, other = _request(instance, people[kind], route)
        _assert_cell(response, cell, f"{route} as {kind}")
        if cell == "token":
            bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
            assert (
                people[kind].client.get(route.split(" ", 1)[1], headers=bearer).status_code == 200
            )
        if cell == "own":
            assert other is not None
            refused = other()
            assert refused.status_code == 403, f"{route} on another's chat"
            # After its own DELETE the token opens nothing any more (bad_token, 401); the other
            # chat is asked first in that case (see _request), so this is wrong_chat.
            assert refused.json()["error"]["code"] == "wrong_chat"


def _paths(routes: list[BaseRoute], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for route in routes:
        if isinstance(route, Mount):
            found.add(f"GET {prefix}{route.path}/{{path}}")
        elif isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found.add(f"{method} {prefix}{route.path}")
        elif isinstance(route, WebSocketRoute):
            found.add(f"WS {prefix}{route.path}")
    return found


def test_the_tables_name_every_route_and_socket_the_app_serves() -> None:
    served = _paths(create_app(load_settings({})).routes)
    named = {row[0] for row in HTTP_ROWS} | {f"WS {row[0]}" for row in SOCKET_ROWS}
    assert served == named


# --------------------------------------------------------------------------- sockets


async def _open(instance: ServerProcess, person: Person, path: str) -> ClientConnection:
    headers = {"Origin": instance.url}
    if person.cookie:
        headers["Cookie"] = person.cookie
    return await connect(ws_url(instance.url, path), additional_headers=headers)


async def _closed_with(socket: ClientConnection) -> int | None:
    try:
        async with asyncio.timeout(5):
            while True:
                await socket.recv()
    except ConnectionClosed as closed:
        return None if closed.rcvd is None else closed.rcvd.code
    return None


@pytest.mark.parametrize("row", SOCKET_ROWS, ids=[row[0] for row in SOCKET_ROWS])
async def test_every_socket_lets_in_exactly_whom_the_table_says(
    instance: ServerProcess, people: dict[str, Person], row: list[str]
) -> None:
    path, cells = row[0], row[1:]
    for kind, cell in zip(PEOPLE, cells, strict=True):
        person = people[kind]
        socket = await _open(instance, person, path)
        where = f"{path} as {kind}"
        try:
            if path == "/ws/seeker":
                chat = new_chat(instance)
                token = chat["token"] if kind == "seeker" else secrets.token_urlsafe(32)
                await send(socket, "auth", token=token, last_seq=0)
            if cell in ("yes", "own"):
                first = json.loads(await asyncio.wait_for(socket.recv(), 5))
                assert first["type"] in ("welcome", "hello", "dashboard"), where
            else:
                assert await _closed_with(socket) == int(cell), where
        finally:
            await socket.close()


def test_the_frame_table_names_every_frame_type_of_every_socket() -> None:
    named: dict[Role, set[str]] = {role: set() for role in Role}
    for socket, frame_type, *_ in FRAME_ROWS:
        named[SOCKET_ROLES[socket]].add(frame_type)
    assert named == {role: set(types) for role, types in FRAME_TYPES.items()}


# A frame of each type about a chat, with fields that are right in every other way.
FRAME_FIELDS: dict[str, dict[str, Any]] = {
    "accept": {},
    "decline": {},
    "message": {"client_id": "authz-m", "text": "Hei"},
    "note": {"client_id": "authz-n", "text": "Notat"},
    "typing": {"active": True},
    "read": {"seq": 1},
    "transfer": {"queue": "national"},
    "end": {},
    "wrap_up": {"category": "other"},
}


@pytest.fixture(scope="module")
async def theirs(instance: ServerProcess) -> AsyncIterator[str]:
    """A chat another counsellor (Ola, Vestland) holds."""
    with httpx.Client(base_url=instance.url) as client:
        assert sign_in(client, "ola", DEMO_PASSWORD).status_code == 303
        cookie = f"eguide_session={client.cookies['eguide_session']}"
    ola = await connect(
        ws_url(instance.url, "/ws/counsellor"),
        additional_headers={"Origin": instance.url, "Cookie": cookie},
    )
    await receive(ola, "hello")
    await send(ola, "status", status="available")
    chat = start_chat(instance.url, "46")
    seeker = await connect(
        ws_url(instance.url, "/ws/seeker"), additional_headers={"Origin": instance.url}
    )
    await send(seeker, "auth", token=chat["token"], last_seq=0)
    await receive(seeker, "welcome")
    offer = await receive(ola, "offer")
    assert offer["chat_id"] == chat["chat_id"]
    await send(ola, "accept", chat_id=chat["chat_id"])
    await receive(ola, "synced")
    try:
        yield chat["chat_id"]
    finally:
        await ola.close()
        await seeker.close()


COUNSELLOR_ROWS = [row for row in FRAME_ROWS if row[0] == "/ws/counsellor" and row[3] != "—"]


@pytest.mark.parametrize("row", COUNSELLOR_ROWS, ids=[row[1] for row in COUNSELLOR_ROWS])
async def test_a_counsellor_frame_about_a_chat_not_theirs_is_refused_as_the_table_says(
    instance: ServerProcess, people: dict[str, Person], theirs: str, row: list[str]
) -> None:
    _socket, frame_type, _about, refusal = row
    socket = await _open(instance, people["counsellor"], "/ws/counsellor")
    try:
        await receive(socket, "hello")
        if frame_type == "resume":
            await send(socket, "resume", last_seqs={theirs: 0})
            removed = await receive(socket, "chat_removed")
            assert refusal == f"chat_removed ({removed['reason']})"
            assert removed["chat_id"] == theirs
            return
        await send(socket, frame_type, chat_id=theirs, **FRAME_FIELDS[frame_type])
        error = await receive(socket, "error")
        assert error["code"] == refusal, f"{frame_type}: {error}"
    finally:
        await socket.close()


@pytest.mark.parametrize("frame_type", sorted(FRAME_TYPES[Role.SEEKER] - {"auth", "ping"}))
def test_a_seeker_frame_cannot_name_another_chat(frame_type: str) -> None:
    """A seeker socket serves the token's chat: a chat id in a seeker's frame is ignored."""
    fields = {"v": 1, "type": frame_type, "chat_id": str(uuid.uuid4()), "client_id": "c"}
    fields |= {"text": "Hei", "active": True, "seq": 1}
    frame = parse_client_frame(json.dumps(fields), Role.SEEKER)
    assert getattr(frame, "chat_id", None) is None
