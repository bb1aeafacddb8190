"""The `eguide` command line, run as a real process against this run's database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from app.seed import DEMO_PASSWORD
from tests.support.aio import run_sync
from tests.support.environment import RunEnvironment
from tests.support.forms import sign_in
from tests.support.server import ServerProcess, free_port
from tests.support.sockets import open_counsellor, receive, send, staff_cookie, start_chat

DbRows = Callable[[str], list[Any]]


@pytest.fixture
def db_rows(test_env: RunEnvironment) -> DbRows:
    """Rows of one query against the test database, for tests that run the command line."""

    def fetch(sql: str) -> list[Any]:
        async def run() -> list[Any]:
            conn = await asyncpg.connect(test_env.database_url)
            try:
                return list(await conn.fetch(sql))
            finally:
                await conn.close()

        return run_sync(run())

    return fetch


def eguide(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["migrate"],
        ["seed-demo"],
        ["purge"],
        ["user"],
        ["user", "add"],
        ["user", "list"],
        ["user", "disable"],
        ["user", "enable"],
        ["user", "password"],
        ["user", "set"],
    ],
)
def test_every_command_has_help(test_env: RunEnvironment, command: list[str]) -> None:
    result = eguide(test_env.variables(), *command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: eguide")


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["user", "add"],
        ["user", "add", "x", "--role", "king"],
        ["user", "add", "x", "--role", "counsellor", "--capacity", "11"],
        ["serve", "--port", "x"],
    ],
)
def test_wrong_arguments_give_one_line_and_exit_2(
    test_env: RunEnvironment, args: list[str]
) -> None:
    result = eguide(test_env.variables(), *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("eguide")


def test_malformed_setting_is_named_and_exits_2(test_env: RunEnvironment) -> None:
    result = eguide(test_env.variables(EGUIDE_PORT="eighty"), "user", "list")
    assert result.returncode == 2
    assert result.stderr.strip() == "eguide: EGUIDE_PORT: expected a port 1-65535, got 'eighty'"


def test_unreachable_database_is_a_clear_one_line_error(test_env: RunEnvironment) -> None:
    url = f"postgresql://postgres:hunter2-secret@127.0.0.1:{free_port()}/eguide"
    for command in (["migrate"], ["user", "list"], ["serve"]):
        result = eguide(test_env.variables(DATABASE_URL=url), *command)
        assert result.returncode == 1
        assert result.stderr.startswith("eguide: cannot reach PostgreSQL at 127.0.0.1:")
        assert "hunter2" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_user_add_reads_the_password_from_stdin_and_the_user_can_sign_in(
    test_env: RunEnvironment, server: ServerProcess
) -> None:
    created = eguide(
        test_env.variables(),
        "user",
        "add",
        "marit",
        "--role",
        "counsellor",
        "--name",
        "Marit",
        "--centre",
        "18",
        "--national",
        "--language",
        "nb",
        "--language",
        "se",
        "--capacity",
        "3",
        stdin="a-good-long-password\n",
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "created counsellor marit"
    assert "a-good-long-password" not in created.stdout + created.stderr
    listing = eguide(test_env.variables(), "user", "list").stdout
    row = next(line for line in listing.splitlines() if line.startswith("marit "))
    assert row.split() == ["marit", "counsellor", "18", "yes", "nb,se", "3", "active"]
    with httpx.Client(base_url=server.url) as client:
        assert sign_in(client, "marit", "a-good-long-password").status_code == 303


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["kari", "--role", "counsellor"],
            "another-long-password\n",
            "the username 'kari' is taken",
        ),
        (["newbie", "--role", "counsellor"], "short\n", "at least 10 characters"),
        (["newbie", "--role", "counsellor"], "", "at least 10 characters"),
        (
            ["newbie", "--role", "counsellor", "--centre", "99"],
            "long-enough-password\n",
            "no county centre numbered 99",
        ),
        (
            ["newbie", "--role", "counsellor", "--centre", "national"],
            "long-enough-password\n",
            "national team is a flag",
        ),
        (["Bad Name", "--role", "counsellor"], "long-enough-password\n", "a username is"),
        (
            ["newbie", "--role", "counsellor", "--language", "norsk"],
            "long-enough-password\n",
            "not a language code",
        ),
    ],
)
def test_user_add_refuses_bad_input_and_changes_nothing(
    test_env: RunEnvironment, args: list[str], stdin: str, message: str
) -> None:
    before = eguide(test_env.variables(), "user", "list").stdout
    result = eguide(test_env.variables(), "user", "add", *args, stdin=stdin)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert eguide(test_env.variables(), "user", "list").stdout == before


def test_disabling_a_user_ends_their_sessions_at_once(
    test_env: RunEnvironment, server: ServerProcess
) -> None:
    env = test_env.variables()
    assert (
        eguide(
            env,
            "user",
            "add",
            "tove",
            "--role",
            "counsellor",
            "--centre",
            "42",
            stdin="tove-long-password\n",
        ).returncode
        == 0
    )
    with httpx.Client(base_url=server.url) as client:
        sign_in(client, "tove", "tove-long-password")
        assert client.get("/counsellor").status_code == 200
        result = eguide(env, "user", "disable", "tove")
        assert result.returncode == 0
        assert result.stdout.strip() == "disabled tove; ended 1 session(s)"
        assert client.get("/counsellor", follow_redirects=False).status_code == 303
    with httpx.Client(base_url=server.url) as client:
        assert sign_in(client, "tove", "tove-long-password").status_code == 401
        assert eguide(env, "user", "enable", "tove").returncode == 0
        assert sign_in(client, "tove", "tove-long-password").status_code == 303


def test_disabling_an_unknown_user_is_an_error(test_env: RunEnvironment) -> None:
    result = eguide(test_env.variables(), "user", "disable", "ghost")
    assert result.returncode == 1
    assert result.stderr.strip() == "eguide: no user named 'ghost'"


def test_seed_demo_is_idempotent_and_prints_the_logins(test_env: RunEnvironment) -> None:
    first = eguide(test_env.variables(), "seed-demo")
    listing = eguide(test_env.variables(), "user", "list").stdout
    second = eguide(test_env.variables(), "seed-demo")
    assert first.returncode == second.returncode == 0
    assert f"kari     {DEMO_PASSWORD}" in first.stdout
    assert eguide(test_env.variables(), "user", "list").stdout == listing


def test_serve_refuses_to_start_on_an_unmigrated_database(test_env: RunEnvironment) -> None:
    url = test_env.database_url.rsplit("/", 1)[0] + "/postgres"
    result = eguide(test_env.variables(DATABASE_URL=url), "serve")
    assert result.returncode == 1
    assert "run `eguide migrate` first" in result.stderr


def _user_row(env: dict[str, str], username: str) -> list[str]:
    listing = eguide(env, "user", "list").stdout
    return next(line for line in listing.splitlines() if line.startswith(f"{username} ")).split()


def test_user_set_changes_centres_national_team_languages_and_capacity(
    test_env: RunEnvironment, db_rows: DbRows
) -> None:
    env = test_env.variables()
    add = ["user", "add", "siri", "--role", "counsellor", "--centre", "03"]
    assert eguide(env, *add, stdin="siri-long-password\n").returncode == 0
    result = eguide(
        env,
        "user",
        "set",
        "siri",
        "--centres",
        "03,46",
        "--national",
        "--languages",
        "nb,en",
        "--capacity",
        "3",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "updated siri: centres 03 -> 03,46, national_team no -> yes, "
        "languages nb -> nb,en, capacity 2 -> 3"
    )
    assert _user_row(env, "siri") == ["siri", "counsellor", "03,46", "yes", "nb,en", "3", "active"]
    result = eguide(env, "user", "set", "siri", "--no-national", "--centres", "")
    assert result.stdout.splitlines() == [
        "updated siri: centres 03,46 -> none, national_team yes -> no",
        "siri can no longer take chats; ended 0 session(s)",
    ]
    again = eguide(env, "user", "set", "siri", "--capacity", "3")
    assert again.stdout.strip() == "siri already had these settings; nothing changed"
    entries = db_rows(
        """SELECT actor_user_id, detail->>'via' AS via, detail->'changes' ? 'capacity' AS cap
           FROM audit_log WHERE action = 'user.updated'
             AND target_id = (SELECT id::text FROM users WHERE username = 'siri') ORDER BY id"""
    )
    assert [(r["actor_user_id"], r["via"], r["cap"]) for r in entries] == [
        (None, "cli", True),
        (None, "cli", False),
    ]


def test_an_unreachable_redis_is_one_line_and_the_saved_change_is_said_to_be_saved(
    test_env: RunEnvironment,
) -> None:
    env = test_env.variables()
    add = ["user", "add", "sigrun", "--role", "counsellor", "--centre", "03"]
    assert eguide(env, *add, stdin="sigrun-long-password\n").returncode == 0
    away = test_env.variables(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    for args, said in (
        (["user", "set", "sigrun", "--capacity", "4"], "the change is saved, but Redis at"),
        (["user", "disable", "sigrun"], "the change is saved, but Redis at"),
        (["serve"], "cannot reach Redis at"),
    ):
        result = eguide(away, *args)
        assert result.returncode == 1, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert said in result.stderr
    assert _user_row(env, "sigrun")[5:] == ["4", "disabled"]
    assert eguide(env, "user", "enable", "sigrun").returncode == 0


async def test_user_set_reaches_the_live_router_and_the_console_at_once(
    server: ServerProcess, test_env: RunEnvironment
) -> None:
    env = test_env.variables()
    add = ["user", "add", "ragnhild", "--role", "counsellor", "--centre", "03", "--capacity", "2"]
    assert eguide(env, *add, stdin="ragnhild-long-password\n").returncode == 0
    # Unknown to the router until a console connects: the stored capacity is all there is.
    unknown = eguide(env, "user", "set", "ragnhild", "--capacity", "3")
    assert unknown.stdout.strip() == "updated ragnhild: capacity 2 -> 3"
    console = await open_counsellor(
        server.url, staff_cookie(server.url, "ragnhild", "ragnhild-long-password")
    )
    try:
        known = await asyncio.to_thread(eguide, env, "user", "set", "ragnhild", "--capacity", "5")
        assert known.returncode == 0, known.stderr
        assert known.stdout.splitlines() == [
            "updated ragnhild: capacity 3 -> 5",
            "the live router has the new settings",
        ]
        assert (await receive(console, "capacity"))["capacity"] == 5
        await send(console, "status", status="available")
        await receive(console, "status")
        waiting = await asyncio.to_thread(start_chat, server.url, "03", "en")
        languages = ["user", "set", "ragnhild", "--languages", "nb,en"]
        learnt = await asyncio.to_thread(eguide, env, *languages)
        assert learnt.stdout.splitlines()[1:] == ["the live router has the new settings"]
        assert (await receive(console, "offer"))["chat_id"] == waiting["chat_id"]
        # No centre and no national team: the console could not be opened now, so it closes.
        nowhere = await asyncio.to_thread(eguide, env, "user", "set", "ragnhild", "--centres", "")
        assert nowhere.stdout.splitlines()[1:] == [
            "ragnhild can no longer take chats; ended 1 session(s)"
        ]
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(2):
                while True:
                    await console.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4410
    finally:
        await console.close()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["kari"], 2, "nothing to change"),
        (["kari", "--capacity", "0"], 2, "capacity must be between 1 and 10"),
        (["kari", "--centres", "3"], 2, "'3' is not a county number"),
        (["kari", "--languages", "norsk"], 2, "'norsk' is not a language code"),
        (["kari", "--centres", "99"], 1, "no county centre numbered 99"),
        (["kari", "--languages", ""], 1, "name at least one language"),
        (["ghost", "--capacity", "3"], 1, "no user named 'ghost'"),
    ],
)
def test_user_set_refuses_bad_input_and_changes_nothing(
    test_env: RunEnvironment, args: list[str], code: int, message: str
) -> None:
    before = eguide(test_env.variables(), "user", "list").stdout
    result = eguide(test_env.variables(), "user", "set", *args)
    assert result.returncode == code
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert eguide(test_env.variables(), "user", "list").stdout == before


def test_user_password_sets_a_new_password_and_ends_every_session(
    test_env: RunEnvironment, server: ServerProcess, db_rows: DbRows
) -> None:
    env = test_env.variables()
    add = ["user", "add", "petter", "--role", "counsellor", "--centre", "03"]
    assert eguide(env, *add, stdin="petter-long-password\n").returncode == 0
    with httpx.Client(base_url=server.url) as client:
        sign_in(client, "petter", "petter-long-password")
        assert client.get("/counsellor").status_code == 200
        short = eguide(env, "user", "password", "petter", stdin="short\n")
        assert short.returncode == 1
        assert "at least 10 characters" in short.stderr
        assert client.get("/counsellor").status_code == 200
        result = eguide(env, "user", "password", "petter", stdin="petter-new-password\n")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "changed the password of petter; ended 1 session(s)"
        assert "petter-new-password" not in result.stdout + result.stderr
        assert client.get("/counsellor", follow_redirects=False).status_code == 303
    with httpx.Client(base_url=server.url) as client:
        assert sign_in(client, "petter", "petter-long-password").status_code == 401
        assert sign_in(client, "petter", "petter-new-password").status_code == 303
    [entry] = db_rows(
        """SELECT actor_user_id, detail FROM audit_log WHERE action = 'user.password_changed'
           AND target_id = (SELECT id::text FROM users WHERE username = 'petter')"""
    )
    assert entry["actor_user_id"] is None
    assert "petter-new-password" not in entry["detail"]
    unknown = eguide(env, "user", "password", "ghost", stdin="a-long-enough-password\n")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "eguide: no user named 'ghost'"
