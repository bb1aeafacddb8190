"""The service end to end, as people use it: a seeker and two counsellors, each in a browser
context of their own (real Chromium), on two instances of one deployment (the seeker's pages on
the first, the consoles on the second), with real Redis and PostgreSQL. Nothing is played from
Python: every frame comes from the pages' own scripts.

The main path, in bokmål: the widget on the example host page, the queue, the offer, the chat,
a transfer to a colleague, the end, the wrap-up, the transcript and the survey. On the way,
markup written on each side shows as text on the other and runs nowhere, and the seeker's
network drops and their page reloads without a message lost or shown twice. The ended chat then
shows in English, and a second test runs two whole chats in English by keyboard alone on both
sides. axe-core finds nothing at any state either page reaches.

The screenshots named e2e-* (in tests/screenshots/) are the ones docs/ui.md shows:
`python -m tests.support.docs_screenshots` copies them to docs/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Frame, Locator, Page, expect

from app.seed import DEMO_PASSWORD
from tests.support.aio import run_sync
from tests.support.browser import assert_accessible, screenshot
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

HOST_PAGE = "/static/example/host.html"
# Two servers, PostgreSQL, Redis and three browser contexts share two noisy cores: every
# expectation gets room. Nothing sleeps; Playwright waits until a page shows what is expected.
EXPECT_TIMEOUT_MS = 20_000
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}

# Markup from each side: shown as text, never run. Either would set window.__pwned or open a
# dialog if it ever became HTML.
SEEKER_MARKUP = 'Test: <script>alert(1)</script> og <img src=x onerror="window.__pwned=1">'
COUNSELLOR_MARKUP = 'Svar: <img src=x onerror="window.__pwned=1"> og <script>alert(1)</script>'
INERT = """() => ({
  pwned: typeof window.__pwned,
  images: document.querySelectorAll('img[src="x"], img[onerror]').length,
  scripts: Array.from(document.scripts).filter((s) => s.textContent.includes('alert(1)')).length,
})"""
# What has the keyboard focus, described well enough to steer by.
FOCUS = """() => {
  const e = document.activeElement;
  if (!e) return {};
  return {
    id: e.id || '',
    dataId: (e.dataset && e.dataset.id) || '',
    name: e.getAttribute('name') || '',
    value: typeof e.value === 'string' ? e.value : '',
    text: (e.textContent || '').trim().slice(0, 60),
  };
}"""


# --------------------------------------------------------------------------- servers and data


async def _execute(database_url: str, query: str, *args: Any) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(query, *args)
    finally:
        await conn.close()


async def _fetch(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def fetch(env: RunEnvironment, query: str, *args: Any) -> list[asyncpg.Record]:
    return run_sync(_fetch(env.database_url, query, *args))


@pytest.fixture(scope="module")
def instances(
    module_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """The seeker's instance and the consoles' instance. No opening hours at all: every centre
    counts as always open, so the test runs at any hour and on holidays."""
    run_sync(_execute(module_env.database_url, "DELETE FROM opening_hours"))
    # An offer waits for two minutes (30 s in production): axe-core and screenshots between an
    # offer and its answer must not run out its time on a slow machine.
    env = module_env.variables(EGUIDE_OFFER_TIMEOUT_SECONDS="120")
    logs = tmp_path_factory.mktemp("end-to-end")
    with (
        ServerProcess(env, logs / "seeker.log") as seeker_side,
        ServerProcess(env, logs / "console.log") as console_side,
    ):
        yield seeker_side, console_side


@pytest.fixture(scope="module", autouse=True)
def patient_expectations() -> Iterator[None]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[[str], BrowserContext]]:
    """Browser contexts, one per person (nothing shared: cookies, storage, network), closed
    after the test."""
    opened: list[BrowserContext] = []

    def new(locale: str = "nb-NO") -> BrowserContext:
        context = browser.new_context(locale=locale, viewport=DESKTOP)  # type: ignore[arg-type]
        opened.append(context)
        return context

    yield new
    for context in opened:
        context.close()


# Chats a test started, as (server, chat id, token): deleted after the test whatever happened.
STARTED: list[tuple[str, str, str]] = []


@pytest.fixture(autouse=True)
def delete_started_chats() -> Iterator[None]:
    yield
    while STARTED:
        server_url, chat_id, token = STARTED.pop()
        httpx.delete(
            f"{server_url}/api/v1/chats/{chat_id}", headers={"Authorization": f"Bearer {token}"}
        )


@contextmanager
def starting(page: Page, server: ServerProcess) -> Iterator[dict[str, Any]]:
    """Around what starts a chat in the page (or its frame): the new chat's id and token, from
    the server's answer as the page got it."""
    new: dict[str, Any] = {}
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/chats") and r.request.method == "POST"
    ) as answer:
        yield new
    new.update(answer.value.json())
    STARTED.append((server.url, new["chat_id"], new["token"]))


