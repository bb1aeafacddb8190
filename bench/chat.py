"""Chat benchmark: live messages from seekers to counsellors across two server instances.

Two `eguide serve` processes (A and B) share one Redis and one PostgreSQL. The pairs are split
over two load-generating processes, each with its own county: generator 0's seekers chat on A
with counsellors on B (county 03), generator 1's the other way round (county 46). So every
message crosses from one instance to the other, and both instances carry the same load. The
counsellors belong to their county's centre only, have capacity 10 (BENCH_PAIRS / 10 of them)
and auto-accept, so each chat is answered the moment it is started; the run begins once every
console has said `synced` for every chat. Nobody sends anything else (no typing, no replies).

Each generator sends its share of the rate round-robin over its seekers, so every seeker sends
one message every BENCH_PAIRS / rate seconds, under the seeker socket's limit of 5 a second.

  latency       from a seeker's send to the `message` frame arriving on its counsellor's socket:
                the frame, the checks in Redis, the commit in PostgreSQL, the publish, the other
                instance's pub/sub connection, and the console socket. The send instant goes in
                the message's client id (which every `message` frame carries) and is read on
                receipt; both generators read CLOCK_MONOTONIC, one clock for every process on
                the machine.
  ack           from the send to the seeker's `ack` (the message is committed): the store path.
  echo          from the send to the seeker's own copy of the message, which comes back over
                pub/sub to the same instance: delivery without the hop between instances.
  lost, dup     every message must reach its counsellor exactly once: per chat, every sequence
                number acknowledged to the seeker must arrive on the console, once. After its
                sending a step waits for the last acks and deliveries for as long as they keep
                coming (until BENCH_DRAIN_SECONDS pass without one). Lost counts what is
                missing then: acknowledged and never delivered, and sent and never acknowledged
                (the server closed the socket first; a real client would send those again).
  slow          every delivery and ack over SLOW_MS, grouped into bursts by when it was sent,
                each told by the side whose seeker sent it (A or B): a burst on one side points
                at that side's instance, one on both at what they share.
  generator     the send lag (the actual send instant against the schedule; latency is taken
                from the actual instant, so it never counts towards latency) and the event-loop
                lag (how late a 10 ms sleep wakes): a receipt is stamped when the generator's loop
                gets to it, so a lagging loop adds to the latency it reports.
  shared        a one-row commit to PostgreSQL and a Redis PING every 20 ms, each on a connection
                of its own (bench.measure.SharedStallProbe): what every message waits for, timed
                without the service. Each burst of slow messages says the slowest probe commit
                while it lasted: a commit as slow as the burst says the disk stalled (a message
                is acknowledged and delivered only once its commit is on disk).
  cpu           user + system time (/proc) of A and B, of the PostgreSQL backends serving this
                benchmark's database, of Redis (shared with anything else using it), of the
                generators, and of the whole machine, over the sending window: 100 % is one core.
                Also the time A and B were ready to run but had no core (schedstat): on a
                machine shared with other work a server short of CPU queues frames whatever its
                own cost, and this says how much of the latency is that. Server CPU per message
                is A's and B's CPU time over the messages sent: the service's own cost.

First BENCH_WARMUP_SECONDS at BENCH_RATE (not counted), then BENCH_SECONDS at BENCH_RATE: the
run the summary reports. Then, unless BENCH_SKIP_RAMP is set, the rate steps up
(BENCH_RAMP_RATES, BENCH_RAMP_SECONDS each) until a step is not held: p99 over 100 ms, a
message lost, duplicated or refused, or the generators short of the rate.

Starts what it needs (its own database and Redis prefix, two `eguide serve` processes), prints
its figures, and ends with one line:
  chat: pairs=… msgs_per_s=… p50_ms=… p99_ms=… lost=… dup=…
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.database import drop_database
from app.migrator import migrate
from app.users import create_user
from bench.measure import (
    SharedStallProbe,
    cpu_seconds,
    freeze_set_up,
    machine_busy_seconds,
    percentile,
    raise_file_limit,
    service_environment,
    waiting_seconds,
)
from tests.support.environment import database_url_named
from tests.support.server import ServerProcess

PAIRS = int(os.environ.get("BENCH_PAIRS", "1000"))
RATE = float(os.environ.get("BENCH_RATE", "500"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP_SECONDS", "3"))
SKIP_RAMP = os.environ.get("BENCH_SKIP_RAMP", "") not in ("", "0")
RAMP_RATES = [
    float(r)
    for r in os.environ.get(
        "BENCH_RAMP_RATES", "250,300,350,400,450,500,550,600,650,700,750,1000,1500,2000"
    ).split(",")
]
RAMP_SECONDS = float(os.environ.get("BENCH_RAMP_SECONDS", "10"))
# After a step's sending, its messages are waited for as long as they keep coming: until this
# long passes with no ack and no delivery (or DRAIN_LIMIT). What is missing then is lost.
DRAIN_SECONDS = float(os.environ.get("BENCH_DRAIN_SECONDS", "10"))
DRAIN_LIMIT = 300.0
RAMP_P99_MS = 100.0
# Deliveries and acks slower than this are listed by when they were sent, in bursts: a burst
# on one side only points at that side's instance; on both at once, at what they share.
SLOW_MS = 50.0
BURST_GAP_SECONDS = 0.25
PLURAL = {"delivery": "deliveries", "ack": "acks"}

# The most chats a counsellor may hold (users.capacity): the fewest consoles for the pairs.
CAPACITY = 10
# One county per generator; both centres exist in every database (migrations/0002_counties.sql).
COUNTIES = ("03", "46")
# A seeker socket sustains 5 frames a second (chat.rate_limit.TokenBucket): rates are kept under.
SEEKER_FRAMES_PER_SECOND = 5.0
# Chats started and sockets opened at once by each generator while setting up.
OPEN_CONCURRENCY = 50
# Sign-ins at once per generator: each costs the server an argon2 verification, done on its
# event loop, so more at once only queue there (and a busy machine makes each one slow).
SIGN_IN_CONCURRENCY = 2
SETUP_TIMEOUT = 180.0
LAG_TICK = 0.01  # the loop-lag probe's sleep
PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway account in a throwaway database
# A typical first message. The send instant goes in the client id, not the text: a number in
# the text would be checked as a possible phone number when the message is masked for storage
# (chat.masking), which a message without one is not.
FILLER = "Hei! Jeg går vg2 og lurer på om jeg skal velge realfag eller yrkesfag neste år."
# Frames that mean a pair came apart during the run (chat/hub.py): counted as problems.
TROUBLE = frozenset(
    {"chat_removed", "chat_ended", "chat_closed", "offer_withdrawn", "requeued", "ended"}
)
# A generator answers with every latency of a step on one line.
PIPE_LIMIT = 2**27


def sent_at(client_id: str) -> float:
    """The send instant (CLOCK_MONOTONIC, s) a message's client id carries."""
    return int(client_id.rsplit("t", 1)[1]) / 1e6


