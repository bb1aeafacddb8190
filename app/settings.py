"""Settings, read from the environment once into one frozen object.

Every variable has a default that works on one machine, so `make run` needs no configuration.
A malformed value raises `SettingsError` naming the variable, so an operator sees at once
which line of their environment to fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

# A development key: good enough on a laptop, refused in production (see `validate`).
DEFAULT_SECRET_KEY = "eguide-development-secret-change-me"  # noqa: S105 - refused in production

ENVIRONMENTS = ("development", "production", "test")
LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsError(ValueError):
    """A setting is malformed; the message starts with the variable's name."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    """Everything the service can be told from outside, validated."""

    database_url: str = "postgresql://postgres@127.0.0.1:5432/eguide"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Every Redis key the service writes starts with this, so one Redis can hold a developer's
    # demo data and a test run side by side without either seeing the other.
    redis_prefix: str = "eguide:"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    environment: str = "development"
    secret_key: str = DEFAULT_SECRET_KEY
    # Thirty minutes without a request ends a staff session: long enough for a reflective chat
    # where the counsellor mostly reads, short enough for a shared office computer.
    session_idle_seconds: int = 1800
    cookie_secure: bool = False
    log_level: str = "info"
    log_json: bool = True
    db_pool_min: int = 1
    db_pool_max: int = 10
    # Sized above the peak of concurrent Redis calls one instance makes; the pool blocks (with a
    # timeout) rather than raising when all connections are busy.
    redis_pool_size: int = 50
    # Languages a seeker may choose for a chat: bokmål, nynorsk and English always, plus those
    # the counsellors can offer (Northern Sami, and the languages of many newly arrived).
    chat_languages: tuple[str, ...] = ("nb", "nn", "en", "se", "uk", "ar", "so", "ti", "fa", "pl")
    # Routing times; see queueing/model.py for why each default is what it is.
    offer_timeout_seconds: int = 30
    seeker_grace_seconds: int = 60
    counsellor_grace_seconds: int = 60
    # Frames a second one console may send, sustained (bursts of three times as many): a
    # counsellor in several chats sends messages, typing and read signals for each.
    counsellor_frame_rate: int = 20
    # Chats one client address may start in ten minutes (app/address_limits.py says why).
    chat_starts_per_address: int = 30
    # Resume tokens that open nothing one client address may send in ten minutes.
    bad_tokens_per_address: int = 20
    # Sign-in failures allowed before each further attempt must wait (per account, and per
    # client address), and the first wait; each further failure doubles it (signin_limits.py).
    # An office behind one address has many staff, so its allowance is larger than an account's.
    signin_account_failures: int = 5
    signin_address_failures: int = 20
    signin_first_delay_seconds: int = 1
    # Origins (scheme://host[:port]) besides the service's own allowed to open its WebSockets.
    allowed_origins: tuple[str, ...] = ()
    # Sites (origins) allowed to embed the seeker's chat widget: the chat page may be framed by
    # these and by the service itself, by nothing else.
    widget_hosts: tuple[str, ...] = ()
    # The service level counts chats answered within this many seconds: a minute is the common
    # target for chat services, and what the issue of the dashboard asks for by default.
    service_level_seconds: int = 60
    # Bearer token `GET /metrics` requires; unset, the endpoint answers 404 (no token, no
    # metrics: figures about the queues are not for everyone).
    metrics_token: str | None = None
    # Identity numbers, phone numbers and e-mail addresses are masked in what PostgreSQL keeps of
    # messages, notes, topics, survey comments and wrap-up notes (chat/masking.py).
    mask_stored_text: bool = True
    # The words of a chat (messages, notes, comments) are purged this many days after it ended.
    retention_days: int = 30
    # How often the purge runs (one instance of many takes it each time): once a day.
    purge_interval_seconds: int = 24 * 3600

    @property
    def database_name(self) -> str:
        """The database part of DATABASE_URL."""
        return urlsplit(self.database_url).path.lstrip("/")

    @property
    def production(self) -> bool:
        return self.environment == "production"


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name)
    if value is None:
        return default
    value = value.strip()
    if not value:
        raise SettingsError(name, "is set but empty")
    return value