# --------------------------------------------------------------------------- pages


DIALOGS: list[str] = []


def watched(page: Page) -> Page:
    """Any dialog the page (or a frame in it) opens is noted and dismissed: none may open."""

    def noted(dialog: Dialog) -> None:
        DIALOGS.append(f"{page.url}: {dialog.type} {dialog.message}")
        dialog.dismiss()

    page.on("dialog", noted)
    return page


def assert_inert(page: Page) -> None:
    """Nothing that came as text ran or became an element, in the page or any frame of it."""
    for frame in page.frames:
        found = frame.evaluate(INERT)
        assert found == {"pwned": "undefined", "images": 0, "scripts": 0}, (frame.url, found)
    assert not DIALOGS, DIALOGS


def sign_in(context: BrowserContext, server: ServerProcess, username: str, lang: str) -> Page:
    page = watched(context.new_page())
    page.goto(f"{server.url}/signin?lang={lang}")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.press("#password", "Enter")
    expect(page).to_have_url(server.url + "/counsellor")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    return page


def chat_frame(page: Page) -> Frame:
    frame = page.frame(url=re.compile(r"/chat\?embed=1"))
    assert frame is not None, [f.url for f in page.frames]
    return frame


def frame_accessible(page: Page, state: str) -> None:
    assert_accessible(chat_frame(page), state)  # type: ignore[arg-type]


def host_accessible(page: Page, state: str) -> None:
    """The host page with the widget, without the chat's own document (checked on its own by
    frame_accessible). Taken together, axe finds the chat page's unnamed banner and main
    landmarks beside the host page's own (landmark-unique): embed.html's to fix."""
    assert_accessible(page, state, frames=False)


def seeker_says(chat: Any, text: str) -> None:
    field = chat.locator("#message-input")
    field.fill(text)
    field.press("Enter")


def counsellor_says(panel: Locator, label: str, text: str) -> None:
    field = panel.get_by_label(label)
    field.fill(text)
    field.press("Enter")


def seqs(items: Locator) -> list[int]:
    return [int(s or 0) for s in items.evaluate_all("items => items.map(i => i.dataset.seq)")]


def no_sideways_scroll(target: Page | Frame) -> bool:
    overflow = target.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return bool(overflow <= 0)


def focused(page: Page) -> dict[str, str]:
    found: dict[str, str] = page.evaluate(FOCUS)
    return found


def tab_to(
    page: Page, what: str, wanted: Callable[[dict[str, str]], bool], limit: int = 30
) -> None:
    """Press Tab until the focused element is the one wanted."""
    passed: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if wanted(now):
            return
        passed.append(now.get("id") or now.get("dataId") or now.get("text") or "?")
    raise AssertionError(f"Tab never reached {what}; it passed {passed}")


def tab_to_id(page: Page, element_id: str) -> None:
    tab_to(page, f"#{element_id}", lambda f: f.get("id") == element_id)


def tab_to_part(page: Page, part: str) -> None:
    """A part of a console chat panel (their ids are made unique from the template's data-id)."""
    tab_to(page, part, lambda f: f.get("dataId") == part)


# --------------------------------------------------------------------------- the main path

FIRST = "Hei! Jeg lurer på hva jeg kan jobbe med."
ASLAK_HELLO = "Hei, jeg heter Aslak. Fortell gjerne litt om deg selv."
SEEKER_STORY = "Jeg er ferdig med videregående og vil jobbe med noe praktisk."
ASLAK_HANDOVER = "Jeg setter deg over til en kollega i det nasjonale teamet."
NOTE = "Vil ha et praktisk yrke; det nasjonale teamet tar over."
NORA_HELLO = "Hei, dette er Nora. Jeg har lest samtalen deres."
NORA_WHILE_AWAY = "Har du tenkt på fagbrev?"
SEEKER_WHILE_AWAY = "Ja, nettet forsvant et øyeblikk. Fagbrev høres bra ut."
SEEKER_BACK = "Nå er jeg tilbake."
NORA_BYE = "Flott. Lykke til videre!"


