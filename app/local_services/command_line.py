"""The command line: `python -m app.local_services run|up|status`, and its signal handling."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from app.local_services.endpoints import postgres_endpoint, redis_endpoint
from app.local_services.errors import ConfigError, LocalServicesError
from app.local_services.probes import postgres_answers, redis_answers
from app.local_services.provisioning import ensure_services, stop_services

# Linux puts this si_code on signals the kernel itself sends, e.g. the terminal's SIGINT on
# Ctrl-C. Such a signal went to the whole foreground process group, so our child has it already.
SI_KERNEL = 0x80

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _signals_blocked(signals: Sequence[signal.Signals]) -> Iterator[None]:
    """Block signals for the duration, then discard any still pending before unblocking.

    Discarding matters: a Ctrl-C pressed while we stop the servers must not surface as a
    KeyboardInterrupt after we finished cleaning up.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        if hasattr(signal, "sigtimedwait"):
            while signal.sigtimedwait(signals, 0) is not None:
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _exit_code(returncode: int) -> int:
    # A child killed by signal N exits like a shell reports it: 128 + N.
    return 128 - returncode if returncode < 0 else returncode


def _supervise(child: subprocess.Popen[bytes]) -> int:
    """Wait for the child, forwarding signals sent to us; return its exit code.

    The child shares our process group, so it stays in the terminal's foreground (pdb,
    prompts and colours keep working) and gets the terminal's Ctrl-C directly. A signal sent
    to us alone (kill, a supervisor, `timeout`) is passed on.
    """
    waited = (*FORWARDED_SIGNALS, signal.SIGCHLD)
    if not hasattr(signal, "sigtimedwait"):  # macOS: no siginfo, assume SIGINT came from a tty

        def forward(signum: int, _frame: object) -> None:
            if signum != signal.SIGINT:
                child.send_signal(signum)

        for signum in FORWARDED_SIGNALS:
            signal.signal(signum, forward)
        return _exit_code(child.wait())
    with _signals_blocked(waited):
        while child.poll() is None:
            info = signal.sigtimedwait(waited, 0.5)
            if info is None or info.si_signo == signal.SIGCHLD:
                continue
            if info.si_code != SI_KERNEL:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(info.si_signo)
    return _exit_code(child.wait())


def _command_run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        args.parser.error("run needs a command after --")
    services = ensure_services(args.data_dir, os.environ, fast=args.fast)
    try:
        try:
            child = subprocess.Popen(command)  # noqa: S603 - the developer's own command line
        except FileNotFoundError:
            print(f"services: command not found: {command[0]}", file=sys.stderr)
            return 127
        except PermissionError:
            print(f"services: command not executable: {command[0]}", file=sys.stderr)
            return 126
        try:
            return _supervise(child)
        except KeyboardInterrupt:  # Ctrl-C before the signals were blocked: child has it too
            return _exit_code(child.wait())
    finally:
        with _signals_blocked(FORWARDED_SIGNALS):
            stop_services(services)


def _command_up(args: argparse.Namespace) -> int:
    services = ensure_services(args.data_dir, os.environ, fast=args.fast)
    if not services:
        return 0
    print("services: running; Ctrl-C stops them", file=sys.stderr)
    with _signals_blocked(FORWARDED_SIGNALS):
        try:
            signal.sigwait(FORWARDED_SIGNALS)
        finally:
            stop_services(services)
    return 0


def _command_status(args: argparse.Namespace) -> int:
    redis = redis_endpoint(os.environ)
    postgres = postgres_endpoint(os.environ)
    redis_ok = redis_answers(
        redis.host, redis.port, username=redis.username, password=redis.password
    )
    postgres_ok = postgres_answers(postgres.host, postgres.port)
    for name, endpoint, ok in (("redis", redis, redis_ok), ("postgres", postgres, postgres_ok)):
        print(f"{name} at {endpoint.address}: {'answers' if ok else 'does not answer'}")
    return 0 if redis_ok and postgres_ok else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.local_services",
        description="Make sure Redis and PostgreSQL answer at REDIS_URL and DATABASE_URL, "
        "starting private servers when they do not.",
    )
    commands = parser.add_subparsers(dest="action", required=True, metavar="{run,up,status}")

    def with_data_dir(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--data-dir", type=Path, default=Path(".data"),
            help="where private servers keep their data (default: .data)",
        )  # fmt: skip
        sub.add_argument(
            "--fast", action="store_true",
            help="no fsync in a private PostgreSQL: quicker, for throwaway test data",
        )  # fmt: skip
        return sub

    run = with_data_dir(commands.add_parser("run", help="run COMMAND with the services up"))
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    run.set_defaults(handler=_command_run, parser=run)
    up = with_data_dir(commands.add_parser("up", help="start what is missing, wait for Ctrl-C"))
    up.set_defaults(handler=_command_up)
    status = commands.add_parser("status", help="say whether each service answers")
    status.set_defaults(handler=_command_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m app.local_services`; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as error:
        print(f"services: error: {error}", file=sys.stderr)
        return 2
    except LocalServicesError as error:
        print(f"services: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
