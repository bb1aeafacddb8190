"""Settings: defaults that work on one machine, and every malformed value named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.settings import DEFAULT_SECRET_KEY, Settings, SettingsError, load_settings


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.database_name == "eguide"
    assert settings.port == 8000


def test_values_are_read_from_the_environment() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://u:p@db.internal:5433/guide",
            "REDIS_URL": "redis://cache:6380/2",
            "EGUIDE_PORT": "9000",
            "EGUIDE_WORKERS": "4",
            "EGUIDE_COOKIE_SECURE": "yes",
            "EGUIDE_ENV": "Production",
            "EGUIDE_SECRET_KEY": "a-long-production-secret",
        }
    )
    assert settings.database_name == "guide"
    assert (settings.port, settings.workers, settings.cookie_secure) == (9000, 4, True)
    assert settings.production


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://localhost/eguide"),
        ("DATABASE_URL", "postgresql://localhost"),
        ("DATABASE_URL", "postgresql://localhost:notaport/eguide"),
        ("DATABASE_URL", "postgresql:///eguide"),
        ("DATABASE_URL", ""),
        ("REDIS_URL", "http://localhost:6379"),
        ("REDIS_URL", "redis://localhost:99999/0"),
        ("EGUIDE_PORT", "eighty"),
        ("EGUIDE_PORT", "0"),
        ("EGUIDE_PORT", "70000"),
        ("EGUIDE_WORKERS", "-1"),
        ("EGUIDE_ENV", "staging"),
        ("EGUIDE_SESSION_IDLE_SECONDS", "0"),
        ("EGUIDE_COOKIE_SECURE", "maybe"),
        ("EGUIDE_LOG_LEVEL", "loud"),
        ("EGUIDE_SECRET_KEY", "short"),
        ("EGUIDE_REDIS_PREFIX", "  "),
        ("EGUIDE_DB_POOL_MAX", "1000"),
        ("EGUIDE_CHAT_LANGUAGES", "nb,norsk"),
        ("EGUIDE_CHAT_LANGUAGES", ","),
        ("EGUIDE_ALLOWED_ORIGINS", "www.example.no"),
        ("EGUIDE_WIDGET_HOSTS", "https://www.example.no/path"),
        ("EGUIDE_SERVICE_LEVEL_SECONDS", "0"),
        ("EGUIDE_SERVICE_LEVEL_SECONDS", "a minute"),
        ("EGUIDE_METRICS_TOKEN", "short"),
        ("EGUIDE_METRICS_TOKEN", " "),
        ("EGUIDE_MASK_STORED_TEXT", "sometimes"),
        ("EGUIDE_RETENTION_DAYS", "0"),
        ("EGUIDE_RETENTION_DAYS", "30d"),
        ("EGUIDE_PURGE_INTERVAL_SECONDS", "0"),
    ],
)
def test_malformed_setting_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({variable: value})
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")


def test_the_service_level_target_and_metrics_token_are_read() -> None:
    assert (Settings().service_level_seconds, Settings().metrics_token) == (60, None)
    settings = load_settings(
        {"EGUIDE_SERVICE_LEVEL_SECONDS": "45", "EGUIDE_METRICS_TOKEN": "a-token-of-24-characters"}
    )
    assert (settings.service_level_seconds, settings.metrics_token) == (
        45,
        "a-token-of-24-characters",
    )


def test_privacy_settings_default_to_masking_and_thirty_days() -> None:
    settings = load_settings({})
    assert (settings.mask_stored_text, settings.retention_days) == (True, 30)
    assert settings.purge_interval_seconds == 86400
    changed = load_settings(
        {
            "EGUIDE_MASK_STORED_TEXT": "off",
            "EGUIDE_RETENTION_DAYS": "7",
            "EGUIDE_PURGE_INTERVAL_SECONDS": "3600",
        }
    )
    assert (changed.mask_stored_text, changed.retention_days) == (False, 7)
    assert changed.purge_interval_seconds == 3600


def test_widget_hosts_are_origins() -> None:
    settings = load_settings(
        {"EGUIDE_WIDGET_HOSTS": "https://www.example.no, https://a.kommune.no"}
    )
    assert settings.widget_hosts == ("https://www.example.no", "https://a.kommune.no")


def test_chat_languages_always_include_bokmaal_nynorsk_and_english() -> None:
    settings = load_settings({"EGUIDE_CHAT_LANGUAGES": "se, UK"})
    assert settings.chat_languages == ("nb", "nn", "en", "se", "uk")


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(SettingsError, match="EGUIDE_SECRET_KEY"):
        load_settings({"EGUIDE_ENV": "production", "EGUIDE_SECRET_KEY": DEFAULT_SECRET_KEY})


def test_pool_bounds_must_be_ordered() -> None:
    with pytest.raises(SettingsError, match="EGUIDE_DB_POOL_MIN"):
        load_settings({"EGUIDE_DB_POOL_MIN": "20", "EGUIDE_DB_POOL_MAX": "10"})


@given(st.text(max_size=12))
def test_any_port_text_is_a_valid_port_or_an_error_naming_the_variable(raw: str) -> None:
    try:
        settings = load_settings({"EGUIDE_PORT": raw})
    except SettingsError as error:
        assert error.variable == "EGUIDE_PORT"
    else:
        assert 1 <= settings.port <= 65535


@given(st.text(max_size=60))
def test_any_database_url_is_accepted_only_when_well_formed(raw: str) -> None:
    try:
        settings = load_settings({"DATABASE_URL": raw})
    except SettingsError as error:
        assert error.variable == "DATABASE_URL"
    else:
        assert settings.database_url.startswith(("postgresql://", "postgres://"))
        assert settings.database_name
