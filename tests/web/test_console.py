"""The counsellor console in real Chromium against two real instances, real Redis and PostgreSQL:
seekers are driven from Python over the seeker socket, the counsellor only through the page.

Every state a test reaches is checked with axe-core (zero violations), in bokmål and English."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from app.seed import DEMO_PASSWORD
from tests.support.aio import run_sync
from tests.support.browser import assert_accessible, screenshot
from tests.support.environment import RunEnvironment
from tests.support.parties import colleague, seeker
from tests.support.server import ServerProcess, two_instances

# A noisy two-core machine runs two servers, PostgreSQL, Redis and Chromium at once: give every
# expectation room. Nothing here sleeps; Playwright waits until the page shows what is expected.
EXPECT_TIMEOUT_MS = 15_000

# Counts createOscillator calls: the page's beep for a new offer is made with WebAudio.
COUNT_BEEPS = """
window.__oscillators = 0;
const original = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__oscillators += 1;
  return original.call(this);
};
"""


@pytest.fixture(scope="module", autouse=True)
def patient_expectations() -> Iterator[None]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")
def instances(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two instances of one deployment: the console on the first, seekers on the second."""
    with two_instances(module_env.variables(), tmp_path_factory.mktemp("console")) as pair:
        yield pair


# --------------------------------------------------------------------------- the page


def open_console(context: BrowserContext, server: ServerProcess, username: str, lang: str) -> Page:
    """Sign in in the browser and land on the console, connected."""
    context.add_init_script(COUNT_BEEPS)
    page = context.new_page()
    page.goto(f"{server.url}/signin?lang={lang}")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.press("#password", "Enter")
    expect(page).to_have_url(server.url + "/counsellor")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    return page


def go_available(page: Page, label: str) -> None:
    """Choose Available with the keyboard."""
    page.get_by_role("radio", name=label).focus()
    page.keyboard.press("Space")
    expect(page.get_by_role("radio", name=label)).to_be_checked()


def chat_panel(page: Page, nth: int = 0) -> Any:
    return page.locator(".chat-panels > .chat").nth(nth)


def wrap_up_of(module_env: RunEnvironment, chat_id: str) -> asyncpg.Record | None:
    async def read() -> asyncpg.Record | None:
        conn = await asyncpg.connect(module_env.database_url)
        try:
            return await conn.fetchrow(
                "SELECT category, topics, note FROM wrap_ups WHERE chat_id = $1::uuid", chat_id
            )
        finally:
            await conn.close()

    return run_sync(read())


def from_counsellor(frame: dict[str, Any]) -> bool:
    return bool(frame["sender"] == "counsellor")


def overflow_x(page: Page) -> int:
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


# --------------------------------------------------------------------------- tests


