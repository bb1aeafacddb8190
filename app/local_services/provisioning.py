"""Making Redis and PostgreSQL answer: use what answers, start privately what does not."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from app.local_services.endpoints import Endpoint, postgres_endpoint, redis_endpoint
from app.local_services.errors import LocalServicesError
from app.local_services.packages import ensure_installed
from app.local_services.postgres_server import (
    _ensure_role,
    _stop_packaged_clusters,
    start_private_postgres,
)
from app.local_services.probes import (
    _port_taken,
    postgres_answers,
    postgres_trusts,
    redis_answers,
)
from app.local_services.processes import PrivateService
from app.local_services.redis_server import start_private_redis


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
