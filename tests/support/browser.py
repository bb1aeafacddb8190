"""Debian's Chromium driven by Playwright, and axe-core checks of what it shows."""

from __future__ import annotations

import shutil
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

# Never a downloaded browser: the system's Chromium, with everything that phones home turned off.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"


def chromium_path() -> str:
    for candidate in ("chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    raise RuntimeError("Debian's chromium package is not installed; `make test` installs it")


_axe = Axe()


def assert_accessible(page: Page, state: str) -> None:
    """Zero axe-core violations (WCAG 2.1 A and AA rules and best practice) in this state."""
    results = _axe.run(page)
    violations = results.response["violations"]
    assert not violations, f"{state}: {results.generate_report()}"


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
