"""uvicorn's httptools protocol with what uvicorn lacks: a deadline for a request's headers, and a bound
on their size.

uvicorn bounds the number of connections (``limit_concurrency``: ``aixgo serve`` passes
``server.max_connections``) and how long an idle kept-alive connection stays open, but a client that
connects and then sends its headers slowly, or never, holds its connection (and a slot of that limit)
forever: 300 of them kept a server's connections for as long as they liked. Here a request's headers
must arrive within ``header_timeout`` seconds of the connection opening, or of the first byte of the next
request on a kept-alive connection, else the client gets ``408`` and the connection is closed; headers
over ``max_header_bytes`` get ``431``. (h11's ``h11_max_incomplete_event_size`` does the latter for the
h11 protocol only; ``aixgo serve`` always runs httptools, a dependency of its extra.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from aixgo.logs import get_logger
from aixgo.server.errors import error_body
from aixgo.session.core.codec import dumps

log = get_logger("aixgo.server")

DEFAULT_MAX_HEADER_BYTES = 64 << 10
"""Request line and headers together, at most (nginx allows 4 x 8 KiB by default, Node.js 16 KiB)."""

_REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}


def bounded_protocol(header_timeout: float, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> type[HttpToolsProtocol]:
    """A protocol class for ``uvicorn.run(http=…)`` with these bounds."""
    return type("BoundedHttpToolsProtocol", (_BoundedHttpTools,),
                {"header_timeout": header_timeout, "max_header_bytes": max_header_bytes})


class _BoundedHttpTools(HttpToolsProtocol):
    header_timeout: float
    max_header_bytes: int
    _deadline: asyncio.TimerHandle | None = None
    _header_bytes = 0
    _refused = False
    """Answered 408/431 and closing: what the parser still reports of this connection is ignored."""

    # -- uvicorn / httptools callbacks ---------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._deadline is not None:  # still waiting for this request's headers: all of it was headers
            self._count(len(data))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None and not self._refused:  # the next request on a kept-alive connection
            self._await_headers()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._count(len(name) + len(value) + 4)

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        if not self._refused:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    # -- the bounds ------------------------------------------------------------------------------

    def _await_headers(self) -> None:
        self._header_bytes = 0
        self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _stop_waiting(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes and not self._refused:
            self._refuse(431, f"the request's headers are larger than {self.max_header_bytes} bytes")

    def _too_slow(self) -> None:
        self._deadline = None
        if self.cycle is not None and not self.cycle.response_complete:  # an answer is still being sent
            self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)
            return
        if not self._refused and not self.transport.is_closing():
            self._refuse(408, f"the request's headers did not arrive within {self.header_timeout:g} s")

    def _refuse(self, status: int, message: str) -> None:
        self._refused = True
        self._stop_waiting()
        client: Any = self.client
        log.warning("http.refused", status=status, reason=message, client=f"{client[0]}:{client[1]}" if client else None)
        body = dumps(error_body(message, "invalid_request_error")).encode()
        head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
        self.transport.write(head.encode() + body)
        self.transport.close()


__all__ = ["DEFAULT_MAX_HEADER_BYTES", "bounded_protocol"]
