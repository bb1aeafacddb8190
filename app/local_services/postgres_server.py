"""A private PostgreSQL: its cluster, the user it runs as, its start, and its roles."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from app.local_services.errors import LocalServicesError
from app.local_services.packages import find_postgres_bindir
from app.local_services.probes import _postgres_accepts_logins
from app.local_services.processes import (
    PrivateService,
    _log_tail,
    _popen,
    _refuse_taken_port,
    _run,
    _RunAs,
    _wait_until_ready,
)

# initdb on a slow disk plus the first start can take a while; a minute is generous.
POSTGRES_START_TIMEOUT = 60.0

# A Unix socket's path must fit in sockaddr_un.sun_path (108 bytes with the trailing NUL).
MAX_UNIX_SOCKET_PATH = 107

# Where the cluster goes when the `postgres` user cannot reach the data dir (see _cluster_root).
ROOT_FALLBACK_BASE = Path("/var/lib/eguide")
ORIGIN_FILE = "data-dir"  # in a fallback cluster root: the data dir it stands in for


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


def _stop_packaged_clusters() -> None:
    """Stop the clusters Debian's postgresql package created and started as it was installed.

    Called only right after `ensure_installed` installed the package: that cluster asks for a
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