def test_a_seeker_and_two_counsellors_in_their_own_browsers_from_the_host_page_to_the_survey(
    new_context: Callable[[str], BrowserContext],
    instances: tuple[ServerProcess, ServerProcess],
    module_env: RunEnvironment,
) -> None:
    seeker_server, console_server = instances
    DIALOGS.clear()

    # Aslak, Troms's counsellor, opens the console and becomes available.
    aslak = sign_in(new_context("nb-NO"), console_server, "aslak", "nb")
    expect(aslak.locator("h1")).to_have_text("Veilederkonsoll")
    aslak.get_by_role("radio", name="Tilgjengelig").check()
    expect(aslak.locator("#status-note")).to_have_text("Du får tilbud så lenge du har plass.")
    expect(aslak.locator("#no-offers")).to_be_visible()
    expect(aslak.locator("#no-chats")).to_be_visible()
    assert_accessible(aslak, "console, available and idle (nb)")
    screenshot(aslak, "e2e-console-idle")

    # The seeker finds the launcher on a county's page and opens the chat.
    seeker_context = new_context("nb-NO")
    page = watched(seeker_context.new_page())
    page.goto(seeker_server.url + HOST_PAGE)
    launcher = page.locator("eguide-widget .launcher")  # its name follows the chat's language
    expect(launcher).to_have_accessible_name("Chat med en veileder")
    host_accessible(page, "host page, widget closed (nb)")
    launcher.click()
    panel = page.locator("eguide-widget .panel")
    chat = page.frame_locator("eguide-widget iframe")
    expect(chat.locator("#county")).to_be_focused()
    expect(chat.locator("#county")).to_have_value("55")
    host_accessible(page, "host page, widget open (nb)")
    frame_accessible(page, "start form (nb)")
    screenshot(page, "e2e-seeker-form", element=panel)

    chat.locator("#topic").fill("Jobbsøking")
    chat.get_by_label("Jeg har lest dette og vil starte en chat").check()
    with starting(page, seeker_server) as started:
        chat.get_by_role("button", name="Start chatten").click()
    chat_id = started["chat_id"]
    heading = chat.locator("#chat-status-heading")
    expect(heading).to_have_text("Du står i kø")
    expect(chat.locator("#chat-status-detail")).to_contain_text("Din plass i køen: 1.")
    expect(chat.locator("#message-input")).to_be_focused()
    seeker_says(chat, FIRST)
    own_marks = chat.locator(".message--own .message-mark")
    expect(own_marks).to_have_text(["Sendt"])
    frame_accessible(page, "waiting (nb)")
    screenshot(page, "e2e-seeker-waiting", element=panel)

    # The offer: while Aslak decides, the seeker still waits.
    offer = aslak.locator(".offer")
    expect(offer.locator("h3")).to_have_text("Chat tilbudt: Troms, norsk (bokmål)")
    expect(offer).to_contain_text("Jobbsøking")
    expect(offer.locator(".countdown")).to_have_text(re.compile(r"^Svar innen \d+ s$"))
    assert_accessible(aslak, "console, offer (nb)")
    screenshot(aslak, "e2e-console-offer")
    expect(heading).to_have_text("Du står i kø")
    offer.get_by_role("button", name="Ta imot").click()
    aslak_chat = aslak.locator(".chat-panels > .chat")
    aslak_texts = aslak_chat.locator(".message .text")
    expect(aslak_texts).to_have_text([FIRST])
    expect(aslak_chat.get_by_label("Melding til brukeren")).to_be_focused()
    expect(heading).to_have_text("Du chatter med Aslak (Troms)")
    expect(aslak.locator(".offer")).to_have_count(0)

    # The conversation, both ways, with an internal note the seeker never sees.
    seeker_texts = chat.locator("#messages > li .message-text")
    counsellor_says(aslak_chat, "Melding til brukeren", ASLAK_HELLO)
    expect(seeker_texts).to_have_text([FIRST, ASLAK_HELLO])
    seeker_says(chat, SEEKER_STORY)
    expect(aslak_texts).to_have_text([FIRST, ASLAK_HELLO, SEEKER_STORY])
    aslak_chat.get_by_label("Nytt internt notat").fill(NOTE)
    aslak_chat.get_by_role("button", name="Lagre notatet").click()
    expect(aslak_chat.locator(".note:not(.pending) .text")).to_have_text([NOTE])
    expect(aslak_chat.locator(".message.mine .mark")).to_have_text(["Lest"])
    expect(own_marks).to_have_text(["Lest", "Lest"])
    frame_accessible(page, "chatting (nb)")
    assert_accessible(aslak, "console, chatting (nb)")
    screenshot(page, "e2e-seeker-chatting", element=panel)
    screenshot(aslak, "e2e-console-chat")
    screenshot(page, "e2e-widget-host-page")

    # Both at phone width: the widget fills the screen, the console shows its chats as tabs.
    page.set_viewport_size(PHONE)
    expect(panel).to_have_css("width", f"{PHONE['width']}px")
    assert no_sideways_scroll(chat_frame(page))  # the host page's own styles are not ours
    frame_accessible(page, "chatting at phone width (nb)")
    screenshot(page, "e2e-seeker-phone", full_page=False)
    page.set_viewport_size(DESKTOP)
    aslak.set_viewport_size(PHONE)
    expect(aslak.get_by_role("tab")).to_have_text(["Troms, norsk (bokmål)"])
    expect(aslak.get_by_role("tabpanel").locator(".message .text")).to_have_text(
        [FIRST, ASLAK_HELLO, SEEKER_STORY]
    )
    assert no_sideways_scroll(aslak)
    assert_accessible(aslak, "console at phone width (nb)")
    aslak.locator("#chats-heading").evaluate("h => h.scrollIntoView({block: 'start'})")
    screenshot(aslak, "e2e-console-phone", full_page=False)
    aslak.set_viewport_size(DESKTOP)
    expect(aslak.get_by_role("tab")).to_be_hidden()

    # Markup from each side is text on the other, and runs nowhere.
    seeker_says(chat, SEEKER_MARKUP)
    expect(aslak_texts.last).to_have_text(SEEKER_MARKUP)
    counsellor_says(aslak_chat, "Melding til brukeren", COUNSELLOR_MARKUP)
    expect(seeker_texts.last).to_have_text(COUNSELLOR_MARKUP)
    counsellor_says(aslak_chat, "Melding til brukeren", ASLAK_HANDOVER)
    expected = [FIRST, ASLAK_HELLO, SEEKER_STORY, SEEKER_MARKUP, COUNSELLOR_MARKUP, ASLAK_HANDOVER]
    expect(seeker_texts).to_have_text(expected)
    expect(aslak_texts).to_have_text(expected)
    assert_inert(page)
    assert_inert(aslak)
    frame_accessible(page, "chatting with markup as text (nb)")

    # A colleague on the national team signs in in a browser of her own, and Aslak hands her
    # the chat.
    nora = sign_in(new_context("nb-NO"), console_server, "nora", "nb")
    nora.get_by_role("radio", name="Tilgjengelig").check()
    expect(nora.locator("#status-note")).to_have_text("Du får tilbud så lenge du har plass.")
    assert_accessible(nora, "colleague's console, idle (nb)")
    aslak_chat.get_by_role("button", name="Oppdater listen").click()
    target = aslak_chat.get_by_label("Overfør chatten til")
    choice = "Nora (nasjonalt): tilgjengelig, plass til 3"
    expect(target.locator("option", has_text="Nora (nasjonalt)")).to_have_text(choice)
    target.select_option(label=choice)
    aslak_chat.get_by_role("button", name="Overfør", exact=True).click()
    expect(aslak.locator(".chat-panels > .chat")).to_have_count(0)
    expect(aslak.locator("#announcer")).to_contain_text("overført til Nora (nasjonalt)")
    assert_accessible(aslak, "console after the transfer (nb)")
    expect(heading).to_have_text("Du står i kø")
    expect(chat.locator("#chat-note")).to_have_text(
        "Du blir satt over til en annen veileder. Vent litt."
    )
    frame_accessible(page, "being transferred (nb)")
    screenshot(page, "e2e-seeker-transfer", element=panel)

    handed = nora.locator(".offer")
    expect(handed.locator("h3")).to_have_text("Chat tilbudt: Troms, norsk (bokmål)")
    expect(handed).to_contain_text("Ja, fra en kollega")
    assert_accessible(nora, "colleague's console, transferred offer (nb)")
    handed.get_by_role("button", name="Ta imot").click()
    nora_chat = nora.locator(".chat-panels > .chat")
    nora_texts = nora_chat.locator(".message .text")
    # The whole history and the note came along; Aslak's words are his, the markup is text.
    expect(nora_texts).to_have_text(expected)
    expect(nora_chat.locator(".message.colleague .who").first).to_have_text("Aslak (Troms)")
    expect(nora_chat.locator(".note .text")).to_have_text([NOTE])
    expect(heading).to_have_text("Du chatter med Nora (nasjonalt)")
    expect(chat.locator("#chat-note")).to_be_hidden()
    assert_inert(nora)
    counsellor_says(nora_chat, "Melding til brukeren", NORA_HELLO)
    expected.append(NORA_HELLO)
    expect(seeker_texts).to_have_text(expected)
    assert NOTE not in chat_frame(page).content()
    assert_accessible(nora, "colleague's console, chatting (nb)")
    frame_accessible(page, "chatting with the colleague (nb)")

    # The seeker's network goes. Nora writes meanwhile, and so does the seeker.
    seeker_context.set_offline(True)
    expect(chat.locator("#connection")).to_contain_text("Kobler til igjen")
    counsellor_says(nora_chat, "Melding til brukeren", NORA_WHILE_AWAY)
    expect(nora_chat.locator(".message.mine:not(.pending)")).to_have_count(2)  # stored
    expect(nora_chat.locator(".message.mine").last).to_have_attribute("data-mark", "sent")
    seeker_says(chat, SEEKER_WHILE_AWAY)
    expect(own_marks.last).to_have_text("Ikke sendt ennå: sendes når forbindelsen er tilbake")
    expect(seeker_texts).to_have_text([*expected, SEEKER_WHILE_AWAY])
    frame_accessible(page, "reconnecting (nb)")
    screenshot(page, "e2e-seeker-reconnecting", element=panel)

    # It comes back, and the page is reloaded at once, whatever was still on its way.
    seeker_context.set_offline(False)
    expect(chat.locator("#connection")).to_be_empty()
    page.reload()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(heading).to_have_text("Du chatter med Nora (nasjonalt)")
    expected += [NORA_WHILE_AWAY, SEEKER_WHILE_AWAY]
    expect(seeker_texts).to_have_text(expected)
    expect(nora_texts).to_have_text(expected)
    expect(nora_chat.locator(".message.mine .mark").last).to_have_text(re.compile("Levert|Lest"))
    seeker_says(chat, SEEKER_BACK)
    expect(nora_texts.last).to_have_text(SEEKER_BACK)
    counsellor_says(nora_chat, "Melding til brukeren", NORA_BYE)
    expected += [SEEKER_BACK, NORA_BYE]
    frame_accessible(page, "chatting after the reload (nb)")

    # Every message once, in order, on both screens and in the database.
    expect(seeker_texts).to_have_text(expected)
    expect(nora_texts).to_have_text(expected)
    expect(own_marks).not_to_contain_text(["Ikke sendt", "Sender"])
    numbers = list(range(1, len(expected) + 1))
    assert seqs(chat.locator("#messages > li")) == numbers
    assert seqs(nora_chat.locator(".message")) == numbers
    rows = fetch(
        module_env,
        "SELECT seq, sender_role, body FROM messages WHERE chat_id = $1::uuid ORDER BY seq",
        chat_id,
    )
    seeker_lines = {FIRST, SEEKER_STORY, SEEKER_MARKUP, SEEKER_WHILE_AWAY, SEEKER_BACK}
    assert [(r["seq"], r["sender_role"], r["body"]) for r in rows] == [
        (n, "seeker" if text in seeker_lines else "counsellor", text)
        for n, text in zip(numbers, expected, strict=True)
    ]

    # Nora ends the chat and writes the wrap-up; the seeker is asked to rate it.
    nora_chat.get_by_role("button", name="Avslutt chatten").click()
    nora_chat.get_by_role("button", name="Ja, avslutt chatten").click()
    expect(nora_chat.locator(".wrap-up")).to_be_visible()
    expect(nora_chat.get_by_role("heading", name="Oppsummering")).to_be_focused()
    expect(chat.locator("#after-heading")).to_be_focused()
    expect(chat.locator("#after-detail")).to_have_text("Veilederen avsluttet chatten.")
    expect(chat.locator("#composer")).to_be_hidden()
    expect(chat.locator("#survey")).to_be_visible()
    expect(seeker_texts).to_have_text(expected)
    frame_accessible(page, "ended, with the survey (nb)")
    chat.locator("#after-view").evaluate("v => v.scrollIntoView({block: 'start'})")
    screenshot(page, "e2e-seeker-ended", element=panel)
    nora_chat.get_by_role("radio", name="Informasjon").check()
    nora_chat.get_by_label("Temaer").fill("jobbsøking, fagbrev")
    nora_chat.get_by_label("Notat som lagres med samtalen").fill("Vil vurdere fagbrev.")
    assert_accessible(nora, "wrap-up (nb)")
    screenshot(nora, "e2e-console-wrap-up")
    nora_chat.get_by_role("button", name="Lagre oppsummeringen og lukk chatten").click()
    expect(nora.locator(".chat-panels > .chat")).to_have_count(0)
    expect(nora.locator("#announcer")).to_contain_text("er lukket")
    assert_accessible(nora, "console after the wrap-up (nb)")
    wrap_up = fetch(
        module_env,
        "SELECT category, topics, note FROM wrap_ups WHERE chat_id = $1::uuid",
        chat_id,
    )
    assert [(r["category"], r["topics"], r["note"]) for r in wrap_up] == [
        ("information", ["jobbsøking", "fagbrev"], "Vil vurdere fagbrev.")
    ]

    # The transcript, as text and as a web page: every message once, in order, and the markup
    # still text.
    with page.expect_download() as text_download:
        chat.get_by_role("button", name="Last ned som tekst").click()
    text = Path(text_download.value.path()).read_text(encoding="utf-8")
    at = [text.find(line) for line in expected]
    assert -1 not in at and at == sorted(at), at
    assert all(text.count(line) == 1 for line in expected)
    assert NOTE not in text
    with page.expect_download() as html_download:
        chat.get_by_role("button", name="Last ned som nettside").click()
    html = Path(html_download.value.path()).read_text(encoding="utf-8")
    assert html_download.value.suggested_filename.endswith(".html")
    viewer = watched(seeker_context.new_page())
    viewer.set_content(html)
    expect(viewer.locator("body")).to_contain_text(SEEKER_MARKUP)
    expect(viewer.locator("body")).to_contain_text(COUNSELLOR_MARKUP)
    assert_inert(viewer)
    viewer.close()

    # The survey.
    chat.get_by_label("5", exact=True).check()
    chat.get_by_label("Noe du vil fortelle oss? (valgfritt)").fill("Fikk god hjelp.")
    chat.get_by_role("button", name="Send vurdering").click()
    expect(chat.locator("#survey-thanks")).to_be_focused()
    expect(chat.locator("#survey")).to_be_hidden()
    frame_accessible(page, "survey answered (nb)")
    survey = fetch(
        module_env, "SELECT score, comment FROM survey_answers WHERE chat_id = $1::uuid", chat_id
    )
    assert [(r["score"], r["comment"]) for r in survey] == [(5, "Fikk god hjelp.")]

    # The same ended chat in English: the seeker switches the language in the frame.
    chat.get_by_role("link", name="English").click()
    expect(chat.locator("html")).to_have_attribute("lang", "en")
    expect(chat.locator("#after-heading")).to_have_text("The chat has ended")
    expect(chat.locator("#after-detail")).to_have_text("The counsellor ended the chat.")
    expect(chat.locator("#survey-thanks")).to_have_text("Thank you for your answer.")
    expect(chat.get_by_role("button", name="Download as text")).to_be_visible()
    expect(launcher).to_have_accessible_name("Chat with a counsellor")
    expect(seeker_texts).to_have_text(expected)
    expect(own_marks.first).to_have_text("Read")
    frame_accessible(page, "ended (en)")
    host_accessible(page, "host page with the chat in English")
    screenshot(page, "e2e-seeker-ended-en", element=panel)

    for each in (page, aslak, nora):
        assert_inert(each)
    assert aslak.locator(".chat-panels > .chat").count() == 0
    token = started["token"]
    assert token not in seeker_server.log() + console_server.log()


