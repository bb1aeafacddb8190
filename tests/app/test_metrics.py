"""`GET /metrics`: the token, and figures that move when chats arrive, sockets open, messages are
stored and frames are refused; the instruments of two apps in one process kept apart."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app.metrics import Metrics, ServerErrorMiddleware
from app.monitoring import token_matches
from app.seed import DEMO_PASSWORD
from queueing.effects import ChatAssigned, OfferMade, OfferWithdrawn, WithdrawReason
from queueing.model import CentreConfig, Config, Counsellor, CounsellorStatus, State
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess
from tests.support.sockets import (
    open_counsellor,
    open_seeker,
    receive,
    send,
    staff_cookie,
    start_chat,
)

TOKEN = secrets.token_urlsafe(24)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


# ---------------------------------------------------------------------- without a server


def test_two_apps_in_one_process_have_instruments_of_their_own() -> None:
    first, second = Metrics(), Metrics()
    first.message_stored("seeker")
    first.message_stored("seeker")
    second.message_stored("counsellor")
    one, other = samples(first.exposition().decode()), samples(second.exposition().decode())
    assert one[("eguide_messages_stored_total", (("role", "seeker"),))] == 2
    assert ("eguide_messages_stored_total", (("role", "seeker"),)) not in other
    assert other[("eguide_messages_stored_total", (("role", "counsellor"),))] == 1


def test_offer_latency_is_kept_by_the_instance_holding_the_console() -> None:
    here, elsewhere = Metrics(), Metrics()
    for metrics, local in ((here, {"7": object()}), (elsewhere, {})):
        metrics.observe_effect(OfferMade("c1", "7", deadline=130.0), 100.0, local)
        metrics.observe_effect(
            ChatAssigned("c1", "7", waited=12.0, auto_accepted=False), 102.5, local
        )
        # An offer withdrawn is never observed, whoever hears it.
        metrics.observe_effect(OfferMade("c2", "7", deadline=140.0), 110.0, local)
        metrics.observe_effect(OfferWithdrawn("c2", "7", WithdrawReason.DECLINED), 111.0, local)
    seen = samples(here.exposition().decode())
    assert seen[("eguide_offer_accept_seconds_count", ())] == 1
    assert seen[("eguide_offer_accept_seconds_sum", ())] == 2.5
    assert seen[("eguide_offer_accept_seconds_bucket", (("le", "3.0"),))] == 1
    assert seen[("eguide_offer_accept_seconds_bucket", (("le", "2.0"),))] == 0
    assert seen[("eguide_answer_wait_seconds_sum", ())] == 12.0
    unseen = samples(elsewhere.exposition().decode())
    assert unseen[("eguide_offer_accept_seconds_count", ())] == 0
    assert unseen[("eguide_answer_wait_seconds_count", ())] == 0


def test_queue_figures_count_counsellors_per_queue_and_status() -> None:
    state = State(Config(centres={"03": CentreConfig(), "46": CentreConfig()}))

    def counsellor(id_: str, centre: str | None, national: bool, status: CounsellorStatus) -> None:
        state.counsellors[id_] = Counsellor(
            id_, centre, national, frozenset({"nb"}), 2, False, status, 0.0
        )

    counsellor("1", "03", False, CounsellorStatus.AVAILABLE)
    counsellor("2", "03", True, CounsellorStatus.AWAY)
    counsellor("3", None, True, CounsellorStatus.AVAILABLE)
    state.counsellors["3"].active = {"a", "b"}
    metrics = Metrics()
    metrics.set_queue_figures(state, {"03": (2, 90.0), "national": (1, 99.0)}, 100.0)
    seen = samples(metrics.exposition().decode())

    def gauge(name: str, **labels: str) -> float:
        return seen[(name, tuple(sorted(labels.items())))]

    assert gauge("eguide_queue_waiting_chats", queue="03") == 2
    assert gauge("eguide_queue_waiting_chats", queue="46") == 0
    assert gauge("eguide_queue_oldest_wait_seconds", queue="03") == 10
    assert gauge("eguide_queue_oldest_wait_seconds", queue="46") == 0
    assert gauge("eguide_queue_counsellors", queue="03", status="available") == 1
    assert gauge("eguide_queue_counsellors", queue="03", status="away") == 1
    assert gauge("eguide_queue_counsellors", queue="national", status="available") == 1
    assert gauge("eguide_queue_counsellors", queue="national", status="away") == 1
    assert gauge("eguide_queue_counsellors", queue="national", status="offline") == 0
    assert gauge("eguide_queue_active_chats", queue="national") == 2
    assert gauge("eguide_queue_available_capacity", queue="national") == 2
    assert gauge("eguide_queue_available_capacity", queue="03") == 2


async def test_server_errors_are_counted_by_status() -> None:
    metrics = Metrics()

    async def broken(request: Request) -> PlainTextResponse:
        raise RuntimeError("broken on purpose")

    async def unavailable(request: Request) -> PlainTextResponse:
        return PlainTextResponse("later", status_code=503)

    async def fine(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/broken", broken), Route("/busy", unavailable), Route("/", fine)],
        middleware=[Middleware(ServerErrorMiddleware, metrics=metrics)],
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://eguide") as client:
        assert (await client.get("/broken")).status_code == 500
        assert (await client.get("/busy")).status_code == 503
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/missing")).status_code == 404
    seen = samples(metrics.exposition().decode())
    assert seen[("eguide_http_server_errors_total", (("status", "500"),))] == 1
    assert seen[("eguide_http_server_errors_total", (("status", "503"),))] == 1
    assert ("eguide_http_server_errors_total", (("status", "404"),)) not in seen


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (f"Bearer {TOKEN}x", False),
        (f"Basic {TOKEN}", False),
        (TOKEN, False),
        ("Bearer ", False),
        (None, False),
        ("Bearer \u00e6\u00f8\u00e5", False),
    ],
)
def test_the_token_must_be_given_as_a_bearer_token(header: str | None, matches: bool) -> None:
    assert token_matches(header, TOKEN) is matches


# ---------------------------------------------------------------------- through the service


@pytest.fixture(scope="module")
def monitored(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:",
        EGUIDE_METRICS_TOKEN=TOKEN,
    )
    with ServerProcess(env, tmp_path_factory.mktemp("metrics") / "server.log") as process:
        yield process


def test_without_a_configured_token_there_is_no_metrics_endpoint(server: ServerProcess) -> None:
    assert httpx.get(server.url + "/metrics").status_code == 404
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(server.url + "/metrics", headers=bearer).status_code == 404


def test_metrics_require_the_token(monitored: ServerProcess) -> None:
    assert httpx.get(monitored.url + "/metrics").status_code == 401
    wrong = httpx.get(monitored.url + "/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    right = httpx.get(monitored.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200
    assert right.headers["content-type"].startswith("text/plain; version=")


async def scrape(server: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            server.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert response.status_code == 200
    return samples(response.text)


async def test_the_figures_move_as_a_chat_arrives_and_is_answered(
    monitored: ServerProcess,
) -> None:
    def waiting(seen: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
        return seen[("eguide_queue_waiting_chats", (("queue", "national"),))]

    def sockets(seen: dict[tuple[str, tuple[tuple[str, str], ...]], float], role: str) -> float:
        return seen[("eguide_sockets_open", (("role", role),))]

    before = await scrape(monitored)
    assert sockets(before, "supervisor") == 0
    chat = await asyncio.to_thread(start_chat, monitored.url, None)
    seeker = await open_seeker(monitored.url, chat["token"])
    arrived = await scrape(monitored)
    assert waiting(arrived) == waiting(before) + 1
    assert sockets(arrived, "seeker") == sockets(before, "seeker") + 1
    assert arrived[("eguide_queue_oldest_wait_seconds", (("queue", "national"),))] >= 0

    cookie = await asyncio.to_thread(staff_cookie, monitored.url, "nora", DEMO_PASSWORD)
    nora = await open_counsellor(monitored.url, cookie)
    try:
        await send(nora, "status", status="available")
        offer = await receive(nora, "offer")
        assert offer["chat_id"] == chat["chat_id"]
        await asyncio.sleep(0.2)
        await send(nora, "accept", chat_id=chat["chat_id"])
        await receive(seeker, "assigned")
        await send(seeker, "message", client_id="m1", text="Hei")
        await receive(seeker, "ack")
        await send(seeker, "message", client_id="m1", text="Hei")  # a resend: not counted
        await receive(seeker, "ack")
        await send(seeker, "typing", active="yes")  # refused: not a boolean
        assert (await receive(seeker, "error"))["code"] == "bad_field"
        answered = await scrape(monitored)
        assert waiting(answered) == waiting(before)
        assert sockets(answered, "counsellor") == sockets(before, "counsellor") + 1
        assert (
            answered[("eguide_queue_counsellors", (("queue", "national"), ("status", "available")))]
            == 1
        )
        assert answered[("eguide_queue_active_chats", (("queue", "national"),))] == 1
        stored = ("eguide_messages_stored_total", (("role", "seeker"),))
        assert answered[stored] == before.get(stored, 0) + 1
        errors = ("eguide_error_frames_total", (("code", "bad_field"),))
        assert answered[errors] == before.get(errors, 0) + 1
        latency = ("eguide_offer_accept_seconds_count", ())
        assert answered[latency] == before[latency] + 1
        assert answered[("eguide_offer_accept_seconds_sum", ())] >= 0.2
        await send(nora, "end", chat_id=chat["chat_id"])
        await receive(seeker, "ended")
    finally:
        await send(nora, "status", status="offline")
        await nora.close()
        await seeker.close()
    for _ in range(50):  # the server notices the sockets closing a moment later
        after = await scrape(monitored)
        if sockets(after, "seeker") == sockets(before, "seeker") and sockets(
            after, "counsellor"
        ) == sockets(before, "counsellor"):
            break
        await asyncio.sleep(0.1)
    assert sockets(after, "seeker") == sockets(before, "seeker")
    assert sockets(after, "counsellor") == sockets(before, "counsellor")
