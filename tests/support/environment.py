"""Each test run's own database and Redis key prefix, derived from the configured servers."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/eguide"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def database_url_named(name: str, base: str | None = None) -> str:
    """The configured PostgreSQL server, with another database name."""
    parts = urlsplit(base or os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    return urlunsplit(parts._replace(path=f"/{name}"))


def unique_name(stem: str) -> str:
    return f"{stem}_{secrets.token_hex(4)}"


@dataclass(frozen=True)
class RunEnvironment:
    """Variables that point a server or command at this run's own data."""

    database_url: str
    redis_url: str
    redis_prefix: str

    def variables(self, **overrides: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "EGUIDE_REDIS_PREFIX": self.redis_prefix,
            "EGUIDE_ENV": "test",
            "EGUIDE_LOG_LEVEL": "info",
            # Every test client comes from 127.0.0.1: tests start far more chats than any one
            # real address may (tests/app/test_address_limits.py sets the real limit).
            "EGUIDE_CHAT_STARTS_PER_ADDRESS": "100000",
            "EGUIDE_BAD_TOKENS_PER_ADDRESS": "100000",
        }
        env.update(overrides)
        return env


def new_run_environment() -> RunEnvironment:
    run = secrets.token_hex(4)
    return RunEnvironment(
        database_url=database_url_named(f"eguide_test_{run}"),
        redis_url=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        redis_prefix=f"eguide-test-{run}:",
    )
