"""The batching publisher against a real Redis: in order, batched under load, failures told."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from chat import publisher as publisher_module
from chat.publisher import Publisher
from tests.support.environment import RunEnvironment


@pytest.fixture
async def channel(test_env: RunEnvironment) -> str:
    return f"{test_env.redis_prefix}publisher:{secrets.token_hex(4)}"


@contextlib.asynccontextmanager
async def running(publisher: Publisher) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(publisher.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def heard(subscriber: Any, count: int) -> list[str]:
    got: list[str] = []
    async with asyncio.timeout(5):
        while len(got) < count:
            message = await subscriber.get_message(timeout=1)
            if message is not None and message["type"] == "message":
                got.append(message["data"])
    return got


async def test_everything_arrives_once_in_the_order_published_and_under_load_in_batches(
    redis_client: redis.Redis, channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    send = Publisher._send

    async def counted(self: Publisher, batch: list[publisher_module.Publication]) -> None:
        sizes.append(len(batch))
        await send(self, batch)

    monkeypatch.setattr(Publisher, "_send", counted)
    monkeypatch.setattr(publisher_module, "MAX_BATCH", 64)
    subscriber = redis_client.pubsub()
    await subscriber.subscribe(channel)
    publisher = Publisher(redis_client)
    async with running(publisher):
        await publisher.publish(channel, "first")  # alone: at once
        for n in range(300):
            if n % 3 == 0:
                publisher.publish_soon(channel, f"m{n}")
        await asyncio.gather(
            *(publisher.publish(channel, f"m{n}") for n in range(300) if n % 3 != 0)
        )
        got = await heard(subscriber, 301)
    await subscriber.aclose()
    assert got[0] == "first"
    # Tasks start in the order they were made; the signals were queued before any of them.
    assert sorted(got[1:], key=lambda m: int(m[1:])) == [f"m{n}" for n in range(300)]
    assert got[1:101] == [f"m{n}" for n in range(0, 300, 3)]
    assert got[101:] == [f"m{n}" for n in range(300) if n % 3 != 0]
    assert sizes[0] == 1
    # Whatever waited while a batch was out went in the next, up to the cap.
    assert sum(sizes) == 301 and max(sizes) == 64 and len(sizes) <= 7, sizes


async def test_a_failure_reaches_those_who_wait_and_the_publisher_carries_on(
    redis_client: redis.Redis, channel: str
) -> None:
    broken = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    publisher = Publisher(broken)
    async with running(publisher) as task:
        publisher.publish_soon(channel, "lost signal")  # no one waits: only logged
        with pytest.raises((ConnectionError, redis.ConnectionError)):
            await publisher.publish(channel, "refused")
        with pytest.raises((ConnectionError, redis.ConnectionError)):
            await publisher.publish(channel, "refused again")
        assert not task.done()
    await broken.aclose()


async def test_stopping_fails_what_still_waits(redis_client: redis.Redis, channel: str) -> None:
    publisher = Publisher(redis_client)
    waiting = asyncio.create_task(publisher.publish(channel, "never sent"))
    await asyncio.sleep(0)
    async with running(publisher) as task:
        await asyncio.sleep(0)  # the publisher has begun: it stops mid-way
        task.cancel()
    with pytest.raises(ConnectionError):
        await waiting


async def test_a_redis_that_never_answers_fails_the_batch_in_time_and_the_next_goes_on(
    redis_client: redis.Redis, channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A peer that takes the connection and never answers (a half-open connection): the
    batch fails after SEND_TIMEOUT_SECONDS instead of holding every later publication."""
    monkeypatch.setattr(publisher_module, "SEND_TIMEOUT_SECONDS", 0.3)

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            pass

    silent = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    stuck = redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
    publisher = Publisher(stuck)
    try:
        async with running(publisher) as task:
            began = asyncio.get_running_loop().time()
            with pytest.raises(TimeoutError):
                await publisher.publish(channel, "into the void")
            assert asyncio.get_running_loop().time() - began < 2
            with pytest.raises(TimeoutError):
                await publisher.publish(channel, "and again")
            assert not task.done()
    finally:
        await stuck.aclose()
        silent.close()
        await silent.wait_closed()


async def test_signals_beyond_the_backlog_are_dropped_and_messages_still_queue(
    redis_client: redis.Redis, channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publisher_module, "MAX_WAITING_SIGNALS", 3)
    publisher = Publisher(redis_client)  # not running: nothing leaves
    for n in range(5):
        publisher.publish_soon(channel, f"signal {n}")
    assert publisher.dropped == 2
    waiting = asyncio.create_task(publisher.publish(channel, "a message"))
    await asyncio.sleep(0)
    subscriber = redis_client.pubsub()
    await subscriber.subscribe(channel)
    async with running(publisher):
        await waiting
        got = await heard(subscriber, 4)
    await subscriber.aclose()
    assert got == ["signal 0", "signal 1", "signal 2", "a message"]
