"""Connections benchmark: the memory one instance spends on each idle seeker socket.

One `eguide serve` process (one worker) with its own database and Redis prefix. Seekers start
chats as the widget does (POST /api/v1/chats, then /ws/seeker with the token in an `auth` frame,
until `welcome`), BENCH_CONCURRENCY at a time, spread over the counties, until BENCH_CONNECTIONS
sockets are open; then they stay connected and send nothing. No counsellor is registered, so
every chat waits in the national queue and the server keeps each seeker's place in line up to
date: that many seekers waiting at once on one instance.

  memory        the server process's resident set (VmRSS, /proc/PID/status) after a warm-up of
                BENCH_WARMUP seekers, and again once all are open and idle (below); the growth
                divided by the seekers added in between is the memory per connection. It counts
                everything a waiting seeker costs the server (the chat request, the socket with
                its reader and writer, the place in line), and Python's allocator keeps what it
                once used, so it is an upper bound.
  open time     from the first seeker after the warm-up starting its chat to the last welcome.
  CPU           user + system time of the server process (/proc/PID/stat) and of the whole
                Redis server (INFO cpu) while the seekers opened, and while they sat idle for
                BENCH_IDLE_SECONDS from QUIET_SECONDS after the last welcome on: an idle seeker
                should cost nothing, and keeping thousands of places up to date little.
  places        every seeker's last `queue` frame. With nobody answered the places must be
                exactly 1..N; the time from the last welcome until they were is how late the
                server keeps places with this many seekers waiting.

The client holds as many sockets as the server: the benchmark raises its open-files limit to
the hard limit before starting the server, which inherits it. Target: under 64 KiB per
connection. Starts what it needs, prints its figures, and ends with one line:
  connections: open=… kib_per_connection=…
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis.asyncio as redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.database import drop_database
from app.migrator import migrate
from bench.measure import cpu_seconds, raise_file_limit, service_environment
from tests.support.environment import database_url_named
from tests.support.server import ServerProcess

CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "5000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "50"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "100"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "5"))
# Idle means from this long after the last welcome on: past the seeker socket's first-frame
# timeout (chat.seeker_socket.AUTH_TIMEOUT, 10 s), so the last seekers' timers have ended too.
QUIET_SECONDS = 12.0
# Places are sent at most twice a second; a minute covers a server far behind.
PLACES_TIMEOUT = 60.0
# Every county (migrations/0002_counties.sql); with no counsellor registered, all go national.
COUNTIES = (
    *("03", "11", "15", "18", "31", "32", "33", "34"),
    *("39", "40", "42", "46", "50", "55", "56"),
)
# Sockets besides the seekers': the database and Redis pools, the log, the listener.
SPARE_FILES = 200


@dataclass
class Seekers:
    """The client side: open sockets, each seeker's last place heard, and what went wrong."""

    sockets: list[ClientConnection] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    places: dict[str, int] = field(default_factory=dict)
    queue_frames: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    last_welcome: float = 0.0

    def open_count(self) -> int:
        return sum(socket.state is State.OPEN for socket in self.sockets)

    def places_complete(self, total: int) -> bool:
        return sorted(self.places.values()) == list(range(1, total + 1))


def rss_kib(pid: int) -> int:
    """The process's resident set size in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


async def listen(socket: ClientConnection, chat_id: str, seekers: Seekers) -> None:
    """Keep the seeker's last place; an idle seeker hears nothing else."""
    try:
        async for message in socket:
            frame = json.loads(message)
            if frame["type"] == "queue":
                seekers.places[chat_id] = frame["position"]
                seekers.queue_frames += 1
    except ConnectionClosed:
        pass


async def open_seeker(
    http: httpx.AsyncClient, server: ServerProcess, county: str, seekers: Seekers
) -> None:
    """Start a chat and open its socket as the widget does; keep it open and listened to."""
    try:
        response = await http.post(
            "/api/v1/chats", json={"county": county, "language": "nb", "consent": True}
        )
        response.raise_for_status()
        chat = response.json()
        socket = await connect(
            server.url.replace("http://", "ws://") + "/ws/seeker",
            additional_headers={"Origin": server.url},
            compression=None,
            # The server pings; a client busy opening thousands of sockets need not.
            ping_interval=None,
            open_timeout=60,
            max_queue=None,
        )
        await socket.send(
            json.dumps({"v": 1, "type": "auth", "token": chat["token"], "last_seq": 0})
        )
        async with asyncio.timeout(60):
            while json.loads(await socket.recv())["type"] != "welcome":
                pass
    except (OSError, TimeoutError, httpx.HTTPError, ConnectionClosed) as error:
        name = type(error).__name__
        seekers.failures[name] = seekers.failures.get(name, 0) + 1
        return
    seekers.last_welcome = time.perf_counter()
    seekers.sockets.append(socket)
    seekers.readers.append(asyncio.create_task(listen(socket, chat["chat_id"], seekers)))


