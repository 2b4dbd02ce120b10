"""Real MCP servers for the tests: tests/support/mcp_server.py over stdio, and over streamable HTTP
on a free loopback port (restartable on the same port)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aixgo.agents.tools.mcp import MCPHub, MCPServerSpec, MCPToolset
from tests.support.fixtures import aixgo_logs, fast_retries, session_manager, sessions_dir, sleeps  # noqa: F401

SERVER = str(Path(__file__).resolve().parents[2] / "support" / "mcp_server.py")


class HttpServer:
    """tests/support/mcp_server.py serving streamable HTTP; :meth:`restart` keeps the port."""

    def __init__(self, log: Path, *args: str) -> None:
        self.args = args
        self.log = log
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> HttpServer:
        with self.log.open("a") as stderr:
            self.process = subprocess.Popen([sys.executable, SERVER, "--http", str(self.port), *self.args],
                                            stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("PORT "), f"the MCP test server did not start: {self.log.read_text()[-2000:]}"
        self.port = int(line.split()[1])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        self.kill()  # a graceful stop would wait for the clients' open streams
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """The file the test server appends one line to per tool run."""
    return tmp_path / "runs.txt"


def ran(runs: Path, label: str) -> int:
    """How many times the tool ``label`` ran."""
    return sum(1 for line in runs.read_text().splitlines() if line.split()[0] == label) if runs.exists() else 0


@pytest.fixture
def hub() -> Iterator[MCPHub]:
    """A hub of the test's own (its servers are stopped when the test ends)."""
    made = MCPHub()
    yield made
    made.close()


@pytest.fixture
def stdio_spec(runs: Path) -> MCPServerSpec:
    return MCPServerSpec.stdio("test", sys.executable, [SERVER, "--runs", str(runs)], call_timeout=20,
                               connect_timeout=20)


@pytest.fixture
def http_server(tmp_path: Path, runs: Path) -> Iterator[HttpServer]:
    server = HttpServer(tmp_path / "http-server.log", "--runs", str(runs)).start()
    yield server
    server.stop()


@pytest.fixture
def legacy_http_server(tmp_path: Path, runs: Path) -> Iterator[HttpServer]:
    server = HttpServer(tmp_path / "legacy-server.log", "--legacy", "--runs", str(runs)).start()
    yield server
    server.stop()


def toolset(hub: MCPHub, spec: MCPServerSpec, **options: object) -> MCPToolset:
    """A started toolset of ``spec`` on ``hub``."""
    made = MCPToolset(spec, hub=hub, **options)  # type: ignore[arg-type]
    made.start()
    return made
