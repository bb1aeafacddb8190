"""The routing configuration and staff as read from PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from app.routing_config import load_routing_config, registration_for, router_changes
from app.settings import Settings
from app.users import User, find_user
from queueing.events import SetCapacity, UpdateCounsellor
from queueing.model import CentreConfig, Config

OSLO = ZoneInfo("Europe/Oslo")


def _at(year: int, month: int, day: int, hour: int) -> float:
    return datetime(year, month, day, hour, tzinfo=OSLO).timestamp()


async def test_every_county_centre_is_configured_with_its_hours_and_holidays(
    db: asyncpg.Connection,
) -> None:
    now = _at(2027, 3, 1, 10)
    config = await load_routing_config(db, Settings(), now)
    assert len(config.centres) == 15
    assert "national" not in config.centres
    oslo = config.centres["03"]
    assert oslo.overflow_after == 90.0
    assert oslo.schedule is not None
    assert oslo.schedule.is_open(_at(2027, 3, 1, 10))  # Monday 10:00
    assert not oslo.schedule.is_open(_at(2027, 3, 1, 16))  # after 15:00
    assert not oslo.schedule.is_open(_at(2027, 3, 6, 10))  # Saturday
    assert not oslo.schedule.is_open(_at(2027, 5, 17, 10))  # Constitution Day, a Monday
    assert {"nb", "nn", "en", "se"} <= config.languages


async def test_staff_are_registered_by_role_centre_team_and_language(
    db: asyncpg.Connection,
) -> None:
    config = await load_routing_config(db, Settings(), _at(2027, 3, 1, 10))
    users = {name: await find_user(db, name) for name in ("kari", "nora", "aslak", "sofie")}
    kari = registration_for(users["kari"], config)  # type: ignore[arg-type]
    nora = registration_for(users["nora"], config)  # type: ignore[arg-type]
    aslak = registration_for(users["aslak"], config)  # type: ignore[arg-type]
    assert kari is not None and (kari.centre, kari.national) == ("03", False)
    assert nora is not None and (nora.centre, nora.national, nora.capacity) == (None, True, 3)
    assert aslak is not None and "se" in aslak.languages
    assert registration_for(users["sofie"], config) is None  # type: ignore[arg-type]


COUNSELLOR = User(
    id=7,
    username="kari",
    display_name="Kari",
    role="counsellor",
    national_team=False,
    languages=("nb", "en"),
    capacity=3,
    disabled=False,
    centres=("11", "03"),
)
CONFIG = Config(centres={"03": CentreConfig(), "11": CentreConfig()})


@pytest.mark.parametrize(
    ("user", "changed", "events"),
    [
        (COUNSELLOR, {"capacity"}, [SetCapacity("7", 3)]),
        (
            COUNSELLOR,
            {"centres", "languages"},
            [UpdateCounsellor("7", "03", False, frozenset({"nb", "en"}))],
        ),
        (
            replace(COUNSELLOR, languages=("nb", "de"), national_team=True),
            {"national_team", "languages", "capacity"},
            [UpdateCounsellor("7", "03", True, frozenset({"nb"})), SetCapacity("7", 3)],
        ),
        (replace(COUNSELLOR, role="supervisor"), {"centres"}, []),
        (replace(COUNSELLOR, disabled=True), {"centres"}, []),
        (replace(COUNSELLOR, centres=()), {"centres"}, None),
        (replace(COUNSELLOR, languages=("de",)), {"languages"}, None),
        (replace(COUNSELLOR, centres=()), {"capacity"}, []),  # unroutable before, too
    ],
    ids=[
        "capacity",
        "membership",
        "both",
        "supervisor",
        "disabled",
        "no-centre",
        "no-language",
        "capacity-of-unroutable",
    ],
)
def test_a_changed_account_tells_the_router_what_it_routes_by(
    user: User, changed: set[str], events: list[object] | None
) -> None:
    """The same rules as a registration: the first centre by number, the languages the service
    offers; None when nothing is left to route by (the counsellor is signed out)."""
    assert router_changes(user, changed, CONFIG) == events