def test_a_counsellor_takes_a_chat_from_offer_to_wrap_up_by_keyboard(
    context: BrowserContext,
    instances: tuple[ServerProcess, ServerProcess],
    module_env: RunEnvironment,
) -> None:
    console_server, seeker_server = instances
    page = open_console(context, console_server, "kari", "nb")
    page.set_viewport_size({"width": 1440, "height": 1000})
    expect(page.locator("h1")).to_have_text("Veilederkonsoll")
    expect(page.locator("#no-offers")).to_be_visible()
    assert_accessible(page, "idle (nb)")
    screenshot(page, "console-idle")

    go_available(page, "Tilgjengelig")
    expect(page.locator("#status-note")).to_have_text("Du får tilbud så lenge du har plass.")
    base_title = page.title()

    with seeker(seeker_server, "03", topic="Studievalg") as (chat_id, person):
        person.send("message", client_id="s1", text="Hei, jeg lurer på studievalg.")
        person.receive("ack")

        # The offer: what the chat is about, a countdown that runs, a beep and the page title.
        offer = page.locator(".offer")
        expect(offer).to_have_count(1)
        expect(offer.locator("h3")).to_have_text("Chat tilbudt: Oslo, norsk (bokmål)")
        expect(offer).to_contain_text("Studievalg")
        countdown = offer.locator(".countdown")
        expect(countdown).to_have_text(re.compile(r"^Svar innen \d+ s$"))
        first_reading = countdown.inner_text()
        expect(countdown).not_to_have_text(first_reading)  # it counts down
        expect(page).to_have_title(f"(1) Ny chat tilbudt \N{EN DASH} {base_title}")
        expect(page.locator("#alerter")).to_contain_text("Ny chat tilbudt: Oslo")
        assert page.evaluate("window.__oscillators") >= 1, "a new offer beeps"
        expect(page.locator("#queue-rows")).to_contain_text("Oslo")
        assert_accessible(page, "offer (nb)")
        screenshot(page, "console-offer")

        # Accept by keyboard: the chat opens with what the seeker wrote while waiting, and the
        # message field takes the focus.
        page.keyboard.press("Alt+Shift+A")
        panel = chat_panel(page)
        expect(panel.locator(".message.seeker .text")).to_have_text(
            ["Hei, jeg lurer på studievalg."]
        )
        expect(panel.locator(".message.seeker time")).to_have_text(re.compile(r"^\d\d[:.]\d\d$"))
        expect(panel.get_by_label("Melding til brukeren")).to_be_focused()
        expect(page.locator(".offer")).to_have_count(0)
        expect(page).to_have_title(base_title)
        expect(page.locator("#load")).to_have_text("1 av 2")
        person.receive("assigned")
        # What the console shows is marked read for the seeker.
        assert person.receive("read", lambda f: f["seq"] >= 1)["seq"] == 1

        # Typing both ways, a message both ways, delivered and read marks.
        person.send("typing", active=True)
        expect(panel.locator(".typing")).to_be_visible()
        page.keyboard.type("Hei! Fortell gjerne mer.")
        assert person.receive("typing")["active"] is True
        page.keyboard.press("Enter")
        assert person.receive("message", from_counsellor)["text"] == "Hei! Fortell gjerne mer."
        mine = panel.locator(".message.mine")
        expect(mine).to_have_count(1)
        expect(mine).to_have_attribute("data-mark", "delivered")
        expect(mine.locator(".mark")).to_have_text("Levert")
        person.send("read", seq=2)
        expect(mine.locator(".mark")).to_have_text("Lest")
        person.send("message", client_id="s2", text="Jeg liker <b>realfag</b>.")
        expect(panel.locator(".message.seeker .text").last).to_have_text(
            "Jeg liker <b>realfag</b>."
        )
        expect(panel.locator(".message.seeker b")).to_have_count(0)  # text, never HTML
        expect(panel.locator(".typing")).to_be_hidden()
        expect(page.locator("#announcer")).to_contain_text("Ny melding i Oslo, norsk (bokmål)")
        person.receive("read", lambda f: f["seq"] >= 3)

        # A canned reply, found and inserted by keyboard, then sent.
        page.keyboard.press("Alt+Shift+R")
        expect(panel.get_by_label("Finn et ferdig svar")).to_be_focused()
        page.keyboard.type("øyeblikk")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        composer = panel.get_by_label("Melding til brukeren")
        expect(composer).to_be_focused()
        expect(composer).to_have_value("Takk! Jeg ser på dette nå, et øyeblikk.")
        page.keyboard.press("Enter")
        canned = person.receive("message", from_counsellor)
        assert canned["text"] == "Takk! Jeg ser på dette nå, et øyeblikk."

        # An internal note: shown apart, and never sent to the seeker.
        note = "Vil ha CV-hjelp; send til nasjonalt team."
        panel.get_by_label("Nytt internt notat").fill(note)
        panel.get_by_role("button", name="Lagre notatet").click()
        expect(panel.locator(".note .text")).to_have_text([note])
        expect(panel.locator(".note.pending")).to_have_count(0)
        composer.fill("Et øyeblikk, jeg finner en kollega.")
        composer.press("Enter")
        person.receive("message", from_counsellor)
        assert all(frame["type"] != "note" for frame in person.seen)
        assert all("CV-hjelp" not in json.dumps(frame) for frame in person.seen)
        assert_accessible(page, "chat (nb)")
        screenshot(page, "console-chat")

        # Transfer to a colleague who is available and has room: the chat leaves this console
        # and the colleague is offered it with its history and notes.
        with colleague(seeker_server, "nora") as nora:
            nora.send("status", status="available")
            nora.receive("status")
            panel.get_by_role("button", name="Oppdater listen").click()
            target = panel.get_by_label("Overfør chatten til")
            expect(target.locator("option", has_text="Nora (nasjonalt)")).to_have_text(
                "Nora (nasjonalt): tilgjengelig, plass til 3"
            )
            target.select_option(label="Nora (nasjonalt): tilgjengelig, plass til 3")
            panel.get_by_role("button", name="Overfør", exact=True).click()
            expect(page.locator(".chat-panels > .chat")).to_have_count(0)
            expect(page.locator("#announcer")).to_contain_text("overført til Nora (nasjonalt)")
            handed = nora.receive("offer")
            assert (handed["chat_id"], handed["transferred"]) == (chat_id, True)
            nora.send("accept", chat_id=chat_id)
            nora.receive("synced", lambda f: f["chat_id"] == chat_id)
            assert [f["text"] for f in nora.seen if f["type"] == "note"] == [note]
            assert person.receive("assigned")["counsellor"] == "Nora (nasjonalt)"
            nora.send("end", chat_id=chat_id)
            nora.receive("chat_ended")
            nora.send("wrap_up", chat_id=chat_id, category="referral")
            nora.receive("chat_closed")

    # Another chat, accepted with Tab and Enter on its button, ended, wrapped up and closed.
    with seeker(seeker_server, "03", language="en") as (second_id, person):
        accept = page.get_by_role("button", name="Ta imot")
        expect(accept).to_be_visible()
        accept.focus()
        page.keyboard.press("Enter")
        panel = chat_panel(page)
        expect(panel.locator("h3")).to_have_text("Oslo, engelsk")
        person.receive("assigned")
        panel.get_by_role("button", name="Avslutt chatten").focus()
        page.keyboard.press("Enter")
        expect(panel.get_by_role("button", name="Ja, avslutt chatten")).to_be_focused()
        page.keyboard.press("Enter")
        assert person.receive("ended")["by"] == "counsellor"
        expect(panel.locator(".wrap-up")).to_be_visible()
        expect(panel.get_by_role("heading", name="Oppsummering")).to_be_focused()
        expect(panel.locator(".composer")).to_be_hidden()
        expect(page.locator("#load")).to_have_text("0 av 2")
        assert_accessible(page, "wrap-up (nb)")
        screenshot(page, "console-wrap-up")

        save = panel.get_by_role("button", name="Lagre oppsummeringen og lukk chatten")
        save.click()
        expect(panel.locator(".wrap-up .field-error")).to_have_text("Velg en kategori.")
        expect(panel.get_by_role("radio", name="Refleksjon")).to_be_focused()
        assert_accessible(page, "wrap-up with an error (nb)")
        page.keyboard.press("Space")
        panel.get_by_label("Temaer").fill("studievalg, CV, studievalg")
        panel.get_by_label("Notat som lagres med samtalen").fill("Ønsker ny samtale.")
        save.click()
        expect(page.locator(".chat-panels > .chat")).to_have_count(0)
        expect(page.locator("#announcer")).to_contain_text("Chatten Oslo, engelsk er lukket.")
        expect(page.get_by_role("heading", name="Chattene dine")).to_be_focused()

    record = wrap_up_of(module_env, second_id)
    assert record is not None
    assert (record["category"], record["topics"], record["note"]) == (
        "reflection",
        ["studievalg", "CV"],
        "Ønsker ny samtale.",
    )
    page.get_by_role("radio", name="Borte").check()
    expect(page.locator("#status-note")).to_have_text(
        "Du får ingen nye tilbud. Chattene dine forblir åpne."
    )


