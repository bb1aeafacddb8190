"""Where Redis and PostgreSQL should answer: REDIS_URL and DATABASE_URL, parsed."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import SplitResult, unquote, urlsplit

from app.local_services.errors import ConfigError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/eguide"


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
