"""Reports through the real service: a scripted day of chats on two instances, then the report's
figures against values worked out in the test from the same script; who may see reports; and
that no parameter makes the page fail."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect

from app.seed import DEMO_PASSWORD
from tests.support.aio import run_sync
from tests.support.dashboard import merged
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess, two_instances
from tests.support.sockets import (
    open_counsellor,
    open_seeker,
    receive,
    send,
    staff_cookie,
    ws_url,
)

OSLO = ZoneInfo("Europe/Oslo")
# Answers the script gives at once come within a second; the slow ones wait SLOW seconds. The
# service level target sits between them, so which side each answer falls on is certain.
TARGET = 3
SLOW = 4.0


async def _prepare(database_url: str) -> None:
    """Every centre always open, except Troms, closed now (open one minute a week, three days
    from now at 03:00); Vestland overflows after one second."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DELETE FROM opening_hours")
        weekday = (datetime.now(OSLO).isoweekday() + 2) % 7 + 1
        await conn.execute(
            "INSERT INTO opening_hours (centre_id, weekday, opens, closes) "
            "VALUES ('55', $1, '03:00', '03:01')",
            weekday,
        )
        await conn.execute("UPDATE centres SET overflow_seconds = 1 WHERE id = '46'")
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def instances(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    run_sync(_prepare(module_env.database_url))
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:",
        EGUIDE_SERVICE_LEVEL_SECONDS=str(TARGET),
    )
    with two_instances(env, tmp_path_factory.mktemp("reports")) as pair:
        yield pair


# ---------------------------------------------------------------------- access


def test_a_counsellor_gets_403_for_the_reports_and_their_csv(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, _ = instances
    cookie = staff_cookie(a.url, "kari", DEMO_PASSWORD)
    for path in (
        "/supervisor/reports",
        "/supervisor/reports.csv",
        "/supervisor/reports?format=csv",
    ):
        response = httpx.get(a.url + path, headers={"Cookie": cookie})
        assert response.status_code == 403, path
        assert "text/csv" not in response.headers["content-type"]


def test_anonymous_visitors_are_sent_to_sign_in(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, _ = instances
    for path in ("/supervisor/reports", "/supervisor/reports.csv"):
        response = httpx.get(a.url + path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/signin?next=/supervisor/reports")


def test_supervisors_and_admins_see_the_page_linked_from_the_dashboard(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, _ = instances
    for user in ("sofie", "admin"):
        headers = {"Cookie": staff_cookie(a.url, user, DEMO_PASSWORD)}
        page = httpx.get(a.url + "/supervisor/reports?lang=en", headers=headers)
        assert page.status_code == 200
        assert "<caption>Chats, answers and overflow" in page.text
        assert '<th scope="row">Nasjonalt team</th>' in page.text
    dashboard = httpx.get(a.url + "/supervisor", headers=headers)
    assert 'href="/supervisor/reports"' in dashboard.text
    nynorsk = httpx.get(a.url + "/supervisor/reports?lang=nn", headers=headers)
    assert "Rapportar" in nynorsk.text


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("period=year", "day, week or month"),
        ("date=2024-02-30", "YYYY-MM-DD"),
        ("date=%00", "YYYY-MM-DD"),
        ("centre=99", "one of the centres"),
        ("format=pdf", "html or csv"),
    ],
)
def test_a_bad_parameter_gets_400_and_a_message_on_the_form(
    instances: tuple[ServerProcess, ServerProcess], query: str, says: str
) -> None:
    a, _ = instances
    headers = {"Cookie": staff_cookie(a.url, "sofie", DEMO_PASSWORD)}
    page = httpx.get(f"{a.url}/supervisor/reports?lang=en&{query}", headers=headers)
    assert page.status_code == 400
    assert 'role="alert"' in page.text and says in page.text
    assert "<form" in page.text


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(["period", "date", "centre", "format"]), st.text(max_size=30), max_size=4
    ),
    as_csv=st.booleans(),
)
def test_no_parameters_make_the_reports_fail(
    instances: tuple[ServerProcess, ServerProcess],
    supervisor: dict[str, str],
    params: dict[str, str],
    as_csv: bool,
) -> None:
    a, _ = instances
    path = "/supervisor/reports.csv" if as_csv else "/supervisor/reports"
    response = httpx.get(a.url + path, params=params, headers=supervisor)
    assert response.status_code in (200, 400), response.text[:500]
    if response.status_code == 400:
        assert response.text.strip()


