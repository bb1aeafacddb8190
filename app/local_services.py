"""Make sure Redis and PostgreSQL answer before `make run` or `make test` starts the real work.

On a developer machine both servers often already run as system services; then we use them and
touch nothing. On a fresh Debian machine they do not; then we install the packages if needed and
start *private* servers from the system's binaries, with their data under `.data/`, as children
of this process. Whatever we started we also stop, and nothing else: a system service that
answered before we came is never signalled.

Command line (the Makefile's entry point)::

    python -m app.local_services run [--data-dir DIR] [--fast] -- COMMAND [ARGS...]
    python -m app.local_services up [--data-dir DIR] [--fast]
    python -m app.local_services status

Only the standard library is used, so this works before the virtualenv has its packages.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import hashlib
import ipaddress
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/eguide"

REDIS_START_TIMEOUT = 20.0
# initdb on a slow disk plus the first start can take a while; a minute is generous.
POSTGRES_START_TIMEOUT = 60.0

# The magic "protocol version" a client sends to ask a PostgreSQL server for TLS. Every server
# since 7.x answers it with one byte, 'S' or 'N', before any authentication, which makes it a
# cheap and exact "is this really PostgreSQL?" probe that needs no credentials and no libpq.
SSL_REQUEST_CODE = 80877103
PROTOCOL_3_0 = 196608
# SQLSTATE the server sends while it is starting up, recovering or shutting down.
CANNOT_CONNECT_NOW = "57P03"

# Linux puts this si_code on signals the kernel itself sends, e.g. the terminal's SIGINT on
# Ctrl-C. Such a signal went to the whole foreground process group, so our child has it already.
SI_KERNEL = 0x80

# A Unix socket's path must fit in sockaddr_un.sun_path (108 bytes with the trailing NUL).
MAX_UNIX_SOCKET_PATH = 107

# Where the cluster goes when the `postgres` user cannot reach the data dir (see _cluster_root).
ROOT_FALLBACK_BASE = Path("/var/lib/eguide")
ORIGIN_FILE = "data-dir"  # in a fallback cluster root: the data dir it stands in for

POSTGRES_BINARIES = frozenset({"postgres", "initdb", "pg_ctl", "psql"})

_apt_updated = False  # `apt-get update` is slow; once per process is enough


class LocalServicesError(RuntimeError):
    """A service cannot be made to answer; the message says what to do about it."""


class ConfigError(ValueError):
    """A URL in the environment is malformed; the message starts with the variable's name."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Endpoint:
    """Where one service should answer, parsed from its URL."""

    variable: str
    scheme: str
    host: str
    port: int
    username: str | None = None
    # Kept out of repr so a traceback or debug print never shows it.
    password: str | None = field(default=None, repr=False)
    path: str = ""

    @property
    def address(self) -> str:
        """`host:port` for messages, with IPv6 hosts bracketed; never includes credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def is_local(self) -> bool:
        """True when a server for this endpoint could be started on this machine."""
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _redacted(url: str) -> str:
    """The URL with any password replaced, so error messages can quote it safely."""
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)


def parse_endpoint(
    env: Mapping[str, str],
    variable: str,
    default: str,
    schemes: Sequence[str],
    default_port: int,
) -> Endpoint:
    """Read `variable` from env (or use default) and parse it; ConfigError names the variable."""
    raw = env.get(variable)
    url = default if raw is None else raw.strip()
    if not url:
        raise ConfigError(variable, "is set but empty")
    shown = _redacted(url)
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port  # urlsplit validates the port only when asked
    except ValueError:
        raise ConfigError(
            variable, f"is malformed (bad host or port, expected a port 0-65535): {shown}"
        ) from None
    if parts.scheme not in schemes:
        expected = " or ".join(f"{s}://" for s in schemes)
        raise ConfigError(variable, f"must start with {expected}: {shown}")
    if not parts.hostname:
        raise ConfigError(variable, f"names no host: {shown}")
    return Endpoint(
        variable=variable,
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or default_port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        path=parts.path,
    )


def redis_endpoint(env: Mapping[str, str]) -> Endpoint:
    """REDIS_URL, parsed."""
    return parse_endpoint(env, "REDIS_URL", DEFAULT_REDIS_URL, ("redis", "rediss"), 6379)


def postgres_endpoint(env: Mapping[str, str]) -> Endpoint:
    """DATABASE_URL, parsed."""
    return parse_endpoint(
        env, "DATABASE_URL", DEFAULT_DATABASE_URL, ("postgresql", "postgres"), 5432
    )


# --------------------------------------------------------------------------- probes


def _read_lines(sock: socket.socket, count: int, limit: int = 4096) -> list[bytes]:
    """Read until `count` CRLF-terminated lines arrived (or EOF / limit); return them."""
    buffer = b""
    while buffer.count(b"\r\n") < count and len(buffer) < limit:
        chunk = sock.recv(limit)
        if not chunk:
            break
        buffer += chunk
    return buffer.split(b"\r\n")[:count]


def _resp_command(*words: str) -> bytes:
    """A command in RESP array form, which, unlike the inline form, survives spaces in words."""
    encoded = [word.encode() for word in words]
    out = b"*%d\r\n" % len(encoded)
    for word in encoded:
        out += b"$%d\r\n%s\r\n" % (len(word), word)
    return out


def redis_answers(
    host: str,
    port: int,
    timeout: float = 1.0,
    *,
    username: str | None = None,
    password: str | None = None,
) -> bool:
    """True when a Redis server at host:port replies +PONG to PING.

    With a password (from REDIS_URL) we AUTH first, because a Redis with `requirepass` answers
    a bare PING with -NOAUTH, which would make a perfectly good server look absent.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if password is None:
                sock.sendall(b"PING\r\n")  # RESP inline command
                replies = _read_lines(sock, 1)
            else:
                auth = ("AUTH", username, password) if username else ("AUTH", password)
                sock.sendall(_resp_command(*auth) + b"PING\r\n")
                replies = _read_lines(sock, 2)[1:]
    except OSError:
        return False
    return bool(replies) and replies[-1].startswith(b"+PONG")


