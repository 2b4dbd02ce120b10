"""Test-wide guards: no test may reach a non-loopback network address."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths and the like
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: refuse


class NetworkAccessError(AssertionError):
    """A test tried to connect somewhere other than loopback."""


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_loopback(address):
        raise NetworkAccessError(f"tests may not reach the network: connect({address!r})")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_loopback(address):
        raise NetworkAccessError(f"tests may not reach the network: connect_ex({address!r})")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host not in (None, "localhost", b"localhost") and not _is_loopback(
        (host if isinstance(host, str) else "x",)
    ):
        raise NetworkAccessError(f"tests may not resolve or reach the network: getaddrinfo({host!r})")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect = _real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the real ~/.aixgo or a real API key."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """One PostgreSQL server (``initdb`` + ``pg_ctl``, on a free port, socket in a temporary folder) for
    the whole test session; each test uses a schema or database of its own. ``fsync`` is off (a killed
    server loses nothing, its files are in the OS cache; a power loss would): the fault tests that kill
    the server start their own, with ``fsync`` on. Skipped unless PostgreSQL is installed (a failure
    with ``AIXGO_REQUIRE_POSTGRES=1``)."""
    from tests.session.postgres_server import postgres_server

    with postgres_server(settings={"fsync": "off", "full_page_writes": "off"}) as srv:
        yield srv
