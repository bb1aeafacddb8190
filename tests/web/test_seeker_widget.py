"""The seeker's chat in real Chromium: embedded by the one-line widget on a host page whose CSS
is hostile, and standalone at /chat. Two real instances, real Redis and PostgreSQL; a counsellor
plays the other side over the console socket from Python.

Every chat a test starts is deleted after it, whatever happened, and every counsellor it signs in
goes offline, so places in line stay exact for the next test."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from playwright.sync_api import (
    BrowserContext,
    Frame,
    FrameLocator,
    Locator,
    Page,
    WebSocketRoute,
    expect,
)
from websockets.sync.client import ClientConnection, connect

from app.seed import DEMO_PASSWORD
from tests.support.aio import run_sync
from tests.support.browser import SCREENSHOTS, assert_accessible, screenshot
from tests.support.environment import RunEnvironment
from tests.support.server import ServerProcess, free_port, two_instances
from tests.support.sockets import staff_cookie, ws_url

pytestmark = pytest.mark.browser

HOST_PAGE = "/static/example/host.html"
# Sites on other origins than the service (the service is on 127.0.0.1), answered by the test
# itself through the browser (context.route). Chrome asks before a site reaches a loopback
# address (Local Network Access), as the service is here: the test grants it, and the sites are
# on localhost, a secure context, which that check requires.
OTHER_SITE = f"http://localhost:{free_port()}"
UNLISTED_SITE = f"http://localhost:{free_port()}"
CHAT_KEY = "eguide.seeker.chat"
# Server round trips on a busy two-core machine: generous, and only ever waited out on failure.
EXPECT_TIMEOUT_MS = 15_000


# ---------------------------------------------------------------------- servers and data


async def _set_opening_hours(database_url: str, rows: list[tuple[str, int, Any, Any]]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("DELETE FROM opening_hours")
            await conn.executemany(
                "INSERT INTO opening_hours (centre_id, weekday, opens, closes) "
                "VALUES ($1, $2, $3, $4)",
                rows,
            )
    finally:
        await conn.close()


async def _user_id(database_url: str, username: str) -> int:
    rows = await _fetch(database_url, "SELECT id FROM users WHERE username = $1", username)
    return int(rows[0]["id"])


async def _fetch(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def widget_env(module_env: RunEnvironment) -> RunEnvironment:
    # No opening hours at all: every centre counts as always open (the routing's rule), so the
    # chat can be tested at any hour and on public holidays.
    run_sync(_set_opening_hours(module_env.database_url, []))
    return module_env


@pytest.fixture(scope="module")
def instances(
    widget_env: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = widget_env.variables(
        EGUIDE_REDIS_PREFIX=f"{widget_env.redis_prefix}{secrets.token_hex(3)}:",
        # A console that drops out loses its chats after this long (60 s in production).
        EGUIDE_COUNSELLOR_GRACE_SECONDS="2",
        # The one other site allowed to show the chat in its pages.
        EGUIDE_WIDGET_HOSTS=OTHER_SITE,
    )
    with two_instances(env, tmp_path_factory.mktemp("widget")) as pair:
        yield pair


@pytest.fixture(autouse=True, scope="module")
def patient_expectations() -> Iterator[None]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    yield
    expect.set_options(timeout=5_000)


# ---------------------------------------------------------------------- the counsellor's side


class Counsellor:
    """A counsellor's console socket, driven from the test. Frames not yet asked for wait in a
    backlog, so the order two independent frames arrive in does not matter."""

    def __init__(self, server_url: str, username: str) -> None:
        cookie = staff_cookie(server_url, username, DEMO_PASSWORD)
        self._exit = ExitStack()
        self.socket: ClientConnection = self._exit.enter_context(
            connect(
                ws_url(server_url, "/ws/counsellor"),
                additional_headers={"Cookie": cookie, "Origin": server_url},
            )
        )
        self.backlog: list[dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []
        self.receive("hello")
        self.send("resume", last_seqs={})

    def send(self, frame_type: str, **fields: Any) -> None:
        self.socket.send(json.dumps({"v": 1, "type": frame_type, **fields}))

    def receive(
        self,
        frame_type: str,
        where: Callable[[dict[str, Any]], bool] = lambda frame: True,
        within: float = 15.0,
    ) -> dict[str, Any]:
        """The first frame of `frame_type` for which `where` holds, waiting for it if need be."""
        for frame in self.backlog:
            if frame["type"] == frame_type and where(frame):
                self.backlog.remove(frame)
                return frame
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = json.loads(self.socket.recv(timeout=left))
            except TimeoutError:
                break
            self.seen.append(frame)
            if frame["type"] == frame_type and where(frame):
                return frame
            self.backlog.append(frame)
        raise AssertionError(
            f"no {frame_type} frame within {within} s; had {[f['type'] for f in self.backlog]}"
        )

    def drain(self, for_seconds: float = 0.5) -> None:
        """Take in whatever arrives within a short while (to count what did)."""
        deadline = time.monotonic() + for_seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = json.loads(self.socket.recv(timeout=left))
            except TimeoutError:
                return
            self.seen.append(frame)
            self.backlog.append(frame)

    def take_chat(self) -> str:
        """Go available, accept the first chat offered, and return its id once synced."""
        self.send("status", status="available")
        chat_id = str(self.receive("offer")["chat_id"])
        self.send("accept", chat_id=chat_id)
        self.receive("synced", lambda f: f["chat_id"] == chat_id)
        return chat_id

    def say(self, chat_id: str, text: str) -> int:
        self.send("message", chat_id=chat_id, client_id=secrets.token_hex(6), text=text)
        return int(self.receive("ack", lambda f: f.get("chat_id") == chat_id)["seq"])

    def abandon(self) -> None:
        """Drop the connection without a word, as a crashed console does."""
        self._exit.close()

    def close(self) -> None:
        if self.socket.state.name != "OPEN":
            return
        try:
            self.send("status", status="offline")
        finally:
            self._exit.close()


# ---------------------------------------------------------------------- the seeker's side


def open_widget(page: Page, server: ServerProcess, launcher_name: str) -> FrameLocator:
    page.goto(server.url + HOST_PAGE)
    launcher = page.get_by_role("button", name=launcher_name)
    launcher.click()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    return page.frame_locator("eguide-widget iframe")


def chat_frame(page: Page) -> Frame:
    """The widget's frame as a Frame, for axe-core and scripts."""
    frame = page.frame(url=re.compile(r"/chat\?embed=1"))
    assert frame is not None, [f.url for f in page.frames]
    return frame


