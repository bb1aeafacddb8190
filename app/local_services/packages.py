"""Finding the servers' programs, and installing their Debian packages when they are missing."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from app.local_services.errors import LocalServicesError
from app.local_services.processes import _run

POSTGRES_BINARIES = frozenset({"postgres", "initdb", "pg_ctl", "psql"})

_apt_updated = False  # `apt-get update` is slow; once per process is enough


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
