"""A private Redis: redis-server started as our child, with nothing persisted."""

from __future__ import annotations

import shutil
from pathlib import Path

from app.local_services.errors import LocalServicesError
from app.local_services.probes import redis_answers
from app.local_services.processes import (
    PrivateService,
    _popen,
    _refuse_taken_port,
    _wait_until_ready,
)

REDIS_START_TIMEOUT = 20.0


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
