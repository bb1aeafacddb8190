"""The `eguide` command line: serve, migrate, seed-demo, purge and user administration.

Usage errors print one line and exit 2; a failure while carrying out a command (an unreachable
database, a taken username) prints one line and exits 1. Passwords are read from standard input or
a prompt, never from arguments, which other users of the machine can see in the process list.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import NoReturn
from urllib.parse import urlsplit

import asyncpg
from redis.exceptions import RedisError

from app.logs import configure_logging
from app.migrator import MigrationError, migrate, pending_migrations
from app.passwords import PasswordRejected, check_new_password
from app.settings import Settings, SettingsError, load_settings
from app.users import ROLES, User, UserError


class CommandFailed(Exception):
    """Carrying out a command failed; the message is shown as it is."""


class UsageError(Exception):
    """The arguments parse but ask for nothing sensible; shown like argparse's errors."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _where(url: str) -> str:
    """host:port/name of a URL, without any password in it."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or ''}{parts.path}".replace(":/", "/")


def _unreachable(settings: Settings, error: BaseException) -> CommandFailed:
    reason = str(error) or type(error).__name__
    return CommandFailed(f"cannot reach PostgreSQL at {_where(settings.database_url)}: {reason}")


async def _with_connection(
    settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[None]]
) -> None:
    try:
        conn = await asyncpg.connect(settings.database_url, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        raise _unreachable(settings, error) from None
    try:
        await work(conn)
    finally:
        await conn.close()


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise CommandFailed("the two passwords differ")
        password = first
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        check_new_password(password)
    except PasswordRejected as error:
        raise CommandFailed(str(error)) from None
    return password


def command_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    async def preflight() -> None:
        async def check(conn: asyncpg.Connection) -> None:
            pending = await pending_migrations(conn)
            if pending:
                raise CommandFailed(
                    f"{len(pending)} migration(s) not applied; run `eguide migrate` first"
                )

        await _with_connection(settings, check)
        from app.redis_client import create_redis

        client = create_redis(settings)
        try:
            await client.ping()
        except (OSError, RedisError) as error:
            raise CommandFailed(
                f"cannot reach Redis at {_where(settings.redis_url)}: {error}"
            ) from None
        finally:
            await client.aclose()

    asyncio.run(preflight())
    configure_logging(settings.log_level, settings.log_json)
    uvicorn.run(
        "app.factory:app_from_environment",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        log_config=None,
        # Messages are short and many; compression would cost CPU per frame and open the door
        # to compression side channels on confidential text.
        ws_per_message_deflate=False,
        # A frame over this is refused by the WebSocket layer itself (close 1009) before any
        # parsing; frames over `chat.frames.MAX_FRAME_BYTES` (32 KiB) get an error frame.
        ws_max_size=64 * 1024,
        # Protocol pings find dead connections (a phone that lost its network says nothing): a
        # peer that does not answer within 20 s of a ping is closed, and a seeker's grace time
        # starts.
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        proxy_headers=True,
        server_header=False,
    )


def command_migrate(settings: Settings, args: argparse.Namespace) -> None:
    try:
        applied = asyncio.run(migrate(settings.database_url))
    except MigrationError as error:
        raise CommandFailed(str(error)) from None
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        raise _unreachable(settings, error) from None
    if applied:
        for migration in applied:
            print(f"applied {migration.version:04d}_{migration.name}")
    else:
        print("database is up to date")


def command_seed_demo(settings: Settings, args: argparse.Namespace) -> None:
    from app.seed import DEMO_PASSWORD, DEMO_USERS, seed_demo

    async def work(conn: asyncpg.Connection) -> None:
        await seed_demo(conn)

    asyncio.run(_with_connection(settings, work))
    print(f"Demo data ready. Sign in at http://{settings.host}:{settings.port}/signin with:")
    for demo in DEMO_USERS:
        print(f"  {demo.username:<8} {DEMO_PASSWORD}   ({demo.role}, {demo.display_name})")


def command_purge(settings: Settings, args: argparse.Namespace) -> None:
    from app.retention_service import purge

    async def work(conn: asyncpg.Connection) -> None:
        purged = await purge(conn, settings.retention_days, "command")
        print(
            f"purged the words of {purged} chat(s) that ended more than "
            f"{settings.retention_days} day(s) ago"
        )

    asyncio.run(_with_connection(settings, work))


def command_user_add(settings: Settings, args: argparse.Namespace) -> None:
    from app.users import create_user

    password = _read_password()

    async def work(conn: asyncpg.Connection) -> None:
        user = await create_user(
            conn,
            username=args.username,
            display_name=args.name or args.username,
            role=args.role,
            password=password,
            centres=args.centre,
            national_team=args.national,
            languages=args.language or ["nb"],
            capacity=args.capacity,
        )
        print(f"created {user.role} {user.username}")

    asyncio.run(_with_connection(settings, work))


def command_user_list(settings: Settings, args: argparse.Namespace) -> None:
    from app.users import list_users

    async def work(conn: asyncpg.Connection) -> None:
        users = await list_users(conn)
        print(
            f"{'username':<20} {'role':<11} {'centres':<12} {'national':<8} {'languages':<12} "
            f"{'capacity':<8} status"
        )
        for user in users:
            print(
                f"{user.username:<20} {user.role:<11} {','.join(user.centres) or '-':<12} "
                f"{'yes' if user.national_team else 'no':<8} {','.join(user.languages):<12} "
                f"{user.capacity:<8} {'disabled' if user.disabled else 'active'}"
            )

    asyncio.run(_with_connection(settings, work))


async def _end_sessions(settings: Settings, user_id: int, forget_limits: str = "") -> int:
    """End every session of a user (their sockets close on every instance); with
    `forget_limits`, also forget that username's sign-in failures. How many sessions ended."""
    from app.keys import AppKeys
    from app.redis_client import create_redis
    from app.sessions import SessionStore
    from app.signin_limits import SigninLimiter, SigninLimits

    client = create_redis(settings)
    keys = AppKeys(settings.redis_prefix)
    try:
        ended = await SessionStore(client, keys, settings.session_idle_seconds).end_all(user_id)
        if forget_limits:
            limiter = SigninLimiter(client, keys, SigninLimits.from_settings(settings))
            await limiter.forget_account(forget_limits)
        return ended
    except (OSError, RedisError) as error:
        raise CommandFailed(
            f"the change is saved, but Redis at {_where(settings.redis_url)} did not answer, "
            f"so sessions may still be open: {error}"
        ) from None
    finally:
        await client.aclose()


