"""Servers run as our children: starting them, waiting until they answer, stopping them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from app.local_services.errors import LocalServicesError
from app.local_services.probes import _port_taken


def _run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """subprocess.run for our fixed argument lists (never a shell)."""
    result: subprocess.CompletedProcess[bytes] = subprocess.run(  # noqa: S603
        list(argv), check=False, **kwargs
    )
    return result


def _log_tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file, indented, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "    (no log written)"
    tail = text.rstrip().splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in tail) or "    (log is empty)"


class PrivateService:
    """A server we started as our child; `stop()` ends it (and nothing we did not start)."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        process: subprocess.Popen[bytes],
        *,
        data_dir: Path,
        log_path: Path,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.process = process
        self.data_dir = data_dir
        self.log_path = log_path
        # PostgreSQL's SIGTERM is "smart" shutdown, which waits for every client to leave;
        # SIGINT is "fast" shutdown, which is what a developer pressing Ctrl-C expects.
        self.stop_signal = stop_signal

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.process.returncode}"
        return (
            f"<PrivateService {self.name} {self.host}:{self.port} pid={self.process.pid} {state}>"
        )

    @property
    def running(self) -> bool:
        """True while the server process has not exited."""
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to shut down; kill it (and its process group) after `timeout` seconds.

        Safe to call more than once.
        """
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass
        # The server started its own session, so its pid is also its process group: killing
        # the group takes PostgreSQL's backends along instead of orphaning them.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()

    def __enter__(self) -> PrivateService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class _RunAs:
    """The identity to run PostgreSQL's programs as (PostgreSQL refuses to run as root)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    def popen_kwargs(self) -> dict[str, Any]:
        """Arguments that make subprocess switch to this user in the child, before exec.

        We use Popen's own setuid rather than `runuser -u postgres --`: runuser stays as a
        parent process that ignores SIGINT and turns SIGTERM into SIGTERM-then-SIGKILL, so
        PostgreSQL's fast shutdown could not be requested through it.
        """
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}


def _popen(
    argv: Sequence[str], log_path: Path, run_as: _RunAs | None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a server as a child in its own session, with stdout and stderr in log_path.

    Its own session means the terminal's Ctrl-C does not reach it: we decide when it stops,
    after the command that needs it has finished.
    """
    extra: dict[str, Any] = run_as.popen_kwargs() if run_as else {}
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
            **extra,
        )


def _wait_until_ready(
    service: PrivateService, ready: Callable[[], bool], timeout: float
) -> PrivateService:
    """Return the service once `ready()` is true; stop it and raise with its log otherwise.

    Any exception while waiting, Ctrl-C included, stops the server: the caller has no handle
    on it yet, so nobody else could.
    """
    try:
        return _poll_until_ready(service, ready, timeout)
    except BaseException:
        service.stop()
        raise


def _poll_until_ready(
    service: PrivateService, ready: Callable[[], bool], timeout: float
) -> PrivateService:
    deadline = time.monotonic() + timeout
    delay = 0.02
    where = f"private {service.name} on {service.host}:{service.port}"
    while True:
        # Check our process first: if it died (say, the port was taken) another server on the
        # same port could answer and we would wrongly report success.
        code = service.process.poll()
        if code is not None:
            raise LocalServicesError(
                f"{where} exited with code {code} before answering; "
                f"the end of {service.log_path}:\n" + _log_tail(service.log_path)
            )
        if ready():
            return service
        if time.monotonic() > deadline:
            raise LocalServicesError(
                f"{where} did not answer within {timeout:.0f} s; "
                f"the end of {service.log_path}:\n" + _log_tail(service.log_path)
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def _refuse_taken_port(name: str, host: str, port: int) -> None:
    """Raise when something already listens where we would start a server."""
    if _port_taken(host, port):
        raise LocalServicesError(
            f"cannot start a private {name} on {host}:{port}: something else listens there but "
            f"does not answer as {name} (wrong password in the URL? another program?). "
            f"Free the port or point the URL elsewhere."
        )