def frame(frame_type: str, **fields: Any) -> str:
    return json.dumps({"v": 1, "type": frame_type, **fields})


# --------------------------------------------------------------------------- generator side


@dataclass(eq=False)
class Pair:
    """One chat: the seeker's socket and the sequence numbers acknowledged to it."""

    chat_id: str
    seeker: ClientConnection
    acked: set[int] = field(default_factory=set)
    pending: dict[str, float] = field(default_factory=dict)  # client id -> send instant
    open: bool = True


@dataclass
class Step:
    """What one generator saw during one step (the counters run across steps)."""

    start: float = 0.0
    latencies: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    echoes: list[float] = field(default_factory=list)
    send_lags: list[float] = field(default_factory=list)
    loop_lags: list[float] = field(default_factory=list)
    # (send instant - start in s, what, ms) of every delivery or ack slower than SLOW_MS
    slow: list[tuple[float, str, float]] = field(default_factory=list)


class Generator:
    """One process's half of the pairs: its counsellors' consoles and its seekers' sockets."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.pairs: list[Pair] = []
        self.by_chat: dict[str, Pair] = {}
        self.synced: set[str] = set()
        self.received: dict[str, set[int]] = {}
        self.sent = self.acked = self.delivered = self.dup = 0
        self.pending = 0  # sent, neither acknowledged nor refused yet
        self.unanswered = 0  # sent on a socket that closed before it was acknowledged
        self.refused: Counter[str] = Counter()
        self.closed: Counter[str] = Counter()
        self.unexpected: Counter[str] = Counter()
        self.step = Step()
        self.sequence = 0
        self.tasks: list[asyncio.Task[None]] = []

    # -------------------------------------------------------------- setup

    async def set_up(self) -> dict[str, Any]:
        begin = time.monotonic()
        phases: list[str] = []

        def done(what: str, since: float) -> float:
            now = time.monotonic()
            phases.append(f"{what} {now - since:.0f} s")
            return now

        names = await self.create_counsellors()
        mark = done(f"{len(names)} accounts", begin)
        cookies = await self.sign_in_all(names)
        mark = done("sign-ins", mark)
        consoles = await asyncio.gather(*(self.open_console(c) for c in cookies))
        self.tasks += [asyncio.create_task(self.read_console(c)) for c in consoles]
        mark = done("consoles", mark)
        await self.open_seekers()
        mark = done(f"{len(self.pairs)} chats and seeker sockets", mark)
        self.tasks.append(asyncio.create_task(self.probe_loop_lag()))
        deadline = time.monotonic() + SETUP_TIMEOUT
        while not all(p.chat_id in self.synced for p in self.pairs):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        done("last synced", mark)
        print(f"generator {self.spec['county']}: {', '.join(phases)}", file=sys.stderr)
        ready = sum(p.chat_id in self.synced for p in self.pairs)
        return {"ready": ready, "consoles": len(consoles), "seconds": time.monotonic() - begin}

    async def create_counsellors(self) -> list[str]:
        count = math.ceil(self.spec["pairs"] / CAPACITY)
        county = self.spec["county"]
        conn = await asyncpg.connect(self.spec["database_url"])
        try:
            names = []
            for n in range(count):
                user = await create_user(
                    conn,
                    username=f"bench{county}c{n:03d}",
                    display_name=f"Bench {county}-{n}",
                    role="counsellor",
                    password=PASSWORD,
                    centres=[county],
                    languages=["nb"],
                    capacity=CAPACITY,
                )
                names.append(user.username)
            return names
        finally:
            await conn.close()

    async def sign_in_all(self, names: list[str]) -> list[str]:
        url = self.spec["console_url"]
        gate = asyncio.Semaphore(SIGN_IN_CONCURRENCY)

        async def one(name: str) -> str:
            async with gate, httpx.AsyncClient(base_url=url, timeout=60) as http:
                page = await http.get("/signin")
                token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
                response = await http.post(
                    "/signin", data={"csrf_token": token, "username": name, "password": PASSWORD}
                )
                assert response.status_code == 303, response.status_code
                return f"eguide_session={http.cookies['eguide_session']}"

        return list(await asyncio.gather(*(one(name) for name in names)))

    async def open_console(self, cookie: str) -> ClientConnection:
        url = self.spec["console_url"]
        console = await connect(
            url.replace("http://", "ws://") + "/ws/counsellor",
            additional_headers={"Cookie": cookie, "Origin": url},
            compression=None,
            ping_interval=None,  # the server pings; the client answers
            max_queue=None,
            open_timeout=60,
        )
        while json.loads(await console.recv())["type"] != "hello":
            pass
        await console.send(frame("resume", last_seqs={}))
        # Auto-accept before becoming available, so no offer ever waits for an accept.
        await console.send(frame("auto_accept", enabled=True))
        await console.send(frame("status", status="available"))
        return console

    async def open_seekers(self) -> None:
        url = self.spec["seeker_url"]
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        # Connections idle for a second are not reused: uvicorn closes idle ones after 5 s.
        limits = httpx.Limits(max_connections=OPEN_CONCURRENCY, keepalive_expiry=1.0)
        body = {"county": self.spec["county"], "language": "nb", "consent": True}
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:

            async def one() -> None:
                async with gate:
                    response = await http.post("/api/v1/chats", json=body)
                    response.raise_for_status()
                    chat = response.json()
                    seeker = await connect(
                        url.replace("http://", "ws://") + "/ws/seeker",
                        additional_headers={"Origin": url},
                        compression=None,
                        ping_interval=None,
                        max_queue=None,
                        open_timeout=60,
                    )
                    await seeker.send(frame("auth", token=chat["token"], last_seq=0))
                    while json.loads(await seeker.recv())["type"] != "welcome":
                        pass
                pair = Pair(chat["chat_id"], seeker)
                self.pairs.append(pair)
                self.by_chat[pair.chat_id] = pair
                self.tasks.append(asyncio.create_task(self.read_seeker(pair)))

            await asyncio.gather(*(one() for _ in range(self.spec["pairs"])))

    # -------------------------------------------------------------- reading

    async def read_console(self, console: ClientConnection) -> None:
        try:
            async for raw in console:
                now = time.monotonic()
                received = json.loads(raw)
                kind = received["type"]
                if kind == "message" and received["sender"] == "seeker":
                    self.on_delivered(received, now)
                elif kind == "synced":
                    self.synced.add(received["chat_id"])
                elif kind == "error":
                    self.refused[f"console {received['code']}"] += 1
                elif kind in TROUBLE:
                    self.unexpected[kind] += 1
        except ConnectionClosed:
            pass
        self.closed[f"console {console.close_code}"] += 1

    def on_delivered(self, message: dict[str, Any], now: float) -> None:
        seen = self.received.setdefault(message["chat_id"], set())
        if message["seq"] in seen:
            self.dup += 1
            return
        seen.add(message["seq"])
        self.delivered += 1
        sent = sent_at(message["client_id"])
        if sent >= self.step.start:
            self.step.latencies.append((now - sent) * 1000)
            self.note_slow(sent, "delivery", now)

    async def read_seeker(self, pair: Pair) -> None:
        try:
            async for raw in pair.seeker:
                now = time.monotonic()
                received = json.loads(raw)
                kind = received["type"]
                if kind == "ack":
                    pair.acked.add(received["seq"])
                    self.acked += 1
                    sent = pair.pending.pop(received["client_id"], None)
                    if sent is not None:
                        self.pending -= 1
                        self.step.acks.append((now - sent) * 1000)
                        self.note_slow(sent, "ack", now)
                elif kind == "message":
                    sent = sent_at(received["client_id"])
                    if sent >= self.step.start:
                        self.step.echoes.append((now - sent) * 1000)
                elif kind == "error":
                    self.refused[f"seeker {received['code']}"] += 1
                    if pair.pending.pop(received.get("ref", ""), None) is not None:
                        self.pending -= 1
                elif kind in TROUBLE:
                    self.unexpected[kind] += 1
        except ConnectionClosed:
            pass
        pair.open = False
        self.closed[f"seeker {pair.seeker.close_code}"] += 1
        # Whatever it sent and was not answered never will be on this socket (a real client
        # would send it again after reconnecting; this one does not reconnect).
        self.unanswered += len(pair.pending)
        self.pending -= len(pair.pending)
        pair.pending.clear()

    def note_slow(self, sent: float, what: str, now: float) -> None:
        if (now - sent) * 1000 > SLOW_MS and sent >= self.step.start:
            self.step.slow.append((sent - self.step.start, what, (now - sent) * 1000))

    async def probe_loop_lag(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(LAG_TICK)
            self.step.loop_lags.append((time.monotonic() - before - LAG_TICK) * 1000)

    # -------------------------------------------------------------- sending

    async def run(self, rate: float, start: float, seconds: float) -> dict[str, Any]:
        """Send `rate` messages a second from `start` for `seconds`, wait for them, report."""
        lost_before, unanswered_before = self.missing(), self.unanswered
        sent_before, delivered_before, dup_before = self.sent, self.delivered, self.dup
        refused_before = sum(self.refused.values())
        self.step = Step(start=start)
        await self.send_at_rate(rate, start, seconds)
        await self.drain()
        step = self.step
        return {
            "sent": self.sent - sent_before,
            "delivered": self.delivered - delivered_before,
            "dup": self.dup - dup_before,
            "lost": self.missing() - lost_before,
            "refused": sum(self.refused.values()) - refused_before,
            "unacked": self.unanswered - unanswered_before + self.pending,
            "open": sum(p.open for p in self.pairs),
            "latencies": [round(x, 3) for x in step.latencies],
            "acks": [round(x, 3) for x in step.acks],
            "echoes": [round(x, 3) for x in step.echoes],
            "send_lags": [round(x, 3) for x in step.send_lags],
            "loop_lags": [round(x, 3) for x in step.loop_lags],
            "slow": step.slow,
            "problems": self.problems(),
        }

    async def send_at_rate(self, rate: float, start: float, seconds: float) -> None:
        """Message k is due at start + k / rate, from seeker k mod n: every seeker sends once
        every n / rate seconds. Whatever is due is sent at once; a send is stamped with its
        actual instant, so lateness here shows as send lag, never as latency."""
        total = round(rate * seconds)
        count = len(self.pairs)
        step = self.step
        k = 0
        while k < total:
            now = time.monotonic()
            due = start + k / rate
            if due > now:
                await asyncio.sleep(due - now)
                continue
            while k < total and start + k / rate <= now:
                pair = self.pairs[k % count]
                if pair.open:
                    self.sequence += 1
                    sent = time.monotonic()
                    client_id = f"m{self.sequence}t{round(sent * 1e6)}"
                    step.send_lags.append((sent - (start + k / rate)) * 1000)
                    text = frame("message", client_id=client_id, text=FILLER)
                    pair.pending[client_id] = sent
                    self.pending += 1
                    self.sent += 1
                    try:
                        await pair.seeker.send(text)
                    except ConnectionClosed:
                        pair.open = False
                k += 1

    async def drain(self) -> None:
        """Wait until every send is acknowledged or refused and every ack delivered, for as
        long as acks or deliveries keep coming."""
        begin = heard = time.monotonic()
        progress = (self.pending, self.delivered)
        while self.pending or self.delivered < self.acked:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            if (self.pending, self.delivered) != progress:
                progress, heard = (self.pending, self.delivered), now
            elif now - heard > DRAIN_SECONDS or now - begin > DRAIN_LIMIT:
                return

    def missing(self) -> int:
        """Acknowledged messages that have not reached their counsellor."""
        return sum(len(p.acked - self.received.get(p.chat_id, set())) for p in self.pairs)

    def problems(self) -> dict[str, int]:
        """Everything that is not exactly every sequence number once, counted by kind."""
        problems: Counter[str] = Counter()
        problems.update(self.refused)
        problems.update(self.closed)
        problems.update({f"unexpected {k}": n for k, n in self.unexpected.items()})
        for pair in self.pairs:
            received = self.received.get(pair.chat_id, set())
            if pair.acked != set(range(1, len(pair.acked) + 1)):
                problems["chats with gaps in their acks"] += 1
            if received - pair.acked:
                problems["delivered, ack never received (socket closed)"] += len(
                    received - pair.acked
                )
        stray = set(self.received) - set(self.by_chat)
        if stray:
            problems["deliveries for chats of no pair"] += len(stray)
        return dict(problems)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for pair in self.pairs:
            if pair.seeker.transport is not None:
                pair.seeker.transport.abort()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def generator_main() -> None:
    """A generator process: the spec on the first line of stdin, then one command a line;
    each answered with one JSON line on stdout."""
    generator = Generator(json.loads(await asyncio.to_thread(sys.stdin.readline)))
    print(json.dumps(await generator.set_up()), flush=True)
    freeze_set_up()
    while line := await asyncio.to_thread(sys.stdin.readline):
        command = json.loads(line)
        if command["cmd"] != "run":
            break
        report = await generator.run(command["rate"], command["start"], command["seconds"])
        print(json.dumps(report), flush=True)
    await generator.close()


# --------------------------------------------------------------------------- coordinator side


SERVERS = ("a", "b")


class CpuMeter:
    """CPU seconds of each part over a window, as a share of one core."""

    def __init__(
        self, parts: dict[str, list[int]], pg: asyncpg.Connection, db: str, probe_pid: int
    ) -> None:
        self.parts = parts
        self.pg = pg
        self.db = db
        self.probe_pid = probe_pid  # the stall probe's backend: not the service's load
        self.before: dict[str, dict[int, float]] = {}
        self.begin = 0.0
        self.machine = 0.0
        self.waited: dict[str, float] = {}

    async def pids(self) -> dict[str, list[int]]:
        backends = await self.pg.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid() AND pid <> $2",
            self.db,
            self.probe_pid,
        )
        return {**self.parts, "pg": [row["pid"] for row in backends]}

    async def start(self) -> None:
        self.before = {
            part: {pid: cpu_seconds(pid) for pid in pids}
            for part, pids in (await self.pids()).items()
        }
        self.waited = {part: waiting_seconds(self.parts[part][0]) for part in SERVERS}
        self.begin, self.machine = time.monotonic(), machine_busy_seconds()

    async def stop(self) -> dict[str, float]:
        elapsed = time.monotonic() - self.begin
        shares = {"machine": (machine_busy_seconds() - self.machine) / elapsed * 100}
        for part, pids in (await self.pids()).items():
            before = self.before.get(part, {})
            # A backend started during the window counts from zero (its fork costs little).
            used = sum(cpu_seconds(pid) - before.get(pid, 0.0) for pid in pids)
            shares[part] = used / elapsed * 100
        for part in SERVERS:
            waited = waiting_seconds(self.parts[part][0]) - self.waited[part]
            shares[f"{part} waiting"] = waited / elapsed * 100
        return shares


@dataclass
class Outcome:
    """One step over both generators."""

    rate: float
    seconds: float
    reports: list[dict[str, Any]]
    cpu: dict[str, float]
    shared: dict[str, list[float]]  # the stall probe's samples over the sending window, ms
    slowest_commit: Callable[[float, float], float]  # over a window relative to the start

    def total(self, key: str) -> int:
        return sum(int(report[key]) for report in self.reports)

    def samples(self, key: str) -> list[float]:
        return [x for report in self.reports for x in report[key]]

    @property
    def achieved(self) -> float:
        return self.total("sent") / self.seconds

    @property
    def p50(self) -> float:
        return percentile(self.samples("latencies"), 0.5)

    @property
    def p99(self) -> float:
        return percentile(self.samples("latencies"), 0.99)

    @property
    def lost(self) -> int:
        return self.total("lost") + self.total("unacked")

    @property
    def held(self) -> bool:
        return (
            self.p99 <= RAMP_P99_MS
            and self.lost == 0
            and self.total("dup") == 0
            and self.total("refused") == 0
            and self.achieved >= 0.97 * self.rate
        )

    def describe(self) -> list[str]:
        def spread(key: str) -> str:
            return spread_of(self.samples(key))

        cpu = self.cpu
        return [
            f"  sent {self.total('sent')} ({self.achieved:.0f}/s), delivered "
            f"{self.total('delivered')}, lost {self.lost} (acknowledged, never delivered "
            f"{self.total('lost')}; never acknowledged {self.total('unacked')}), dup "
            f"{self.total('dup')}, refused {self.total('refused')}, seekers open "
            f"{self.total('open')} of {PAIRS}",
            f"  latency seeker send -> counsellor message: {spread('latencies')}",
            f"  ack (stored, back to the seeker): {spread('acks')}",
            f"  echo (the seeker's own copy, same instance): {spread('echoes')}",
            f"  server CPU per message (A + B): "
            f"{(cpu['a'] + cpu['b']) / 100 * self.seconds / max(1, self.total('sent')) * 1000:.2f}"
            f" ms",
            f"  generator: send lag {spread('send_lags')}; loop lag "
            f"p99 {percentile(self.samples('loop_lags'), 0.99):.1f} ms",
            f"  slow (over {SLOW_MS:.0f} ms), by when sent: {self.bursts()}",
            f"  shared, probed every {SharedStallProbe.PROBE_SECONDS * 1000:.0f} ms on its own "
            f"connections: PostgreSQL commit {spread_of(self.shared['commits'])}; Redis ping "
            f"{spread_of(self.shared['pings'])}",
            f"  cpu (100 % = one core): A {cpu['a']:.0f} % (waiting for a core "
            f"{cpu['a waiting']:.0f} %), B {cpu['b']:.0f} % (waiting {cpu['b waiting']:.0f} %), "
            f"PostgreSQL {cpu['pg']:.0f} %, Redis {cpu['redis']:.0f} %, generators "
            f"{cpu['generators']:.0f} %; machine {cpu['machine']:.0f} % of "
            f"{(os.cpu_count() or 1) * 100} %",
        ]

    def bursts(self) -> str:
        """The slow deliveries and acks, grouped into bursts by send instant (the largest five),
        each told by side (seekers on A, generator 0, or on B) and with the slowest probe commit
        to PostgreSQL while it lasted."""
        slow = sorted(
            (at, side, what, ms)
            for side, report in zip("AB", self.reports, strict=False)
            for at, what, ms in report["slow"]
        )
        groups: list[list[tuple[float, str, str, float]]] = []
        for item in slow:
            if groups and item[0] - groups[-1][-1][0] <= BURST_GAP_SECONDS:
                groups[-1].append(item)
            else:
                groups.append([item])
        if not groups:
            return "none"
        told = []
        for group in sorted(groups, key=len, reverse=True)[:5]:
            counts = Counter(f"{PLURAL[what]} from {side}" for _, side, what, _ in group)
            told.append(
                f"+{group[0][0]:.2f}..{group[-1][0]:.2f} s: "
                + ", ".join(f"{n} {key}" for key, n in sorted(counts.items()))
                + f", max {max(ms for *_, ms in group):.0f} ms; probe commit "
                f"{self.slowest_commit(group[0][0], group[-1][0] + group[-1][3] / 1000):.0f} ms"
            )
        return f"{len(slow)} in {len(groups)} bursts; " + "; ".join(told)

    def line(self) -> str:
        cpu = self.cpu
        commits = self.shared["commits"]
        return (
            f"  {self.rate:5.0f} msgs/s: sent {self.achieved:.0f}/s, p50 {self.p50:.1f} ms, "
            f"p99 {self.p99:.1f} ms, lost {self.lost}, dup {self.total('dup')}, refused "
            f"{self.total('refused')}; cpu A {cpu['a']:.0f} % B {cpu['b']:.0f} % (waiting "
            f"{cpu['a waiting']:.0f} % {cpu['b waiting']:.0f} %) PostgreSQL {cpu['pg']:.0f} % "
            f"Redis {cpu['redis']:.0f} % generators {cpu['generators']:.0f} % machine "
            f"{cpu['machine']:.0f} %; probe commit p99 {percentile(commits, 0.99):.1f} max "
            f"{max(commits, default=float('nan')):.0f} ms -> {'held' if self.held else 'not held'}"
        )


def spread_of(samples: list[float]) -> str:
    return (
        f"p50 {percentile(samples, 0.5):.1f} p90 {percentile(samples, 0.9):.1f} "
        f"p99 {percentile(samples, 0.99):.1f} max {max(samples, default=float('nan')):.1f} ms"
    )


async def start_generators(specs: list[dict[str, Any]]) -> list[asyncio.subprocess.Process]:
    """One generator process per spec; each sets up at once and answers when ready."""
    processes = []
    for spec in specs:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--generator",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=PIPE_LIMIT,
        )
        assert process.stdin is not None
        process.stdin.write((json.dumps(spec) + "\n").encode())
        processes.append(process)
    return processes


class Generators:
    """The generator processes, driven in lockstep, and the CPU meter read around each step."""

    def __init__(
        self,
        processes: list[asyncio.subprocess.Process],
        meter: CpuMeter,
        probe: SharedStallProbe,
    ) -> None:
        self.processes = processes
        self.meter = meter
        self.probe = probe

    async def replies(self) -> list[dict[str, Any]]:
        async def one(process: asyncio.subprocess.Process) -> dict[str, Any]:
            assert process.stdout is not None
            line = await process.stdout.readline()
            if not line:
                raise RuntimeError(f"generator {process.pid} exited ({await process.wait()})")
            reply: dict[str, Any] = json.loads(line)
            return reply

        return list(await asyncio.gather(*(one(p) for p in self.processes)))

    async def run(self, rate: float, seconds: float) -> Outcome:
        """Both generators send from the same instant, each half the rate."""
        start = time.monotonic() + 0.5
        command = {"cmd": "run", "rate": rate / len(self.processes), "start": start}
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write((json.dumps({**command, "seconds": seconds}) + "\n").encode())
        await asyncio.sleep(start - time.monotonic())
        await self.meter.start()
        await asyncio.sleep(start + seconds - time.monotonic())
        cpu = await self.meter.stop()
        probe = self.probe

        def slowest_commit(begin: float, end: float) -> float:
            return probe.slowest_commit(start + begin, start + end)

        shared = probe.window(start, start + seconds)
        return Outcome(rate, seconds, await self.replies(), cpu, shared, slowest_commit)

    async def stop(self) -> None:
        for process in self.processes:
            if process.stdin is not None and not process.stdin.is_closing():
                process.stdin.write(b'{"cmd": "stop"}\n')
                process.stdin.close()
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def ramp(generators: Generators) -> list[Outcome]:
    """Step the rate up until a step is not held (or a seeker's socket closed)."""
    steps: list[Outcome] = []
    ceiling = 0.9 * SEEKER_FRAMES_PER_SECOND * PAIRS
    for rate in (r for r in RAMP_RATES if r <= ceiling):
        outcome = await generators.run(rate, RAMP_SECONDS)
        print(f"ramp {outcome.line().strip()}", file=sys.stderr, flush=True)
        steps.append(outcome)
        if not outcome.held or outcome.total("open") < PAIRS:
            break
        await asyncio.sleep(1)
    return steps


@dataclass
class Results:
    setup: list[dict[str, Any]]
    main: Outcome
    steps: list[Outcome]

    def print(self) -> None:
        consoles = sum(s["consoles"] for s in self.setup)
        print(f"{PAIRS} pairs: seekers on A with counsellors on B (county {COUNTIES[0]}), and on "
              f"B with counsellors on A (county {COUNTIES[1]}); {consoles} counsellors of "
              f"capacity {CAPACITY}, auto-accepting; set up in "
              f"{max(s['seconds'] for s in self.setup):.0f} s")  # fmt: skip
        print(f"run: {RATE:.0f} msgs/s offered for {SECONDS:.0f} s, after a "
              f"{WARMUP_SECONDS:.0f} s warm-up")  # fmt: skip
        for text in self.main.describe():
            print(text)
        if self.steps:
            print(f"ramp: {RAMP_SECONDS:.0f} s a step; held = p99 at most {RAMP_P99_MS:.0f} ms, "
                  f"nothing lost, duplicated or refused, the rate reached")  # fmt: skip
            for step in self.steps:
                print(step.line())
            held = [s for s in self.steps if s.held]
            most = (
                f"{held[-1].rate:.0f} msgs/s (p50 {held[-1].p50:.1f} ms, p99 {held[-1].p99:.1f} ms)"
                if held
                else "none of the steps"
            )
            failed = self.steps[-1]
            beyond = (
                "every step held"
                if failed.held
                else f"{failed.rate:.0f} msgs/s not held (p99 {failed.p99:.1f} ms, "
                f"lost {failed.lost})"
            )
            print(f"ramp: most held {most}; {beyond}")
        problems: Counter[str] = Counter()
        for report in (self.steps or [self.main])[-1].reports:
            problems.update(report["problems"])
        print(f"problems over the whole run: {dict(problems) or 'none'}")
        main = self.main
        print(
            f"chat: pairs={PAIRS} msgs_per_s={main.achieved:.0f} p50_ms={main.p50:.2f} "
            f"p99_ms={main.p99:.2f} lost={main.lost} dup={main.total('dup')}"
        )


async def measure(
    a: ServerProcess, b: ServerProcess, database_url: str, client: redis.Redis
) -> Results:
    half = PAIRS // 2
    specs = [
        {
            "database_url": database_url,
            "county": county,
            "pairs": pairs,
            "seeker_url": seeker.url,
            "console_url": console.url,
        }
        for county, pairs, seeker, console in (
            (COUNTIES[0], PAIRS - half, a, b),
            (COUNTIES[1], half, b, a),
        )
    ]
    processes = await start_generators(specs)
    pg = await asyncpg.connect(database_url)
    probe = SharedStallProbe(await asyncpg.connect(database_url), client)
    parts = {
        "a": [a.pid],
        "b": [b.pid],
        "redis": [int((await client.info("server"))["process_id"])],
        "generators": [process.pid for process in processes],
    }
    database = database_url.rsplit("/", 1)[1]
    meter = CpuMeter(parts, pg, database, probe.pg.get_server_pid())
    generators = Generators(processes, meter, probe)
    try:
        setup = await generators.replies()
        await probe.start()
        ready = sum(s["ready"] for s in setup)
        if ready < PAIRS:
            raise SystemExit(f"only {ready} of {PAIRS} chats were answered within the setup time")
        if WARMUP_SECONDS > 0:
            warmup = await generators.run(RATE, WARMUP_SECONDS)
            print(f"warm-up {warmup.line().strip()}", file=sys.stderr, flush=True)
            await asyncio.sleep(1)
        main = await generators.run(RATE, SECONDS)
        print(f"main {main.line().strip()}", file=sys.stderr, flush=True)
        steps = [] if SKIP_RAMP else await ramp(generators)
        return Results(setup, main, steps)
    finally:
        await generators.stop()
        await probe.stop()
        await probe.pg.close()
        await pg.close()


async def prepare_database(url: str) -> None:
    await migrate(url)
    conn = await asyncpg.connect(url)
    try:
        # Always open, so no chat overflows for closing time during the run.
        await conn.execute("DELETE FROM opening_hours")
    finally:
        await conn.close()


async def main() -> None:
    # Each server and each generator holds a socket per seeker and per console in its half.
    limit = raise_file_limit(2 * PAIRS + 500)
    print(f"open-files limit {limit}", file=sys.stderr)
    run = secrets.token_hex(4)
    database_url = database_url_named(f"eguide_bench_{run}")
    prefix = f"eguide-bench-{run}:"
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    logs = Path(tempfile.mkdtemp(prefix="eguide-bench-"))
    env = service_environment(database_url, redis_url, prefix)
    try:
        await prepare_database(database_url)
        with ServerProcess(env, logs / "a.log") as a, ServerProcess(env, logs / "b.log") as b:
            print(f"servers: A pid {a.pid}, B pid {b.pid}, logs in {logs}", file=sys.stderr)
            results = await measure(a, b, database_url, client)
        results.print()
    finally:
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            await client.delete(key)
        await client.aclose()
        await drop_database(database_url)


if __name__ == "__main__":
    if sys.argv[1:] == ["--generator"]:
        import uvloop

        uvloop.run(generator_main())
    else:
        asyncio.run(main())
