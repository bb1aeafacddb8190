"""Routing benchmark: two server instances against one Redis and PostgreSQL.

Counsellors hold console sockets on instance B; seekers start chats over HTTP on instance A.

  offer latency   from the chat's arrival at the router (a counsellor being free) to the offer
                  reaching instance B, which holds that counsellor's socket: the routing script,
                  the effects stream and B's feed (the offer frame carries both instants).
  end to end      from the moment a seeker's POST /api/v1/chats is sent to the offer frame
                  arriving on the counsellor's socket: the HTTP request, the PostgreSQL insert,
                  the routing, the stream and the socket hop, all included.
  decisions/s     routing decisions (atomic transitions: an arrival with its offer, an accept,
                  an end) the routing engine carries out per second when two router processes,
                  one per instance, drive the shared Redis state as hard as they can.
  end-to-end /s   the same counted through the whole service: seekers starting chats over HTTP
                  on both instances, counsellors on both accepting and ending them over their
                  sockets, every step recorded in PostgreSQL; on two cores that also runs the
                  load generator, the database and Redis, this is bound by CPU, not by routing.

Starts what it needs (its own database and Redis prefix, two `eguide serve` processes), prints
its figures, and ends with one line:
  routing: offer_p50_ms=… offer_p99_ms=… decisions_per_s=… instances=2
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as redis
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.database import drop_database
from app.migrator import migrate
from app.users import create_user
from bench.measure import percentile, service_environment
from queueing.keys import RoutingKeys
from tests.support.environment import database_url_named
from tests.support.server import ServerProcess

COUNSELLORS = 20
LATENCY_SAMPLES = int(os.environ.get("BENCH_SAMPLES", "400"))
THROUGHPUT_SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway account in a throwaway database


def frame(frame_type: str, **fields: Any) -> str:
    return json.dumps({"v": 1, "type": frame_type, **fields})


async def sign_in(url: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=url) as http:
        page = await http.get("/signin")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        response = await http.post(
            "/signin", data={"csrf_token": token, "username": username, "password": PASSWORD}
        )
        assert response.status_code == 303, response.status_code
        return f"eguide_session={http.cookies['eguide_session']}"


async def open_console(url: str, cookie: str) -> ClientConnection:
    socket = await connect(
        url.replace("http://", "ws://") + "/ws/counsellor",
        additional_headers={"Cookie": cookie, "Origin": url},
        max_queue=None,
    )
    await socket.recv()  # hello
    await socket.send(frame("status", status="available"))
    return socket


async def prepare_database(url: str) -> list[str]:
    await migrate(url)
    conn = await asyncpg.connect(url)
    try:
        names = []
        for n in range(COUNSELLORS):
            user = await create_user(
                conn,
                username=f"bench{n:03d}",
                display_name=f"Bench {n}",
                role="counsellor",
                password=PASSWORD,
                centres=["03"],
                national_team=True,
                languages=["nb"],
                capacity=10,
            )
            names.append(user.username)
        # Always open, so no chat overflows for closing time during the run.
        await conn.execute("DELETE FROM opening_hours")
        return names
    finally:
        await conn.close()


async def measure_latency(
    a: ServerProcess, b: ServerProcess, cookies: list[str]
) -> tuple[list[float], list[float]]:
    """One counsellor on B, free; chats arrive on A one at a time. Returns the offer times
    (arrival at the router to B) and the end-to-end times (POST sent to offer frame received)."""
    console = await open_console(b.url, cookies[0])
    samples: list[float] = []
    end_to_end: list[float] = []
    async with httpx.AsyncClient(base_url=a.url) as http:
        for _ in range(LATENCY_SAMPLES):
            started = time.perf_counter()
            response = await http.post(
                "/api/v1/chats", json={"county": "03", "language": "nb", "consent": True}
            )
            chat_id = response.json()["chat_id"]
            while True:
                received = json.loads(await console.recv())
                if received["type"] == "offer" and received["chat_id"] == chat_id:
                    end_to_end.append((time.perf_counter() - started) * 1000)
                    samples.append((received["relayed_at"] - received["routed_at"]) * 1000)
                    break
            # Accept and end it, so the counsellor is free again for the next sample.
            await console.send(frame("accept", chat_id=chat_id))
            await console.send(frame("end", chat_id=chat_id))
            while True:
                received = json.loads(await console.recv())
                if received["type"] == "chat_ended" and received["chat_id"] == chat_id:
                    break
    await console.send(frame("status", status="offline"))
    await console.close()
    return samples, end_to_end


async def counsellor_loop(console: ClientConnection, stop: asyncio.Event) -> None:
    """Accept every offer and end every chat at once."""
    while not stop.is_set():
        try:
            received = json.loads(await asyncio.wait_for(console.recv(), 0.5))
        except TimeoutError:
            continue
        if received["type"] == "offer":
            await console.send(frame("accept", chat_id=received["chat_id"]))
        elif received["type"] == "chat_assigned":
            await console.send(frame("end", chat_id=received["chat_id"]))


async def seeker_loop(url: str, stop: asyncio.Event) -> int:
    started = 0
    async with httpx.AsyncClient(base_url=url) as http:
        while not stop.is_set():
            response = await http.post(
                "/api/v1/chats", json={"county": "03", "language": "nb", "consent": True}
            )
            assert response.status_code == 201
            started += 1
    return started


async def measure_throughput(
    a: ServerProcess, b: ServerProcess, cookies: list[str], client: redis.Redis, stream: str
) -> tuple[float, int]:
    consoles = [
        await open_console(a.url if n % 2 else b.url, cookie) for n, cookie in enumerate(cookies)
    ]
    stop = asyncio.Event()
    before = await client.xlen(stream)
    begin = time.perf_counter()
    counsellors = [asyncio.create_task(counsellor_loop(c, stop)) for c in consoles]
    seekers = [asyncio.create_task(seeker_loop(url, stop)) for url in (a.url, b.url) * 4]
    await asyncio.sleep(THROUGHPUT_SECONDS)
    stop.set()
    arrivals = sum(await asyncio.gather(*seekers))
    elapsed = time.perf_counter() - begin
    after = await client.xlen(stream)
    await asyncio.gather(*counsellors)
    for console in consoles:
        await console.close()
    # Every script call that changed anything appended exactly one stream entry.
    return (after - before) / elapsed, arrivals


ENGINE_TASKS = 16  # concurrent chats each router process keeps in flight


async def engine_worker(prefix: str, seconds: float, worker: int) -> None:
    """One router process: chats arrive, are offered, accepted and ended, as fast as it goes.
    Prints the number of transitions it carried out."""
    from queueing.effects import OfferMade
    from queueing.events import AcceptOffer, ChatArrived, EndChat, RegisterCounsellor, SetStatus
    from queueing.model import CentreConfig, Config, PolicyError
    from queueing.redis_queue import RedisQueue
    from queueing.router import Router

    client = redis.Redis.from_url(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), decode_responses=True
    )
    config = Config(centres={"03": CentreConfig()})
    router = Router(RedisQueue(client, prefix, config), config)
    done = 0
    stop = time.perf_counter() + seconds

    async def cycle(task: int) -> None:
        nonlocal done
        me = f"w{worker}-c{task}"
        await router.submit(RegisterCounsellor(me, "03", False, frozenset({"nb"}), capacity=1))
        await router.submit(SetStatus(me, "available"))
        done += 2
        n = 0
        while time.perf_counter() < stop:
            chat = f"w{worker}-t{task}-{n}"
            n += 1
            effects = await router.submit(ChatArrived(chat, "03", "nb"))
            done += 1
            offers = [e for e in effects if isinstance(e, OfferMade)]
            while offers:  # whoever got an offer accepts and ends it, which may offer another
                offer = offers.pop()
                try:
                    effects = await router.submit(AcceptOffer(offer.chat_id, offer.counsellor_id))
                    effects += await router.submit(EndChat(offer.chat_id, offer.counsellor_id))
                except PolicyError:  # refused (it timed out meanwhile): still a decision made
                    effects = []
                offers += [e for e in effects if isinstance(e, OfferMade)]
                done += 2

    await asyncio.gather(*(cycle(task) for task in range(ENGINE_TASKS)))
    await client.aclose()
    print(done, flush=True)


async def measure_engine(prefix: str) -> float:
    """Two router processes against one Redis; routing decisions per second in all."""
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--engine-worker",
            prefix,
            str(THROUGHPUT_SECONDS),
            str(n),
            stdout=asyncio.subprocess.PIPE,
        )
        for n in range(2)
    ]
    begin = time.perf_counter()
    outputs = [await worker.communicate() for worker in workers]
    elapsed = time.perf_counter() - begin
    return sum(int(out.decode().split()[-1]) for out, _ in outputs) / elapsed


async def main() -> None:
    run = secrets.token_hex(4)
    database_url = database_url_named(f"eguide_bench_{run}")
    prefix = f"eguide-bench-{run}:"
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    logs = Path(tempfile.mkdtemp(prefix="eguide-bench-"))
    env = {
        **service_environment(database_url, redis_url, prefix),
        "EGUIDE_DB_POOL_MAX": "20",
        # Benchmark consoles accept and end chats far faster than any person could.
        "EGUIDE_COUNSELLOR_FRAME_RATE": "100000",
    }
    try:
        names = await prepare_database(database_url)
        with ServerProcess(env, logs / "a.log") as a, ServerProcess(env, logs / "b.log") as b:
            cookies = [await sign_in(b.url, name) for name in names]
            print(f"{len(cookies)} counsellors signed in", file=sys.stderr)
            latency, end_to_end = await measure_latency(a, b, cookies)
            print(f"latency measured over {len(latency)} chats", file=sys.stderr)
            stream = RoutingKeys(prefix).effects_stream()
            through_service, arrivals = await measure_throughput(a, b, cookies, client, stream)
        decisions = await measure_engine(prefix + "engine:")
        p50, p99 = statistics.median(latency), percentile(latency, 0.99)
        print(f"offer latency over {len(latency)} chats: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
              f"max {max(latency):.2f} ms")  # fmt: skip
        print(f"end to end (POST sent to offer frame received): "
              f"p50 {statistics.median(end_to_end):.2f} ms, "
              f"p99 {percentile(end_to_end, 0.99):.2f} ms")  # fmt: skip
        print(f"throughput over {THROUGHPUT_SECONDS:.0f} s with {len(names)} counsellors on 2 "
              f"instances: {arrivals} chats started, "
              f"{through_service:.0f} routing decisions/s end to end")  # fmt: skip
        print(f"routing engine, two router processes against one Redis: "
              f"{decisions:.0f} decisions/s")  # fmt: skip
        print(
            f"routing: offer_p50_ms={p50:.2f} offer_p99_ms={p99:.2f} "
            f"decisions_per_s={decisions:.0f} instances=2"
        )
    finally:
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            await client.delete(key)
        await client.aclose()
        await drop_database(database_url)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--engine-worker":
        asyncio.run(engine_worker(sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
    else:
        asyncio.run(main())