def _set_disabled(settings: Settings, username: str, disabled: bool) -> None:
    from app.users import set_disabled

    async def work(conn: asyncpg.Connection) -> None:
        user = await set_disabled(conn, username, disabled)
        ended = await _end_sessions(settings, user.id) if disabled else 0
        state = "disabled" if disabled else "enabled"
        suffix = f"; ended {ended} session(s)" if disabled else ""
        print(f"{state} {user.username}{suffix}")

    asyncio.run(_with_connection(settings, work))


def command_user_password(settings: Settings, args: argparse.Namespace) -> None:
    from app.users import set_password

    password = _read_password()

    async def work(conn: asyncpg.Connection) -> None:
        user = await set_password(conn, args.username, password)
        ended = await _end_sessions(settings, user.id, forget_limits=user.username)
        print(f"changed the password of {user.username}; ended {ended} session(s)")

    asyncio.run(_with_connection(settings, work))


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def command_user_set(settings: Settings, args: argparse.Namespace) -> None:
    from app.users import AccountChanges, update_user

    changes = AccountChanges(
        centres=args.centres,
        national_team=args.national,
        languages=args.languages,
        capacity=args.capacity,
    )
    if changes.is_empty():
        raise UsageError(
            "user set: nothing to change: give --centres, --national, --languages or --capacity"
        )

    async def work(conn: asyncpg.Connection) -> None:
        user, changed = await update_user(conn, args.username, changes)
        if not changed:
            print(f"{user.username} already had these settings; nothing changed")
            return
        described = ", ".join(
            f"{name} {_shown(change['from'])} -> {_shown(change['to'])}"
            for name, change in changed.items()
        )
        print(f"updated {user.username}: {described}")
        await _tell_router(settings, conn, user, changed)

    asyncio.run(_with_connection(settings, work))


async def _tell_router(
    settings: Settings, conn: asyncpg.Connection, user: User, changed: Collection[str]
) -> None:
    """Give the live router a counsellor's new settings now, as the admin page does
    (`app.routing_config.router_changes`), and say so; the router that does not know them yet
    registers them with the stored settings when their console connects. A counsellor left with
    no centre, national team or offered language is signed out, as when disabled."""
    from app.redis_client import create_redis
    from app.routing_config import load_routing_config, router_changes
    from queueing.model import PolicyError
    from queueing.redis_queue import RedisQueue
    from queueing.router import Router

    config = await load_routing_config(conn, settings, time.time())
    events = router_changes(user, changed, config)
    if events is None:
        ended = await _end_sessions(settings, user.id)
        print(f"{user.username} can no longer take chats; ended {ended} session(s)")
        return
    if not events:
        return
    client = create_redis(settings)
    try:
        router = Router(RedisQueue(client, settings.redis_prefix, config), config)
        for event in events:
            await router.submit(event)
    except PolicyError:
        return  # not registered: nothing live to change
    except (OSError, RedisError) as error:
        raise CommandFailed(
            f"the change is saved, but Redis at {_where(settings.redis_url)} did not answer, "
            f"so the live router has the old settings until its state is rebuilt: {error}"
        ) from None
    finally:
        await client.aclose()
    print("the live router has the new settings")


