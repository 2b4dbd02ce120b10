"""Logging for aixgo: structlog loggers that go through the standard :mod:`logging` module.

A library must not print on its own, so aixgo's events follow the application's ``logging`` setup:
the ``aixgo`` logger has a :class:`logging.NullHandler`, so with no setup nothing is printed (not
even through :data:`logging.lastResort`). The CLI, or an application that wants aixgo's own
rendering, calls :func:`configure_logging`. Message contents and API keys
are never passed to a logger.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import structlog

logging.getLogger("aixgo").addHandler(logging.NullHandler())

_span_ids: Callable[[], tuple[str, str] | None] | None = None


def add_trace_ids(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id`` and ``span_id`` of the current span, once tracing is on
    (:func:`set_span_ids`); nothing is looked up otherwise."""
    if _span_ids is not None and "trace_id" not in event:
        ids = _span_ids()
        if ids is not None:
            event["trace_id"], event["span_id"] = ids
    return event


def set_span_ids(source: Callable[[], tuple[str, str] | None] | None) -> None:
    """Let every log line carry the ids ``source()`` returns (the current span's, as hex), or stop."""
    global _span_ids  # noqa: PLW0603 - one process-wide switch, read on every log line
    _span_ids = source


_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    add_trace_ids,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger named ``name`` that emits through :mod:`logging` (``aixgo.*`` hierarchy)."""
    logger: structlog.stdlib.BoundLogger = structlog.wrap_logger(
        logging.getLogger(name),
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return logger


def configure_logging(level: str | int = "WARNING", json: bool = False, stream: TextIO | None = None) -> None:
    """Send aixgo's logs to ``stream`` (default stderr) at ``level``, rendered for humans or as JSON lines.

    Replaces any handler a previous call installed; other loggers are left alone."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if json else structlog.processors.ExceptionPrettyPrinter(),
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("aixgo")
    root = logging.getLogger("aixgo")
    for old in [h for h in root.handlers if h.get_name() == "aixgo"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    root.propagate = False