def test_a_dropped_connection_and_a_reload_lose_nothing_and_show_nothing_twice(
    context: BrowserContext, instances: tuple[ServerProcess, ServerProcess]
) -> None:
    console_server, seeker_server = instances
    page = open_console(context, console_server, "ola", "en")
    page.set_viewport_size({"width": 1440, "height": 1000})
    assert_accessible(page, "idle (en)")
    go_available(page, "Available")
    with seeker(seeker_server, "46", topic="CV") as (_, person):
        expect(page.locator(".offer h3")).to_have_text("Chat offered: Vestland, Norwegian (bokmål)")
        assert_accessible(page, "offer (en)")
        page.keyboard.press("Alt+Shift+A")
        panel = chat_panel(page)
        person.receive("assigned")
        person.send("message", client_id="m1", text="message 1")
        assert person.receive("ack")["seq"] == 1
        expect(panel.locator(".message.seeker")).to_have_count(1)
        panel.get_by_label("New internal note").fill("first note")
        panel.get_by_role("button", name="Save the note").click()
        expect(panel.locator(".note:not(.pending)")).to_have_count(1)
        assert_accessible(page, "chat (en)")

        # The network goes: the console says so, the seeker goes on writing, and what the
        # counsellor writes meanwhile waits in the outbox.
        context.set_offline(True)
        expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
        for n in range(2, 7):
            person.send("message", client_id=f"m{n}", text=f"message {n}")
            assert person.receive("ack")["seq"] == n
        composer = panel.get_by_label("Message to the seeker")
        composer.fill("Written while offline")
        composer.press("Enter")
        expect(panel.locator(".message.mine.pending .mark")).to_have_text("Sending…")
        panel.get_by_label("New internal note").fill("note while offline")
        panel.get_by_role("button", name="Save the note").click()
        expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
        expect(page.locator("#connection")).to_contain_text("Reconnecting")
        assert_accessible(page, "reconnecting (en)")
        screenshot(page, "console-reconnecting-en")

        # Back online: every missed message once, the outbox delivered once, nothing twice.
        context.set_offline(False)
        expect(page.locator("#connection")).to_have_attribute("data-state", "open")
        seeker_texts = [f"message {n}" for n in range(1, 7)]
        expect(panel.locator(".message.seeker .text")).to_have_text(seeker_texts)
        expect(panel.locator(".message.mine:not(.pending) .text")).to_have_text(
            ["Written while offline"]
        )
        expect(panel.locator(".note:not(.pending) .text")).to_have_text(
            ["first note", "note while offline"]
        )
        reply = person.receive("message", from_counsellor)
        assert reply["text"] == "Written while offline"
        expect(page.locator("#announcer")).to_contain_text(
            "New messages in Vestland, Norwegian (bokmål): 5"
        )
        expected = [*seeker_texts, "Written while offline"]
        seqs = [
            int(s)
            for s in panel.locator(".message").evaluate_all(
                "items => items.map(i => i.dataset.seq)"
            )
        ]
        assert seqs == list(range(1, 8))

        # A reload starts from nothing and gets the whole chat back, once.
        page.reload()
        expect(page.locator("#connection")).to_have_attribute("data-state", "open")
        panel = chat_panel(page)
        expect(panel.locator(".message .text")).to_have_text(expected)
        expect(panel.locator(".message.mine .who")).to_have_text(["You"])
        expect(panel.locator(".note .text")).to_have_text(["first note", "note while offline"])
        person.send("message", client_id="m8", text="after the reload")
        expect(panel.locator(".message .text")).to_have_text([*expected, "after the reload"])
        messages = [f for f in person.seen if f["type"] == "message"]
        assert [m["text"] for m in messages if m["sender"] == "counsellor"] == [
            "Written while offline"
        ], "the seeker got the counsellor's message exactly once"

        page.get_by_role("button", name="End the chat").click()
        page.get_by_role("button", name="Yes, end the chat").click()
        expect(panel.locator(".wrap-up")).to_be_visible()
        assert_accessible(page, "wrap-up (en)")
        panel.get_by_role("radio", name="Information").check()
        panel.get_by_role("button", name="Save the wrap-up and close the chat").click()
        expect(page.locator(".chat-panels > .chat")).to_have_count(0)
    page.get_by_role("radio", name="Away").check()


