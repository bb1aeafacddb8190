"""Demo data for `eguide seed-demo`: opening hours and canned replies for every centre, and a
handful of staff.

Idempotent: running it twice changes nothing the second time. Demo passwords are printed so a
newcomer can sign in; they are demo data only, never for a real deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import asyncpg

from app.users import UserError, create_user, find_user


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: str
    centres: tuple[str, ...] = ()
    national_team: bool = False
    languages: tuple[str, ...] = ("nb",)
    capacity: int = 2


DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - printed for demo sign-in on purpose

DEMO_USERS = (
    DemoUser("kari", "Kari (Oslo)", "counsellor", ("03",), languages=("nb", "en")),
    DemoUser("ola", "Ola (Vestland)", "counsellor", ("46",), languages=("nb", "nn")),
    DemoUser("aslak", "Aslak (Troms)", "counsellor", ("55",), languages=("nb", "se", "en")),
    DemoUser("ingrid", "Ingrid (Trøndelag)", "counsellor", ("50",), languages=("nb", "nn")),
    DemoUser(
        "nora",
        "Nora (nasjonalt)",
        "counsellor",
        national_team=True,
        languages=("nb", "nn", "en"),
        capacity=3,
    ),
    DemoUser(
        "amir",
        "Amir (nasjonalt)",
        "counsellor",
        national_team=True,
        languages=("nb", "en", "ar"),
        capacity=3,
    ),
    DemoUser("sofie", "Sofie (leder)", "supervisor", ("03",), languages=("nb", "en")),
    DemoUser("admin", "Administrator", "admin", languages=("nb", "en")),
)

# County centres answer in office hours; the national team stays open longer four days a week.
COUNTY_HOURS = {day: (time(9), time(15)) for day in range(1, 6)}
NATIONAL_HOURS = {**{day: (time(9), time(19)) for day in range(1, 5)}, 5: (time(9), time(15))}

# Every centre starts with the same few canned replies in bokmål, nynorsk and English, as
# (title, body) by language; "{centre}" is the centre's name (for the national team, the
# seeker's own county centre). Centres edit and add their own.
DEMO_CANNED_REPLIES = {
    "nb": (
        ("Velkommen", "Hei, og velkommen til karriereveiledning på chat! Hva vil du snakke om?"),
        ("Et øyeblikk", "Takk! Jeg ser på dette nå, et øyeblikk."),
        ("Fortell mer", "Kan du fortelle litt mer om hva du har gjort til nå, og hva du ønsker?"),
        ("Samtale ved senteret", "Du kan også avtale en samtale med {centre}."),
        ("Avslutning", "Takk for samtalen! Du er alltid velkommen tilbake."),
    ),
    "nn": (
        ("Velkomen", "Hei, og velkomen til karriererettleiing på chat! Kva vil du snakke om?"),
        ("Augneblink", "Takk! Eg ser på dette no, ei augneblink."),
        ("Fortel meir", "Kan du fortelje litt meir om kva du har gjort til no, og kva du ønskjer?"),
        ("Samtale ved senteret", "Du kan òg avtale ein samtale med {centre}."),
        ("Avslutning", "Takk for samtalen! Du er alltid velkomen tilbake."),
    ),
    "en": (
        (
            "Welcome",
            "Hello, and welcome to career guidance on chat! What would you like to discuss?",
        ),
        ("One moment", "Thank you! I am looking into this now, one moment."),
        ("Tell me more", "Could you tell me a little more about what you have done so far?"),
        ("Meeting at the centre", "You can also book a meeting with {centre}."),
        ("Closing", "Thank you for the conversation! You are always welcome back."),
    ),
}

NATIONAL_TEAM_REFERS_TO = {
    "nb": "karrieresenteret i fylket ditt",
    "nn": "karrieresenteret i fylket ditt",
    "en": "the career centre in your county",
}


async def seed_demo(conn: asyncpg.Connection) -> list[DemoUser]:
    """Add the demo opening hours, canned replies and users that are missing; return the users
    added."""
    async with conn.transaction():
        centres = [r["id"] for r in await conn.fetch("SELECT id FROM centres ORDER BY id")]
        rows = [
            (centre, day, opens, closes)
            for centre in centres
            for day, (opens, closes) in (
                NATIONAL_HOURS if centre == "national" else COUNTY_HOURS
            ).items()
        ]
        await conn.executemany(
            """INSERT INTO opening_hours (centre_id, weekday, opens, closes)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
            rows,
        )
        names = {r["id"]: r["name"] for r in await conn.fetch("SELECT id, name FROM centres")}

        def centre_name(centre: str, language: str) -> str:
            return NATIONAL_TEAM_REFERS_TO[language] if centre == "national" else names[centre]

        await conn.executemany(
            """INSERT INTO canned_replies (centre_id, language, title, body)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
            [
                (centre, language, title, body.replace("{centre}", centre_name(centre, language)))
                for centre in centres
                for language, replies in DEMO_CANNED_REPLIES.items()
                for title, body in replies
            ],
        )
    added = []
    for demo in DEMO_USERS:
        if await find_user(conn, demo.username) is not None:
            continue
        try:
            await create_user(
                conn,
                username=demo.username,
                display_name=demo.display_name,
                role=demo.role,
                password=DEMO_PASSWORD,
                centres=demo.centres,
                national_team=demo.national_team,
                languages=demo.languages,
                capacity=demo.capacity,
            )
        except UserError:
            if await find_user(conn, demo.username) is None:
                raise
            continue  # a seed running at the same moment added it first
        added.append(demo)
    return added