def assert_frame_accessible(frame: Frame, state: str) -> None:
    # axe-core runs inside the frame the same way it runs in a page.
    assert_accessible(frame, state)  # type: ignore[arg-type]


# Chats a test started, as (server, chat id, token): deleted after the test whatever happened,
# so a failure leaves nobody waiting in line ahead of the next test's seeker.
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
    """Around whatever starts a chat in the page: the new chat's id and token, from the server's
    answer as the page got it. The chat is deleted after the test."""
    new: dict[str, Any] = {}
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/chats") and r.request.method == "POST"
    ) as answer:
        yield new
    new.update(answer.value.json())
    STARTED.append((server.url, new["chat_id"], new["token"]))


def start_chat(
    server: ServerProcess,
    page: Page,
    chat: FrameLocator | Page,
    consent: str,
    start: str,
    topic: str = "",
) -> dict[str, Any]:
    """Fill in the form and start; the chat's id and token."""
    if topic:
        chat.locator("#topic").fill(topic)
    chat.get_by_label(consent).check()
    with starting(page, server) as new:
        chat.get_by_role("button", name=start).click()
    expect(chat.locator("#chat-view")).to_be_visible()
    return new


def messages(chat: FrameLocator | Page) -> Locator:
    return chat.locator("#messages > li")


def shown_conversation(chat: FrameLocator | Page) -> list[tuple[int, str]]:
    rows = messages(chat).evaluate_all(
        "items => items.map(li => [Number(li.dataset.seq || 0), "
        "li.querySelector('.message-text').textContent])"
    )
    return [(int(seq), str(text)) for seq, text in rows]


def phone_screenshot(page: Page, name: str) -> None:
    """What the phone's screen shows (the host page itself may be wider than the phone)."""
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def no_horizontal_scroll(target: Page | Frame) -> bool:
    overflow = target.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return bool(overflow <= 0)


# ---------------------------------------------------------------------- tests


