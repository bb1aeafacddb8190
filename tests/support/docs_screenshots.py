"""Copy the screenshots that docs/ui.md shows from tests/screenshots/ to docs/screenshots/.

The end-to-end browser test (tests/web/test_end_to_end.py) takes them, named e2e-NAME.png, at
each main state of the seeker's widget and the counsellor console, and the dashboard's test
(tests/web/test_supervisor_dashboard.py) those of the supervisor dashboard; this copies the ones the
docs show to docs/screenshots/NAME.png. Both steps at once, with Redis and PostgreSQL as
`make test` provides them:

    make docs-screenshots

or by hand, with Redis and PostgreSQL answering at REDIS_URL and DATABASE_URL:

    .venv/bin/python -m pytest tests/web/test_end_to_end.py tests/web/test_supervisor_dashboard.py
    .venv/bin/python -m tests.support.docs_screenshots

Where Pillow can be imported, each picture is reduced to 256 colours on the way (a screenshot
of the interface loses nothing visible, and shrinks by more than half); without Pillow they are
copied as taken. Pillow is not one of the project's dependencies: install it by hand if wanted.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TAKEN = ROOT / "tests" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"

# What docs/ui.md shows, each from tests/screenshots/e2e-NAME.png.
SHOWN = (
    "widget-host-page",
    "seeker-form",
    "seeker-waiting",
    "seeker-chatting",
    "seeker-transfer",
    "seeker-reconnecting",
    "seeker-ended",
    "seeker-phone",
    "console-idle",
    "console-offer",
    "console-chat",
    "console-wrap-up",
    "console-phone",
    "dashboard-waiting",
    "dashboard-observing",
)
# One run of the test takes every picture within a minute or two; older ones are left from a
# run that stopped early.
ONE_RUN_SECONDS = 600


def sources() -> list[tuple[Path, Path]]:
    return [(TAKEN / f"e2e-{name}.png", DOCS / f"{name}.png") for name in SHOWN]


def problems(pairs: list[tuple[Path, Path]]) -> list[str]:
    missing = [str(source.relative_to(ROOT)) for source, _ in pairs if not source.exists()]
    if missing:
        return [f"not taken yet: {', '.join(missing)}"]
    times = [source.stat().st_mtime for source, _ in pairs]
    if max(times) - min(times) > ONE_RUN_SECONDS:
        oldest = min(pairs, key=lambda pair: pair[0].stat().st_mtime)[0]
        return [f"{oldest.relative_to(ROOT)} is from an earlier run than the others"]
    return []


def copy(source: Path, target: Path) -> None:
    try:
        from PIL import Image
    except ImportError:
        shutil.copyfile(source, target)
        return
    with Image.open(source) as picture:
        reduced = picture.convert("RGB").quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        reduced.save(target, "PNG", optimize=True)


def main() -> int:
    pairs = sources()
    found = problems(pairs)
    if found:
        for problem in found:
            print(f"docs_screenshots: {problem}", file=sys.stderr)
        print(
            "docs_screenshots: run `.venv/bin/python -m pytest tests/web/test_end_to_end.py` "
            "until it passes, then this again",
            file=sys.stderr,
        )
        return 1
    DOCS.mkdir(parents=True, exist_ok=True)
    for source, target in pairs:
        copy(source, target)
        print(f"{target.relative_to(ROOT)}: {target.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