async def open_seekers(server: ServerProcess, first: int, count: int, seekers: Seekers) -> None:
    """Open `count` seekers, CONCURRENCY at a time."""
    # Connections idle for a second are not reused: uvicorn closes them after 5 s, and a request
    # sent on one as it closes fails.
    limits = httpx.Limits(max_connections=CONCURRENCY, keepalive_expiry=1.0)
    gate = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as http:

        async def one(n: int) -> None:
            async with gate:
                await open_seeker(http, server, COUNTIES[n % len(COUNTIES)], seekers)

        await asyncio.gather(*(one(n) for n in range(first, first + count)))


async def settle_places(seekers: Seekers) -> float | None:
    """Seconds after the last welcome until every seeker had their right place, or None."""
    deadline = time.perf_counter() + PLACES_TIMEOUT
    while not seekers.places_complete(len(seekers.sockets)):
        if time.perf_counter() > deadline:
            return None
        await asyncio.sleep(0.05)
    return time.perf_counter() - seekers.last_welcome


async def close_seekers(seekers: Seekers) -> None:
    for socket in seekers.sockets:
        if socket.transport is not None:
            socket.transport.abort()
    for reader in seekers.readers:
        reader.cancel()
    await asyncio.gather(*seekers.readers, return_exceptions=True)


async def redis_cpu_seconds(client: redis.Redis) -> float:
    """User + system CPU time the Redis server has used (all its clients, not only ours)."""
    cpu = await client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def measure(server: ServerProcess, client: redis.Redis) -> None:
    seekers = Seekers()
    warmup = min(WARMUP, CONNECTIONS)
    await open_seekers(server, 0, warmup, seekers)
    await asyncio.sleep(2)  # the warm-up's places sent, its first-frame timers still pending
    rss_before, cpu_before = rss_kib(server.pid), cpu_seconds(server.pid)
    redis_before = await redis_cpu_seconds(client)
    print(f"warm-up: {len(seekers.sockets)} seekers, server RSS {rss_before / 1024:.1f} MiB",
          file=sys.stderr)  # fmt: skip
    begin = time.perf_counter()
    await open_seekers(server, warmup, CONNECTIONS - warmup, seekers)
    open_seconds = seekers.last_welcome - begin
    cpu_opening = cpu_seconds(server.pid) - cpu_before
    redis_opening = await redis_cpu_seconds(client) - redis_before
    print(f"{len(seekers.sockets)} seekers open in {open_seconds:.1f} s", file=sys.stderr)
    settled = await settle_places(seekers)
    await asyncio.sleep(max(0.0, seekers.last_welcome + QUIET_SECONDS - time.perf_counter()))
    cpu_idle_from, redis_idle_from = cpu_seconds(server.pid), await redis_cpu_seconds(client)
    await asyncio.sleep(IDLE_SECONDS)
    cpu_idle = cpu_seconds(server.pid) - cpu_idle_from
    redis_idle = await redis_cpu_seconds(client) - redis_idle_from
    rss_after = rss_kib(server.pid)
    open_now = seekers.open_count()
    added = len(seekers.sockets) - warmup
    growth = rss_after - rss_before
    per_connection = growth / added if added > 0 else float("nan")
    await close_seekers(seekers)

    print(f"seekers: {open_now} of {CONNECTIONS} open at the end, "
          f"{CONCURRENCY} opening at a time; failures: {seekers.failures or 'none'}")  # fmt: skip
    print(f"open time: {added} seekers (chat request, socket, auth, welcome) in "
          f"{open_seconds:.1f} s, {added / open_seconds:.0f}/s; "
          f"server CPU {cpu_opening:.1f} s, Redis CPU {redis_opening:.1f} s")  # fmt: skip
    places = "never all right" if settled is None else f"all right {settled:.2f} s after"
    print(f"places: {len(seekers.places)} seekers heard theirs, {seekers.queue_frames} queue "
          f"frames; {places} the last welcome")  # fmt: skip
    print(f"idle: server CPU {cpu_idle:.2f} s, Redis CPU {redis_idle:.2f} s over "
          f"{IDLE_SECONDS:.0f} s from {QUIET_SECONDS:.0f} s after the last welcome")  # fmt: skip
    print(f"memory: server RSS {rss_before / 1024:.1f} MiB after {warmup} seekers, "
          f"{rss_after / 1024:.1f} MiB after {len(seekers.sockets)}: "
          f"{growth / 1024:.1f} MiB for {added} connections, "
          f"{per_connection:.1f} KiB each (target under 64)")  # fmt: skip
    print(f"connections: open={open_now} kib_per_connection={per_connection:.1f}")


async def main() -> None:
    limit = raise_file_limit(CONNECTIONS + SPARE_FILES)
    print(f"open-files limit {limit}", file=sys.stderr)
    run = secrets.token_hex(4)
    database_url = database_url_named(f"eguide_bench_{run}")
    prefix = f"eguide-bench-{run}:"
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    logs = Path(tempfile.mkdtemp(prefix="eguide-bench-"))
    env = {
        **service_environment(database_url, redis_url, prefix),
        "EGUIDE_DB_POOL_MAX": "20",
    }
    try:
        # A fresh database has no counsellors: every chat waits, in the national queue.
        await migrate(database_url)
        with ServerProcess(env, logs / "server.log") as server:
            await measure(server, client)
    finally:
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            await client.delete(key)
        await client.aclose()
        await drop_database(database_url)


if __name__ == "__main__":
    asyncio.run(main())
