"""Routing under concurrent load: two server instances and two load-generating processes.

Thousands of random arrivals, status changes, accepts, declines, leaves and dropped connections
go through real sockets; afterwards the full history of transitions (the effects stream) is
replayed to prove that no chat was ever offered to two counsellors at once, no counsellor ever
held more than their capacity, no chat was lost or left stuck, and the live counters equal a
recount.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import asyncpg
import redis.asyncio as redis

from app.users import create_user
from queueing.effect_codec import decode_effects
from queueing.effects import (
    ChatAbandoned,
    ChatAssigned,
    ChatEnded,
    ChatOverflowed,
    ChatRequeued,
    OfferMade,
    OfferWithdrawn,
    WithdrawReason,
)
from queueing.keys import RoutingKeys
from queueing.model import UNANSWERED, Config, State
from queueing.redis_queue import RedisQueue
from tests.support.aio import run_sync
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess

# Each load process does its half of the operations; the time is only a bound for a run that
# stops making progress.
OPERATIONS = 2200
LOAD_SECONDS = 120.0
PASSWORD = "load-password-123"
# centre, national team, capacity
STAFF = [("03", False, 1), ("03", False, 2), ("03", True, 3), ("46", False, 2),
         ("46", False, 1), (None, True, 2), (None, True, 3), (None, True, 1)]  # fmt: skip


async def _create_staff(database_url: str, run: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        capacities = {}
        for n, (centre, national, capacity) in enumerate(STAFF):
            user = await create_user(
                conn, username=f"load{n}-{run}", display_name=f"Load {n}", role="counsellor",
                password=PASSWORD, centres=[centre] if centre else [], national_team=national,
                languages=["nb", "en"], capacity=capacity,
            )  # fmt: skip
            capacities[user.username] = capacity
        return capacities
    finally:
        await conn.close()


async def _history(redis_url: str, prefix: str) -> list[object]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        entries = await client.xrange(RoutingKeys(prefix).effects_stream())
        return [effect for _id, fields in entries for effect in decode_effects(fields["effects"])]
    finally:
        await client.aclose()


async def _snapshot(redis_url: str, prefix: str, config: Config) -> State:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return await RedisQueue(client, prefix, config).snapshot()
    finally:
        await client.aclose()


def _unanswered(state: State) -> list[str]:
    return [c.id for c in state.chats.values() if c.status in UNANSWERED]


def test_two_instances_under_random_load_keep_every_routing_invariant(
    module_env: RunEnvironment, tmp_path: Path
) -> None:
    run = secrets.token_hex(3)
    prefix = f"{module_env.redis_prefix}load-{run}:"
    capacities = run_sync(_create_staff(module_env.database_url, run))
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=prefix,
        EGUIDE_SEEKER_GRACE_SECONDS="2",
        EGUIDE_COUNSELLOR_GRACE_SECONDS="2",
        EGUIDE_OFFER_TIMEOUT_SECONDS="5",
        EGUIDE_LOG_LEVEL="warning",
    )
    users = sorted(capacities)
    with ServerProcess(env, tmp_path / "a.log") as a, ServerProcess(env, tmp_path / "b.log") as b:
        loads = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.routing_load",
                    "--seed",
                    str(seed),
                    "--seconds",
                    str(LOAD_SECONDS),
                    "--operations",
                    str(OPERATIONS // 2),
                    "--url",
                    a.url,
                    "--url",
                    b.url,
                    *half,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for seed, half in ((1, users[::2]), (2, users[1::2]))
        ]
        try:
            counts: Counter[str] = Counter()
            for load in loads:
                assert load.stdout is not None
                line = load.stdout.readline()
                assert line, load.stderr.read() if load.stderr else ""
                counts.update(json.loads(line))
            operations = sum(counts.values())
            assert operations >= 2000, counts
            # Every counsellor is now available and accepting: the queue must drain.
            from app.routing_config import build_config
            from app.settings import load_settings

            config = build_config([], [], frozenset(), load_settings(env))
            deadline = time.monotonic() + 60
            state = run_sync(_snapshot(module_env.redis_url, prefix, config))
            while _unanswered(state) and time.monotonic() < deadline:
                time.sleep(0.5)
                state = run_sync(_snapshot(module_env.redis_url, prefix, config))
            assert _unanswered(state) == [], f"chats stuck in the queue: {_unanswered(state)}"
        finally:
            for load in loads:
                load.kill()
                load.wait()
    # The servers are stopped: nothing changes any more (a grace time running out would end a
    # chat between a snapshot and the history), so the state and its history are read together.
    state = run_sync(_snapshot(module_env.redis_url, prefix, config))
    history = run_sync(_history(module_env.redis_url, prefix))
    recorded = run_sync(_recorded_chats(module_env.database_url, prefix, state))
    tally = _check_history(history, capacities_by_router_id(module_env.database_url, capacities))
    counters = state.counters
    assert counters.offers_made == tally["offers_made"]
    assert counters.offers_accepted == tally["assigned"]
    assert counters.offers_declined == tally[f"withdrawn_{WithdrawReason.DECLINED}"]
    assert counters.offers_timed_out == tally[f"withdrawn_{WithdrawReason.TIMED_OUT}"]
    assert counters.answered == tally["answered"]
    assert counters.abandoned == tally["abandoned"]
    assert counters.ended == tally["ended"]
    assert counters.requeued == tally["requeued"]
    assert sum(counters.overflowed.values()) == tally["overflowed"]
    assert sum(counters.waiting.values()) == 0
    # No chat lost: every chat the record holds is known to the router, and vice versa.
    assert recorded == set(state.chats)
    assert counts["arrivals"] == len(state.chats)


async def _recorded_chats(database_url: str, prefix: str, state: State) -> set[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT id FROM chat_sessions WHERE id = any($1::uuid[])",
                                list(state.chats))  # fmt: skip
        return {str(row["id"]) for row in rows}
    finally:
        await conn.close()


def capacities_by_router_id(database_url: str, capacities: dict[str, int]) -> dict[str, int]:
    async def ids() -> dict[str, int]:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch(
                "SELECT id, username FROM users WHERE username = any($1)", list(capacities)
            )
            return {str(r["id"]): capacities[r["username"]] for r in rows}
        finally:
            await conn.close()

    return run_sync(ids())


def _check_history(history: list[object], capacity: dict[str, int]) -> Counter[str]:
    offered: dict[str, str] = {}
    active: dict[str, str] = {}
    load: Counter[str] = Counter()
    answered: set[str] = set()
    tally: Counter[str] = Counter()
    for effect in history:
        match effect:
            case OfferMade(chat_id=chat, counsellor_id=who):
                assert chat not in offered, (
                    f"{chat} offered to {who} while offered to {offered[chat]}"
                )
                assert chat not in active, f"{chat} offered while active"
                offered[chat] = who
                load[who] += 1
                assert load[who] <= capacity[who], f"{who} over capacity"
                tally["offers_made"] += 1
            case OfferWithdrawn(chat_id=chat, counsellor_id=who, reason=reason):
                assert offered.pop(chat) == who
                load[who] -= 1
                tally[f"withdrawn_{reason}"] += 1
            case ChatAssigned(chat_id=chat, counsellor_id=who):
                if offered.get(chat) == who:
                    offered.pop(chat)
                else:
                    load[who] += 1  # an auto-accepted offer comes without OfferMade
                assert load[who] <= capacity[who], f"{who} over capacity"
                active[chat] = who
                tally["assigned"] += 1
                answered.add(chat)
            case ChatEnded(chat_id=chat, counsellor_id=who):
                assert active.pop(chat) == who
                load[who] -= 1
                tally["ended"] += 1
            case ChatRequeued(chat_id=chat, from_counsellor=who):
                assert active.pop(chat) == who
                load[who] -= 1
                tally["requeued"] += 1
            case ChatAbandoned(chat_id=chat):
                assert chat not in active
                offered.pop(chat, None)
                tally["abandoned"] += 1
            case ChatOverflowed():
                tally["overflowed"] += 1
    assert not offered, "offers left open after the drain"
    assert tally["offers_made"] > 100 and tally["assigned"] > 100, tally
    assert tally[f"withdrawn_{WithdrawReason.DECLINED}"] > 0, tally
    tally["answered"] = len(answered)
    return tally
