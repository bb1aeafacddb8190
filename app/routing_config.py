"""The routing engine's configuration and staff, read from PostgreSQL.

`queueing/` talks to Redis only; this module turns the records (centres, opening hours, staff)
into the pure policy's `Config`, `RegisterCounsellor` events, and the events that tell the
router of an account's changed settings.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import asyncpg

from app.settings import Settings
from app.users import User
from queueing.events import Event, RegisterCounsellor, SetCapacity, UpdateCounsellor
from queueing.hours import OSLO, OpeningHours, norwegian_public_holidays
from queueing.model import BASE_LANGUAGES, CentreConfig, Config


def build_config(
    centres: Iterable[tuple[str, int]],
    hours: Iterable[tuple[str, int, time, time]],
    closed_dates: frozenset[date],
    settings: Settings,
) -> Config:
    """Config from (centre id, overflow seconds) and (centre id, ISO weekday, opens, closes) rows.

    A centre with no opening hours at all is treated as always open: an operator who has not
    entered hours yet should not see every chat of that county overflow as "closed".
    """
    weekly: dict[str, dict[int, list[tuple[time, time]]]] = {}
    for centre, weekday, opens, closes in hours:
        weekly.setdefault(centre, {}).setdefault(weekday - 1, []).append((opens, closes))
    county_centres = {
        centre: CentreConfig(
            overflow_after=float(overflow_seconds),
            schedule=OpeningHours.from_mapping(weekly[centre], closed_dates)
            if centre in weekly
            else None,
        )
        for centre, overflow_seconds in centres
        if centre != "national"
    }
    return Config(
        centres=county_centres,
        extra_languages=frozenset(settings.chat_languages) - BASE_LANGUAGES,
        offer_timeout=float(settings.offer_timeout_seconds),
        seeker_grace=float(settings.seeker_grace_seconds),
        counsellor_grace=float(settings.counsellor_grace_seconds),
    )


async def load_routing_config(conn: asyncpg.Connection, settings: Settings, now: float) -> Config:
    """The current Config, with Norwegian public holidays of this year and the next."""
    year = datetime.fromtimestamp(now, ZoneInfo(OSLO)).year
    centres = [
        (r["id"], r["overflow_seconds"])
        for r in await conn.fetch("SELECT id, overflow_seconds FROM centres")
    ]
    hours = [
        (r["centre_id"], r["weekday"], r["opens"], r["closes"])
        for r in await conn.fetch("SELECT centre_id, weekday, opens, closes FROM opening_hours")
    ]
    return build_config(centres, hours, norwegian_public_holidays([year, year + 1]), settings)


def registration_for(user: User, config: Config) -> RegisterCounsellor | None:
    """The router's view of a counsellor; None for other roles, disabled users and staff with
    no centre, no national-team membership or no language the service offers.

    The routing policy gives each counsellor one county centre; a counsellor listed for several
    is routed for the first by county number.
    """
    languages = frozenset(user.languages) & config.languages
    centre = next((c for c in sorted(user.centres) if c in config.centres), None)
    if user.role != "counsellor" or user.disabled or not languages:
        return None
    if centre is None and not user.national_team:
        return None
    return RegisterCounsellor(
        counsellor_id=str(user.id),
        centre=centre,
        national=user.national_team,
        languages=languages,
        capacity=user.capacity,
    )


# The fields of an account (as `app.users.update_user` names its changes) the router routes by.
_MEMBERSHIP_FIELDS = frozenset({"centres", "national_team", "languages"})


def router_changes(user: User, changed: Collection[str], config: Config) -> list[Event] | None:
    """What the live router is told after `user`'s settings named in `changed` were saved:
    nothing for other roles or other fields; None for a counsellor whose change left them with
    nothing to be routed by (no centre, national team or language the service offers), who is to
    be signed out."""
    if user.role != "counsellor" or user.disabled:
        return []
    registration = registration_for(user, config)
    if registration is None:
        return None if _MEMBERSHIP_FIELDS & set(changed) else []
    events: list[Event] = []
    if _MEMBERSHIP_FIELDS & set(changed):
        events.append(
            UpdateCounsellor(
                registration.counsellor_id,
                registration.centre,
                registration.national,
                registration.languages,
            )
        )
    if "capacity" in changed:
        events.append(SetCapacity(registration.counsellor_id, user.capacity))
    return events
