"""app.local_services against the real redis-server and PostgreSQL binaries (no fakes).

Servers we start listen on free ports picked by the kernel, so the machine's own Redis and
PostgreSQL (if any) are never touched; tests that need those skip when they are absent.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import local_services as ls
from app.local_services import postgres_server

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_REDIS = ("127.0.0.1", 6379)
SYSTEM_POSTGRES = ("127.0.0.1", 5432)

needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed"
)
needs_postgres = pytest.mark.skipif(
    ls.find_postgres_bindir() is None, reason="PostgreSQL's server programs are not installed"
)
needs_system_services = pytest.mark.skipif(
    not (ls.redis_answers(*SYSTEM_REDIS) and ls.postgres_answers(*SYSTEM_POSTGRES)),
    reason="no system Redis on 6379 and PostgreSQL on 5432",
)


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel's pick for port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A scratch directory the `postgres` user can reach.

    Running as root, PostgreSQL runs as `postgres`, which cannot enter pytest's tmp_path
    (under the 0700 /tmp/pytest-of-root); that case has a test of its own below.
    """
    path = Path(tempfile.mkdtemp(prefix="eguide-services-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def free_env(user: str = "postgres", password: str | None = None) -> dict[str, str]:
    """The environment with both URLs pointing at free local ports."""
    auth = f"{user}:{password}" if password else user
    return {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "DATABASE_URL": f"postgresql://{auth}@127.0.0.1:{free_port()}/eguide",
    }


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.local_services", *args]


# --------------------------------------------------------------------------- probes


@needs_system_services
def test_probes_recognise_the_system_servers() -> None:
    assert ls.redis_answers(*SYSTEM_REDIS)
    assert ls.postgres_answers(*SYSTEM_POSTGRES)
    # (Cross-checks run against our private servers below: a PING sent to the system
    # PostgreSQL would leave an "invalid length of startup packet" line in its log.)


def test_probes_say_no_where_nothing_listens() -> None:
    port = free_port()
    assert not ls.redis_answers("127.0.0.1", port)
    assert not ls.postgres_answers("127.0.0.1", port)


# --------------------------------------------------------------------------- private servers


@needs_redis
def test_private_redis_answers_until_stopped(data_dir: Path) -> None:
    port = free_port()
    assert not ls.redis_answers("127.0.0.1", port)
    with ls.start_private_redis(port, data_dir / "redis") as service:
        assert (service.name, service.host, service.port) == ("redis", "127.0.0.1", port)
        assert ls.redis_answers("127.0.0.1", port)
        assert not ls.postgres_answers("127.0.0.1", port)  # speaks its own protocol only
    assert service.process.returncode is not None
    assert not ls.redis_answers("127.0.0.1", port)
    assert (data_dir / "redis" / "redis.log").exists()
    service.stop()  # a second stop is harmless


@needs_postgres
def test_private_postgres_answers_until_stopped(data_dir: Path) -> None:
    port = free_port()
    service = ls.start_private_postgres(port, data_dir / "postgres", fast=True)
    try:
        assert (service.name, service.port) == ("postgres", port)
        assert ls.postgres_answers("127.0.0.1", port)
        assert not ls.redis_answers("127.0.0.1", port)  # speaks its own protocol only
        assert ls.postgres_trusts("127.0.0.1", port, "postgres")  # lets us in password-less
        assert (data_dir / "postgres" / "pgdata" / "PG_VERSION").exists()
    finally:
        service.stop()
    assert not ls.postgres_answers("127.0.0.1", port)
    # The cluster survives for the next start, which must not run initdb again.
    version = data_dir / "postgres" / "pgdata" / "PG_VERSION"
    made = version.stat().st_mtime_ns
    with ls.start_private_postgres(port, data_dir / "postgres", fast=True):
        assert ls.postgres_answers("127.0.0.1", port)
    assert version.stat().st_mtime_ns == made


@needs_redis
def test_starting_on_a_taken_port_is_a_clear_error(data_dir: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(ls.LocalServicesError, match=f"127.0.0.1:{port}"):
            ls.start_private_redis(port, data_dir / "redis")


@needs_redis
def test_a_server_that_cannot_start_reports_the_end_of_its_log(data_dir: Path) -> None:
    # 203.0.113.0/24 is reserved for documentation, so no interface here has that address.
    with pytest.raises(ls.LocalServicesError, match="exited with code") as caught:
        ls.start_private_redis(free_port(), data_dir / "redis", host="203.0.113.7")
    assert "redis.log" in str(caught.value)
    assert "203.0.113.7" in str(caught.value).split("redis.log", 1)[1]  # the log's own words


@needs_postgres
@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another user")
def test_postgres_as_root_keeps_its_cluster_elsewhere_when_data_dir_is_unreachable(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)  # like /root: the postgres user cannot pass
    fallback = data_dir / "fallback"
    monkeypatch.setattr(postgres_server, "ROOT_FALLBACK_BASE", fallback)
    # Leftovers of earlier runs: one whose data dir is gone, one still in use, one not ours.
    for name, origin in (("gone", tmp_path / "deleted"), ("kept", tmp_path), ("alien", None)):
        (fallback / f"postgres-{name}").mkdir(parents=True)
        if origin is not None:
            (fallback / f"postgres-{name}" / ls.ORIGIN_FILE).write_text(f"{origin}\n")
    port = free_port()
    with ls.start_private_postgres(port, hidden / "postgres", fast=True) as service:
        assert ls.postgres_answers("127.0.0.1", port)
        assert service.data_dir.parent == fallback
    assert (hidden / "postgres" / "postgres.log").exists()  # the log stays where asked
    assert sorted(p.name for p in fallback.iterdir()) == sorted(
        ["postgres-kept", "postgres-alien", service.data_dir.name]
    )


# --------------------------------------------------------------------------- ensure_services


@needs_system_services
def test_ensure_services_uses_servers_that_answer(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/eguide",
    }
    assert ls.ensure_services(data_dir, env) == []
    err = capsys.readouterr().err
    assert "services: redis at 127.0.0.1:6379 answers, using it" in err
    assert "services: postgres at 127.0.0.1:5432 answers, using it" in err
    assert list(data_dir.iterdir()) == []


@needs_redis
@needs_postgres
def test_ensure_services_starts_what_does_not_answer(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = free_env(user="eguide_test", password="s3cret-pw")
    redis = ls.redis_endpoint(env)
    postgres = ls.postgres_endpoint(env)
    services = ls.ensure_services(data_dir, env, fast=True)
    try:
        assert [s.name for s in services] == ["redis", "postgres"]
        assert ls.redis_answers(redis.host, redis.port)
        assert ls.postgres_answers(postgres.host, postgres.port)
        # The URL's user did not exist in the fresh cluster; it must be able to log in now.
        bindir = ls.find_postgres_bindir()
        assert bindir is not None
        who = subprocess.run(
            [bindir / "psql", "-XAtq", "-h", "127.0.0.1", "-p", str(postgres.port),
             "-U", "eguide_test", "-d", "postgres", "-c", "select current_user"],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        assert who.stdout.strip() == "eguide_test"
    finally:
        ls.stop_services(services)
    assert not ls.redis_answers(redis.host, redis.port)
    assert not ls.postgres_answers(postgres.host, postgres.port)
    err = capsys.readouterr().err
    assert f"services: started private redis on 127.0.0.1:{redis.port}" in err
    assert f"services: started private postgres on 127.0.0.1:{postgres.port}" in err
    assert "s3cret-pw" not in err


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("REDIS_URL", "redis://127.0.0.1:notaport/0"),
        ("REDIS_URL", "http://127.0.0.1:6379/0"),
        ("REDIS_URL", "   "),
        ("DATABASE_URL", "postgresql://user:s3cret-pw@127.0.0.1:99999/eguide"),
        ("DATABASE_URL", "postgresql:///eguide"),
        ("DATABASE_URL", "eguide"),
    ],
)
def test_a_malformed_url_names_its_variable(data_dir: Path, variable: str, url: str) -> None:
    with pytest.raises(ls.ConfigError) as caught:
        ls.ensure_services(data_dir, {variable: url})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")
    assert "s3cret-pw" not in str(caught.value)
    assert list(data_dir.iterdir()) == []  # nothing was started


def test_a_server_elsewhere_that_does_not_answer_is_an_error(data_dir: Path) -> None:
    # 192.0.2.0/24 is reserved for documentation: nothing answers there, and it is not ours.
    env = {"REDIS_URL": "redis://192.0.2.1:6379/0", "DATABASE_URL": "postgresql://x@192.0.2.1/e"}
    with pytest.raises(ls.LocalServicesError, match=r"REDIS_URL: .*192\.0\.2\.1:6379"):
        ls.ensure_services(data_dir, env)


# --------------------------------------------------------------------------- ensure_installed


@needs_redis
def test_ensure_installed_leaves_an_installed_binary_alone() -> None:
    assert ls.ensure_installed("redis-server", "redis-server") is False


def test_ensure_installed_names_the_package_when_it_cannot_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no such binary, and no apt-get either
    with pytest.raises(ls.LocalServicesError, match="eguide-test-package"):
        ls.ensure_installed("eguide-no-such-binary", "eguide-test-package")


# --------------------------------------------------------------------------- command line


@needs_redis
@needs_postgres
def test_run_exits_with_the_commands_code_and_stops_what_it_started(data_dir: Path) -> None:
    env = free_env()
    redis, postgres = ls.redis_endpoint(env), ls.postgres_endpoint(env)
    probe = (
        "import sys; from app.local_services import *; "
        f"sys.exit(3 if redis_answers('127.0.0.1', {redis.port}) "
        f"and postgres_answers('127.0.0.1', {postgres.port}) else 4)"
    )
    done = subprocess.run(
        cli("run", "--data-dir", str(data_dir), "--fast", "--", sys.executable, "-c", probe),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "started private redis" in done.stderr
    assert "started private postgres" in done.stderr
    assert not ls.redis_answers(redis.host, redis.port)
    assert not ls.postgres_answers(postgres.host, postgres.port)


@needs_redis
@needs_postgres
def test_run_passes_sigterm_on_and_still_stops_its_services(data_dir: Path) -> None:
    env = free_env()
    redis = ls.redis_endpoint(env)
    child = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
        "sys.exit(1)\n"
    )
    wrapper = subprocess.Popen(
        cli("run", "--data-dir", str(data_dir), "--fast", "--", sys.executable, "-c", child),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wrapper.stdout is not None
        assert wrapper.stdout.readline().strip() == "ready"
        assert ls.redis_answers(redis.host, redis.port)
        wrapper.send_signal(signal.SIGTERM)
        assert wrapper.wait(timeout=30) == 7
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
            wrapper.wait()
    assert not ls.redis_answers(redis.host, redis.port)


def test_run_without_a_command_is_a_usage_error() -> None:
    done = subprocess.run(cli("run"), cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "error:" in done.stderr


def test_a_malformed_url_on_the_command_line_exits_2_naming_it(data_dir: Path) -> None:
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:notaport/0"}
    done = subprocess.run(
        cli("run", "--data-dir", str(data_dir), "--", "true"),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert "REDIS_URL" in done.stderr


def test_status_reports_servers_that_do_not_answer() -> None:
    env = free_env()
    done = subprocess.run(
        cli("status"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert "does not answer" in done.stdout
