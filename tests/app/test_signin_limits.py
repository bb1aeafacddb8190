"""Sign-in limits: the growing wait, per account and per address, in Redis and over HTTP; a
missing account and a wrong password answered alike."""

from __future__ import annotations

import re
import secrets
import statistics
import time
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from app.keys import AppKeys
from app.signin_limits import (
    LONGEST_WAIT_SECONDS,
    SigninLimiter,
    SigninLimits,
    address_bucket,
    wait_after,
)
from app.users import create_user
from tests.support.aio import run_sync
from tests.support.environment import RunEnvironment
from tests.support.forms import csrf_token
from tests.support.server import ServerProcess

PASSWORD = "limits-test-password"


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, 0.0), (2, 0.0), (3, 1.0), (4, 2.0), (5, 4.0), (12, 512.0), (13, 900.0), (500, 900.0)],
)
def test_the_wait_starts_after_the_allowed_failures_and_doubles_up_to_the_longest(
    failures: int, expected: float
) -> None:
    assert wait_after(failures, allowed=3, first=1.0, longest=LONGEST_WAIT_SECONDS) == expected


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        (None, "unknown"),
        ("not-an-address", "not-an-address"),
    ],
)
def test_an_ipv6_client_counts_as_its_whole_64(address: str | None, bucket: str) -> None:
    assert address_bucket(address) == bucket


async def test_the_redis_script_keeps_the_rule_of_wait_after(
    redis_client: redis.Redis, test_env: RunEnvironment
) -> None:
    now = 1_700_000_000.0
    keys = AppKeys(f"{test_env.redis_prefix}{secrets.token_hex(3)}:")
    limits = SigninLimits(account_failures=3, address_failures=5, first_delay=2.0)
    limiter = SigninLimiter(redis_client, keys, limits, clock=lambda: now)
    for failures in range(1, 15):
        await limiter.failed("someone", "192.0.2.1")
        account = await redis_client.hgetall(keys.signin_account("someone"))
        address = await redis_client.hgetall(keys.signin_address("192.0.2.1"))
        assert int(account["failures"]) == int(address["failures"]) == failures
        for counter, allowed in ((account, 3), (address, 5)):
            wait = wait_after(failures, allowed, 2.0, LONGEST_WAIT_SECONDS)
            assert int(counter["until"]) == (int(now * 1000 + wait * 1000) if wait else 0)
        expected = max(wait_after(failures, n, 2.0, LONGEST_WAIT_SECONDS) for n in (3, 5))
        assert await limiter.wait("someone", "192.0.2.1") == expected
    # Forgotten a window after the last failure and wait, not kept for ever.
    ttl = await redis_client.ttl(keys.signin_account("someone"))
    assert 15 * 60 < ttl <= 30 * 60
    await limiter.forget_account("SomeOne ")
    assert not await redis_client.exists(keys.signin_account("someone"))
    assert await limiter.wait("someone", "192.0.2.2") == 0
    assert await limiter.wait("other", "192.0.2.1") > 0


