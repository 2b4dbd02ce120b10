"""Slow and greedy clients cannot hold ``aixgo serve``: connections that never finish their request
headers are answered 408 and closed after ``server.header_timeout``, oversized headers get 431, and
beyond ``server.max_connections`` a request is answered 503. A real server, raw sockets."""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.serving import Served, echo, no_traceback, write_config
from tests.support.openai_server import OpenAIServer


@pytest.fixture
def upstream() -> Iterator[OpenAIServer]:
    with OpenAIServer(responder=echo) as server:
        yield server


def connect(served: Served) -> socket.socket:
    host, port = served.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def wait_until_closed(conns: list[socket.socket], timeout: float = 60) -> dict[socket.socket, bytes]:
    """What the server sent on each connection before closing it; fails if one is still open at ``timeout``
    (generous: the server closes them long before)."""
    received = {conn: b"" for conn in conns}
    with selectors.DefaultSelector() as selector:
        for conn in conns:
            conn.setblocking(False)
            selector.register(conn, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                try:
                    chunk = conn.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                    received[conn] += b"<RESET>"
                received[conn] += chunk
                if not chunk:
                    selector.unregister(conn)
        still_open = len(selector.get_map())
    assert still_open == 0, f"{still_open} of {len(conns)} connections still open after {timeout} s"
    return received


def test_connections_that_never_finish_their_headers_are_closed(upstream: OpenAIServer, tmp_path: Path) -> None:
    with Served(write_config(tmp_path, upstream)) as served:  # the default header_timeout (10 s)
        silent = [connect(served) for _ in range(150)]
        slow = [connect(served) for _ in range(150)]
        for conn in slow:
            conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        assert httpx.get(f"{served.url}/healthz", timeout=30).status_code == 200  # others are still served
        received = wait_until_closed(silent + slow)
        # each was answered 408 (an OpenAI-shaped error) before being closed; a client whose bytes reach the
        # server after it closed may see a reset instead (only seen under heavy load), never anything else
        answers = [received[conn] for conn in silent + slow]
        assert all(answer.startswith(b"HTTP/1.1 408 ") or answer in (b"", b"<RESET>") for answer in answers), answers
        timed_out = [answer for answer in answers if answer.startswith(b"HTTP/1.1 408 ")]
        assert timed_out and all(b'"error":{"message":' in answer for answer in timed_out)
        for conn in silent + slow:
            conn.close()
        assert httpx.get(f"{served.url}/healthz", timeout=30).status_code == 200
        assert no_traceback(served.stop()[1])


def test_a_client_trickling_its_headers_is_cut_off_at_the_header_timeout(
    upstream: OpenAIServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, upstream, extra="server:\n  header_timeout: 1s\n")
    with Served(config) as served, connect(served) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\n")
        sent = 0
        try:
            while sent < 600:  # a byte every 50 ms: 30 s, far past the 1 s timeout
                conn.sendall(b"X-Slow: 1\r\n")
                sent += 1
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sent < 600, "the server never cut the trickling client off"
        assert no_traceback(served.stop()[1])


def test_oversized_headers_are_refused(upstream: OpenAIServer, tmp_path: Path) -> None:
    with Served(write_config(tmp_path, upstream)) as served:
        for request in (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 << 10) + b"\r\n\r\n",
                        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 << 10)):  # never ends
            conn = connect(served)
            conn.sendall(request)
            received = wait_until_closed([conn])[conn]
            conn.close()
            assert received.startswith(b"HTTP/1.1 431 "), received[:200]
        assert httpx.get(f"{served.url}/healthz", timeout=30).status_code == 200
        assert no_traceback(served.stop()[1])


def test_beyond_max_connections_a_request_is_answered_503(upstream: OpenAIServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, upstream, extra="server:\n  max_connections: 5\n  header_timeout: 60s\n")
    with Served(config) as served:
        held = [connect(served) for _ in range(5)]
        try:
            refused = httpx.get(f"{served.url}/healthz", timeout=30)
            assert refused.status_code == 503, refused.text
        finally:
            for conn in held:
                conn.close()
        deadline = time.monotonic() + 30  # the server notices the closed connections
        while httpx.get(f"{served.url}/healthz", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the server never freed the closed connections"
            time.sleep(0.05)
        assert no_traceback(served.stop()[1])