def _parsed(
    env: Mapping[str, str], name: str, default: T, parse: Callable[[str], T], expect: str
) -> T:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        return parse(raw.strip())
    except ValueError:
        raise SettingsError(name, f"expected {expect}, got {raw!r}") from None


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(raw)
        return value

    return parse


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in options:
            raise ValueError(raw)
        return raw.lower()

    return parse


def _url(env: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    url = _text(env, name, default)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise SettingsError(name, "has a port that is not a number from 0 to 65535") from None
    if parts.scheme not in schemes:
        raise SettingsError(name, f"must start with {' or '.join(s + '://' for s in schemes)}")
    if not parts.hostname:
        raise SettingsError(name, "names no host")
    return url


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise SettingsError naming the first bad variable."""
    env = os.environ if env is None else env
    base = Settings()
    database_url = _url(env, "DATABASE_URL", base.database_url, ("postgresql", "postgres"))
    if not urlsplit(database_url).path.lstrip("/"):
        raise SettingsError("DATABASE_URL", "names no database (add /eguide at the end)")
    settings = Settings(
        database_url=database_url,
        redis_url=_url(env, "REDIS_URL", base.redis_url, ("redis", "rediss")),
        redis_prefix=_text(env, "EGUIDE_REDIS_PREFIX", base.redis_prefix),
        host=_text(env, "EGUIDE_HOST", base.host),
        port=_parsed(env, "EGUIDE_PORT", base.port, _bounded_int(1, 65535), "a port 1-65535"),
        workers=_parsed(env, "EGUIDE_WORKERS", base.workers, _bounded_int(1, 64), "1-64"),
        environment=_parsed(
            env, "EGUIDE_ENV", base.environment, _choice(ENVIRONMENTS), " or ".join(ENVIRONMENTS)
        ),
        secret_key=_text(env, "EGUIDE_SECRET_KEY", base.secret_key),
        session_idle_seconds=_parsed(
            env,
            "EGUIDE_SESSION_IDLE_SECONDS",
            base.session_idle_seconds,
            _bounded_int(1, 7 * 24 * 3600),
            "seconds between 1 and 604800",
        ),
        cookie_secure=_parsed(
            env, "EGUIDE_COOKIE_SECURE", base.cookie_secure, _boolean, "true or false"
        ),
        log_level=_parsed(
            env, "EGUIDE_LOG_LEVEL", base.log_level, _choice(LOG_LEVELS), " or ".join(LOG_LEVELS)
        ),
        log_json=_parsed(env, "EGUIDE_LOG_JSON", base.log_json, _boolean, "true or false"),
        db_pool_min=_parsed(
            env, "EGUIDE_DB_POOL_MIN", base.db_pool_min, _bounded_int(0, 100), "0-100"
        ),
        db_pool_max=_parsed(
            env, "EGUIDE_DB_POOL_MAX", base.db_pool_max, _bounded_int(1, 100), "1-100"
        ),
        redis_pool_size=_parsed(
            env, "EGUIDE_REDIS_POOL_SIZE", base.redis_pool_size, _bounded_int(2, 10000), "2-10000"
        ),
        chat_languages=_parsed(
            env,
            "EGUIDE_CHAT_LANGUAGES",
            base.chat_languages,
            _languages,
            "comma-separated language codes such as nb,nn,en,se",
        ),
        offer_timeout_seconds=_parsed(
            env,
            "EGUIDE_OFFER_TIMEOUT_SECONDS",
            base.offer_timeout_seconds,
            _bounded_int(5, 600),
            "seconds between 5 and 600",
        ),
        seeker_grace_seconds=_parsed(
            env,
            "EGUIDE_SEEKER_GRACE_SECONDS",
            base.seeker_grace_seconds,
            _bounded_int(1, 3600),
            "seconds between 1 and 3600",
        ),
        counsellor_grace_seconds=_parsed(
            env,
            "EGUIDE_COUNSELLOR_GRACE_SECONDS",
            base.counsellor_grace_seconds,
            _bounded_int(1, 3600),
            "seconds between 1 and 3600",
        ),
        counsellor_frame_rate=_parsed(
            env,
            "EGUIDE_COUNSELLOR_FRAME_RATE",
            base.counsellor_frame_rate,
            _bounded_int(1, 100000),
            "frames per second between 1 and 100000",
        ),
        chat_starts_per_address=_parsed(
            env,
            "EGUIDE_CHAT_STARTS_PER_ADDRESS",
            base.chat_starts_per_address,
            _bounded_int(1, 100000),
            "a number of chats between 1 and 100000",
        ),
        bad_tokens_per_address=_parsed(
            env,
            "EGUIDE_BAD_TOKENS_PER_ADDRESS",
            base.bad_tokens_per_address,
            _bounded_int(1, 100000),
            "a number of tokens between 1 and 100000",
        ),
        signin_account_failures=_parsed(
            env,
            "EGUIDE_SIGNIN_ACCOUNT_FAILURES",
            base.signin_account_failures,
            _bounded_int(1, 1000),
            "a number of failures between 1 and 1000",
        ),
        signin_address_failures=_parsed(
            env,
            "EGUIDE_SIGNIN_ADDRESS_FAILURES",
            base.signin_address_failures,
            _bounded_int(1, 100000),
            "a number of failures between 1 and 100000",
        ),
        signin_first_delay_seconds=_parsed(
            env,
            "EGUIDE_SIGNIN_FIRST_DELAY_SECONDS",
            base.signin_first_delay_seconds,
            _bounded_int(1, 60),
            "seconds between 1 and 60",
        ),
        allowed_origins=_parsed(
            env,
            "EGUIDE_ALLOWED_ORIGINS",
            base.allowed_origins,
            _origins,
            "comma-separated origins such as https://www.example.no",
        ),
        widget_hosts=_parsed(
            env,
            "EGUIDE_WIDGET_HOSTS",
            base.widget_hosts,
            _origins,
            "comma-separated origins such as https://www.example.no",
        ),
        service_level_seconds=_parsed(
            env,
            "EGUIDE_SERVICE_LEVEL_SECONDS",
            base.service_level_seconds,
            _bounded_int(1, 3600),
            "seconds between 1 and 3600",
        ),
        metrics_token=_text(env, "EGUIDE_METRICS_TOKEN", "") or None,
        mask_stored_text=_parsed(
            env, "EGUIDE_MASK_STORED_TEXT", base.mask_stored_text, _boolean, "true or false"
        ),
        retention_days=_parsed(
            env,
            "EGUIDE_RETENTION_DAYS",
            base.retention_days,
            _bounded_int(1, 3650),
            "days between 1 and 3650",
        ),
        purge_interval_seconds=_parsed(
            env,
            "EGUIDE_PURGE_INTERVAL_SECONDS",
            base.purge_interval_seconds,
            _bounded_int(1, 7 * 24 * 3600),
            "seconds between 1 and 604800",
        ),
    )
    validate(settings)
    return settings


def _languages(raw: str) -> tuple[str, ...]:
    codes = tuple(dict.fromkeys(code.strip().lower() for code in raw.split(",") if code.strip()))
    if not codes or not all(re.fullmatch(r"[a-z]{2,3}", code) for code in codes):
        raise ValueError(raw)
    return tuple(dict.fromkeys(("nb", "nn", "en", *codes)))


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise ValueError(raw)
    return origins


def validate(settings: Settings) -> None:
    """Checks that span several variables."""
    if settings.db_pool_min > settings.db_pool_max:
        raise SettingsError("EGUIDE_DB_POOL_MIN", "is larger than EGUIDE_DB_POOL_MAX")
    if len(settings.secret_key) < 16:
        raise SettingsError("EGUIDE_SECRET_KEY", "must be at least 16 characters")
    if settings.metrics_token is not None and len(settings.metrics_token) < 16:
        raise SettingsError("EGUIDE_METRICS_TOKEN", "must be at least 16 characters")
    if settings.production and settings.secret_key == DEFAULT_SECRET_KEY:
        raise SettingsError(
            "EGUIDE_SECRET_KEY", "must be set to a secret of your own in production"
        )