def test_availability_is_answered_for_a_county_or_none(
    instances: tuple[ServerProcess, ServerProcess],
) -> None:
    a, _ = instances
    answer = httpx.get(a.url + "/api/v1/availability", params={"county": "55"})
    assert answer.status_code == 200
    assert answer.json() == {
        "open": True,
        "county_open": True,
        "national_open": True,
        "opens_at": None,
    }
    assert httpx.get(a.url + "/api/v1/availability").json()["county_open"] is None
    unknown = httpx.get(a.url + "/api/v1/availability", params={"county": "99"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_county"


def test_the_widget_takes_nothing_from_the_host_page_and_lets_it_be(
    context: BrowserContext, instances: tuple[ServerProcess, ServerProcess]
) -> None:
    a, _ = instances
    page = context.new_page()
    page.goto(a.url + HOST_PAGE)
    launcher = page.get_by_role("button", name="Chat med en veileder")
    expect(launcher).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    # The host sets uppercase, letter-spacing, a serif font, a 10 px root and [hidden] shown.
    style = launcher.evaluate(
        "b => { const s = getComputedStyle(b); "
        "return [s.textTransform, s.letterSpacing, s.fontFamily, s.fontSize, s.position]; }"
    )
    assert style[0] == "none" and style[1] == "normal", style
    assert "Georgia" not in style[2] and style[3] == "16px" and style[4] == "fixed", style
    panel = page.locator("eguide-widget .panel")
    expect(panel).to_be_hidden()
    assert page.locator("eguide-widget").count() == 1
    # The host page's own frame keeps the host's styles: only the widget is shielded.
    host_frame = page.locator("main iframe").bounding_box()
    assert host_frame is not None and host_frame["width"] < 200
    assert_accessible(page, "host page with the widget closed")

    launcher.click()
    expect(panel).to_be_visible()
    frame_box = page.locator("eguide-widget iframe").bounding_box()
    assert frame_box is not None and frame_box["width"] >= 300 and frame_box["height"] >= 400
    chat = page.frame_locator("eguide-widget iframe")
    expect(chat.locator("#county")).to_be_focused()
    assert_accessible(page, "host page with the widget open")
    assert panel.evaluate("p => getComputedStyle(p).animationName") == "eguide-rise"
    page.emulate_media(reduced_motion="reduce")
    assert panel.evaluate("p => getComputedStyle(p).animationName") == "none"
    # Escape in the frame closes the panel and gives focus back to the launcher.
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    # The panel's own close button, by mouse.
    launcher.click()
    page.get_by_role("button", name="Lukk chatten").click()
    expect(panel).to_be_hidden()
    expect(launcher).to_be_focused()


def serve_host_page(context: BrowserContext, site: str, server: ServerProcess) -> None:
    """A page on another site whose whole integration is the embed line."""
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>County site</title>'
        "</head><body><main><h1>County site</h1><p>Career guidance.</p></main>"
        f'<script src="{server.url}/widget.js" data-county="03" data-lang="en" async></script>'
        "</body></html>"
    )
    context.route(f"{site}/**", lambda route: route.fulfill(content_type="text/html", body=html))


def test_the_widget_works_on_a_listed_site_of_another_origin_and_nowhere_else(
    context: BrowserContext, instances: tuple[ServerProcess, ServerProcess]
) -> None:
    a, _ = instances
    context.grant_permissions(["local-network-access"])
    serve_host_page(context, OTHER_SITE, a)
    page = context.new_page()
    page.goto(f"{OTHER_SITE}/karriere")
    launcher = page.get_by_role("button", name="Chat with a counsellor")
    launcher.click()
    chat = page.frame_locator("eguide-widget iframe")
    expect(chat.locator("#county")).to_have_value("03")
    expect(chat.locator("html")).to_have_attribute("lang", "en")
    # A browser that refuses a framed site its storage (this one may) is said to, with the
    # way out: the chat on its own page.
    frame = page.frame(url=re.compile(r"/chat\?embed=1"))
    assert frame is not None
    refused = frame.evaluate(
        "(() => { try { sessionStorage.setItem('probe', '1'); return false; }"
        " catch { return true; } })()"
    )
    note = chat.locator("#storage-note")
    if refused:
        expect(note).to_be_visible()
        expect(note.get_by_role("link")).to_have_attribute("href", "/chat?county=03&lang=en")
    else:
        expect(note).to_be_hidden()
    start_chat(a, page, chat, "I have read this and want to start a chat", "Start chat")
    expect(chat.locator("#chat-status-detail")).to_contain_text("Your place in the queue: 1.")
    if refused:
        expect(note).to_be_visible()  # still said, briefly, while the chat runs
    assert_frame_accessible(frame, "waiting on another site (en)")
    # The token never reaches the host page: its storage holds only whether the panel was open.
    assert page.evaluate("Object.keys(sessionStorage)") == ["eguide-widget-open"]
    screenshot(page, "widget-other-site-en")
    page.keyboard.press("Escape")
    expect(launcher).to_be_focused()

    serve_host_page(context, UNLISTED_SITE, a)
    unlisted = context.new_page()
    with unlisted.expect_console_message(lambda m: "frame-ancestors" in m.text):
        unlisted.goto(f"{UNLISTED_SITE}/karriere")
    # The chat refused to be framed there, so the widget never offers a broken chat.
    expect(unlisted.locator("eguide-widget .launcher")).to_be_hidden()


def test_a_whole_chat_in_the_widget_survives_a_lost_network_and_a_reload(
    context: BrowserContext,
    instances: tuple[ServerProcess, ServerProcess],
    widget_env: RunEnvironment,
) -> None:
    a, b = instances
    page = context.new_page()
    chat = open_widget(page, a, "Chat med en veileder")
    frame = chat_frame(page)
    expect(chat.locator("#county")).to_be_focused()
    expect(chat.locator("#county")).to_have_value("55")
    expect(chat.locator("#chat-language")).to_have_value("nb")
    assert page.evaluate("document.documentElement.lang") == "nb"
    assert frame.evaluate("document.documentElement.lang") == "nb"
    assert_frame_accessible(frame, "form (nb)")
    screenshot(page, "widget-form-nb")

    # The privacy statement must be accepted; no name is asked anywhere.
    chat.get_by_role("button", name="Start chatten").click()
    expect(chat.locator("#consent-error")).to_be_visible()
    expect(chat.locator("#consent")).to_be_focused()
    assert chat.locator("input[name*=name], input[autocomplete=name]").count() == 0
    stored = start_chat(
        a, page, chat, "Jeg har lest dette og vil starte en chat", "Start chatten", "Utdanning"
    )

    # Waiting: place in line, and the move to the national team (nobody in Troms signed in).
    expect(chat.locator("#chat-status-heading")).to_have_text("Du står i kø")
    expect(chat.locator("#chat-status-detail")).to_contain_text("Din plass i køen: 1.")
    expect(chat.locator("#chat-note")).to_have_text(
        "Chatten din er flyttet til det nasjonale teamet, slik at du får svar raskere."
    )
    expect(chat.locator("#message-input")).to_be_focused()
    token, chat_id = stored["token"], stored["chat_id"]
    assert token not in frame.url and token not in page.url
    chat.locator("#message-input").fill("Hei, jeg lurer på utdanning.")
    chat.locator("#message-input").press("Enter")
    own_mark = chat.locator(".message--own .message-mark")
    expect(own_mark.first).to_have_text("Sendt")
    assert_frame_accessible(frame, "waiting (nb)")
    screenshot(page, "widget-waiting-nb")

    nora = Counsellor(b.url, "nora")
    try:
        nora.send("status", status="available")
        offer = nora.receive("offer")
        assert (offer["chat_id"], offer["county"], offer["topic"]) == (chat_id, "55", "Utdanning")
        nora.send("accept", chat_id=chat_id)
        synced = nora.receive("synced")
        assert synced["last_seq"] == 1
        expect(chat.locator("#chat-status-heading")).to_have_text("Du chatter med Nora (nasjonalt)")
        expect(chat.locator("#announcer")).to_contain_text("Nora (nasjonalt) har kommet inn")
        # The waiting message reached the counsellor's screen.
        expect(own_mark.first).to_have_text("Levert")

        nora.send("typing", chat_id=chat_id, active=True)
        expect(chat.locator("#typing")).to_have_text("Nora (nasjonalt) skriver")
        reply = 'Hei! Fortell <b>mer</b>. <img src=x alt="">'
        assert nora.say(chat_id, reply) == 2
        theirs = chat.locator(".message:not(.message--own)")
        expect(theirs.last.locator(".message-text")).to_have_text(reply)
        assert chat.locator("#messages img, #messages b").count() == 0, "text, never HTML"
        expect(chat.locator("#typing")).to_be_hidden()
        expect(chat.locator("#announcer")).to_contain_text(f"Nora (nasjonalt): {reply}")
        expect(theirs.last.locator("time")).to_have_text(re.compile(r"^\d\d[:.]\d\d$"))
        # Delivered to the seeker's screen, and read there (the panel is open and in view).
        assert nora.receive("delivered", lambda f: f["seq"] == 2)
        assert nora.receive("read", lambda f: f["seq"] == 2)
        nora.send("read", chat_id=chat_id, seq=1)
        expect(own_mark.first).to_have_text("Lest")

        chat.locator("#message-input").press_sequentially("Jeg liker")
        assert nora.receive("typing", lambda f: f["active"] is True)
        chat.locator("#message-input").press_sequentially(" realfag.")
        chat.locator("#message-input").press("Enter")
        assert nora.receive("message", lambda f: f["seq"] == 3)["text"] == "Jeg liker realfag."
        assert nora.receive("typing", lambda f: f["active"] is False)
        expect(own_mark.last).to_have_text("Levert")
        assert_frame_accessible(frame, "chatting (nb)")
        screenshot(page, "widget-chat-nb")

        # The network goes: the seeker sees it, and keeps writing; the counsellor writes too.
        context.set_offline(True)
        expect(chat.locator("#connection")).to_contain_text("Kobler til igjen")
        assert nora.say(chat_id, "Er du der fortsatt?") == 4
        chat.locator("#message-input").fill("Ja, nettet var borte.")
        chat.locator("#message-input").press("Enter")
        expect(own_mark.last).to_have_text("Ikke sendt ennå: sendes når forbindelsen er tilbake")
        assert_frame_accessible(frame, "reconnecting (nb)")
        screenshot(page, "widget-reconnecting-nb")
        context.set_offline(False)
        expect(chat.locator("#connection")).to_be_empty()
        expected = [
            (1, "Hei, jeg lurer på utdanning."),
            (2, reply),
            (3, "Jeg liker realfag."),
            (4, "Er du der fortsatt?"),
            (5, "Ja, nettet var borte."),
        ]
        expect(messages(chat)).to_have_count(5)
        expect(own_mark.last).not_to_have_text(re.compile("Ikke sendt|Sender"))
        assert shown_conversation(chat) == expected
        assert nora.receive("message", lambda f: f["seq"] == 5)["text"] == "Ja, nettet var borte."

        # A reload of the host page: the panel opens again and the chat resumes from seq 5.
        page.reload()
        chat = page.frame_locator("eguide-widget iframe")
        expect(page.get_by_role("button", name="Chat med en veileder")).to_have_attribute(
            "aria-expanded", "true"
        )
        expect(chat.locator("#chat-status-heading")).to_have_text("Du chatter med Nora (nasjonalt)")
        assert nora.say(chat_id, "Velkommen tilbake.") == 6
        expect(messages(chat)).to_have_count(6)
        assert shown_conversation(chat) == [*expected, (6, "Velkommen tilbake.")]
        expected += [(6, "Velkommen tilbake."), (7, "Ta den tiden du trenger.")]
        expect(chat.locator(".message--own .message-mark").first).to_have_text("Lest")

        # With the panel closed, a new message shows on the launcher and is not marked read
        # until the seeker opens the panel again.
        launcher = page.locator("eguide-widget .launcher")
        launcher.click()
        expect(launcher).to_have_attribute("aria-expanded", "false")
        assert nora.say(chat_id, "Ta den tiden du trenger.") == 7
        expect(launcher).to_have_accessible_name("Chat med en veileder. Nye meldinger: 1")
        expect(page.locator("eguide-widget .badge")).to_have_text("1")
        nora.drain(1.0)
        assert not [f for f in nora.seen if f["type"] == "read" and f["seq"] == 7]
        launcher.click()
        assert nora.receive("read", lambda f: f["seq"] == 7)
        expect(page.locator("eguide-widget .badge")).to_be_hidden()
        expect(launcher).to_have_accessible_name("Chat med en veileder")
        nora.drain()
        at_nora = [f["seq"] for f in nora.seen if f["type"] == "message"]
        assert sorted(at_nora) == [1, 2, 3, 4, 5, 6, 7], "the counsellor's screen has each once"
        stored_rows = run_sync(
            _fetch(
                widget_env.database_url,
                "SELECT seq, sender_role FROM messages WHERE chat_id = $1::uuid ORDER BY seq",
                chat_id,
            )
        )
        assert [(r["seq"], r["sender_role"]) for r in stored_rows] == [
            (1, "seeker"),
            (2, "counsellor"),
            (3, "seeker"),
            (4, "counsellor"),
            (5, "seeker"),
            (6, "counsellor"),
            (7, "counsellor"),
        ]

        # The seeker ends the chat.
        chat.get_by_role("button", name="Avslutt chatten").click()
        chat.get_by_role("button", name="Ja, avslutt chatten").click()
        assert nora.receive("chat_ended")["by"] == "seeker"
        expect(chat.locator("#after-heading")).to_be_focused()
        expect(chat.locator("#after-detail")).to_have_text("Du avsluttet chatten.")
        expect(chat.locator("#composer")).to_be_hidden()
        frame = chat_frame(page)
        assert_frame_accessible(frame, "ended (nb)")
        screenshot(page, "widget-ended-nb")

        # The transcript, as text and as a web page, fetched with the token as a bearer.
        with page.expect_download() as text_download:
            chat.get_by_role("button", name="Last ned som tekst").click()
        text = Path(text_download.value.path()).read_text(encoding="utf-8")
        assert text_download.value.suggested_filename.endswith(".txt")
        for _, line in expected:
            assert line in text
        with page.expect_download() as html_download:
            chat.get_by_role("button", name="Last ned som nettside").click()
        html = Path(html_download.value.path()).read_text(encoding="utf-8")
        assert html_download.value.suggested_filename.endswith(".html")
        assert "Ta den tiden du trenger." in html and "<b>mer</b>" not in html

        # The survey.
        chat.get_by_label("4", exact=True).check()
        chat.get_by_label("Noe du vil fortelle oss? (valgfritt)").fill("Nyttig samtale.")
        chat.get_by_role("button", name="Send vurdering").click()
        expect(chat.locator("#survey-thanks")).to_be_focused()
        expect(chat.locator("#survey")).to_be_hidden()
        survey = run_sync(
            _fetch(
                widget_env.database_url,
                "SELECT score, comment FROM survey_answers WHERE chat_id = $1::uuid",
                chat_id,
            )
        )
        assert [(r["score"], r["comment"]) for r in survey] == [(4, "Nyttig samtale.")]

        # Delete the conversation: every word gone, and this tab forgets the chat.
        chat.get_by_role("button", name="Slett denne samtalen").click()
        chat.get_by_role("button", name="Ja, slett den").click()
        expect(chat.locator("#deleted-heading")).to_be_focused()
        left = run_sync(
            _fetch(
                widget_env.database_url,
                "SELECT count(*) AS n FROM messages WHERE chat_id = $1::uuid",
                chat_id,
            )
        )
        assert left[0]["n"] == 0
        assert chat_frame(page).evaluate(f"sessionStorage.getItem('{CHAT_KEY}')") is None
        assert_frame_accessible(chat_frame(page), "deleted (nb)")

        page.keyboard.press("Escape")
        launcher = page.get_by_role("button", name="Chat med en veileder")
        expect(launcher).to_have_attribute("aria-expanded", "false")
        expect(launcher).to_be_focused()
    finally:
        nora.close()
    assert token not in a.log() + b.log(), "the resume token never reaches a log"


def test_the_main_path_by_keyboard_alone_in_english(
    context: BrowserContext, instances: tuple[ServerProcess, ServerProcess]
) -> None:
    a, b = instances
    page = context.new_page()
    page.goto(a.url + HOST_PAGE)
    expect(page.get_by_role("button", name="Chat med en veileder")).to_be_visible()
    launcher = page.locator("eguide-widget .launcher")  # its name changes with the language
    for _ in range(20):
        page.keyboard.press("Tab")
        if launcher.evaluate("b => b.getRootNode().activeElement === b"):
            break
    expect(launcher).to_be_focused()
    assert launcher.evaluate("b => getComputedStyle(b).outlineStyle") != "none"
    page.keyboard.press("Enter")
    chat = page.frame_locator("eguide-widget iframe")
    expect(chat.locator("#county")).to_be_focused()

    def tab_to(target: str, limit: int = 12, backwards: bool = False) -> None:
        """Tab (or Shift+Tab) until the element with this id (or, without one, this text) has
        focus, checking that every stop on the way shows where focus is."""
        at = ""
        for _ in range(limit):
            page.keyboard.press("Shift+Tab" if backwards else "Tab")
            at, ring = chat_frame(page).evaluate(
                "(() => { const e = document.activeElement; "
                "const shown = e.type === 'radio' ? e.nextElementSibling : e; "
                "return [e.id || e.textContent.trim(), getComputedStyle(shown).outlineStyle]; })()"
            )
            assert ring != "none", f"no visible focus on {at}"
            if at == target:
                return
        raise AssertionError(f"never reached {target}; at {at}")

    # Switch the chat to English from inside the frame; focus comes back to the choice.
    tab_to("English", backwards=True)
    page.keyboard.press("Enter")
    expect(chat.locator("html")).to_have_attribute("lang", "en")
    expect(chat.get_by_role("link", name="English")).to_be_focused()
    expect(launcher).to_have_accessible_name("Chat with a counsellor")
    tab_to("county")
    expect(chat.locator("#county")).to_have_value("55")
    tab_to("chat-language")
    expect(chat.locator("#chat-language")).to_have_value("en")
    tab_to("topic")
    page.keyboard.type("My CV")
    tab_to("consent")
    page.keyboard.press("Space")
    tab_to("start-button")
    with starting(page, a):
        page.keyboard.press("Enter")
    expect(chat.locator("#chat-status-heading")).to_have_text("You are in the queue")
    expect(chat.locator("#message-input")).to_be_focused()
    page.keyboard.type("Hello, I need help with my CV.")
    page.keyboard.press("Enter")
    expect(chat.locator(".message--own .message-mark")).to_have_text("Sent")

    amir = Counsellor(b.url, "amir")
    try:
        chat_id = amir.take_chat()
        expect(chat.locator("#chat-status-heading")).to_have_text(
            "You are chatting with Amir (nasjonalt)"
        )
        amir.say(chat_id, "Hi! Tell me about your work so far.")
        expect(messages(chat)).to_have_count(2)
        page.keyboard.type("I have worked in a shop.")
        page.keyboard.press("Enter")
        expect(messages(chat)).to_have_count(3)

        tab_to("leave-button")
        page.keyboard.press("Enter")
        expect(chat.locator("#leave-question")).to_be_focused()
        tab_to("leave-yes")
        page.keyboard.press("Enter")
        assert amir.receive("chat_ended")["by"] == "seeker"
        expect(chat.locator("#after-heading")).to_be_focused()

        tab_to("score-1", limit=6)
        for _ in range(4):
            page.keyboard.press("ArrowRight")
        expect(chat.locator("#score-5")).to_be_checked()
        tab_to("survey-comment")
        page.keyboard.type("Very helpful.")
        tab_to("survey-button")
        page.keyboard.press("Enter")
        expect(chat.locator("#survey-thanks")).to_be_focused()

        tab_to("delete-button")
        page.keyboard.press("Enter")
        expect(chat.locator("#delete-question")).to_be_focused()
        tab_to("delete-yes")
        page.keyboard.press("Enter")
        expect(chat.locator("#deleted-heading")).to_be_focused()
        expect(chat.locator("#deleted-heading")).to_have_text("The conversation is deleted")

        page.keyboard.press("Escape")
        expect(launcher).to_be_focused()
        expect(launcher).to_have_attribute("aria-expanded", "false")
    finally:
        amir.close()

    # The language chosen in the frame is remembered, whatever the host's embed code says.
    page.reload()
    expect(page.get_by_role("button", name="Chat with a counsellor")).to_be_visible()


def test_the_standalone_chat_in_english_is_accessible_in_every_state(
    context: BrowserContext, instances: tuple[ServerProcess, ServerProcess]
) -> None:
    a, b = instances
    page = context.new_page()
    page.goto(a.url + "/chat?lang=en&county=03")
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(page.locator("h1")).to_have_text("Chat with a counsellor")
    expect(page.locator("#county")).to_have_value("03")
    expect(page.locator("#start-view")).to_be_visible()
    assert_accessible(page, "form (en)")
    screenshot(page, "chat-form-en")
    start_chat(a, page, page, "I have read this and want to start a chat", "Start chat")
    expect(page.locator("#chat-status-detail")).to_contain_text("Your place in the queue: 1.")
    assert_accessible(page, "waiting (en)")
    screenshot(page, "chat-waiting-en")

    kari = Counsellor(b.url, "kari")
    try:
        chat_id = kari.take_chat()
        expect(page.locator("#chat-status-heading")).to_have_text(
            "You are chatting with Kari (Oslo)"
        )
        kari.say(chat_id, "Hello, how can I help?")
        expect(messages(page)).to_have_count(1)
        page.locator("#message-input").fill("I want to change careers.")
        page.locator("#send-button").click()
        expect(page.locator(".message--own .message-mark")).to_have_text(
            re.compile("Delivered|Read")
        )
        assert_accessible(page, "chatting (en)")
        screenshot(page, "chat-chatting-en")

        context.set_offline(True)
        expect(page.locator("#connection")).to_contain_text("Reconnecting")
        assert_accessible(page, "reconnecting (en)")
        kari.say(chat_id, "Take your time.")
        context.set_offline(False)
        expect(page.locator("#connection")).to_be_empty()
        expect(messages(page)).to_have_count(3)
        assert [seq for seq, _ in shown_conversation(page)] == [1, 2, 3]

        # The counsellor says goodbye and ends at once: "ended" may overtake the last message,
        # which must still show.
        kari.send("message", chat_id=chat_id, client_id="bye", text="Good luck!")
        kari.send("end", chat_id=chat_id)
        expect(page.locator("#after-heading")).to_be_focused()
        expect(page.locator("#after-detail")).to_have_text("The counsellor ended the chat.")
        expect(messages(page)).to_have_count(4)
        assert shown_conversation(page)[-1] == (4, "Good luck!")
        assert_accessible(page, "ended (en)")
        screenshot(page, "chat-ended-en")
        # A reload keeps the ended chat and what can be done with it.
        page.reload()
        expect(page.locator("#after-heading")).to_be_visible()
        expect(messages(page)).to_have_count(4)
        page.get_by_role("button", name="Delete this conversation").click()
        page.get_by_role("button", name="Yes, delete it").click()
        expect(page.locator("#deleted-heading")).to_be_focused()
        page.get_by_role("button", name="Start a new chat").click()
        expect(page.locator("#county")).to_be_focused()
    finally:
        kari.close()


def test_a_counsellor_who_drops_out_or_transfers_is_shown_clearly_in_nynorsk(
    context: BrowserContext,
    instances: tuple[ServerProcess, ServerProcess],
    widget_env: RunEnvironment,
) -> None:
    a, b = instances
    page = context.new_page()
    page.goto(a.url + "/chat?lang=nn&county=46")
    start_chat(a, page, page, "Eg har lese dette og vil starte ein chat", "Start chatten")
    expect(page.locator("#chat-status-heading")).to_have_text("Du står i kø")
    heading, note = page.locator("#chat-status-heading"), page.locator("#chat-note")
    ola = Counsellor(b.url, "ola")
    nora = Counsellor(a.url, "nora")
    ingrid = Counsellor(a.url, "ingrid")
    try:
        ola.take_chat()
        expect(heading).to_have_text("Du chattar med Ola (Vestland)")
        # Ola's console dies and stays away past the grace time: the chat goes back to a
        # queue, and the seeker is told so in plain words, keeping what was written.
        page.locator("#message-input").fill("Er du der?")
        page.locator("#message-input").press("Enter")
        expect(page.locator(".message--own .message-mark")).to_have_text(re.compile("Levert|Lese"))
        ola.abandon()
        expect(note).to_contain_text(
            "Rettleiaren måtte forlate chatten. Du held på plassen din, "
            "og neste ledige rettleiar svarar."
        )
        expect(heading).to_have_text("Du står i kø")
        assert_accessible(page, "counsellor left (nn)")
        screenshot(page, "chat-requeued-nn")

        # The national team takes it over, then hands it to a named colleague.
        chat_id = nora.take_chat()
        expect(heading).to_have_text("Du chattar med Nora (nasjonalt)")
        expect(note).to_be_hidden()
        ingrid.send("status", status="available")
        ingrid.receive("status", lambda f: f["status"] == "available")
        ingrid_id = run_sync(_user_id(widget_env.database_url, "ingrid"))
        nora.send("transfer", chat_id=chat_id, counsellor_id=str(ingrid_id))
        expect(note).to_have_text("Du blir sett over til ein annan rettleiar. Vent litt.")
        expect(heading).to_have_text("Du står i kø")
        assert_accessible(page, "transferred (nn)")
        screenshot(page, "chat-transfer-nn")
        assert ingrid.receive("offer")["chat_id"] == chat_id
        ingrid.send("accept", chat_id=chat_id)
        expect(heading).to_have_text("Du chattar med Ingrid (Trøndelag)")
        expect(note).to_be_hidden()
        expect(messages(page)).to_have_count(1)
        page.get_by_role("button", name="Avslutt chatten").click()
        page.get_by_role("button", name="Ja, avslutt chatten").click()
        assert ingrid.receive("chat_ended")["by"] == "seeker"
        expect(page.locator("#after-detail")).to_have_text("Du avslutta chatten.")
    finally:
        ola.close()
        nora.close()
        ingrid.close()


def test_a_message_whose_acknowledgement_was_lost_is_kept_once_across_a_reload(
    context: BrowserContext,
    instances: tuple[ServerProcess, ServerProcess],
    widget_env: RunEnvironment,
) -> None:
    a, _ = instances
    page = context.new_page()
    # Between the page and the server: everything passes, except (while `losing`) the server's
    # word that the seeker's message was stored, as when a connection dies at that moment.
    losing = {"on": True}

    def between(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        ws.on_message(server.send)

        def to_page(raw: str | bytes) -> None:
            frame = json.loads(raw)
            own = frame["type"] == "ack" or (
                frame["type"] == "message" and frame["sender"] == "seeker"
            )
            if not (losing["on"] and own):
                ws.send(raw)

        server.on_message(to_page)

    page.route_web_socket(re.compile(r"/ws/seeker$"), between)
    page.goto(a.url + "/chat?lang=nb&county=11")
    new = start_chat(a, page, page, "Jeg har lest dette og vil starte en chat", "Start chatten")
    expect(page.locator("#chat-status-detail")).to_contain_text("Din plass i køen: 1.")
    page.locator("#message-input").fill("Hei, får dere denne?")
    page.locator("#message-input").press("Enter")
    mark = page.locator(".message--own .message-mark")
    expect(mark).to_have_text("Sender …")

    def stored() -> list[tuple[int, str]]:
        rows = run_sync(
            _fetch(
                widget_env.database_url,
                "SELECT seq, body FROM messages WHERE chat_id = $1::uuid ORDER BY seq",
                new["chat_id"],
            )
        )
        return [(r["seq"], r["body"]) for r in rows]

    deadline = time.monotonic() + 10
    while not stored() and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert stored() == [(1, "Hei, får dere denne?")], "stored, though the page never heard"

    # The page is reloaded with the message still unacknowledged: it is sent again under the
    # same client id, the server knows it, and it shows once, as stored.
    losing["on"] = False
    page.reload()
    expect(mark).to_have_text("Sendt")
    expect(messages(page)).to_have_count(1)
    assert shown_conversation(page) == [(1, "Hei, får dere denne?")]
    assert stored() == [(1, "Hei, får dere denne?")]


def test_a_phone_320_px_wide_shows_everything_without_sideways_scrolling(
    context: BrowserContext, instances: tuple[ServerProcess, ServerProcess]
) -> None:
    a, _ = instances
    page = context.new_page()
    page.set_viewport_size({"width": 320, "height": 640})
    chat = open_widget(page, a, "Chat med en veileder")
    panel = page.locator("eguide-widget .panel").bounding_box()
    assert panel is not None and panel["x"] >= 0 and panel["width"] <= 320
    expect(chat.locator("#county")).to_be_focused()
    assert no_horizontal_scroll(chat_frame(page))
    phone_screenshot(page, "widget-phone-form")
    start_chat(a, page, chat, "Jeg har lest dette og vil starte en chat", "Start chatten")
    expect(chat.locator("#chat-status-heading")).to_have_text("Du står i kø")
    chat.locator("#message-input").fill("Et_veldig_langt_ord_uten_mellomrom_" * 12)
    chat.locator("#message-input").press("Enter")
    expect(chat.locator(".message--own .message-mark")).to_have_text("Sendt")
    assert no_horizontal_scroll(chat_frame(page))
    for selector in ("#message-input", "#send-button", "#leave-button"):
        box = chat.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 320, selector
    phone_screenshot(page, "widget-phone-waiting")
    chat.get_by_role("button", name="Gå ut av køen").click()
    chat.get_by_role("button", name="Ja, gå ut av køen").click()
    expect(chat.locator("#after-detail")).to_have_text("Du gikk ut av køen.")
    # Nobody answered: there is nothing to rate, but the transcript and deleting remain.
    expect(chat.locator("#survey")).to_be_hidden()
    expect(chat.get_by_role("button", name="Last ned som tekst")).to_be_visible()
    assert no_horizontal_scroll(chat_frame(page))

    standalone = context.new_page()
    standalone.set_viewport_size({"width": 320, "height": 640})
    standalone.goto(a.url + "/chat?lang=en")
    expect(standalone.locator("#start-view")).to_be_visible()
    assert no_horizontal_scroll(standalone)


def test_when_everyone_is_closed_the_seeker_is_told_when_the_chat_opens(
    context: BrowserContext,
    instances: tuple[ServerProcess, ServerProcess],
    widget_env: RunEnvironment,
) -> None:
    a, _ = instances
    # Every centre opens for one hour, three days from now: closed at this moment.
    oslo = ZoneInfo("Europe/Oslo")
    then = datetime.now(oslo) + timedelta(days=3)
    weekday = then.isoweekday()
    rows = [
        (centre, weekday, clock_time(10), clock_time(11))
        for centre in [f"{n:02d}" for n in (3, 11, 15, 18, 31, 32, 33, 34, 39, 40, 42, 46, 50)]
        + ["55", "56", "national"]
    ]
    run_sync(_set_opening_hours(widget_env.database_url, rows))
    try:
        answer = httpx.get(a.url + "/api/v1/availability", params={"county": "55"}).json()
        assert answer["open"] is False and answer["opens_at"] is not None
        opens = datetime.fromtimestamp(answer["opens_at"], oslo)
        assert (opens.hour, opens.minute) == (10, 0) and opens > datetime.now(oslo)

        page = context.new_page()
        page.goto(a.url + "/chat?lang=en&county=55")
        notice = page.locator("#availability")
        expect(notice).to_contain_text("The chat is closed now. It opens again")
        expect(notice).to_contain_text("10:00")
        expect(page.get_by_role("button", name="Start chat")).to_be_disabled()
        assert_accessible(page, "closed (en)")
        screenshot(page, "chat-closed-en")
    finally:
        run_sync(_set_opening_hours(widget_env.database_url, []))
