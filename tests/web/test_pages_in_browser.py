"""The landing, sign-in and role pages in real Chromium: accessible, translated, keyboard-usable,
and fitting a 320 px phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from app.seed import DEMO_PASSWORD
from tests.support.browser import assert_accessible, screenshot
from tests.support.server import ServerProcess


def _sign_in(page: Page, server: ServerProcess, username: str) -> None:
    page.goto(server.url + "/signin")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]:has-text('Logg inn')")


@pytest.mark.parametrize(
    ("lang", "heading"),
    [
        ("nb", "Karriereveiledning på chat"),
        ("nn", "Karriererettleiing på chat"),
        ("en", "Career guidance on chat"),
    ],
)
def test_landing_page_renders_in_each_language_without_violations(
    context: BrowserContext, server: ServerProcess, lang: str, heading: str
) -> None:
    page = context.new_page()
    page.goto(f"{server.url}/?lang={lang}")
    expect(page.locator("h1")).to_have_text(heading)
    assert page.get_attribute("html", "lang") == lang
    assert_accessible(page, f"landing ({lang})")
    screenshot(page, f"landing-{lang}")


def test_chosen_language_is_remembered(context: BrowserContext, server: ServerProcess) -> None:
    page = context.new_page()
    page.goto(server.url + "/")
    page.click("a[hreflang=en]")
    expect(page.locator("h1")).to_have_text("Career guidance on chat")
    page.goto(server.url + "/chat")
    assert page.get_attribute("html", "lang") == "en"
    expect(page.locator("h1")).to_have_text("Chat with a counsellor")
    assert_accessible(page, "chat entry (en)")


def test_links_on_the_landing_page_lead_to_chat_console_and_dashboard(
    context: BrowserContext, server: ServerProcess
) -> None:
    page = context.new_page()
    page.goto(server.url + "/?lang=en")
    page.click("text=Chat with a counsellor")
    expect(page.locator("h1")).to_have_text("Chat with a counsellor")
    page.go_back()
    page.click("text=Counsellor console")
    expect(page.locator("h1")).to_have_text("Sign in")
    assert "next=/counsellor" in page.url


def test_sign_in_page_and_its_error_state_have_no_violations(
    context: BrowserContext, server: ServerProcess
) -> None:
    page = context.new_page()
    page.goto(server.url + "/signin")
    assert_accessible(page, "sign-in")
    page.fill("#username", "kari")
    page.fill("#password", "wrong-password")
    page.click("button[type=submit]:has-text('Logg inn')")
    expect(page.locator("[role=alert]")).to_have_text("Feil brukernavn eller passord.")
    assert page.get_attribute("#username", "aria-invalid") == "true"
    assert_accessible(page, "sign-in with error")
    screenshot(page, "signin-error")


@pytest.mark.parametrize(
    ("username", "path", "heading"),
    [
        ("kari", "/counsellor", "Veilederkonsoll"),
        ("sofie", "/supervisor", "Ledertavle"),
        ("admin", "/admin", "Administrasjon"),
    ],
)
def test_role_pages_after_sign_in_have_no_violations(
    context: BrowserContext, server: ServerProcess, username: str, path: str, heading: str
) -> None:
    page = context.new_page()
    _sign_in(page, server, username)
    expect(page).to_have_url(server.url + path)
    expect(page.locator("h1")).to_have_text(heading)
    assert_accessible(page, f"{path} signed in")
    screenshot(page, path.strip("/"))


@pytest.mark.parametrize(
    ("lang", "heading", "error"),
    [
        ("nb", "Rapporter", "year"),
        ("nn", "Rapportar", "year"),
        ("en", "Reports", "year"),
    ],
)
def test_the_reports_page_and_its_error_state_have_no_violations(
    context: BrowserContext, server: ServerProcess, lang: str, heading: str, error: str
) -> None:
    page = context.new_page()
    _sign_in(page, server, "sofie")
    expect(page).to_have_url(server.url + "/supervisor")
    page.goto(f"{server.url}/supervisor/reports?lang={lang}&period=week")
    expect(page.locator("h1")).to_have_text(heading)
    expect(page.locator("table").first).to_be_visible()
    assert_accessible(page, f"reports ({lang})")
    if lang == "nb":
        screenshot(page, "reports")
    response = page.goto(f"{server.url}/supervisor/reports?lang={lang}&period={error}")
    assert response is not None and response.status == 400
    expect(page.locator("[role=alert]")).to_be_visible()
    assert_accessible(page, f"reports with a bad parameter ({lang})")


def test_forbidden_and_missing_pages_have_no_violations(
    context: BrowserContext, server: ServerProcess
) -> None:
    page = context.new_page()
    _sign_in(page, server, "kari")
    response = page.goto(server.url + "/admin")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("Ingen tilgang")
    assert_accessible(page, "403")
    response = page.goto(server.url + "/no-such-page")
    assert response is not None and response.status == 404
    assert_accessible(page, "404")


def test_sign_in_and_out_by_keyboard_alone(context: BrowserContext, server: ServerProcess) -> None:
    page = context.new_page()
    page.goto(server.url + "/?lang=en")
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    # Tab forward to the sign-in link and follow it.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Sign in":
            break
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.keyboard.press("Tab")  # skip link
    while page.evaluate("document.activeElement.id") != "username":
        page.keyboard.press("Tab")
    page.keyboard.type("ingrid")
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(server.url + "/counsellor")
    while page.evaluate("document.activeElement.textContent.trim()") != "Sign out":
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(server.url + "/")


def test_focus_is_visible_on_every_focusable_element(
    context: BrowserContext, server: ServerProcess
) -> None:
    page = context.new_page()
    page.goto(server.url + "/signin?lang=en")
    for _ in range(8):
        page.keyboard.press("Tab")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", page.evaluate("document.activeElement.outerHTML")


@pytest.mark.parametrize("path", ["/", "/signin", "/chat"])
def test_phone_width_shows_no_horizontal_scroll(
    context: BrowserContext, server: ServerProcess, path: str
) -> None:
    page = context.new_page()
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(server.url + path)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    screenshot(page, f"phone{path.replace('/', '-') or '-landing'}")


@pytest.mark.parametrize(
    ("lang", "heading"),
    [("nb", "Tilgjengelighetserklæring"), ("nn", "Tilgjengelegheitserklæring"),
     ("en", "Accessibility statement")],
)  # fmt: skip
def test_the_accessibility_statement_is_linked_from_every_page_and_translated(
    context: BrowserContext, server: ServerProcess, lang: str, heading: str
) -> None:
    page = context.new_page()
    page.goto(f"{server.url}/?lang={lang}")
    page.get_by_role("link", name=heading).click()
    expect(page.locator("h1")).to_have_text(heading)
    assert page.get_attribute("html", "lang") == lang
    assert_accessible(page, f"accessibility statement ({lang})")


@pytest.mark.parametrize(
    ("lang", "heading", "error"),
    [
        ("nb", "Administrasjon", "Rett opp følgende"),
        ("nn", "Administrasjon", "Rett opp følgjande"),
        ("en", "Administration", "Please correct the following"),
    ],
)
def test_admin_pages_and_their_error_states_have_no_violations(
    context: BrowserContext, server: ServerProcess, lang: str, heading: str, error: str
) -> None:
    page = context.new_page()
    _sign_in(page, server, "admin")
    page.goto(f"{server.url}/admin?lang={lang}")
    expect(page.locator("h1")).to_have_text(heading)
    assert_accessible(page, f"admin ({lang})")
    # An empty new-account form comes back with each error at its field.
    page.locator("form[action='/admin/users'] button[type=submit]").click()
    expect(page.locator("[role=alert] h2")).to_have_text(error)
    assert page.get_attribute("#new-username", "aria-invalid") == "true"
    assert_accessible(page, f"admin with errors ({lang})")
    if lang == "nb":
        screenshot(page, "admin-errors")
    page.goto(f"{server.url}/admin/users/ingrid")
    assert_accessible(page, f"account page ({lang})")
    page.fill("#capacity", "0")
    page.locator("form[action='/admin/users/ingrid'] button[type=submit]").click()
    expect(page.locator("[role=alert]")).to_be_visible()
    assert page.get_attribute("#capacity", "aria-invalid") == "true"
    assert_accessible(page, f"account page with errors ({lang})")
    page.goto(f"{server.url}/admin/audit")
    assert_accessible(page, f"audit log ({lang})")
    page.goto(f"{server.url}/admin/audit?from=yesterday")
    expect(page.locator("[role=alert]")).to_be_visible()
    assert page.get_attribute("#filter-from", "aria-invalid") == "true"
    assert_accessible(page, f"audit log with errors ({lang})")
    if lang == "nb":
        screenshot(page, "audit-errors")


def test_the_admin_page_is_usable_by_keyboard_alone(
    context: BrowserContext, server: ServerProcess
) -> None:
    page = context.new_page()
    _sign_in(page, server, "admin")
    page.goto(server.url + "/admin?lang=en")
    page.focus("#new-username")
    page.keyboard.press("Enter")  # submits the form, empty
    expect(page.locator("[role=alert]")).to_be_visible()
    # The summary's first link leads to the field that needs correcting.
    page.locator("[role=alert] a").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#new-username")).to_be_focused()
    page.keyboard.type("keyboard-made")
    page.keyboard.press("Tab")
    page.keyboard.type("Keyboard Made")
    page.keyboard.press("Tab")  # role: counsellor is chosen already
    page.keyboard.press("Tab")
    page.keyboard.type("keyboard-password")
    page.keyboard.press("Tab")
    page.keyboard.type("keyboard-password")
    page.keyboard.press("Enter")
    expect(page.locator("[role=status]")).to_have_text("The account was created.")
    expect(page.locator("h1")).to_have_text("Account keyboard-made")
