"""The supervisor dashboard in real Chromium against two real instances, real Redis and
PostgreSQL: the page follows a seeker from arrival to answer live, the supervisor observes the
chat, changes a capacity by keyboard; every state is checked with axe-core, in bokmål and English.
Non-supervisors get 403 on the page."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from app.seed import DEMO_PASSWORD
from tests.support.browser import assert_accessible, screenshot
from tests.support.environment import RunEnvironment
from tests.support.forms import sign_in
from tests.support.parties import colleague, seeker
from tests.support.server import ServerProcess, two_instances

EXPECT_TIMEOUT_MS = 15_000


@pytest.fixture(scope="module", autouse=True)
def patient_expectations() -> Iterator[None]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")
def instances(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """The dashboard on the first instance, seekers and counsellors on the second."""
    env = module_env.variables(
        EGUIDE_REDIS_PREFIX=f"{module_env.redis_prefix}{secrets.token_hex(3)}:"
    )
    with two_instances(env, tmp_path_factory.mktemp("dashboard")) as pair:
        yield pair


def open_dashboard(context: BrowserContext, server: ServerProcess, lang: str) -> Page:
    page = context.new_page()
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.goto(f"{server.url}/signin?lang={lang}")
    page.fill("#username", "sofie")
    page.fill("#password", DEMO_PASSWORD)
    page.press("#password", "Enter")
    expect(page).to_have_url(server.url + "/supervisor")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    return page


def oslo_row(page: Page, name: str = "Karrieresenteret i Oslo") -> object:
    return page.locator("#queue-rows tr", has=page.locator("th", has_text=name))


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        (
            "nb",
            {
                "h1": "Ledertavle",
                "waiting": "Karrieresenteret i Oslo: 1 venter",
                "observe": "Følg med",
                "stop": "Slutt å følge med",
                "save": "Lagre",
                "saved": "Kapasiteten er endret til 3.",
            },
        ),
        (
            "en",
            {
                "h1": "Supervisor dashboard",
                "waiting": "Karrieresenteret i Oslo: 1 waiting",
                "observe": "Observe",
                "stop": "Stop observing",
                "save": "Save",
                "saved": "Capacity changed to 3.",
            },
        ),
    ],
)
def test_the_dashboard_follows_a_seeker_from_arrival_to_answer(
    context: BrowserContext,
    instances: tuple[ServerProcess, ServerProcess],
    lang: str,
    texts: dict[str, str],
) -> None:
    dashboard_server, chat_server = instances
    page = open_dashboard(context, dashboard_server, lang)
    expect(page.locator("h1")).to_have_text(texts["h1"])
    oslo = page.locator("#queue-rows tr").filter(has_text="Karrieresenteret i Oslo")
    expect(oslo.locator("td").nth(0)).to_have_text("0")  # waiting
    expect(page.locator("#waiting-empty")).to_be_visible()
    today = page.locator("#today-rows tr").filter(has_text="Karrieresenteret i Oslo")
    expect(today).to_have_count(1)
    chats_today = int(today.locator("td").nth(0).inner_text())
    answered_today = int(today.locator("td").nth(1).inner_text())
    assert_accessible(page, f"dashboard idle ({lang})")

    with colleague(chat_server, "kari") as kari:
        row = page.locator("#staff-rows tr").filter(has_text="Kari")
        expect(row).to_have_count(1)
        with seeker(chat_server, "03") as (chat_id, person):
            person.send("message", client_id="s1", text="Hei! Jeg vil bli sykepleier.")
            person.receive("ack")
            # Arrived: the waiting figure and the waiting list, live.
            expect(oslo.locator("td").nth(0)).to_have_text("1")
            expect(page.locator("#waiting-lists h3")).to_have_text(texts["waiting"])
            expect(today.locator("td").nth(0)).to_have_text(str(chats_today + 1))
            assert_accessible(page, f"dashboard with a seeker waiting ({lang})")
            if lang == "nb":
                screenshot(page, "e2e-dashboard-waiting")

            kari.send("status", status="available")
            offer = kari.receive("offer")
            kari.send("accept", chat_id=offer["chat_id"])
            kari.receive("synced")
            # Answered: the chat leaves the waiting list and shows as active, with Kari's load.
            expect(oslo.locator("td").nth(0)).to_have_text("0")
            expect(oslo.locator("td").nth(3)).to_have_text("1")  # active
            expect(page.locator("#waiting-empty")).to_be_visible()
            observe = page.locator("#active-rows button", has_text=texts["observe"])
            expect(observe).to_have_count(1)
            expect(row.locator("td").nth(3)).to_contain_text("1")
            expect(today.locator("td").nth(1)).to_have_text(str(answered_today + 1))
            expect(today.locator("td").nth(6)).to_have_text("100 %")  # answered within 60 s

            # Observe by keyboard: the panel takes the focus and shows what was said.
            observe.focus()
            page.keyboard.press("Enter")
            panel = page.locator("#observed section")
            expect(panel.locator("h2")).to_be_focused()
            expect(panel.locator("[role=log]")).to_contain_text("Hei! Jeg vil bli sykepleier.")
            kari.send("message", chat_id=chat_id, client_id="k1", text="Så fint! Fortell mer.")
            expect(panel.locator("[role=log]")).to_contain_text("Så fint! Fortell mer.")
            assert_accessible(page, f"dashboard observing ({lang})")
            if lang == "nb":
                screenshot(page, "e2e-dashboard-observing")
            panel.get_by_role("button", name=texts["stop"]).click()
            expect(page.locator("#observed section")).to_have_count(0)

            # Capacity by keyboard.
            capacity = row.locator("input[type=number]")
            capacity.fill("3")
            capacity.press("Enter")
            expect(page.locator("#staff-note")).to_have_text(texts["saved"])
            expect(row.locator("td").nth(3)).to_contain_text("3")
            assert_accessible(page, f"dashboard after a change ({lang})")
            capacity = row.locator("input[type=number]")
            capacity.fill("2")
            capacity.press("Enter")
            expect(row.locator("td").nth(3)).to_contain_text("2")
            kari.send("end", chat_id=chat_id)
            kari.receive("chat_ended")


@pytest.mark.parametrize("username", ["kari", None])
def test_non_supervisors_are_refused_every_supervisor_route(
    instances: tuple[ServerProcess, ServerProcess], username: str | None
) -> None:
    server, _ = instances
    with httpx.Client(base_url=server.url) as client:
        if username is not None:
            assert sign_in(client, username, DEMO_PASSWORD).status_code == 303
        response = client.get("/supervisor")
        if username is None:
            assert response.status_code == 303
            assert response.headers["location"].startswith("/signin")
        else:
            assert response.status_code == 403
