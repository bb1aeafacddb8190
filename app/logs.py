"""Structured JSON logs with a request id bound to every line.

Events are dotted names (`http.request`, `auth.signed_in`). Nothing here ever logs message text,
passwords, tokens or cookies: callers pass identifiers, never content, and `_drop_secrets` removes
keys that look like secrets should one slip through.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys that must never reach a log line, whatever a caller passes.
_SECRET_KEYS = frozenset(
    {"password", "token", "secret", "cookie", "authorization", "text", "body", "csrf_token"}
)


def _drop_secrets(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in [k for k in event if k.lower() in _SECRET_KEYS]:
        event[key] = "[removed]"
    # uvicorn repeats its message with terminal colour codes for its own formatter.
    event.pop("color_message", None)
    return event


def configure_logging(level: str = "info", json: bool = True) -> None:
    """Route structlog and the standard library (uvicorn, asyncpg) through one JSON renderer."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
        # A traceback as text, ending in the exception's message: never the exception's repr,
        # which for a decoding error holds the whole frame the client sent.
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        # A level that is off costs one check, not a time stamp and a rendering per call.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log repeats what our request middleware logs, without the request id.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # At debug level the websockets library logs every frame it reads or writes (message text
    # included) and every handshake header (the staff session cookie included), through its own
    # logger and through uvicorn's, which uvicorn hands it: neither logs below info, whatever the
    # level. (Nothing else uvicorn says at debug is worth a leaked conversation.)
    for name in ("websockets", "uvicorn.error"):
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger for one module."""
    return structlog.stdlib.get_logger(name)