def postgres_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a PostgreSQL server at host:port answers an SSLRequest with 'S' or 'N'.

    That single byte comes before any authentication, so this proves "a PostgreSQL server is
    listening" without credentials; it does not prove the server accepts logins yet (see
    `_postgres_accepts_logins` for that).
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack("!ii", 8, SSL_REQUEST_CODE))
            reply = sock.recv(1)
    except OSError:
        return False
    return reply in (b"S", b"N")


def _postgres_accepts_logins(host: str, port: int, timeout: float = 1.0) -> bool:
    """True once the server answers a startup packet with anything but "starting up".

    The postmaster answers SSLRequest as soon as it listens, but refuses logins with 57P03
    until recovery finished; a server we started is "ready" only after that, otherwise the
    app's first connection could fail right after we reported success.
    """
    params = b"user\x00postgres\x00database\x00postgres\x00\x00"
    packet = struct.pack("!ii", 8 + len(params), PROTOCOL_3_0) + params
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(packet)
            header = sock.recv(5)
            if len(header) < 1:
                return False
            if header[:1] == b"R":  # an authentication request: the server takes logins
                sock.sendall(b"X" + struct.pack("!i", 4))  # Terminate, to keep its log quiet
                return True
            if header[:1] != b"E":
                return False
            body = b""
            if len(header) == 5:
                length = struct.unpack("!i", header[1:5])[0] - 4
                while len(body) < length:
                    chunk = sock.recv(length - len(body))
                    if not chunk:
                        break
                    body += chunk
    except OSError:
        return False
    # An error other than "starting up" (unknown role, missing database...) still means the
    # server is up and deciding about logins, which is all we wait for.
    return f"C{CANNOT_CONNECT_NOW}\x00".encode() not in body


def postgres_trusts(host: str, port: int, user: str, timeout: float = 1.0) -> bool:
    """True when the server lets `user` in without a password (AuthenticationOk at once)."""
    params = f"user\x00{user}\x00database\x00postgres\x00\x00".encode()
    packet = struct.pack("!ii", 8 + len(params), PROTOCOL_3_0) + params
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(packet)
            header = sock.recv(9)
            trusted = len(header) == 9 and header[:1] == b"R" and header[5:9] == b"\0\0\0\0"
            if header[:1] == b"R":
                sock.sendall(b"X" + struct.pack("!i", 4))
    except OSError:
        return False
    return trusted


