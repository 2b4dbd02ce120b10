"""Model settings one caller sets for the turns it runs (``aixgo serve`` passes a request's
``temperature``, ``max_tokens``, … this way): a context variable, so the turn reads them where it builds
its request and no signature between the caller and the turn has to carry them.

>>> with settings_override({"temperature": 0.2}):   # doctest: +SKIP
...     await runtime.acall_with_session("assistant", "Hi", session_id)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from aixgo.llm.protocol import ModelSettings

_OVERRIDE: ContextVar[Mapping[str, Any] | None] = ContextVar("aixgo_settings_override", default=None)

_EXTRA_BODY = ("presence_penalty", "frequency_penalty")
"""OpenAI's request fields with no :class:`ModelSettings` field of their own: sent in ``extra_body``."""


@contextmanager
def settings_override(fields: Mapping[str, Any]) -> Iterator[None]:
    """Within the block (and in the tasks it starts), turns send these settings instead of their agent's:
    ``temperature``, ``top_p``, ``max_tokens`` (or ``max_completion_tokens``), ``stop`` (a string or a
    list; added to the agent's own stop sequences), ``seed``, ``presence_penalty``, ``frequency_penalty``."""
    token = _OVERRIDE.set(dict(fields) if fields else None)
    try:
        yield
    finally:
        _OVERRIDE.reset(token)


def overridden(settings: ModelSettings) -> ModelSettings:
    """``settings`` with the current :func:`settings_override` applied (the same object when there is none)."""
    fields = _OVERRIDE.get()
    if not fields:
        return settings
    changes: dict[str, Any] = {key: fields[key] for key in ("temperature", "top_p", "seed") if key in fields}
    max_tokens = fields.get("max_completion_tokens", fields.get("max_tokens"))
    if max_tokens is not None:
        changes["max_tokens"] = max_tokens
    stop = fields.get("stop")
    if stop is not None:
        added = [stop] if isinstance(stop, str) else list(stop)
        changes["stop"] = tuple(dict.fromkeys([*settings.stop, *added]))
    extra = {key: fields[key] for key in _EXTRA_BODY if key in fields}
    if extra:
        changes["extra_body"] = {**(settings.extra_body or {}), **extra}
    return replace(settings, **changes)


__all__ = ["overridden", "settings_override"]