def test_on_a_phone_chats_are_tabs_and_nothing_scrolls_sideways(
    context: BrowserContext, instances: tuple[ServerProcess, ServerProcess]
) -> None:
    console_server, seeker_server = instances
    page = open_console(context, console_server, "aslak", "nb")
    page.set_viewport_size({"width": 320, "height": 640})
    assert overflow_x(page) <= 0
    go_available(page, "Tilgjengelig")
    with (
        seeker(seeker_server, "55", topic="Jobb i nord") as (_, first),
        seeker(seeker_server, "55", language="en") as (_, second),
    ):
        for held in (1, 2):  # one offer at a time: the second comes once the first is taken
            expect(page.locator(".offer")).to_have_count(1)
            assert overflow_x(page) <= 0
            page.keyboard.press("Alt+Shift+A")
            expect(page.locator(".chat-panels > .chat")).to_have_count(held)
        first.receive("assigned")
        second.receive("assigned")
        tabs = page.get_by_role("tab")
        expect(tabs).to_have_text(["Troms, norsk (bokmål)", "Troms, engelsk"])
        expect(page.get_by_role("tabpanel")).to_have_count(1)
        first.send("message", client_id="f1", text="Hei fra Tromsø")
        second.send("message", client_id="s1", text="Hello from Tromsø")
        # One chat shows; the other counts what came in unseen. Both messages are in before
        # switching: one arriving after it would count as unseen in the tab just left.
        expect(tabs.filter(has_text="(1 nye)")).to_have_count(1)
        expect(page.get_by_role("tabpanel").locator(".message.seeker")).to_have_count(1)
        selected = page.locator("[role=tab][aria-selected=true]")
        selected.focus()
        page.keyboard.press("ArrowRight")
        expect(page.locator("[role=tab][aria-selected=true]")).to_be_focused()
        expect(tabs.filter(has_text="nye")).to_have_count(0)
        expect(page.get_by_role("tabpanel").locator(".message.seeker")).to_have_count(1)
        assert overflow_x(page) <= 0
        assert_accessible(page, "phone with two chats in tabs (nb)")
        screenshot(page, "console-phone")

        # A seeker who leaves ends the chat; the console asks for the wrap-up.
        first.send("leave")
        expect(tabs.filter(has_text="(oppsummering)")).to_have_count(1)
        expect(page.locator("#announcer")).to_contain_text("Brukeren avsluttet chatten")
        page.keyboard.press("Alt+Shift+1")
        panel = page.get_by_role("tabpanel")
        expect(panel.locator(".chat-state")).to_have_text(
            "Brukeren avsluttet chatten. Skriv oppsummeringen for å lukke den."
        )
        assert overflow_x(page) <= 0
        assert_accessible(page, "phone wrap-up (nb)")
        screenshot(page, "console-phone-wrap-up")
        panel.get_by_role("radio", name="Annet").check()
        panel.get_by_role("button", name="Lagre oppsummeringen og lukk chatten").click()
        expect(tabs).to_have_count(1)
        second.send("leave")
        panel = page.get_by_role("tabpanel")
        expect(panel.locator(".wrap-up")).to_be_visible()
        panel.get_by_role("radio", name="Informasjon").check()
        panel.get_by_role("button", name="Lagre oppsummeringen og lukk chatten").click()
        expect(page.locator("#no-chats")).to_be_visible()
    page.get_by_role("radio", name="Borte").check()


