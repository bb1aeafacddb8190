"""What every benchmark measures the same way: CPU time and waits from /proc, percentiles, the
open-files limit, the environment of the servers it starts, and stalls of what they share."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import resource
import time
from pathlib import Path

import asyncpg
import redis.asyncio as redis

from app.collector import NO_AUTOMATIC_FULL


def percentile(samples: list[float], share: float) -> float:
    """The sample at `share` (0..1) of the sorted samples; NaN when there are none."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used, with that of its child processes (a
    server's worker process), running or ended; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = sum(int(field) for field in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def waiting_seconds(pid: int) -> float:
    """Time the process's main thread spent runnable but waiting for a CPU (schedstat)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except OSError:
        return 0.0


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def freeze_set_up() -> None:
    """After a benchmark process has set up its thousands of sockets: freeze them out of the
    cycle collector's full walks (`app.collector`), which would otherwise stall this process
    for hundreds of milliseconds while it stamps receipts, and count as server latency; and
    turn the collector's own full walks off for the rest of the run, as the servers do (what
    is made after set-up, new sockets and parsed frames, is not frozen: a full walk of it
    stalled the dashboard benchmark for 100 ms)."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NO_AUTOMATIC_FULL)


def raise_file_limit(needed: int) -> int:
    """Raise this process's open-files limit to the hard limit (children inherit it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(f"the open-files hard limit is {hard}; {needed} are needed")
    return hard


def service_environment(database_url: str, redis_url: str, prefix: str) -> dict[str, str]:
    """The environment of the `eguide serve` processes a benchmark starts."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "EGUIDE_REDIS_PREFIX": prefix,
        "EGUIDE_LOG_LEVEL": "warning",
        # Every simulated seeker comes from 127.0.0.1.
        "EGUIDE_CHAT_STARTS_PER_ADDRESS": "100000",
    }


class SharedStallProbe:
    """What the servers share, timed on its own: every PROBE_SECONDS a one-row commit to
    PostgreSQL (its WAL flushed to disk, as every message's is) and a Redis PING, each on a
    connection of its own, taken in turn. A slow commit while the servers' acks are slow on both
    instances says the storage stalled, not the service. Samples are (monotonic instant, ms)."""

    PROBE_SECONDS = 0.02

    def __init__(self, pg: asyncpg.Connection, client: redis.Redis) -> None:
        self.pg = pg
        self.client = client
        self.commits: list[tuple[float, float]] = []
        self.pings: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pg.execute("CREATE TABLE IF NOT EXISTS bench_commit_probe (at float8 NOT NULL)")
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def window(self, begin: float, end: float) -> dict[str, list[float]]:
        """The samples taken from `begin` to `end`, in ms."""
        return {
            "commits": [ms for at, ms in self.commits if begin <= at <= end],
            "pings": [ms for at, ms in self.pings if begin <= at <= end],
        }

    def slowest_commit(self, begin: float, end: float) -> float:
        """The slowest commit that overlapped `begin`..`end` (0 when none did)."""
        return max(
            (ms for at, ms in self.commits if at <= end and at + ms / 1000 >= begin), default=0.0
        )

    async def _run(self) -> None:
        while True:
            began = time.monotonic()
            await self.pg.execute("INSERT INTO bench_commit_probe VALUES ($1)", began)
            self.commits.append((began, (time.monotonic() - began) * 1000))
            pinged = time.monotonic()
            await self.client.ping()
            self.pings.append((pinged, (time.monotonic() - pinged) * 1000))
            await asyncio.sleep(max(0.0, began + self.PROBE_SECONDS - time.monotonic()))
