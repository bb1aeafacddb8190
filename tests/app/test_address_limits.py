"""Limits per client address: starting chats and wrong resume tokens, over HTTP and the seeker
socket, against a real server, real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.address_limits import address_group
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess
from tests.support.sockets import receive, send, ws_url

STARTS = 3
BAD_TOKENS = 4


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::9", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("", "unknown"),
        (None, "unknown"),
        ("not an address", "unknown"),
    ],
)
def test_addresses_are_counted_by_host_or_ipv6_network(address: str | None, group: str) -> None:
    assert address_group(address) == group


@given(st.text(max_size=60) | st.ip_addresses().map(str))
def test_any_address_text_gives_a_group_without_failing(address: str) -> None:
    group = address_group(address)
    if group != "unknown":
        network = ipaddress.ip_network(group)
        assert network.prefixlen == (32 if network.version == 4 else 64)


@pytest.fixture(scope="module")
def instance(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:",
        EGUIDE_CHAT_STARTS_PER_ADDRESS=str(STARTS),
        EGUIDE_BAD_TOKENS_PER_ADDRESS=str(BAD_TOKENS),
    )
    with ServerProcess(env, tmp_path_factory.mktemp("limits") / "server.log") as server:
        yield server


async def test_an_address_starting_too_many_chats_is_told_to_wait_and_nothing_is_recorded(
    instance: ServerProcess, module_env: RunEnvironment
) -> None:
    conn = await asyncpg.connect(module_env.database_url)
    try:
        before = await conn.fetchval("SELECT count(*) FROM chat_sessions")
        async with httpx.AsyncClient(base_url=instance.url) as client:
            body = {"county": "55", "language": "nb", "consent": True}
            answers = [await client.post("/api/v1/chats", json=body) for _ in range(STARTS + 2)]
        assert [a.status_code for a in answers] == [201] * STARTS + [429, 429]
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 600
        assert await conn.fetchval("SELECT count(*) FROM chat_sessions") == before + STARTS
    finally:
        await conn.close()


async def test_wrong_tokens_from_one_address_are_stopped_on_the_socket_and_over_http(
    instance: ServerProcess,
) -> None:
    # The chat starts above used this address's starts; wrong tokens are counted apart.
    for _ in range(BAD_TOKENS):
        socket = await connect(
            ws_url(instance.url, "/ws/seeker"), additional_headers={"Origin": instance.url}
        )
        await send(socket, "auth", token=secrets.token_urlsafe(32), last_seq=0)
        assert (await receive(socket, "error"))["code"] == "bad_token"
        await socket.close()
    socket = await connect(
        ws_url(instance.url, "/ws/seeker"), additional_headers={"Origin": instance.url}
    )
    await send(socket, "auth", token=secrets.token_urlsafe(32), last_seq=0)
    refused = await receive(socket, "error")
    assert refused["code"] == "rate_limited"
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(5):
            while True:
                await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    async with httpx.AsyncClient(base_url=instance.url) as client:
        answer = await client.get(
            "/api/v1/chats/3ee58d13-effa-4aaa-96d7-eb59a565c759/transcript",
            headers={"Authorization": f"Bearer {secrets.token_urlsafe(32)}"},
        )
    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "rate_limited"
    assert int(answer.headers["retry-after"]) >= 1
