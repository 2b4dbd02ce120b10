"""MCP servers from the command line, as a user runs them: ``aixgo tools``, ``aixgo run`` (a server
that cannot start stops it before the first turn, with its stderr), and an MCP server published by
someone else (``mcp-server-time``, from PyPI) driven end to end by a ReAct agent, its call and real
result stored and shown by ``aixgo sessions show``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.agents.mcp.conftest import SERVER, HttpServer
from tests.support.openai_server import OpenAIServer, call, tool_calls


def aixgo(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "aixgo", *args], input=stdin, capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, **(env or {})})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return path


def servers(tmp_path: Path, http_url: str, *, failing: bool = False) -> str:
    fail = ", --fail-start, 'boom: NOTES_TOKEN is not set'" if failing else ""
    return (f"session: {{base_dir: {tmp_path / 'store'}}}\n"
            "mcp_servers:\n"
            f"  - {{name: test, transport: stdio, command: {sys.executable}, args: [{SERVER}]}}\n"
            f"  - {{name: broken, transport: stdio, command: {sys.executable}, args: [{SERVER}{fail}]}}\n"
            f"  - {{name: web, transport: streamable_http, url: '{http_url}'}}\n")


def test_aixgo_tools_lists_each_agents_tools_with_their_source(tmp_path: Path, http_server: HttpServer) -> None:
    config = write(tmp_path, servers(tmp_path, http_server.url) + """\
agents:
  - name: assistant
    model: m
    tools: [calculator, test/echo]
    mcp_servers: [web]
    tool_filter: {allow: [add, stats]}
    tool_prefix: {web: web_}
  - {name: other, model: m, tools: [current_time]}
""")
    done = aixgo("tools", str(config))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "assistant: 4 tools"
    rows = [line.split(None, 2) for line in lines[1:5]]
    assert [row[:2] for row in rows] == [["calculator", "built-in"], ["echo", "mcp"], ["web_add", "mcp"],
                                          ["web_stats", "mcp"]]
    assert "Say the text back." in lines[2] and "test" in lines[2] and "web" in lines[3]
    assert lines[6] == "other: 1 tool"
    listed = json.loads(aixgo("tools", str(config), "--agent", "other", "--json").stdout)
    assert listed == {"agents": [{"agent": "other", "tools": [{
        "name": "current_time", "source": "built-in", "origin": "aixgo.agents.builtin:current_time",
        "description": "The current date and time, in ISO 8601 with the UTC offset and zone name.",
        "require_approval": False}]}],
        "failed_servers": []}


def test_aixgo_tools_reports_each_failing_server_on_one_line_and_exits_1(tmp_path: Path, http_server: HttpServer) -> None:
    http_server.kill()
    config = write(tmp_path, servers(tmp_path, http_server.url, failing=True) + """\
agents:
  - name: assistant
    model: m
    tools: [calculator]
    mcp_servers: [test, broken, web]
    tool_filter: {deny: [calculator]}     # the test server has one too
""")
    done = aixgo("tools", str(config))
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == f"assistant: {1 + 15} tools"  # the built-in and the working server's
    errors = done.stderr.splitlines()
    assert len(errors) == 2, done.stderr
    assert errors[0].startswith("error: MCP server 'broken' (stdio: ") and errors[0].endswith(
        "exited during startup (stderr: boom: NOTES_TOKEN is not set)")
    assert errors[1] == f"error: MCP server 'web' at {http_server.url} is not reachable: connection refused"


def test_aixgo_run_stops_before_the_first_turn_when_a_server_cannot_start(tmp_path: Path) -> None:
    config = write(tmp_path, servers(tmp_path, "http://127.0.0.1:9/mcp", failing=True) + """\
llm: {base_url: 'http://127.0.0.1:9/v1', api_key: sk-test}
agents:
  - {name: assistant, model: m, mcp_servers: [broken]}
""")
    done = aixgo("run", str(config), "-m", "hello")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"error: {config}:")  # file:line:column of the server's entry
    assert "mcp_servers[1]: MCP server 'broken' (stdio: " in done.stderr and "exited during startup" in done.stderr
    assert "its stderr ends with:\n    boom: NOTES_TOKEN is not set" in done.stderr
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.jsonl"))  # no turn began


def test_a_published_mcp_server_end_to_end_with_aixgo_run_and_sessions_show(tmp_path: Path) -> None:
    """mcp-server-time (the MCP project's, from PyPI) driven by a ReAct agent over the local
    OpenAI-compatible server; the call and its real result are stored, and shown."""
    with OpenAIServer() as llm:
        llm.enqueue(tool_calls(call("get_current_time", {"timezone": "Asia/Tokyo"})), "It is night in Tokyo.")
        config = write(tmp_path, f"""\
session: {{base_dir: {tmp_path / 'store'}}}
llm: {{base_url: '{llm.base_url}', api_key: sk-test, max_retries: 0}}
mcp_servers:
  - name: time
    transport: stdio
    command: {sys.executable}
    args: [-m, mcp_server_time, --local-timezone, Europe/Paris]
agents:
  - {{name: assistant, model: test-model, mcp_servers: [time]}}
""")
        done = aixgo("run", str(config), "--session", "tokyo", "-m", "What time is it in Tokyo?")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "It is night in Tokyo.\n"
        told = next(m for m in llm.chat_requests[1]["messages"] if m["role"] == "tool")["content"]
    result = json.loads(told)
    assert result["timezone"] == "Asia/Tokyo" and result["datetime"].endswith("+09:00")
    exported = aixgo("sessions", "--base-dir", str(tmp_path / "store"), "export", "tokyo")
    entries = [json.loads(line) for line in exported.stdout.splitlines()]
    stored = next(e["data"] for e in entries if e.get("type") == "tool_result")
    assert stored["output"]["server"] == "time" and stored["output"]["tool"] == "get_current_time"
    assert stored["output"]["structured_content"]["timezone"] == "Asia/Tokyo"
    shown = aixgo("sessions", "--base-dir", str(tmp_path / "store"), "show", "tokyo")
    assert shown.returncode == 0, shown.stderr
    assert '-> get_current_time({"timezone":"Asia/Tokyo"})' in shown.stdout
    assert "tool get_current_time" in shown.stdout and result["datetime"] in shown.stdout
