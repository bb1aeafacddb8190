"""The log: one JSON object a line, only at or above the configured level, secrets removed."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from app.logs import configure_logging, get_logger


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


def lines(captured: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in captured.splitlines() if line.strip()]


def test_lines_below_the_level_are_dropped_and_the_rest_are_json(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("warning")
    log = get_logger("tests.logs")
    log.info("test.quiet", chat="c1")
    log.warning("test.loud", chat="c2", token="s3cret")
    logging.getLogger("tests.stdlib").info("stdlib quiet")
    logging.getLogger("tests.stdlib").error("stdlib loud")
    found = lines(capsys.readouterr().err)
    assert [line["event"] for line in found] == ["test.loud", "stdlib loud"]
    assert found[0]["level"] == "warning" and found[0]["chat"] == "c2"
    assert found[0]["token"] == "[removed]"


def test_at_debug_every_line_is_kept(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("debug")
    log = get_logger("tests.logs")
    log.debug("test.detail", seq=3)
    log.info("test.info")
    assert [line["event"] for line in lines(capsys.readouterr().err)] == [
        "test.detail",
        "test.info",
    ]