def _stop_packaged_clusters() -> None:
    """Stop the clusters Debian's postgresql package created and started as it was installed.

    Called only right after this module installed the package: that cluster asks for a
    password over TCP, so it cannot serve the password-less DATABASE_URL a fresh machine uses,
    and it holds the port a private server needs.
    """
    listing = _run(["pg_lsclusters", "--no-header"], capture_output=True)
    for line in listing.stdout.decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[3] == "online":
            print(
                f"services: stopping Debian's new cluster {fields[0]}/{fields[1]}", file=sys.stderr
            )
            _run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", fields[0], fields[1], "stop"],
                capture_output=True,
            )


def _port_taken(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- processes


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


# --------------------------------------------------------------------------- installing


def find_postgres_bindir(pgdata: Path | None = None) -> Path | None:
    """The directory holding PostgreSQL's server programs, or None.

    Debian keeps them out of PATH in /usr/lib/postgresql/<major>/bin. Preference: the major
    version an existing cluster was made with (a newer server cannot open it), then what
    `pg_config --bindir` says, then the newest /usr/lib/postgresql/*/bin, then PATH.
    """
    candidates: list[Path] = []
    if pgdata is not None:
        with contextlib.suppress(OSError):
            major = (pgdata / "PG_VERSION").read_text().strip()
            candidates.append(Path("/usr/lib/postgresql") / major / "bin")
    pg_config = shutil.which("pg_config")
    if pg_config:
        # Debian's pg_config comes with libpq-dev and may name a version without a server,
        # hence the check below that the directory really has postgres and initdb.
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            result = _run([pg_config, "--bindir"], capture_output=True, timeout=10)
            if result.returncode == 0:
                candidates.append(Path(result.stdout.decode().strip()))

    def version_key(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version_key, reverse=True)
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for candidate in candidates:
        if all(os.access(candidate / name, os.X_OK) for name in ("postgres", "initdb")):
            return candidate
    return None


def _find_binary(binary: str) -> str | None:
    """Path of an executable, looking where Debian puts PostgreSQL's programs too."""
    if binary in POSTGRES_BINARIES:
        bindir = find_postgres_bindir()
        if bindir and os.access(bindir / binary, os.X_OK):
            return str(bindir / binary)
    return shutil.which(binary)


def ensure_installed(binary: str, debian_package: str) -> bool:
    """Install `debian_package` with apt-get when `binary` is missing; raise if we cannot.

    Returns True when it installed the package, False when the binary was already there.

    As root we run apt-get directly; otherwise we try `sudo -n` (no password prompt, so an
    unattended `make test` fails fast instead of hanging on a hidden prompt).
    """
    global _apt_updated
    if _find_binary(binary):
        return False
    advice = f"{binary} is not installed; install the Debian package {debian_package!r}"
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise LocalServicesError(f"{advice} (this machine has no apt-get, so we cannot)")
    if os.geteuid() == 0:
        prefix: list[str] = []
    else:
        sudo = shutil.which("sudo")
        if sudo is None:
            raise LocalServicesError(f"{advice}: sudo apt-get install {debian_package}")
        prefix = [sudo, "-n"]
    env_program = shutil.which("env") or "/usr/bin/env"
    # sudo resets the environment, so DEBIAN_FRONTEND travels through `env` instead.
    apt = [*prefix, env_program, "DEBIAN_FRONTEND=noninteractive", apt_get]
    print(f"services: {binary} is missing, installing {debian_package}", file=sys.stderr)
    # apt's chatter goes to stderr so the wrapped command's stdout stays clean.
    if not _apt_updated:
        if _run([*apt, "update"], stdout=sys.stderr.fileno()).returncode != 0:
            raise LocalServicesError(f"{advice}; `apt-get update` failed (see above)")
        _apt_updated = True
    result = _run([*apt, "install", "-y", debian_package], stdout=sys.stderr.fileno())
    if result.returncode != 0:
        how = "" if not prefix else " (sudo needs a password here; run it yourself)"
        raise LocalServicesError(f"{advice}; `apt-get install` failed{how}")
    if not _find_binary(binary):
        raise LocalServicesError(f"{advice}; it was installed but {binary} is still not found")
    return True


# --------------------------------------------------------------------------- Redis


def start_private_redis(port: int, data_dir: Path, host: str = "127.0.0.1") -> PrivateService:
    """Start `redis-server` on host:port with nothing persisted; return once it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise LocalServicesError(
            "redis-server is not installed; install the Debian package 'redis-server'"
        )
    _refuse_taken_port("redis", host, port)
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "redis.log"
    argv = [
        binary,
        "--port", str(port),
        "--bind", host,
        # A development and test Redis: nothing worth keeping, so no snapshots, no AOF.
        "--save", "",
        "--appendonly", "no",
        "--dir", str(data_dir),
        "--daemonize", "no",
    ]  # fmt: skip
    service = PrivateService(
        "redis", host, port, _popen(argv, log_path, None), data_dir=data_dir, log_path=log_path
    )
    return _wait_until_ready(service, lambda: redis_answers(host, port), REDIS_START_TIMEOUT)


# --------------------------------------------------------------------------- PostgreSQL


def _create_postgres_user() -> pwd.struct_passwd:
    """Create the `postgres` system user, as Debian's package would have."""
    useradd = shutil.which("useradd")
    if useradd is None:
        raise LocalServicesError(
            "PostgreSQL refuses to run as root and there is no `postgres` user to run it "
            "as; create one (useradd --system postgres) or run as a normal user"
        )
    result = _run(
        [useradd, "--system", "--user-group", "--no-create-home",
         "--home-dir", "/var/lib/postgresql", "--shell", "/usr/sbin/nologin", "postgres"],
        capture_output=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise LocalServicesError(
            "could not create the `postgres` user: " + result.stderr.decode(errors="replace")
        )
    return pwd.getpwnam("postgres")


def _postgres_identity() -> _RunAs | None:
    """None when we are not root; otherwise the `postgres` user, created if absent."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        entry = _create_postgres_user()
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return _RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)


def _can_enter(path: Path, run_as: _RunAs) -> bool:
    """True when `run_as` may cd into path (every parent searchable, ACLs included).

    Asking the kernel through a child beats reimplementing permission rules: a project under
    /root (mode 0700) is the common case on a fresh machine, and the user cannot go there.
    """
    sh = shutil.which("sh") or "/bin/sh"
    try:
        result = _run(
            [sh, "-c", 'cd -- "$1"', "sh", str(path)],
            capture_output=True,
            cwd="/",
            **run_as.popen_kwargs(),
        )
    except OSError:
        return False
    return result.returncode == 0


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    """chown -R, without following symlinks."""
    os.chown(path, uid, gid, follow_symlinks=False)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def _cluster_root(data_dir: Path, run_as: _RunAs | None) -> Path:
    """Where the cluster (pgdata/ and the socket dir run/) lives; normally data_dir itself.

    As root, PostgreSQL runs as `postgres`, which must be able to walk down to its data. When
    data_dir sits somewhere that user cannot reach (a checkout under /root, pytest's tmp dirs
    under the 0700 /tmp/pytest-of-root), we keep the cluster in /var/lib/eguide/ instead of
    loosening the permissions of directories that are not ours. The name is derived from
    data_dir, so the same checkout finds the same data next time.
    """
    if run_as is None or _can_enter(data_dir, run_as):
        return data_dir
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    ROOT_FALLBACK_BASE.mkdir(parents=True, exist_ok=True)
    ROOT_FALLBACK_BASE.chmod(0o755)  # mkdir's mode is cut by the umask; postgres must pass
    root = ROOT_FALLBACK_BASE / f"postgres-{digest}"
    _remove_orphaned_clusters(keep=root)
    root.mkdir(mode=0o700, exist_ok=True)
    os.chown(root, run_as.uid, run_as.gid, follow_symlinks=False)
    # Root-owned, so the postgres user cannot rewrite where its cluster claims to belong.
    (root / ORIGIN_FILE).write_text(f"{data_dir}\n")
    return root


def _remove_orphaned_clusters(keep: Path) -> None:
    """Delete fallback clusters whose data dir is gone and whose server is not running.

    Without this every pytest tmp_path used as a data dir (by root) would leave a cluster in
    /var/lib/eguide forever. Clusters without our origin file are not ours and stay.
    """
    for root in ROOT_FALLBACK_BASE.glob("postgres-*"):
        if root == keep:
            continue
        try:
            origin = Path((root / ORIGIN_FILE).read_text().strip())
        except OSError:
            continue
        if origin.exists() or _postmaster_alive(root / "pgdata"):
            continue
        shutil.rmtree(root, ignore_errors=True)


def _postmaster_alive(pgdata: Path) -> bool:
    """True when pgdata's postmaster.pid names a live process."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _initdb(bindir: Path, pgdata: Path, log_path: Path, run_as: _RunAs | None, fast: bool) -> None:
    """Create the cluster in pgdata, with trust auth and a `postgres` superuser."""
    base = [str(bindir / "initdb"), "-D", str(pgdata), "-A", "trust", "-U", "postgres",
            "--encoding", "UTF8"]  # fmt: skip
    if fast:
        base.append("--no-sync")  # a throwaway test cluster need not survive a power cut
    extra: dict[str, Any] = run_as.popen_kwargs() if run_as else {}
    # C.UTF-8 sorts by code point and exists in every Debian; where it does not (older
    # systems, minimal images), --no-locale still works.
    for locale in (["--locale", "C.UTF-8"], ["--no-locale"]):
        with log_path.open("ab") as log:
            result = _run([*base, *locale], stdout=log, stderr=subprocess.STDOUT, cwd="/", **extra)
        if result.returncode == 0:
            return
    raise LocalServicesError(
        f"initdb failed for {pgdata}; the end of {log_path}:\n" + _log_tail(log_path)
    )


def start_private_postgres(
    port: int, data_dir: Path, host: str = "127.0.0.1", *, fast: bool = False
) -> PrivateService:
    """Start a PostgreSQL server on host:port with its cluster under data_dir.

    The cluster is created on first use (trust authentication, superuser `postgres`). With
    `fast`, durability is switched off (fsync, synchronous_commit, full_page_writes): fine for
    tests, whose data nobody needs after a crash. Returns once the server accepts logins.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "postgres.log"  # opened by us, so it may live where postgres can't go
    run_as = _postgres_identity()
    root = _cluster_root(data_dir, run_as)
    pgdata = root / "pgdata"
    socket_dir = root / "run"
    bindir = find_postgres_bindir(pgdata)
    if bindir is None:
        raise LocalServicesError(
            "PostgreSQL's server programs (postgres, initdb) are not installed; "
            "install the Debian package 'postgresql'"
        )
    _refuse_taken_port("postgres", host, port)
    for directory in (pgdata, socket_dir):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if run_as is not None:
            _chown_tree(directory, run_as.uid, run_as.gid)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(bindir, pgdata, log_path, run_as, fast)

    # Our own socket dir keeps us from clashing with a system server's lock file in
    # /var/run/postgresql. Too long a path cannot be a socket; then TCP alone will do.
    sockets = str(socket_dir)
    if len(f"{sockets}/.s.PGSQL.{port}.lock") > MAX_UNIX_SOCKET_PATH:
        sockets = ""
    argv = [str(bindir / "postgres"), "-D", str(pgdata), "-p", str(port), "-h", host,
            "-k", sockets]  # fmt: skip
    if fast:
        for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
            argv += ["-c", setting]
    process = _popen(argv, log_path, run_as, cwd=Path("/"))
    service = PrivateService(
        "postgres", host, port, process,
        data_dir=root, log_path=log_path, stop_signal=signal.SIGINT,
    )  # fmt: skip
    return _wait_until_ready(
        service, lambda: _postgres_accepts_logins(host, port), POSTGRES_START_TIMEOUT
    )


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ensure_role(service: PrivateService, role: str) -> None:
    """Create `role` as a login superuser in a private cluster, if it is not there yet.

    initdb makes only `postgres`; a DATABASE_URL naming another user would otherwise fail to
    log in. (The database itself the app creates on start; see app.database.ensure_database.)
    """
    if role == "postgres":
        return
    bindir = find_postgres_bindir(service.data_dir / "pgdata")
    psql = bindir / "psql" if bindir else None
    if psql is None or not os.access(psql, os.X_OK):
        print(f"services: warning: no psql to create role {role!r}", file=sys.stderr)
        return
    sql = (
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
        f"{_quote_literal(role)}) THEN CREATE ROLE {_quote_identifier(role)} LOGIN SUPERUSER; "
        "END IF; END $$"
    )
    result = _run(
        [str(psql), "-X", "-q", "-h", service.host, "-p", str(service.port), "-U", "postgres",
         "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, timeout=30,
    )  # fmt: skip
    if result.returncode != 0:
        raise LocalServicesError(
            f"could not create role {role!r} in the private postgres: "
            + result.stderr.decode(errors="replace").strip()
        )


# --------------------------------------------------------------------------- together


def _shown(path: Path) -> str:
    """A path relative to the current directory when it is inside it, for short messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _bind_host(host: str) -> str:
    # Redis wants an address to bind, not a name; `localhost` clients try 127.0.0.1 anyway.
    return "127.0.0.1" if host.lower() == "localhost" else host


def _unreachable(endpoint: Endpoint, name: str) -> LocalServicesError:
    return LocalServicesError(
        f"{endpoint.variable}: no {name} answers at {endpoint.address}, and that is not this "
        f"machine, so we cannot start one there; start it or fix {endpoint.variable}"
    )


def _ensure_redis(endpoint: Endpoint, data_dir: Path) -> PrivateService | None:
    def answers() -> bool:
        if endpoint.scheme == "rediss":
            # TLS: a plain PING cannot work, a TCP connect is the best check without a library.
            return _port_taken(endpoint.host, endpoint.port, timeout=1.0)
        return redis_answers(
            endpoint.host, endpoint.port, username=endpoint.username, password=endpoint.password
        )

    if answers():
        print(f"services: redis at {endpoint.address} answers, using it", file=sys.stderr)
        return None
    if not endpoint.is_local:
        raise _unreachable(endpoint, "redis")
    if endpoint.scheme == "rediss":
        raise LocalServicesError(
            f"REDIS_URL: no redis answers at {endpoint.address}; we start only plain redis:// "
            "servers, not TLS ones"
        )
    ensure_installed("redis-server", "redis-server")
    if answers():  # installing the package may have started the system service
        print(f"services: redis at {endpoint.address} answers, using it", file=sys.stderr)
        return None
    service = start_private_redis(endpoint.port, data_dir, _bind_host(endpoint.host))
    print(
        f"services: started private redis on {endpoint.address} (data in {_shown(data_dir)})",
        file=sys.stderr,
    )
    return service


def _ensure_postgres(
    endpoint: Endpoint, data_dir: Path, env: Mapping[str, str], fast: bool
) -> PrivateService | None:
    def answers() -> bool:
        return postgres_answers(endpoint.host, endpoint.port)

    if answers():
        print(f"services: postgres at {endpoint.address} answers, using it", file=sys.stderr)
        return None
    if not endpoint.is_local:
        raise _unreachable(endpoint, "postgres")
    installed = ensure_installed("postgres", "postgresql")
    installed = ensure_installed("initdb", "postgresql") or installed
    # The user the app will log in as: asyncpg's rule is URL, then PGUSER, then the OS user.
    role = endpoint.username or env.get("PGUSER") or getpass.getuser()
    if answers():  # Debian's package creates and starts a cluster of its own on 5432
        if not installed or postgres_trusts(endpoint.host, endpoint.port, role):
            print(f"services: postgres at {endpoint.address} answers, using it", file=sys.stderr)
            return None
        _stop_packaged_clusters()
    service = start_private_postgres(endpoint.port, data_dir, _bind_host(endpoint.host), fast=fast)
    try:
        _ensure_role(service, role)
    except BaseException:
        service.stop()
        raise
    print(
        f"services: started private postgres on {endpoint.address} "
        f"(data in {_shown(service.data_dir)})",
        file=sys.stderr,
    )
    return service


def ensure_services(
    data_dir: Path, env: Mapping[str, str], *, fast: bool = False
) -> list[PrivateService]:
    """Make Redis and PostgreSQL answer at REDIS_URL and DATABASE_URL; return what we started.

    A server that already answers is used as it is. A missing one on this machine is started
    privately, with data under data_dir/redis and data_dir/postgres. If anything fails, the
    servers started so far are stopped before the error propagates.
    """
    # Parse both first: a typo in the second URL should not cost starting the first server.
    redis = redis_endpoint(env)
    postgres = postgres_endpoint(env)
    started: list[PrivateService] = []
    try:
        service = _ensure_redis(redis, data_dir / "redis")
        if service is not None:
            started.append(service)
        service = _ensure_postgres(postgres, data_dir / "postgres", env, fast)
        if service is not None:
            started.append(service)
    except BaseException:
        stop_services(started)
        raise
    return started


def stop_services(services: Sequence[PrivateService]) -> None:
    """Stop services in reverse start order, each even if another fails to stop."""
    for service in reversed(services):
        try:
            service.stop()
        except Exception as error:  # one stubborn server should not keep the others running
            print(f"services: could not stop {service.name}: {error}", file=sys.stderr)


# --------------------------------------------------------------------------- command line

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


if __name__ == "__main__":
    sys.exit(main())