def test_alerts_can_be_turned_off_and_an_offer_declined_by_keyboard(
    context: BrowserContext, instances: tuple[ServerProcess, ServerProcess]
) -> None:
    console_server, seeker_server = instances
    page = open_console(context, console_server, "ingrid", "nn")
    expect(page.locator("h1")).to_have_text("Rettleiarkonsoll")
    page.get_by_label("Spel av ein lyd").uncheck()
    page.get_by_label("Vis i sidetittelen").uncheck()
    page.reload()  # the choice is remembered in this browser
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    expect(page.get_by_label("Spel av ein lyd")).not_to_be_checked()
    expect(page.get_by_label("Vis i sidetittelen")).not_to_be_checked()
    base_title = page.title()
    go_available(page, "Tilgjengeleg")
    with seeker(seeker_server, "50", language="nn") as (_, person):
        expect(page.locator(".offer h3")).to_have_text("Chat tilboden: Trøndelag, norsk (nynorsk)")
        expect(page.locator("#alerter")).to_contain_text("Ny chat tilboden")
        assert page.evaluate("window.__oscillators") == 0
        assert page.title() == base_title
        assert_accessible(page, "offer (nn)")
        page.keyboard.press("Alt+Shift+D")
        expect(page.locator(".offer")).to_have_count(0)
        expect(page.locator("#announcer")).to_contain_text("Du avslo chatten Trøndelag")
        person.send("leave")
        person.receive("ended")

    # Auto-accept is kept by the router: the next console's hello says so.
    page.get_by_label("Ta imot tilbod automatisk").check()
    page.reload()
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    expect(page.get_by_label("Ta imot tilbod automatisk")).to_be_checked()
    with seeker(seeker_server, "50", language="nn") as (chat_id, person):
        panel = chat_panel(page)
        expect(panel.locator("h3")).to_have_text("Trøndelag, norsk (nynorsk)")
        expect(page.locator("#announcer")).to_contain_text("vart teken imot automatisk")
        person.receive("assigned")
        person.send("message", client_id="d1", text="Eg vil slette dette.")
        expect(panel.locator(".message.seeker")).to_have_count(1)

        # The seeker deletes the conversation: its words leave the console too; the wrap-up
        # still closes the chat.
        deleted = httpx.delete(
            f"{seeker_server.url}/api/v1/chats/{chat_id}",
            headers={"Authorization": f"Bearer {person.token}"},
        )
        assert deleted.status_code == 204
        expect(panel.locator(".chat-state")).to_have_text(
            "Brukaren sletta samtalen. Skriv oppsummeringa for å lukke chatten."
        )
        expect(panel.locator(".message")).to_have_count(0)
        expect(panel.get_by_label("Notat som blir lagra med samtalen")).to_be_disabled()
        assert_accessible(page, "a deleted conversation's wrap-up (nn)")
        panel.get_by_role("radio", name="Anna").check()
        panel.get_by_role("button", name="Lagre oppsummeringa og lukk chatten").click()
        expect(page.locator(".chat-panels > .chat")).to_have_count(0)
    page.get_by_label("Ta imot tilbod automatisk").uncheck()
    page.get_by_role("radio", name="Borte").check()