def command_user_disable(settings: Settings, args: argparse.Namespace) -> None:
    _set_disabled(settings, args.username, True)


def command_user_enable(settings: Settings, args: argparse.Namespace) -> None:
    _set_disabled(settings, args.username, False)


def _capacity(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 10:
        raise argparse.ArgumentTypeError("capacity must be between 1 and 10")
    return value


def _codes(pattern: str, what: str) -> Callable[[str], tuple[str, ...]]:
    """A comma-separated list of codes (empty for none), each matching `pattern`."""

    def parse(raw: str) -> tuple[str, ...]:
        codes = tuple(dict.fromkeys(c.strip() for c in raw.split(",") if c.strip()))
        for code in codes:
            if not re.fullmatch(pattern, code):
                raise argparse.ArgumentTypeError(f"{code!r} is not {what}")
        return codes

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eguide",
        description="eguide: real-time career guidance chat. Settings come from the environment "
        "(DATABASE_URL, REDIS_URL, EGUIDE_*); see README.md.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="serve HTTP and WebSocket with uvicorn")
    serve.add_argument("--host", help="address to listen on (default EGUIDE_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default EGUIDE_PORT, 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default EGUIDE_WORKERS, 1)")
    serve.set_defaults(handler=command_serve)

    commands.add_parser(
        "migrate", help="create the database if missing and apply pending migrations"
    ).set_defaults(handler=command_migrate)
    commands.add_parser(
        "seed-demo", help="add demo opening hours and staff (idempotent) and print the logins"
    ).set_defaults(handler=command_seed_demo)

    commands.add_parser(
        "purge",
        help="remove the words of chats that ended more than EGUIDE_RETENTION_DAYS (30) days "
        "ago; keeps what reports need (idempotent)",
    ).set_defaults(handler=command_purge)

    user = commands.add_parser("user", help="manage staff accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True, parser_class=_Parser)
    add = user_commands.add_parser(
        "add", help="create an account; the password is read from stdin or a prompt"
    )
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--name", help="display name shown to seekers (default: the username)")
    add.add_argument(
        "--centre",
        action="append",
        default=[],
        metavar="COUNTY",
        help="county number of a centre the user works for (repeatable), e.g. 03",
    )
    add.add_argument("--national", action="store_true", help="member of the national team")
    add.add_argument(
        "--language", action="append", metavar="CODE", help="language code (repeatable), e.g. nb"
    )
    add.add_argument("--capacity", type=_capacity, default=2, help="concurrent chats, 1-10")
    add.set_defaults(handler=command_user_add)
    user_commands.add_parser("list", help="list accounts").set_defaults(handler=command_user_list)
    disable = user_commands.add_parser(
        "disable", help="disable an account and end its sessions at once"
    )
    disable.add_argument("username")
    disable.set_defaults(handler=command_user_disable)
    enable = user_commands.add_parser("enable", help="enable a disabled account")
    enable.add_argument("username")
    enable.set_defaults(handler=command_user_enable)
    password = user_commands.add_parser(
        "password",
        help="give an account a new password (read from stdin or a prompt) and end its sessions",
    )
    password.add_argument("username")
    password.set_defaults(handler=command_user_password)
    set_ = user_commands.add_parser(
        "set", help="change an account's centres, national team, languages or capacity"
    )
    set_.add_argument("username")
    set_.add_argument(
        "--centres",
        type=_codes(r"[0-9]{2}", "a county number such as 03"),
        metavar="NN,NN",
        help='the county centres the user works for, comma-separated ("" for none), e.g. 03,46',
    )
    set_.add_argument(
        "--national",
        action=argparse.BooleanOptionalAction,
        help="member of the national team (--no-national: not)",
    )
    set_.add_argument(
        "--languages",
        type=_codes(r"[a-z]{2,3}", "a language code such as nb"),
        metavar="CODE,CODE",
        help="languages the user chats in, comma-separated, e.g. nb,en",
    )
    set_.add_argument("--capacity", type=_capacity, help="concurrent chats, 1-10")
    set_.set_defaults(handler=command_user_set)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"eguide: {error}", file=sys.stderr)
        return 2
    if args.handler is not command_serve:
        # Commands print what they did; only warnings and errors go to the log.
        configure_logging("warning", settings.log_json)
    try:
        args.handler(settings, args)
    except UsageError as error:
        print(f"eguide: {error} (see eguide user set --help)", file=sys.stderr)
        return 2
    except (CommandFailed, UserError) as error:
        print(f"eguide: {error}", file=sys.stderr)
        return 1
    except asyncpg.UndefinedTableError:
        print(
            "eguide: the database has no eguide tables; run `eguide migrate` first", file=sys.stderr
        )
        return 1
    except asyncpg.PostgresError as error:
        print(f"eguide: PostgreSQL refused: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
