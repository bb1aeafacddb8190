"""Dashboard benchmark: how long a routing change takes to reach 50 supervisors' dashboards with
2,000 chats waiting or active, and what keeping those dashboards live costs.

Two `eguide serve` processes (A and B) share one Redis and one PostgreSQL. Counsellors of four
county centres (BENCH_ACTIVE / 10 of them, capacity 10, auto-accepting, consoles split over A
and B) answer BENCH_ACTIVE chats; BENCH_WAITING more wait in ten other counties, whose centres
have a counsellor who never signs in (so the chats stay in their county's queue, opened to the
national team, which has no one). Every seeker keeps its socket open, on A or B in turn. Then
BENCH_SUPERVISORS dashboard sockets (one supervisor account, SUPERVISOR_SESSIONS sessions, half
the sockets on A and half on B) are opened, and a change is made every BENCH_INTERVAL seconds,
alternately:

  arrival       a chat started (POST /api/v1/chats, on A and B in turn) in county 56, like the
                ten: the count of county 56's waiting chats goes up by one and never down, so
                the first frame showing at least that count shows the arrival;
  status        one of two full counsellors (one console on A, one on B) set away or back to
                available (shown as `busy`, since they are full): the first frame after the
                change showing their new state shows it.

At one change every 0.5 s the dashboard's push limit (app/dashboard.py: PUSH_BURST pushes at
once, refilled at PUSHES_PER_SECOND) never holds a change back: each is computed and pushed at
once, as it would be for a supervisor on a normal day.

  update        for every change and every supervisor socket, from the routing change (the
                instant the router changed the state: the `at` of the change's entry in the
                routing effects stream, read back from Redis after the phase) to the receipt of
                the first `dashboard` frame that shows it: the time to compute and push one
                update, what the target is about. Split in two with the frame's `at` (the
                server's clock when it began computing; one machine, one clock): change ->
                computing begins (the effect reaching the instance through the effects stream,
                and any wait for the push limit), and computing begins -> received (reading the
                routing state from Redis, the view, encoding, relaying it to the other
                instance, sending it to every supervisor socket, delivery).
  request       the same from the instant the request or the status frame was sent: what
                the change's own handling adds (an arrival's POST stores the chat in
                PostgreSQL before routing it).
  spread        per push, the last supervisor socket of the instance against the first: the
                cost of sending one frame to many sockets.
  frames        the size of the dashboard frame, and pushes a second per instance.
  render        in the benchmark's process, against the same Redis state and database:
                `Dashboard.render` timed whole, and its parts (`RedisQueue.dashboard`,
                `dashboard_view`, encoding): the compute cost without the server's other work;
                and `Dashboard.today` (today's figures from the record, read after changes and
                worked out in a worker process on the computing server).
  cpu           user + system time of A and B (/proc), Redis (INFO cpu: the whole server,
                shared with anything else using it), the PostgreSQL backends of this database,
                the benchmark process, and the whole machine, over BENCH_PHASE_SECONDS of the
                same changes twice: first with no supervisor connected, then with them. The
                difference is the load the dashboard adds. Also the time A and B were ready to
                run but had no core (schedstat), which says how noisy a shared machine was.

  servers       the servers' own account (`app.dashboard_timing`): each push that reached
                its sockets 40 ms or more after its change, stage by stage, and stalls of
                their event loops; with BENCH_SERVER_LOG_LEVEL=debug, percentiles of every
                push's stages.

A phase is 90 s by default: 180 changes, each reaching every supervisor, so that p99 is not
simply the slowest change of the run (with 60 changes, one slow change was 1.7 % of the
samples and set p99 alone).

Starts what it needs (its own database and Redis prefix, two `eguide serve` processes), prints
its figures, and ends with one line (target: update p99 under 50 ms):
  dashboard: update_p99_ms=… supervisors=… chats=…
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import resource
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.dashboard import Dashboard
from app.dashboard_timing import STAGES
from app.database import drop_database
from app.keys import AppKeys
from app.migrator import migrate
from app.redis_client import create_redis
from app.routing_config import load_routing_config
from app.settings import load_settings
from app.users import create_user
from bench.measure import (
    cpu_seconds,
    freeze_set_up,
    machine_busy_seconds,
    percentile,
    raise_file_limit,
    service_environment,
    waiting_seconds,
)
from chat.frames import server_frame
from queueing.effect_codec import decode_effects
from queueing.effects import ChatQueued, CounsellorStatusChanged
from queueing.keys import RoutingKeys
from queueing.redis_queue import RedisQueue
from tests.support.dashboard import merged
from tests.support.environment import database_url_named
from tests.support.server import ServerProcess

SUPERVISORS = int(os.environ.get("BENCH_SUPERVISORS", "50"))
ACTIVE = int(os.environ.get("BENCH_ACTIVE", "1000"))
WAITING = int(os.environ.get("BENCH_WAITING", "1000"))
INTERVAL = float(os.environ.get("BENCH_INTERVAL", "0.5"))
PHASE_SECONDS = float(os.environ.get("BENCH_PHASE_SECONDS", "90"))
RENDERS = int(os.environ.get("BENCH_RENDERS", "30"))
# "debug": the servers log every push's stages (`app.dashboard_timing`), shown as percentiles.
SERVER_LOG_LEVEL = os.environ.get("BENCH_SERVER_LOG_LEVEL", "info")

# The most chats a counsellor may hold (users.capacity): the fewest consoles for the active chats.
CAPACITY = 10
# Counties whose counsellors answer every chat; counties with waiting chats and no counsellor;
# the county the arrivals go to (also without counsellors). migrations/0002_counties.sql.
ACTIVE_COUNTIES = ("03", "11", "15", "18")
WAITING_COUNTIES = ("31", "32", "33", "34", "39", "40", "42", "46", "50", "55")
PROBE_COUNTY = "56"
# Chats started and sockets opened at once while setting up.
OPEN_CONCURRENCY = 50
# Sign-ins at once, two per instance: each costs the server an argon2 verification, and it
# verifies two at a time.
SIGN_IN_CONCURRENCY = 4
# Supervisor sessions, each serving several dashboard sockets: the dashboard does the same
# work for every socket whoever signed in, and each sign-in costs seconds on a busy machine.
SUPERVISOR_SESSIONS = 10
SETUP_TIMEOUT = 180.0
# A chat that could not be started while setting up (a connection dropped on a busy machine) is
# tried again; a chat started whose socket did not open only waits a little longer unread.
SETUP_ATTEMPTS = 3
# After a phase's last change, frames are still read this long: a late push still counts.
DRAIN_SECONDS = 3.0
# No seeker is abandoned during the run, even one whose socket is slow to open.
SEEKER_GRACE_SECONDS = 3600
LAG_TICK = 0.01  # the loop-lag probe's sleep
SLOW_LISTED = 12  # the servers' slow pushes listed
PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway account in a throwaway database
SESSION_COOKIE = "eguide_session"


def spread(samples: list[float]) -> str:
    return (
        f"p50 {percentile(samples, 0.5):.1f} p90 {percentile(samples, 0.9):.1f} "
        f"p99 {percentile(samples, 0.99):.1f} max {max(samples, default=float('nan')):.1f} ms"
    )


def frame(frame_type: str, **fields: Any) -> str:
    return json.dumps({"v": 1, "type": frame_type, **fields})


def counsellor_county(n: int) -> str:
    """The county centre of counsellor n."""
    return ACTIVE_COUNTIES[n % len(ACTIVE_COUNTIES)]


def ws_url(server: ServerProcess, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


async def open_socket(
    server: ServerProcess, path: str, headers: dict[str, str]
) -> ClientConnection:
    return await connect(
        ws_url(server, path),
        additional_headers={"Origin": server.url, **headers},
        compression=None,
        ping_interval=None,  # the server pings; the client answers
        max_queue=None,
        max_size=2**24,
        open_timeout=60,
    )


# --------------------------------------------------------------------------- what a frame shows


@dataclass(frozen=True)
class Shown:
    """What the benchmark reads from one dashboard frame."""

    at: float
    probe_waiting: int
    states: dict[str, str]  # counsellor id -> state, for the counsellors whose status flips
    waiting: int
    active: int
    size: int


class FrameReader:
    """Parses each distinct frame once: the supervisor sockets of an instance get the same texts
    (each carries the parts of the dashboard that changed), and parsing one 25 times would slow
    the receipts the benchmark stamps."""

    def __init__(self, flippers: list[str]) -> None:
        self.flippers = flippers
        self.cache: dict[str, dict[str, Any]] = {}

    def read(self, raw: str, view: dict[str, Any]) -> tuple[dict[str, Any], Shown | None]:
        """The socket's dashboard with this frame merged in, and what it shows (None if the
        frame is not a dashboard frame)."""
        received = self.cache.get(raw)
        if received is None:
            received = self.cache[raw] = json.loads(raw)
            if len(self.cache) > 1000:
                self.cache.clear()
        if received.get("type") != "dashboard":
            return view, None
        view = merged(view, received)
        probe = next(q for q in view["queues"] if q["queue"] == PROBE_COUNTY)
        states = {
            row["counsellor_id"]: row["state"]
            for row in view["counsellors"]
            if row["counsellor_id"] in self.flippers
        }
        total = view["total"]
        shown = Shown(
            received["at"],
            probe["waiting"],
            states,
            total["waiting"],
            total["active"],
            len(raw.encode()),
        )
        return view, shown


@dataclass(eq=False)
class Supervisor:
    """One dashboard socket and every dashboard frame it received, with the receipt instant."""

    instance: str
    socket: ClientConnection
    received: list[float] = field(default_factory=list)
    shown: list[Shown] = field(default_factory=list)
    view: dict[str, Any] = field(default_factory=dict)  # the dashboard as its frames built it
    closed: int | None = None


@dataclass
class Change:
    """One change made by the benchmark, and how to recognise a frame that shows it."""

    kind: str  # "arrival" or "status"
    instance: str
    sent: float  # epoch seconds, when the request or frame was sent
    shows: Callable[[Shown], bool]
    answered: float | None = None  # when the 201 came back (arrivals)
    subject: str = ""  # the counsellor whose status changed (status changes)
    routed: float | None = None  # when the router changed the state (its effects entry's `at`)


# --------------------------------------------------------------------------- the load


@dataclass
class Console:
    counsellor_id: str
    instance: str
    socket: ClientConnection
    status: str = "available"


class Load:
    """Counsellors' consoles, seekers' sockets, supervisors' sockets and the changes made."""

    def __init__(self, a: ServerProcess, b: ServerProcess) -> None:
        self.servers = {"A": a, "B": b}
        self.consoles: list[Console] = []
        self.synced: set[str] = set()
        self.seekers: list[ClientConnection] = []
        self.seekers_closed = 0
        self.supervisors: list[Supervisor] = []
        self.supervisor_cookies: list[str] = []
        self.closing = False  # the benchmark is closing the supervisors' sockets itself
        self.arrivals = 0
        self.setup_retries = 0
        self.failed_arrivals = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.loop_lags: list[tuple[float, float]] = []  # (woke at, time.time(); late, ms)
        self.flippers: list[Console] = []
        self.reader = FrameReader([])

    def instance(self, n: int) -> tuple[str, ServerProcess]:
        name = "AB"[n % 2]
        return name, self.servers[name]

    # -------------------------------------------------------------- setup

    async def sign_in(self, server: ServerProcess, username: str) -> str:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            page = await http.get("/signin")
            token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            response = await http.post(
                "/signin", data={"csrf_token": token, "username": username, "password": PASSWORD}
            )
            assert response.status_code == 303, response.status_code
            return f"{SESSION_COOKIE}={http.cookies[SESSION_COOKIE]}"

    async def sign_in_all(self, usernames: list[str]) -> list[str]:
        gate = asyncio.Semaphore(SIGN_IN_CONCURRENCY)

        async def one(n: int, username: str) -> str:
            async with gate:
                return await self.sign_in(self.instance(n)[1], username)

        return list(await asyncio.gather(*(one(n, u) for n, u in enumerate(usernames))))

    async def open_console(self, n: int, counsellor_id: int, cookie: str) -> None:
        name, server = self.instance(n)
        socket = await open_socket(server, "/ws/counsellor", {"Cookie": cookie})
        while json.loads(await socket.recv())["type"] != "hello":
            pass
        await socket.send(frame("resume", last_seqs={}))
        # Auto-accept before becoming available, so no offer ever waits for an accept.
        await socket.send(frame("auto_accept", enabled=True))
        await socket.send(frame("status", status="available"))
        self.consoles.append(Console(str(counsellor_id), name, socket))
        self.tasks.append(asyncio.create_task(self.read_console(socket)))

    async def read_console(self, socket: ClientConnection) -> None:
        try:
            async for raw in socket:
                received = json.loads(raw)
                if received["type"] == "synced":
                    self.synced.add(received["chat_id"])
        except ConnectionClosed:
            pass

    async def start_chat(self, n: int, county: str, http: httpx.AsyncClient) -> float:
        """Start a chat on instance n % 2 and open its seeker socket; the instant of the 201."""
        _, server = self.instance(n)
        body = {"county": county, "language": "nb", "consent": True}
        response = await http.post(server.url + "/api/v1/chats", json=body)
        answered = time.time()
        response.raise_for_status()
        chat = response.json()
        seeker = await open_socket(server, "/ws/seeker", {})
        await seeker.send(frame("auth", token=chat["token"], last_seq=0))
        while json.loads(await seeker.recv())["type"] != "welcome":
            pass
        self.seekers.append(seeker)
        self.tasks.append(asyncio.create_task(self.read_seeker(seeker)))
        return answered

    async def read_seeker(self, socket: ClientConnection) -> None:
        try:
            async for _ in socket:
                pass
        except ConnectionClosed:
            pass
        self.seekers_closed += 1

    async def start_chats(self, county_of: Callable[[int], str], count: int) -> None:
        """Start `count` chats, chat n in county `county_of(n)`, on A and B in turn."""
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        # Connections idle for a second are not reused: uvicorn closes idle ones after 5 s.
        limits = httpx.Limits(max_connections=OPEN_CONCURRENCY, keepalive_expiry=1.0)
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:

            async def one(n: int) -> None:
                async with gate:
                    for attempt in range(SETUP_ATTEMPTS):
                        try:
                            await self.start_chat(n, county_of(n), http)
                            return
                        except (httpx.TransportError, OSError, ConnectionClosed):
                            if attempt == SETUP_ATTEMPTS - 1:
                                raise
                            self.setup_retries += 1
                            await asyncio.sleep(0.5)

            await asyncio.gather(*(one(n) for n in range(count)))

    async def set_up(self, counsellors: list[tuple[int, str]]) -> list[str]:
        begin = mark = time.monotonic()
        phases: list[str] = []

        def done(what: str) -> None:
            nonlocal mark
            now = time.monotonic()
            phases.append(f"{what} {now - mark:.0f} s")
            mark = now

        cookies = await self.sign_in_all([name for _, name in counsellors])
        sessions = min(SUPERVISORS, SUPERVISOR_SESSIONS)
        self.supervisor_cookies = await self.sign_in_all(["bench-supervisor"] * sessions)
        done(f"{len(cookies) + sessions} sign-ins")
        await asyncio.gather(
            *(
                self.open_console(n, c[0], cookie)
                for n, (c, cookie) in enumerate(zip(counsellors, cookies, strict=True))
            )
        )
        done(f"{len(self.consoles)} consoles")
        # Chat n goes to the county of counsellor n // CAPACITY: each county gets what its
        # counsellors can hold.
        await self.start_chats(lambda n: counsellor_county(n // CAPACITY), ACTIVE)
        deadline = time.monotonic() + SETUP_TIMEOUT
        while len(self.synced) < ACTIVE:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        if len(self.synced) < ACTIVE:
            raise SystemExit(f"only {len(self.synced)} of {ACTIVE} chats were answered")
        done(f"{ACTIVE} chats answered")
        await self.start_chats(lambda n: WAITING_COUNTIES[n % len(WAITING_COUNTIES)], WAITING)
        done(f"{WAITING} chats waiting")
        # The counsellors whose status flips: full ones, one on each instance.
        self.flippers = [next(c for c in self.consoles if c.instance == i) for i in "AB"]
        self.reader = FrameReader([c.counsellor_id for c in self.flippers])
        self.tasks.append(asyncio.create_task(self.probe_loop_lag()))
        phases.append(f"in all {time.monotonic() - begin:.0f} s")
        return phases

    async def probe_loop_lag(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(LAG_TICK)
            self.loop_lags.append((time.time(), (time.monotonic() - before - LAG_TICK) * 1000))

    # -------------------------------------------------------------- supervisors

    def session(self, n: int) -> str:
        """Supervisor socket n's session: sessions alternate between the instances, as the
        sockets do, and each serves several sockets."""
        return self.supervisor_cookies[n % len(self.supervisor_cookies)]

    async def open_supervisors(self) -> None:
        async def one(n: int, cookie: str) -> Supervisor:
            name, server = self.instance(n)
            socket = await open_socket(server, "/ws/supervisor", {"Cookie": cookie})
            return Supervisor(name, socket)

        self.supervisors = list(
            await asyncio.gather(*(one(n, self.session(n)) for n in range(SUPERVISORS)))
        )
        self.tasks += [asyncio.create_task(self.read_supervisor(s)) for s in self.supervisors]
        deadline = time.monotonic() + 30
        while not all(s.shown for s in self.supervisors):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)

    async def read_supervisor(self, supervisor: Supervisor) -> None:
        try:
            async for raw in supervisor.socket:
                now = time.time()
                supervisor.view, shown = self.reader.read(str(raw), supervisor.view)
                if shown is not None:
                    supervisor.received.append(now)
                    supervisor.shown.append(shown)
        except ConnectionClosed:
            pass
        if not self.closing:
            supervisor.closed = supervisor.socket.close_code

    async def close_supervisors(self) -> None:
        self.closing = True
        for supervisor in self.supervisors:
            await supervisor.socket.close()

    # -------------------------------------------------------------- changes

    async def make_changes(self, seconds: float) -> list[Change]:
        """A change every INTERVAL seconds for `seconds`: arrivals and status flips in turn."""
        changes: list[Change] = []
        pending: list[asyncio.Task[None]] = []
        limits = httpx.Limits(keepalive_expiry=1.0)
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:
            start = time.monotonic()
            for k in range(round(seconds / INTERVAL)):
                await asyncio.sleep(max(0.0, start + k * INTERVAL - time.monotonic()))
                if k % 2 == 0:
                    pending.append(asyncio.create_task(self.arrive(k // 2, http, changes)))
                else:
                    changes.append(await self.flip(k // 2))
            await asyncio.gather(*pending)
        return changes

    async def arrive(self, k: int, http: httpx.AsyncClient, changes: list[Change]) -> None:
        self.arrivals += 1
        count = self.arrivals
        change = Change(
            "arrival", self.instance(k)[0], time.time(), lambda s: s.probe_waiting >= count
        )
        changes.append(change)
        try:
            change.answered = await self.start_chat(k, PROBE_COUNTY, http)
        except (httpx.HTTPError, OSError, ConnectionClosed):
            # Whether the chat was started is unknown, so later counts may be one off: said in
            # the figures.
            self.failed_arrivals += 1

    async def flip(self, k: int) -> Change:
        console = self.flippers[k % 2]
        console.status = "away" if console.status == "available" else "available"
        # A full counsellor who is available shows as busy.
        state = "away" if console.status == "away" else "busy"
        who = console.counsellor_id
        change = Change(
            "status", console.instance, time.time(), lambda s: s.states[who] == state, subject=who
        )
        await console.socket.send(frame("status", status=console.status))
        return change

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        sockets = [c.socket for c in self.consoles] + self.seekers
        sockets += [s.socket for s in self.supervisors]
        for socket in sockets:
            if socket.transport is not None:
                socket.transport.abort()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def create_accounts(database_url: str) -> list[tuple[int, str]]:
    """The counsellors who answer (id, username), spread over the active counties; a reserve
    counsellor for every other county, never signed in; and one supervisor."""
    conn = await asyncpg.connect(database_url)
    try:
        counsellors = []
        for n in range(-(-ACTIVE // CAPACITY)):
            user = await create_user(
                conn,
                username=f"bench-c{n:03d}",
                display_name=f"Bench counsellor {n}",
                role="counsellor",
                password=PASSWORD,
                centres=[counsellor_county(n)],
                languages=["nb"],
                capacity=CAPACITY,
            )
            counsellors.append((user.id, user.username))
        # A county with staff keeps its chats in its own queue (counted in its row); with none
        # signed in, each is also opened to the national team at once (no timer runs later).
        for county in (*WAITING_COUNTIES, PROBE_COUNTY):
            await create_user(
                conn,
                username=f"bench-reserve-{county}",
                display_name=f"Bench reserve {county}",
                role="counsellor",
                password=PASSWORD,
                centres=[county],
                languages=["nb"],
            )
        await create_user(
            conn,
            username="bench-supervisor",
            display_name="Bench supervisor",
            role="supervisor",
            password=PASSWORD,
        )
        return counsellors
    finally:
        await conn.close()


# --------------------------------------------------------------------------- measuring


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds of each part over a window, as a share of one core."""

    def __init__(
        self, servers: dict[str, int], client: redis.Redis, pg: asyncpg.Connection, database: str
    ) -> None:
        self.servers = servers
        self.client = client
        self.pg = pg
        self.database = database
        self.before: dict[str, float] = {}
        self.begin = 0.0

    async def redis_seconds(self) -> float:
        cpu = await self.client.info("cpu")
        return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])

    async def pg_seconds(self) -> float:
        rows = await self.pg.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.database,
        )
        return sum(cpu_seconds(row["pid"]) for row in rows)

    async def read(self) -> dict[str, float]:
        values = {name: cpu_seconds(pid) for name, pid in self.servers.items()}
        values |= {f"{name} waiting": waiting_seconds(pid) for name, pid in self.servers.items()}
        values["Redis"] = await self.redis_seconds()
        values["PostgreSQL"] = await self.pg_seconds()
        values["benchmark"] = own_cpu_seconds()
        values["machine"] = machine_busy_seconds()
        return values

    async def start(self) -> None:
        self.before = await self.read()
        self.begin = time.monotonic()

    async def stop(self) -> dict[str, float]:
        elapsed = time.monotonic() - self.begin
        after = await self.read()
        # A PostgreSQL backend that ended in the window is not counted; one that started counts
        # from zero. Good enough for a share of a core.
        return {k: max(0.0, after[k] - self.before[k]) / elapsed * 100 for k in after}


def describe_cpu(cpu: dict[str, float]) -> str:
    return (
        f"A {cpu['A']:.1f} % (waiting for a core {cpu['A waiting']:.1f} %), B {cpu['B']:.1f} % "
        f"(waiting {cpu['B waiting']:.1f} %), Redis {cpu['Redis']:.1f} %, PostgreSQL "
        f"{cpu['PostgreSQL']:.1f} %, benchmark {cpu['benchmark']:.1f} %; machine "
        f"{cpu['machine']:.0f} % of {(os.cpu_count() or 1) * 100} %"
    )


@dataclass
class Updates:
    """Every (change, supervisor) pair: when the first frame showing the change arrived."""

    seen: list[float] = field(default_factory=list)  # routing change -> received, ms
    requested: list[float] = field(default_factory=list)  # request sent -> received, ms
    to_compute: list[float] = field(default_factory=list)  # routing change -> frame `at`, ms
    computed: list[float] = field(default_factory=list)  # frame `at` -> received, ms
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    missed: int = 0
    unrouted: int = 0  # changes whose effect was not found in the stream
    # Per change: its slowest supervisor (ms), the change's split there, and when it was made.
    slowest: list[tuple[float, str, float, float, float]] = field(default_factory=list)


def lag_between(lags: list[tuple[float, float]], begin: float, end: float) -> float:
    """The benchmark's worst loop lag whose wait overlapped [begin, end] (time.time()): a
    receipt stamped late by the benchmark itself, not by the servers."""
    return max(
        (lag for woke, lag in lags if woke >= begin and woke - lag / 1000 - LAG_TICK <= end),
        default=0.0,
    )


def match(changes: list[Change], supervisors: list[Supervisor]) -> Updates:
    updates = Updates()
    for change in changes:
        worst: tuple[float, str, float, float, float] | None = None
        if change.routed is None:
            updates.unrouted += 1
            continue
        for supervisor in supervisors:
            first = bisect.bisect_left(supervisor.received, change.sent)
            found = next(
                (
                    i
                    for i in range(first, len(supervisor.received))
                    if change.shows(supervisor.shown[i])
                ),
                None,
            )
            if found is None:
                updates.missed += 1
                continue
            received, shown = supervisor.received[found], supervisor.shown[found]
            seen = (received - change.routed) * 1000
            to_compute = (shown.at - change.routed) * 1000
            updates.seen.append(seen)
            updates.requested.append((received - change.sent) * 1000)
            updates.by_kind.setdefault(change.kind, []).append(seen)
            updates.to_compute.append(to_compute)
            updates.computed.append((received - shown.at) * 1000)
            if worst is None or seen > worst[0]:
                worst = (seen, change.kind, to_compute, seen - to_compute, change.routed)
        if worst is not None:
            updates.slowest.append(worst)
    updates.slowest.sort(reverse=True)
    return updates


SLOW_EVENTS = ("dashboard.push_slow", "dashboard.relay_slow", "loop.stalled")
PUSH_EVENTS = ("dashboard.pushed", "dashboard.push_slow")  # the computing instance's pushes


def server_entries(
    servers: dict[str, ServerProcess], since: float, until: float
) -> list[tuple[str, dict[str, Any]]]:
    """The servers' log entries of SLOW_EVENTS and PUSH_EVENTS between `since` and `until`:
    (server, entry without its timestamp)."""
    events = (*SLOW_EVENTS, *PUSH_EVENTS)
    found = []
    for name, server in servers.items():
        for line in server.log().splitlines():
            if not any(event in line for event in events):
                continue
            try:
                entry = json.loads(line)
                at = datetime.fromisoformat(entry.pop("timestamp")).timestamp()
            except (ValueError, KeyError):
                continue
            if since <= at <= until and entry.get("event") in events:
                found.append((name, entry))
    return found


def server_events(entries: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The servers' own account of slow pushes (`app.dashboard_timing`) and stalls of their
    loops, a line each, slowest first."""
    found: list[tuple[float, str]] = []
    for name, entry in entries:
        if entry["event"] not in SLOW_EVENTS:
            continue
        fields = " ".join(
            f"{key}={value}" for key, value in entry.items() if key not in ("event", "level")
        )
        found.append((float(entry.get("ms", 0)), f"{name} {entry['event']} {fields}"))
    return [line for _, line in sorted(found, reverse=True)]


def push_stages(entries: list[tuple[str, dict[str, Any]]]) -> str:
    """Percentiles of each stage of the computing instance's pushes (logged at debug level)."""
    stages: dict[str, list[float]] = {}
    for _, entry in entries:
        if entry["event"] not in PUSH_EVENTS:
            continue
        for stage in ("ms", *STAGES):
            if stage in entry:
                stages.setdefault(stage, []).append(float(entry[stage]))
    return "; ".join(
        f"{'total' if stage == 'ms' else stage} p50 {percentile(samples, 0.5):.1f} "
        f"p99 {percentile(samples, 0.99):.1f}"
        for stage, samples in stages.items()
    )


def pushes(supervisors: list[Supervisor], since: float, until: float) -> dict[str, Any]:
    """Per instance: distinct pushes received in the window, their sizes, and per push the time
    between its first and its last receipt over that instance's sockets."""
    out: dict[str, Any] = {}
    for instance in "AB":
        receipts: dict[float, list[float]] = {}
        sizes: dict[float, int] = {}
        for supervisor in supervisors:
            if supervisor.instance != instance:
                continue
            for received, shown in zip(supervisor.received, supervisor.shown, strict=True):
                if since <= received <= until:
                    receipts.setdefault(shown.at, []).append(received)
                    sizes[shown.at] = shown.size
        out[instance] = {
            "pushes": len(receipts),
            "sizes": list(sizes.values()),
            "spreads": [(max(r) - min(r)) * 1000 for r in receipts.values() if len(r) > 1],
        }
    return out


async def time_render(settings_env: dict[str, str]) -> dict[str, list[float]]:
    """The server's computation, repeated here against the same state: whole and in parts."""
    settings = load_settings(settings_env)
    client = create_redis(settings)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            config = await load_routing_config(conn, settings, time.time())
        queue = RedisQueue(client, settings.redis_prefix, config)
        dashboard = Dashboard(
            pool,
            client,
            queue,
            AppKeys(settings.redis_prefix),
            settings.service_level_seconds,
            instance="benchmark",
        )
        await dashboard.render()  # names read once, as on a server that has been running
        timings: dict[str, list[float]] = {
            "render": [],
            "read": [],
            "view": [],
            "encode": [],
            "bytes": [],
            "today": [],
        }
        for _ in range(RENDERS):
            begin = time.perf_counter()
            await dashboard.render()
            timings["render"].append((time.perf_counter() - begin) * 1000)
            begin = time.perf_counter()
            view = await queue.dashboard()
            snapped = viewed = time.perf_counter()
            now = time.time()
            text = server_frame("dashboard", at=now, **view)
            encoded = time.perf_counter()
            timings["read"].append((snapped - begin) * 1000)
            timings["view"].append((viewed - snapped) * 1000)
            timings["encode"].append((encoded - viewed) * 1000)
            timings["bytes"].append(float(len(text.encode())))
            begin = time.perf_counter()
            await dashboard.today(time.time())
            timings["today"].append((time.perf_counter() - begin) * 1000)
        return timings
    finally:
        await pool.close()
        await client.aclose()


# --------------------------------------------------------------------------- the run


@dataclass
class Phase:
    changes: list[Change]
    cpu: dict[str, float]
    start: float
    end: float


async def run_phase(load: Load, meter: CpuMeter, stream: str) -> Phase:
    start = time.time()
    await meter.start()
    changes = await load.make_changes(PHASE_SECONDS)
    cpu = await meter.stop()
    end = time.time()
    await asyncio.sleep(DRAIN_SECONDS)
    await stamp_routing(changes, meter.client, stream, start)
    return Phase(changes, cpu, start, end)


async def stamp_routing(
    changes: list[Change], client: redis.Redis, stream: str, since: float
) -> None:
    """Give each change the instant the router made it: the `at` of the first effects entry
    after the change was sent with its effect (county PROBE_COUNTY's next arrival, or the
    counsellor's status)."""
    entries: Any = await client.xrange(stream, min=f"{int(since * 1000)}-0")
    made: list[tuple[float, str, str]] = []  # (at, "arrival" or "status", counsellor)
    for _id, fields in entries:
        for effect in decode_effects(fields["effects"]):
            if isinstance(effect, ChatQueued) and effect.queue == PROBE_COUNTY:
                made.append((float(fields["at"]), "arrival", ""))
            elif isinstance(effect, CounsellorStatusChanged):
                made.append((float(fields["at"]), "status", effect.counsellor_id))
    for change in changes:
        change.routed = next(
            (
                at
                for at, kind, subject in made
                if at >= change.sent and kind == change.kind and subject == change.subject
            ),
            None,
        )


async def measure(
    a: ServerProcess,
    b: ServerProcess,
    env: dict[str, str],
    client: redis.Redis,
    counsellors: list[tuple[int, str]],
) -> None:
    load = Load(a, b)
    pg = await asyncpg.connect(env["DATABASE_URL"])
    database = env["DATABASE_URL"].rsplit("/", 1)[1]
    meter = CpuMeter({"A": a.pid, "B": b.pid}, client, pg, database)
    try:
        setup = await load.set_up(counsellors)
        print(f"setup: {', '.join(setup)}", file=sys.stderr, flush=True)
        freeze_set_up()
        await asyncio.sleep(2)
        stream = RoutingKeys(env["EGUIDE_REDIS_PREFIX"]).effects_stream()
        quiet = await run_phase(load, meter, stream)
        print(f"without supervisors: {describe_cpu(quiet.cpu)}", file=sys.stderr, flush=True)
        await load.open_supervisors()
        await asyncio.sleep(2)
        first = next(iter(s.shown[-1] for s in load.supervisors if s.shown), None)
        watched = await run_phase(load, meter, stream)
        print(f"with supervisors: {describe_cpu(watched.cpu)}", file=sys.stderr, flush=True)
        await load.close_supervisors()
        await asyncio.sleep(1)
        render = await time_render(env)
        report(load, quiet, watched, first, render)
    finally:
        await load.close()
        await pg.close()


def report(
    load: Load, quiet: Phase, watched: Phase, first: Shown | None, render: dict[str, list[float]]
) -> None:
    supervisors = load.supervisors
    updates = match(watched.changes, supervisors)
    seconds = watched.end - watched.start
    flows = pushes(supervisors, watched.start, watched.end)
    chats = 0 if first is None else first.waiting + first.active
    opened = sum(bool(s.shown) for s in supervisors)
    per_instance = {i: sum(s.instance == i for s in supervisors) for i in "AB"}
    arrivals = sum(c.kind == "arrival" for c in watched.changes)
    api = [(c.answered - c.sent) * 1000 for c in watched.changes if c.answered is not None]

    print(f"chats: {first.active if first else '?'} active ({len(load.consoles)} counsellors of "
          f"capacity {CAPACITY}, auto-accepting, counties {', '.join(ACTIVE_COUNTIES)}), "
          f"{first.waiting if first else '?'} waiting ({len(WAITING_COUNTIES)} counties with no "
          f"counsellor signed in, and county {PROBE_COUNTY}); {len(load.seekers)} seeker sockets, "
          f"{load.seekers_closed} closed; chats started again while setting up "
          f"{load.setup_retries}")  # fmt: skip
    if load.failed_arrivals:
        print(f"arrivals whose request failed: {load.failed_arrivals} (counts after them may be "
              f"one off)")  # fmt: skip
    print(f"supervisors: {opened} of {SUPERVISORS} dashboards open and pushed to (A "
          f"{per_instance['A']}, B {per_instance['B']})")  # fmt: skip
    print(f"changes: one every {INTERVAL:.1f} s for {PHASE_SECONDS:.0f} s, {arrivals} arrivals "
          f"in county {PROBE_COUNTY} (A and B in turn) and "
          f"{len(watched.changes) - arrivals} status changes of a full counsellor (one on A, "
          f"one on B); the same once without supervisors, once with them")  # fmt: skip
    print(f"update, routing change -> each supervisor has a frame showing it "
          f"({len(updates.seen)} of {len(watched.changes) * len(supervisors)}, missed "
          f"{updates.missed}, change not found in the effects stream "
          f"{updates.unrouted}): {spread(updates.seen)}")  # fmt: skip
    for kind, samples in sorted(updates.by_kind.items()):
        print(f"  {kind}: {spread(samples)}")
    print(f"  change -> the server begins computing (frame `at`): {spread(updates.to_compute)}")
    print(f"  computing begins -> received (compute, push, delivery): {spread(updates.computed)}")
    slowest = ", ".join(
        f"{kind} {seen:.0f} ({to_compute:.0f} + {computed:.0f}; "
        f"{lag_between(load.loop_lags, routed, routed + seen / 1000):.0f})"
        for seen, kind, to_compute, computed, routed in updates.slowest[:5]
    )
    print(f"  slowest changes, at their last supervisor (to computing + computing to receipt; "
          f"the benchmark's own loop lag meanwhile, ms): {slowest}")  # fmt: skip
    entries = server_entries(load.servers, watched.start, watched.end + DRAIN_SECONDS)
    told = server_events(entries)
    print(f"  the servers' slow pushes and loop stalls (the change to frames queued, its stages "
          f"in ms; `app.dashboard_timing`): {len(told)}")  # fmt: skip
    for line in told[:SLOW_LISTED]:
        print(f"    {line}")
    if SERVER_LOG_LEVEL == "debug":
        print(f"  every push's stages on the computing instance (ms): {push_stages(entries)}")
    print(f"request -> each supervisor has a frame showing it (the change's own request "
          f"included: an arrival's POST stores the chat before routing it): "
          f"{spread(updates.requested)}")  # fmt: skip
    for instance in "AB":
        flow = flows[instance]
        sizes = flow["sizes"]
        print(f"pushes {instance}: {flow['pushes']} ({flow['pushes'] / seconds:.1f}/s), frame "
              f"{percentile(sizes, 0.5) / 1024:.1f} KiB (max {max(sizes, default=0) / 1024:.1f}); "
              f"first to last of its sockets: {spread(flow['spreads'])}")  # fmt: skip
    print(f"render in the benchmark process ({RENDERS} times, same state): Dashboard.render "
          f"{spread(render['render'])}; of which RedisQueue.dashboard "
          f"p50 {percentile(render['read'], 0.5):.1f} ms, dashboard_view "
          f"p50 {percentile(render['view'], 0.5):.1f} ms, encoding "
          f"p50 {percentile(render['encode'], 0.5):.1f} ms; "
          f"{percentile(render['bytes'], 0.5) / 1024:.1f} KiB")  # fmt: skip
    print(f"today's figures (Dashboard.today, from the record): {spread(render['today'])}")
    print(f"arrival requests (POST /api/v1/chats to 201): {spread(api)}")
    print(f"cpu without supervisors (100 % = one core): {describe_cpu(quiet.cpu)}")
    print(f"cpu with {len(supervisors)} supervisors: {describe_cpu(watched.cpu)}")
    added = {k: watched.cpu[k] - quiet.cpu[k] for k in ("A", "B", "Redis", "PostgreSQL")}
    print(f"load the dashboards add: A {added['A']:+.1f} %, B {added['B']:+.1f} %, "
          f"Redis {added['Redis']:+.1f} %, PostgreSQL {added['PostgreSQL']:+.1f} % "
          f"of a core")  # fmt: skip
    # Over the pushes of the window: what one push costs its instance, and Redis (whose
    # dashboard script runs alone: every other call waits for it).
    count = max(1, flows["A"]["pushes"] + flows["B"]["pushes"])
    print(f"per push: instance {(added['A'] + added['B']) / 100 * seconds / count * 1000:.0f} ms "
          f"of CPU, Redis {added['Redis'] / 100 * seconds / count * 1000:.0f} ms")  # fmt: skip
    during = [lag for at, lag in load.loop_lags if watched.start <= at <= watched.end]
    print(f"benchmark loop lag while changes were made with supervisors: p99 "
          f"{percentile(during, 0.99):.1f} ms, max {max(during, default=float('nan')):.1f} ms; "
          f"over the whole run max "
          f"{max((lag for _, lag in load.loop_lags), default=float('nan')):.1f} ms")  # fmt: skip
    closed = [s.closed for s in supervisors if s.closed is not None]
    if closed:
        print(f"supervisor sockets closed by the server during the run: {closed}")
    print(
        f"dashboard: update_p99_ms={percentile(updates.seen, 0.99):.1f} "
        f"supervisors={opened} chats={chats}"
    )


async def prepare_database(url: str) -> None:
    await migrate(url)
    conn = await asyncpg.connect(url)
    try:
        # Always open, so no chat overflows for closing time during the run.
        await conn.execute("DELETE FROM opening_hours")
    finally:
        await conn.close()


async def main() -> None:
    sockets = ACTIVE + WAITING + ACTIVE // CAPACITY + SUPERVISORS
    limit = raise_file_limit(2 * sockets + 500)
    print(f"open-files limit {limit}", file=sys.stderr)
    run = secrets.token_hex(4)
    database_url = database_url_named(f"eguide_bench_{run}")
    prefix = f"eguide-bench-{run}:"
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    logs = Path(tempfile.mkdtemp(prefix="eguide-bench-"))
    env = {
        **service_environment(database_url, redis_url, prefix),
        # The servers tell of their slow pushes at info level, of every push at debug level.
        "EGUIDE_LOG_LEVEL": SERVER_LOG_LEVEL,
        "EGUIDE_SEEKER_GRACE_SECONDS": str(SEEKER_GRACE_SECONDS),
    }
    try:
        await prepare_database(database_url)
        # Before the servers start: they register the counsellors, staff of their counties.
        begin = time.monotonic()
        counsellors = await create_accounts(database_url)
        print(f"accounts: {time.monotonic() - begin:.0f} s", file=sys.stderr, flush=True)
        with ServerProcess(env, logs / "a.log") as a, ServerProcess(env, logs / "b.log") as b:
            print(f"servers: A pid {a.pid}, B pid {b.pid}, logs in {logs}", file=sys.stderr)
            await measure(a, b, env, client, counsellors)
    finally:
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            await client.delete(key)
        await client.aclose()
        await drop_database(database_url)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
