"""Debian's Chromium driven by Playwright, and axe-core checks of what it shows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page

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


# Finite animations (a panel rising into view) are let finish first: colours measured halfway
# through a fade would fail the contrast rule on what nobody sees for more than a moment.
_SETTLE = """async () => {
  // Two frames, so what was just shown has its styles and its animations have started; then
  // every finite animation, in the document and in shadow roots (the widget's), finishes.
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const roots = [document, ...Array.from(document.querySelectorAll("*"))
    .filter((element) => element.shadowRoot).map((element) => element.shadowRoot)];
  await Promise.all(roots.flatMap((root) => root.getAnimations())
    .filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity)
    .map((a) => a.finished.catch(() => null)));
}"""


def assert_accessible(page: Page, state: str, *, frames: bool = True) -> None:
    """Zero axe-core violations (WCAG 2.1 A and AA rules and best practice) in this state.
    frames=False leaves out the documents of frames in the page (axe takes in those it was run
    in before)."""
    page.evaluate(_SETTLE)
    results = _axe.run(page, options={"resultTypes": ["violations"], "iframes": frames})
    violations = results.response["violations"]
    assert not violations, f"{state}: {violation_report(violations)}"


def violation_report(violations: list[dict[str, Any]]) -> str:
    """axe-core's violations, readable (the package's own report fails on targets inside a
    shadow root or a frame, which axe gives as lists of selectors)."""
    lines = [f"{len(violations)} accessibility violations:"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {json.dumps(node['target'])}: {node.get('html', '')[:200]}")
            summary = node.get("failureSummary") or ""
            lines.extend(f"      {line}" for line in summary.splitlines())
    return "\n".join(lines)


def screenshot(
    page: Page, name: str, *, element: Locator | None = None, full_page: bool = True
) -> None:
    """tests/screenshots/NAME.png: the whole page, only what the viewport shows (full_page=False,
    as a phone's screen), or one element of it."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = str(SCREENSHOTS / f"{name}.png")
    # Animations are run to their end first: a panel caught mid-rise would show half faded.
    if element is not None:
        element.screenshot(path=path, animations="disabled")
    else:
        page.screenshot(path=path, full_page=full_page, animations="disabled")
