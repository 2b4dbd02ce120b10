"""``aixgo serve`` with an MCP server: its session lives on the serving loop (no hop to another
thread per call), a turn's tool call reaches it, and stopping the server ends the MCP server."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.serving import Served, no_traceback, write_config
from tests.support.openai_server import OpenAIServer, Reply, call, tool_calls

SERVER = str(Path(__file__).resolve().parents[1] / "support" / "mcp_server.py")


@pytest.fixture
def upstream() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_served_turn_calls_an_mcp_tool_and_stopping_ends_the_mcp_server(
    tmp_path: Path, upstream: OpenAIServer, sig: signal.Signals
) -> None:
    runs = tmp_path / "runs.txt"
    extra = (f"mcp_servers:\n  - {{name: test, transport: stdio, command: {sys.executable}, "
             f"args: [{SERVER}, --runs, {runs}]}}\n")
    config = write_config(tmp_path, upstream, extra=extra)
    config.write_text(config.read_text().replace("{name: bot, model: test-model}",
                                                 "{name: bot, model: test-model, mcp_servers: [test]}"))
    upstream.enqueue(tool_calls(call("echo", {"text": "from the tool"}, id="call_1")), Reply(content="done"))
    with Served(config) as served:
        answer = httpx.post(f"{served.url}/v1/chat/completions", timeout=30,
                            json={"model": "bot", "messages": [{"role": "user", "content": "echo it"}]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == "done"
        sent = upstream.chat_requests[-1]["messages"]
        assert [m["content"] for m in sent if m["role"] == "tool"] == ["from the tool"], sent
        (label, pid), = [line.split() for line in runs.read_text().splitlines()]
        assert label == "echo" and alive(int(pid))
        code, output = served.stop(sig)
    assert code in (0, -15, 143) and no_traceback(output), output
    deadline = time.monotonic() + 20
    while alive(int(pid)):
        assert time.monotonic() < deadline, "the MCP server outlived aixgo serve"
        time.sleep(0.05)