# --------------------------------------------------------------------------- keyboard alone


def test_two_whole_chats_by_keyboard_alone_on_both_sides_in_english(
    new_context: Callable[[str], BrowserContext],
    instances: tuple[ServerProcess, ServerProcess],
    module_env: RunEnvironment,
) -> None:
    """The counsellor signs in, goes available, accepts, replies, ends and wraps up; the seeker
    starts, writes, rates, starts again and ends: keys only, no clicks, no focus set by the
    test."""
    seeker_server, console_server = instances
    DIALOGS.clear()

    kari = watched(new_context("en-GB").new_page())
    kari.goto(f"{console_server.url}/signin?lang=en")
    tab_to_id(kari, "username")
    kari.keyboard.type("kari")
    kari.keyboard.press("Tab")
    kari.keyboard.type(DEMO_PASSWORD)
    kari.keyboard.press("Enter")
    expect(kari).to_have_url(console_server.url + "/counsellor")
    expect(kari.locator("#connection")).to_have_attribute("data-state", "open")
    expect(kari.locator("h1")).to_have_text("Counsellor console")
    assert_accessible(kari, "console (en)")
    # Into the status radios: on Available if none is chosen yet, else one arrow up to it.
    tab_to(kari, "a status", lambda f: f.get("name") == "status")
    kari.keyboard.press("Space" if focused(kari)["value"] == "available" else "ArrowUp")
    expect(kari.get_by_role("radio", name="Available")).to_be_checked()
    expect(kari.locator("#status-note")).to_have_text("You get offers while you have room.")
    assert_accessible(kari, "console, available (en)")

    page = watched(new_context("en-GB").new_page())
    page.goto(seeker_server.url + "/chat?lang=en&county=03")
    expect(page.locator("#start-view")).to_be_visible()
    assert_accessible(page, "start form (en)")
    tab_to_id(page, "topic")
    page.keyboard.type("Choosing a study")
    tab_to_id(page, "consent")
    page.keyboard.press("Space")
    tab_to_id(page, "start-button")
    with starting(page, seeker_server) as first:
        page.keyboard.press("Enter")
    heading = page.locator("#chat-status-heading")
    expect(heading).to_have_text("You are in the queue")
    expect(page.locator("#message-input")).to_be_focused()
    page.keyboard.type("Hello, can you help me choose a study?")
    page.keyboard.press("Enter")
    seeker_texts = page.locator("#messages > li .message-text")
    expect(page.locator(".message--own .message-mark")).to_have_text(["Sent"])
    assert_accessible(page, "waiting (en)")

    expect(kari.locator(".offer h3")).to_have_text(re.compile(r"^Chat offered: Oslo, "))
    expect(kari.locator(".offer")).to_contain_text("Choosing a study")
    assert_accessible(kari, "offer (en)")
    kari.keyboard.press("Alt+Shift+A")
    kari_chat = kari.locator(".chat-panels > .chat")
    kari_texts = kari_chat.locator(".message .text")
    expect(kari_texts).to_have_text(["Hello, can you help me choose a study?"])
    expect(kari_chat.get_by_label("Message to the seeker")).to_be_focused()
    kari.keyboard.type("Hi! What do you enjoy at school?")
    kari.keyboard.press("Enter")
    expect(heading).to_have_text("You are chatting with Kari (Oslo)")
    expect(seeker_texts.last).to_have_text("Hi! What do you enjoy at school?")
    expect(page.locator("#message-input")).to_be_focused()
    page.keyboard.type("Biology, mostly.")
    page.keyboard.press("Enter")
    conversation = [
        "Hello, can you help me choose a study?",
        "Hi! What do you enjoy at school?",
        "Biology, mostly.",
    ]
    expect(kari_texts).to_have_text(conversation)
    expect(seeker_texts).to_have_text(conversation)
    assert_accessible(page, "chatting (en)")
    assert_accessible(kari, "chatting (en)")

    # The counsellor ends the chat and writes the wrap-up.
    tab_to_part(kari, "end-button")
    kari.keyboard.press("Enter")
    expect(kari_chat.get_by_role("button", name="Yes, end the chat")).to_be_focused()
    kari.keyboard.press("Enter")
    expect(kari_chat.get_by_role("heading", name="Wrap-up")).to_be_focused()
    expect(page.locator("#after-heading")).to_be_focused()
    expect(page.locator("#after-detail")).to_have_text("The counsellor ended the chat.")
    assert_accessible(kari, "wrap-up (en)")
    assert_accessible(page, "ended (en)")
    kari.keyboard.press("Tab")  # the first category; an arrow moves to the next and picks it
    kari.keyboard.press("ArrowDown")
    expect(kari_chat.get_by_role("radio", name="Information")).to_be_checked()
    kari.keyboard.press("Tab")
    expect(kari_chat.get_by_label("Topics")).to_be_focused()
    kari.keyboard.type("study choice, biology")
    kari.keyboard.press("Tab")
    kari.keyboard.type("Wants to talk again.")
    tab_to_part(kari, "wrap-submit")
    kari.keyboard.press("Enter")
    expect(kari.locator(".chat-panels > .chat")).to_have_count(0)
    expect(kari.get_by_role("heading", name="Your chats")).to_be_focused()
    assert_accessible(kari, "console after the wrap-up (en)")

    # The seeker rates the chat and starts another.
    tab_to_id(page, "score-1")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#score-4")).to_be_checked()
    tab_to_id(page, "survey-comment")
    page.keyboard.type("Useful.")
    tab_to_id(page, "survey-button")
    page.keyboard.press("Enter")
    expect(page.locator("#survey-thanks")).to_be_focused()
    assert_accessible(page, "survey answered (en)")
    tab_to_id(page, "new-chat")
    page.keyboard.press("Enter")
    expect(page.locator("#county")).to_be_focused()
    expect(page.locator("#county")).to_have_value("03")
    tab_to_id(page, "consent")
    page.keyboard.press("Space")
    tab_to_id(page, "start-button")
    with starting(page, seeker_server) as second:
        page.keyboard.press("Enter")
    expect(heading).to_have_text("You are in the queue")
    expect(page.locator("#message-input")).to_be_focused()
    page.keyboard.type("One more question about biology.")
    page.keyboard.press("Enter")
    expect(page.locator(".message--own .message-mark")).to_have_text(["Sent"])
    assert_accessible(page, "waiting again (en)")

    expect(kari.locator(".offer")).to_contain_text("Chat offered: Oslo, ")
    kari.keyboard.press("Alt+Shift+A")
    expect(kari_texts).to_have_text(["One more question about biology."])
    expect(kari_chat.get_by_label("Message to the seeker")).to_be_focused()
    kari.keyboard.type("Ask away.")
    kari.keyboard.press("Enter")
    expect(heading).to_have_text("You are chatting with Kari (Oslo)")
    expect(seeker_texts).to_have_text(["One more question about biology.", "Ask away."])

    # This time the seeker ends it.
    tab_to_id(page, "leave-button")
    page.keyboard.press("Enter")
    expect(page.locator("#leave-question")).to_be_focused()
    expect(page.locator("#leave-question")).to_have_text("End the chat now?")
    tab_to_id(page, "leave-yes")
    page.keyboard.press("Enter")
    expect(page.locator("#after-heading")).to_be_focused()
    expect(page.locator("#after-detail")).to_have_text("You ended the chat.")
    assert_accessible(page, "ended by the seeker (en)")
    expect(kari_chat.locator(".chat-state")).to_have_text(
        "The seeker ended the chat. Write the wrap-up to close it."
    )
    kari.keyboard.press("Alt+Shift+1")
    expect(kari_chat.get_by_role("heading", name="Wrap-up")).to_be_focused()
    assert_accessible(kari, "wrap-up after the seeker ended (en)")
    kari.keyboard.press("Tab")
    kari.keyboard.press("Space")
    expect(kari_chat.get_by_role("radio", name="Reflection")).to_be_checked()
    tab_to_part(kari, "wrap-submit")
    kari.keyboard.press("Enter")
    expect(kari.locator(".chat-panels > .chat")).to_have_count(0)
    expect(kari.get_by_role("heading", name="Your chats")).to_be_focused()

    wrap_ups = fetch(
        module_env,
        "SELECT chat_id::text AS chat_id, category, topics, note FROM wrap_ups "
        "WHERE chat_id = ANY($1::uuid[]) ORDER BY created_at",
        [first["chat_id"], second["chat_id"]],
    )
    assert [(r["chat_id"], r["category"], r["topics"], r["note"] or "") for r in wrap_ups] == [
        (first["chat_id"], "information", ["study choice", "biology"], "Wants to talk again."),
        (second["chat_id"], "reflection", [], ""),
    ]
    assert not DIALOGS, DIALOGS