# Two failures per account and four per address are allowed; the first wait is a second.
@pytest.fixture(scope="module")
def limited_server(
    test_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = test_env.variables(
        EGUIDE_REDIS_PREFIX=f"{test_env.redis_prefix}{secrets.token_hex(3)}:",
        EGUIDE_SIGNIN_ACCOUNT_FAILURES="2",
        EGUIDE_SIGNIN_ADDRESS_FAILURES="4",
        EGUIDE_SIGNIN_FIRST_DELAY_SECONDS="1",
    )
    with ServerProcess(env, tmp_path_factory.mktemp("limits") / "server.log") as process:
        yield process


async def _create_counsellor(database_url: str, username: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await create_user(
            conn, username=username, display_name="Limit Test", role="counsellor", password=PASSWORD
        )
    finally:
        await conn.close()


@pytest.fixture
def account(test_env: RunEnvironment) -> str:
    """A counsellor of this test's own; names are 10 characters, like `unknown_name()`."""
    username = f"lim{secrets.token_hex(3)}a"
    run_sync(_create_counsellor(test_env.database_url, username))
    return username


def unknown_name() -> str:
    return f"nob{secrets.token_hex(3)}z"


def new_address() -> str:
    """An address of this attempt's own: the test client connects from 127.0.0.1, which
    uvicorn trusts as a proxy (FORWARDED_ALLOW_IPS), so X-Forwarded-For names the client."""
    return f"198.51.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def attempt(
    server: ServerProcess, username: str, password: str, address: str
) -> tuple[httpx.Response, float]:
    """One sign-in from a fresh browser at `address`; the reply and how long it took."""
    headers = {"X-Forwarded-For": address, "Accept-Language": "en"}
    with httpx.Client(base_url=server.url, headers=headers) as client:
        token = csrf_token(client.get("/signin"))
        started = time.perf_counter()
        response = client.post(
            "/signin",
            data={"csrf_token": token, "username": username, "password": password},
        )
        return response, time.perf_counter() - started


_TOKEN = re.compile(r'name="csrf_token" value="[^"]+"')
# Headers that differ between any two replies, or carry the browser's own cookie.
_PER_REPLY = {"date", "x-request-id", "set-cookie"}


def comparable(response: httpx.Response, username: str) -> tuple[int, dict[str, str], str]:
    headers = {k: v for k, v in response.headers.items() if k not in _PER_REPLY}
    body = _TOKEN.sub('name="csrf_token" value="-"', response.text).replace(username, "NAME")
    return response.status_code, headers, body


def test_a_missing_account_and_a_wrong_password_get_the_same_reply_in_the_same_time(
    limited_server: ServerProcess, account: str
) -> None:
    missing = unknown_name()
    wrong, wrong_times, absent, absent_times = None, [], None, []
    for _ in range(2):  # two of each: within the account allowance, each from its own address
        wrong, took = attempt(limited_server, account, "not-the-password", new_address())
        wrong_times.append(took)
        absent, took = attempt(limited_server, missing, "not-the-password", new_address())
        absent_times.append(took)
    assert wrong is not None and absent is not None
    assert wrong.status_code == 401
    assert "Wrong username or password." in wrong.text
    assert comparable(wrong, account) == comparable(absent, missing)
    # Both verify an argon2 hash (a dummy one when there is no account): about the same time.
    # Without the dummy, a missing account would answer some 40 times sooner; the wide bounds
    # leave room for two cores shared with other test runs.
    ratio = statistics.median(absent_times) / statistics.median(wrong_times)
    assert 1 / 3 < ratio < 3, (wrong_times, absent_times)


def test_each_failure_past_the_allowance_doubles_the_wait_with_retry_after(
    limited_server: ServerProcess, account: str
) -> None:
    for _ in range(2):
        assert (
            attempt(limited_server, account, "wrong-password", new_address())[0].status_code == 401
        )
    waits = []
    for _ in range(3):
        refused, _took = attempt(limited_server, account, PASSWORD, new_address())
        assert refused.status_code == 429  # even the right password must wait
        assert "Too many failed sign-ins" in refused.text
        assert 'role="alert"' in refused.text
        wait = int(refused.headers["retry-after"])
        waits.append(wait)
        time.sleep(wait + 0.2)
        failed, _took = attempt(limited_server, account, "wrong-password", new_address())
        assert failed.status_code == 401
    assert waits == [1, 2, 4]


def test_a_limited_reply_is_the_same_for_a_missing_account(
    limited_server: ServerProcess, account: str
) -> None:
    missing = unknown_name()
    for username in (account, missing):
        for _ in range(2):
            attempt(limited_server, username, "wrong-password", new_address())
    existing_reply, _ = attempt(limited_server, account, "wrong-password", new_address())
    missing_reply, _ = attempt(limited_server, missing, "wrong-password", new_address())
    assert existing_reply.status_code == 429
    assert existing_reply.headers["retry-after"] == "1"
    assert comparable(existing_reply, account) == comparable(missing_reply, missing)


def test_one_address_is_limited_across_usernames(limited_server: ServerProcess) -> None:
    address = new_address()
    for _ in range(4):
        response, _ = attempt(limited_server, unknown_name(), "wrong-password", address)
        assert response.status_code == 401
    response, _ = attempt(limited_server, unknown_name(), "wrong-password", address)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    # Another address is not held back by it.
    assert (
        attempt(limited_server, unknown_name(), "x-password", new_address())[0].status_code == 401
    )


def test_one_account_is_limited_across_addresses(
    limited_server: ServerProcess, account: str
) -> None:
    for _ in range(2):
        assert (
            attempt(limited_server, account, "wrong-password", new_address())[0].status_code == 401
        )
    assert attempt(limited_server, account, PASSWORD, new_address())[0].status_code == 429


def test_a_successful_sign_in_forgets_the_accounts_failures(
    limited_server: ServerProcess, account: str
) -> None:
    assert attempt(limited_server, account, "wrong-password", new_address())[0].status_code == 401
    assert attempt(limited_server, account, PASSWORD, new_address())[0].status_code == 303
    # Counted afresh: two more failures are allowed before any wait.
    for _ in range(2):
        assert (
            attempt(limited_server, account, "wrong-password", new_address())[0].status_code == 401
        )
    assert attempt(limited_server, account, PASSWORD, new_address())[0].status_code == 429
