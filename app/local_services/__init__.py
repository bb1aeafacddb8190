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

The modules, one responsibility each:

- `errors`: LocalServicesError and ConfigError, the two ways of failing.
- `endpoints`: REDIS_URL and DATABASE_URL parsed into an Endpoint.
- `probes`: is a Redis or PostgreSQL server really answering at host:port?
- `processes`: PrivateService, a server run as our child, and starting/awaiting/stopping it.
- `packages`: finding the servers' programs, installing their Debian packages.
- `redis_server`, `postgres_server`: starting a private Redis or PostgreSQL.
- `provisioning`: ensure_services and stop_services, which decide what to start.
- `command_line` (run by `__main__`): run, up and status, with their signal handling.

Settings a test may monkeypatch (such as postgres_server.ROOT_FALLBACK_BASE) are not re-exported
here: patching a re-exported copy would silently change nothing. Patch them in their module.
"""

from __future__ import annotations

from app.local_services.command_line import main
from app.local_services.endpoints import (
    Endpoint,
    is_loopback,
    parse_endpoint,
    postgres_endpoint,
    redis_endpoint,
)
from app.local_services.errors import ConfigError, LocalServicesError
from app.local_services.packages import ensure_installed, find_postgres_bindir
from app.local_services.postgres_server import ORIGIN_FILE, start_private_postgres
from app.local_services.probes import postgres_answers, postgres_trusts, redis_answers
from app.local_services.processes import PrivateService
from app.local_services.provisioning import ensure_services, stop_services
from app.local_services.redis_server import start_private_redis

__all__ = [
    "ORIGIN_FILE",
    "ConfigError",
    "Endpoint",
    "LocalServicesError",
    "PrivateService",
    "ensure_installed",
    "ensure_services",
    "find_postgres_bindir",
    "is_loopback",
    "main",
    "parse_endpoint",
    "postgres_answers",
    "postgres_endpoint",
    "postgres_trusts",
    "redis_answers",
    "redis_endpoint",
    "start_private_postgres",
    "start_private_redis",
    "stop_services",
]