@pytest.fixture(scope="module")
def supervisor(instances: tuple[ServerProcess, ServerProcess]) -> dict[str, str]:
    return {"Cookie": staff_cookie(instances[0].url, "sofie", DEMO_PASSWORD)}


# ---------------------------------------------------------------------- the scripted day


@dataclass
class Timed:
    """When the test did something and when it heard it done: the service's own timestamp
    lies between the two."""

    sent: float
    heard: float


@dataclass
class Script:
    """What happened, as the test saw it."""

    arrived: dict[str, Timed] = field(default_factory=dict)
    answered: dict[str, Timed] = field(default_factory=dict)
    ended: dict[str, Timed] = field(default_factory=dict)
    available: dict[str, list[tuple[Timed, Timed]]] = field(default_factory=dict)


def arrive(server: ServerProcess, script: Script, name: str, county: str | None) -> dict[str, Any]:
    sent = time.time()
    response = httpx.post(
        server.url + "/api/v1/chats", json={"county": county, "language": "nb", "consent": True}
    )
    assert response.status_code == 201, response.text
    script.arrived[name] = Timed(sent, time.time())
    chat: dict[str, Any] = response.json()
    return chat


async def set_status(console: ClientConnection, status: str) -> Timed:
    sent = time.time()
    await send(console, "status", status=status)
    while (await receive(console, "status"))["status"] != status:
        pass
    return Timed(sent, time.time())


async def accept(
    console: ClientConnection, seeker: ClientConnection, script: Script, name: str, chat_id: str
) -> None:
    sent = time.time()
    await send(console, "accept", chat_id=chat_id)
    await receive(seeker, "assigned")
    script.answered.setdefault(name, Timed(sent, time.time()))


async def end(
    console: ClientConnection, seeker: ClientConnection, script: Script, name: str, chat_id: str
) -> None:
    sent = time.time()
    await send(console, "end", chat_id=chat_id)
    await receive(seeker, "ended")
    script.ended[name] = Timed(sent, time.time())


async def offered(console: ClientConnection, chat_id: str, within: float = 10.0) -> None:
    while (await receive(console, "offer", within))["chat_id"] != chat_id:
        pass


def bounds_of_wait(script: Script, name: str) -> tuple[float, float]:
    arrived, answered = script.arrived[name], script.answered[name]
    return answered.sent - arrived.heard, answered.heard - arrived.sent


def bounds_of_handling(script: Script, name: str) -> tuple[float, float]:
    answered, ended = script.answered[name], script.ended[name]
    return ended.sent - answered.heard, ended.heard - answered.sent


def nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, -(-len(ordered) * p // 100)) - 1]


async def test_a_scripted_day_gives_the_figures_worked_out_from_the_script(
    instances: tuple[ServerProcess, ServerProcess],
    module_env: RunEnvironment,
    supervisor: dict[str, str],
) -> None:
    a, b = instances
    day = datetime.now(OSLO).date()
    if (datetime.now(OSLO) + timedelta(minutes=2)).date() != day:
        pytest.skip("the script would run across Oslo midnight")
    script = Script()
    kari = await open_counsellor(b.url, staff_cookie(b.url, "kari", DEMO_PASSWORD))
    ola = await open_counsellor(a.url, staff_cookie(a.url, "ola", DEMO_PASSWORD))
    nora = await open_counsellor(b.url, staff_cookie(b.url, "nora", DEMO_PASSWORD))
    staff = {"kari": kari, "ola": ola, "nora": nora}
    starts = {name: await set_status(console, "available") for name, console in staff.items()}
    seekers: list[ClientConnection] = []
    try:
        # c1, Oslo: Kari answers at once and ends; reflection; the seeker rates it 4.
        c1 = arrive(a, script, "c1", "03")
        s1 = await open_seeker(a.url, c1["token"])
        await offered(kari, c1["chat_id"])
        await accept(kari, s1, script, "c1", c1["chat_id"])
        await send(s1, "message", client_id="m1", text="Hei")
        await receive(s1, "ack")
        await send(kari, "message", chat_id=c1["chat_id"], client_id="k1", text="Hei!")
        await receive(kari, "ack")
        await end(kari, s1, script, "c1", c1["chat_id"])
        await send(
            kari, "wrap_up", chat_id=c1["chat_id"], category="reflection", topics=["CV", "=SUM(A1)"]
        )
        await receive(kari, "chat_closed")

        # c2, Vestland: Ola declines; after one second it overflows (waited) and Nora, of the
        # national team, answers after a slow start; information.
        c2 = arrive(b, script, "c2", "46")
        s2 = await open_seeker(b.url, c2["token"])
        await offered(ola, c2["chat_id"])
        await send(ola, "decline", chat_id=c2["chat_id"])
        await offered(nora, c2["chat_id"])
        await asyncio.sleep(SLOW)
        await accept(nora, s2, script, "c2", c2["chat_id"])
        await end(nora, s2, script, "c2", c2["chat_id"])
        await send(nora, "wrap_up", chat_id=c2["chat_id"], category="information", topics=["CV"])
        await receive(nora, "chat_closed")

        # c3, Trøndelag: Ingrid is not signed in, so it overflows at once (no staff) to Nora.
        c3 = arrive(a, script, "c3", "50")
        s3 = await open_seeker(a.url, c3["token"])
        await offered(nora, c3["chat_id"])
        await accept(nora, s3, script, "c3", c3["chat_id"])
        await end(nora, s3, script, "c3", c3["chat_id"])
        await send(nora, "wrap_up", chat_id=c3["chat_id"], category="other", topics=[])
        await receive(nora, "chat_closed")

        # c4, Oslo: Kari answers and transfers it to the national team; Nora takes it over,
        # ends it and wraps it up (referral). Kari's was the answer.
        c4 = arrive(b, script, "c4", "03")
        s4 = await open_seeker(b.url, c4["token"])
        await offered(kari, c4["chat_id"])
        await accept(kari, s4, script, "c4", c4["chat_id"])
        await send(kari, "transfer", chat_id=c4["chat_id"], queue="national")
        await offered(nora, c4["chat_id"])
        await send(nora, "accept", chat_id=c4["chat_id"])
        await receive(nora, "chat_assigned")
        await end(nora, s4, script, "c4", c4["chat_id"])
        await send(
            nora, "wrap_up", chat_id=c4["chat_id"], category="referral", topics=["Utdanning"]
        )
        await receive(nora, "chat_closed")

        # c5, Troms: the centre is closed (overflow: closed); Nora is away; the seeker leaves.
        nora_away = await set_status(nora, "away")
        c5 = arrive(a, script, "c5", "55")
        s5 = await open_seeker(a.url, c5["token"])
        await send(s5, "leave")
        await receive(s5, "ended")
        nora_back = await set_status(nora, "available")

        # c6, no county: national; Nora answers after a slow start.
        c6 = arrive(b, script, "c6", None)
        s6 = await open_seeker(b.url, c6["token"])
        await offered(nora, c6["chat_id"])
        await asyncio.sleep(SLOW)
        await accept(nora, s6, script, "c6", c6["chat_id"])
        await end(nora, s6, script, "c6", c6["chat_id"])
        seekers += [s1, s2, s3, s4, s5, s6]

        # Everyone signs out; then c7 arrives with nobody to answer it: still waiting.
        ends = {name: await set_status(console, "offline") for name, console in staff.items()}
        c7 = arrive(a, script, "c7", None)
        seekers.append(await open_seeker(a.url, c7["token"]))
        live = await dashboard_where(
            b, supervisor, lambda f: f["total"]["waiting"] == 1 and f["total"]["active"] == 0
        )

    finally:
        for console in staff.values():
            await console.close()
        for seeker in seekers:
            await seeker.close()

    script.available = {
        "kari": [(starts["kari"], ends["kari"])],
        "ola": [(starts["ola"], ends["ola"])],
        "nora": [(starts["nora"], nora_away), (nora_back, ends["nora"])],
    }
    await _wait_for_the_record(module_env.database_url)
    async with httpx.AsyncClient(base_url=a.url) as api:
        for chat, score in ((c1, 4), (c2, 2)):
            answer = await api.post(
                f"/api/v1/chats/{chat['chat_id']}/survey",
                json={"score": score},
                headers={"Authorization": f"Bearer {chat['token']}"},
            )
            assert answer.status_code == 201, answer.text
    async with httpx.AsyncClient(base_url=a.url, headers=supervisor) as client:
        response = await client.get(
            "/supervisor/reports.csv", params={"period": "day", "date": day.isoformat()}
        )
        page = await client.get(
            "/supervisor/reports",
            params={"period": "day", "date": day.isoformat(), "lang": "en"},
        )
        oslo_only = await client.get(
            "/supervisor/reports.csv",
            params={"period": "week", "date": day.isoformat(), "centre": "03"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "charset=utf-8" in response.headers["content-type"]
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="eguide-report-day-{day.isoformat()}-all.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    figures: dict[tuple[str, str, str], str] = {
        (r["centre"], r["figure"], r["item"]): r["value"] for r in rows
    }

    def value(centre: str, figure: str, item: str = "") -> str:
        return figures[(centre, figure, item)]

    def number(centre: str, figure: str, item: str = "") -> float:
        return float(figures[(centre, figure, item)])

    # Counts, straight from the script.
    expected_counts = {
        "03": {"chats": 2, "answered": 2, "abandoned": 0, "overflowed": 0},
        "46": {"chats": 1, "answered": 1, "abandoned": 0, "overflowed": 1},
        "50": {"chats": 1, "answered": 1, "abandoned": 0, "overflowed": 1},
        "55": {"chats": 1, "answered": 0, "abandoned": 1, "overflowed": 1},
        "national": {"chats": 2, "answered": 1, "abandoned": 0, "overflowed": 0},
        "11": {"chats": 0, "answered": 0, "abandoned": 0, "overflowed": 0},
        "total": {"chats": 7, "answered": 5, "abandoned": 1, "overflowed": 3},
    }
    for centre, counts in expected_counts.items():
        for figure, count in counts.items():
            assert value(centre, figure) == str(count), (centre, figure)
    assert value("total", "still_waiting") == "1"
    assert value("46", "overflow_reason", "waited") == "1"
    assert value("50", "overflow_reason", "no_staff") == "1"
    assert value("55", "overflow_reason", "closed") == "1"
    assert value("total", "overflow_share") == str(round(3 / 7, 4))
    # Own county: c1 and c4 (Kari, Oslo); national team: c2 and c3 (Nora).
    assert (value("03", "answered_own_county"), value("03", "answered_national_team")) == ("2", "0")
    assert (value("46", "answered_own_county"), value("46", "answered_national_team")) == ("0", "1")
    assert value("total", "own_county_share") == "0.5"
    # Wrap-ups and the survey.
    assert value("03", "wrap_up_category", "reflection") == "1"
    assert value("03", "wrap_up_category", "referral") == "1"
    assert value("46", "wrap_up_category", "information") == "1"
    assert value("50", "wrap_up_category", "other") == "1"
    assert value("total", "topic", "CV") == "2"
    assert value("total", "topic", "'=SUM(A1)") == "1"  # kept as text, never a formula
    assert value("total", "topic", "Utdanning") == "1"
    assert (value("total", "survey_answers"), value("total", "survey_average")) == ("2", "3")

    # Times: the service's timestamps lie between what the test sent and what it heard.
    answered = ["c1", "c2", "c3", "c4", "c6"]
    waits = {name: bounds_of_wait(script, name) for name in answered}
    fast = [name for name in answered if waits[name][1] <= TARGET]
    slow = [name for name in answered if waits[name][0] > TARGET]
    assert sorted(fast) == ["c1", "c3", "c4"] and sorted(slow) == ["c2", "c6"]
    assert value("total", "answered_within_target") == "3"
    assert value("total", "service_level") == "0.5"  # 3 of 5 answered + 1 abandoned
    assert value("55", "service_level") == "0"
    for p, figure in ((50, "wait_p50_seconds"), (90, "wait_p90_seconds")):
        low = nearest_rank([w[0] for w in waits.values()], p)
        high = nearest_rank([w[1] for w in waits.values()], p)
        assert low - 0.001 <= number("total", figure) <= high + 0.001, figure
    low_sum = sum(w[0] for w in waits.values())
    high_sum = sum(w[1] for w in waits.values())
    assert low_sum / 5 - 0.001 <= number("total", "wait_average_seconds") <= high_sum / 5 + 0.001
    handling = [bounds_of_handling(script, name) for name in answered]
    average = number("total", "handling_average_seconds")
    assert sum(h[0] for h in handling) / 5 - 0.001 <= average <= sum(h[1] for h in handling) / 5
    assert value("total", "handled") == "5"

    # Counsellor-hours: the time each was available, and the answers per hour of each team.
    def hour_bounds(name: str) -> tuple[float, float]:
        spans = script.available[name]
        low = sum(stop.sent - start.heard for start, stop in spans) / 3600
        high = sum(stop.heard - start.sent for start, stop in spans) / 3600
        return low, high

    kari_hours, ola_hours, nora_hours = (hour_bounds(n) for n in ("kari", "ola", "nora"))
    assert kari_hours[0] - 1e-4 <= number("03", "counsellor_hours") <= kari_hours[1] + 1e-4
    assert ola_hours[0] - 1e-4 <= number("46", "counsellor_hours") <= ola_hours[1] + 1e-4
    assert nora_hours[0] - 1e-4 <= number("national", "counsellor_hours") <= nora_hours[1] + 1e-4
    total_low = kari_hours[0] + ola_hours[0] + nora_hours[0]
    total_high = kari_hours[1] + ola_hours[1] + nora_hours[1]
    assert total_low - 1e-4 <= number("total", "counsellor_hours") <= total_high + 1e-4
    # Kari answered c1 and c4 for Oslo; Nora c2, c3 and c6 for the national team.
    oslo_rate = number("03", "answers_per_counsellor_hour")
    assert 2 / kari_hours[1] * 0.999 <= oslo_rate <= 2 / kari_hours[0] * 1.001
    national_rate = number("national", "answers_per_counsellor_hour")
    assert 3 / nora_hours[1] * 0.999 <= national_rate <= 3 / nora_hours[0] * 1.001
    assert value("46", "answers_per_counsellor_hour") == "0"
    assert value("11", "answers_per_counsellor_hour") == ""  # nobody there, nothing to divide

    # The live dashboard at the end of the script: only c7 waits, nationally, since it arrived;
    # nobody is answering; every counsellor is signed out.
    queues = {row["queue"]: row for row in live["queues"]}
    assert queues["national"]["waiting"] == 1 and queues["national"]["overflowed"] == 0
    assert script.arrived["c7"].sent - 0.01 <= queues["national"]["oldest_since"]
    assert queues["national"]["oldest_since"] <= script.arrived["c7"].heard + 0.01
    assert all(row["waiting"] == 0 for q, row in queues.items() if q != "national")
    assert [c["chat_id"] for c in live["waiting"]["national"]["chats"]] == [c7["chat_id"]]
    assert live["active"] == {"count": 0, "chats": []}
    # Counsellors of the demo data: one in each of four centres, two on the national team.
    members = {"03": 1, "46": 1, "50": 1, "55": 1, "national": 2}
    for queue, row in queues.items():
        expected = {"available": 0, "busy": 0, "away": 0, "offline": members.get(queue, 0)}
        assert row["counsellors"] == expected, queue
    assert live["total"]["counsellors"] == {"available": 0, "busy": 0, "away": 0, "offline": 6}

    # Today on the dashboard: the day's figures as the report gives them, from the same script.
    today = (await dashboard_where(a, supervisor, lambda f: f["today"] is not None))["today"]
    assert today["day"] == day.isoformat() and today["service_level_seconds"] == TARGET
    shown = {row["queue"]: row for row in [*today["queues"], today["total"]]}
    for centre, counts in expected_counts.items():
        for figure, count in counts.items():
            assert shown[centre][figure] == count, (centre, figure)
        assert shown[centre]["service_level"] == (
            None if value(centre, "service_level") == "" else number(centre, "service_level")
        )
    assert shown["total"]["waiting"] == 1
    assert shown["46"]["overflow_reasons"] == {"waited": 1, "no_staff": 0, "closed": 0}
    assert shown["total"]["overflow_reasons"] == {"waited": 1, "no_staff": 1, "closed": 1}
    assert shown["total"]["own_county_share"] == 0.5
    assert shown["total"]["survey_average"] == 3 and shown["total"]["survey_count"] == 2
    for figure, column in (
        ("wait_average", "wait_average_seconds"),
        ("wait_p90", "wait_p90_seconds"),
        ("handling_average", "handling_average_seconds"),
    ):
        assert abs(shown["total"][figure] - number("total", column)) < 0.01, figure
    # By hour: every chat of the script arrived within these minutes.
    hours = {h["hour"]: h for h in today["by_hour"]}
    arrival_hours = {datetime.fromtimestamp(t.sent, OSLO).hour for t in script.arrived.values()}
    assert set(hours) == arrival_hours
    assert sum(h["answered"] for h in hours.values()) == 5

    # The page shows the same day, and one centre alone gives that centre's lines only.
    assert page.status_code == 200
    assert '<th scope="row">Karrieresenteret i Oslo</th>' in page.text
    oslo_rows = list(csv.DictReader(io.StringIO(oslo_only.text)))
    assert {r["centre"] for r in oslo_rows} == {"03"}
    assert {(r["figure"], r["value"]) for r in oslo_rows} >= {("chats", "2"), ("answered", "2")}


async def dashboard_where(
    server: ServerProcess, cookie_header: dict[str, str], holds: Any, within: float = 10.0
) -> dict[str, Any]:
    """The first dashboard frame, on a supervisor socket of its own, for which `holds` is true."""
    socket = await connect(
        ws_url(server.url, "/ws/supervisor"),
        additional_headers={**cookie_header, "Origin": server.url},
    )
    view: dict[str, Any] = {}
    try:
        async with asyncio.timeout(within):
            while True:
                frame: dict[str, Any] = json.loads(await socket.recv())
                if frame["type"] == "dashboard":
                    view = merged(view, frame)
                    if holds(view):
                        return view
    finally:
        await socket.close()


async def _wait_for_the_record(database_url: str) -> None:
    """The recorders write what the router did to PostgreSQL a moment later, each instance's
    its share, so not always in order: wait for the last of it (every answer, everyone signed
    out, every chat in its final state)."""
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(100):
            settled = await conn.fetchval(
                """SELECT (SELECT count(*) FROM chat_sessions WHERE state = 'ended') = 5
                      AND (SELECT count(*) FROM chat_sessions WHERE state = 'abandoned') = 1
                      AND (SELECT count(*) FROM chat_sessions WHERE answered_at IS NOT NULL) = 5
                      AND (SELECT count(*) FROM wrap_ups) = 4
                      AND (SELECT count(*) FROM routing_events
                           WHERE kind = 'CounsellorStatusChanged'
                             AND detail->>'status' = 'offline') >= 3"""
            )
            if settled:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the record did not catch up")
    finally:
        await conn.close()
