"""Who hears what happens inside one outgoing request: :class:`RequestWatcher`.

A model client (and an MCP tool, for its calls) tells the watcher of the current context
(:func:`current`) what only it sees while a request runs: where it is sent, the headers to add to it
(an MCP call carries them in its ``_meta``), each retry, a refusal, the first streamed chunk. Nothing watches by default; a tracer watches the requests of a step (:func:`watching`) to
turn them into span attributes and events and to carry its trace context on to the server. The
model client knows nothing of what the watcher does with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar


class RequestWatcher:
    """Hooks a model client calls during a request; every method does nothing by default."""

    def sending(self, base_url: str, provider: str) -> Mapping[str, str]:
        """A request (an attempt's first try) is about to go to ``base_url`` (no credentials in it);
        returns headers to send with it (e.g. ``traceparent``)."""
        return {}

    def retrying(self, attempt: int, wait: float | None, status_code: int | None, error: str) -> None:
        """Attempt number ``attempt`` failed with ``error`` (HTTP ``status_code``, if any); the next
        one follows after ``wait`` seconds."""

    def refused(self, status_code: int | None, error: str) -> None:
        """The server refused the request for good (``error`` names the kind, never its text)."""

    def first_chunk(self) -> None:
        """The first chunk of a streamed answer arrived."""


_current: ContextVar[RequestWatcher | None] = ContextVar("aixgo_request_watcher", default=None)
WATCHER = _current
"""The context variable :func:`watching` sets (for a tracer that sets it around every step itself)."""


def current() -> RequestWatcher | None:
    """The watcher of this context's model requests, if any."""
    return _current.get()


@contextmanager
def watching(watcher: RequestWatcher) -> Iterator[RequestWatcher]:
    """Let ``watcher`` hear the model requests made inside the ``with`` block (in this context)."""
    token = _current.set(watcher)
    try:
        yield watcher
    finally:
        _current.reset(token)


__all__ = ["WATCHER", "RequestWatcher", "current", "watching"]
