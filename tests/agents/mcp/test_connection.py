"""One persistent session per MCP server per process: tools listed once, calls, errors, list changes,
crashes and restarts, slow calls. Real servers (tests/support/mcp_server.py) over stdio and HTTP."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from aixgo.agents.tools import ToolResult
from aixgo.agents.tools.mcp import MCPHub, MCPServerSpec, MCPToolset
from aixgo.errors import ToolServerError
from tests.agents.mcp.conftest import SERVER, HttpServer, ran, toolset


def call(tools: MCPToolset, name: str, **arguments: Any) -> ToolResult:
    """Run one tool as an agent would (from a loop of its own: asyncio.run, as sync callers do)."""
    found = {t.name: t for t in tools.tools()}[name]
    return asyncio.run(found.run(arguments))


def stats(tools: MCPToolset) -> dict[str, int]:
    return json.loads(call(tools, "stats").content)


def test_tools_are_listed_once_and_called_over_one_session(hub: MCPHub, stdio_spec: MCPServerSpec) -> None:
    tools = toolset(hub, stdio_spec)
    names = [t.name for t in tools.tools()]
    assert {"echo", "add", "fail", "stats"} <= set(names)
    assert call(tools, "echo", text="hello").content == "hello"
    for number in range(20):
        assert call(tools, "add", a=number, b=1).details["structured_content"] == {"sum": number + 1}  # type: ignore[index]
        tools.tools()
    assert stats(tools)["tools_list"] == 1
    assert tools.connection.generations == 1 and tools.connection.list_requests == 1


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    """Wait for ``condition()`` (checked every 20 ms), failing after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_toolsets_of_one_server_share_its_session_across_loops_and_threads(
    hub: MCPHub, stdio_spec: MCPServerSpec
) -> None:
    first, second = toolset(hub, stdio_spec), toolset(hub, stdio_spec, prefix="other_")
    assert first.connection is second.connection
    pids: set[int] = set()

    async def many() -> list[ToolResult]:
        echo = {t.name: t for t in second.tools()}["other_echo"]
        return await asyncio.gather(*(echo.run({"text": str(n)}) for n in range(10)))

    assert [r.content for r in asyncio.run(many())] == [str(n) for n in range(10)]
    threads = [__import__("threading").Thread(target=lambda: pids.add(stats(first)["pid"])) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pids) == 1 and stats(first)["tools_list"] == 1
    first.close()
    assert call(second, "other_echo", text="still here").content == "still here"  # the other user keeps it


def test_a_tool_error_is_an_error_result(hub: MCPHub, stdio_spec: MCPServerSpec) -> None:
    result = call(toolset(hub, stdio_spec), "fail", message="order A-1 does not exist")
    assert result.is_error
    assert result.content == ("Error: fail on MCP server 'test' returned an error: "
                              "Error executing tool fail: order A-1 does not exist")
    assert result.details is not None and result.details["is_error"] is True


@pytest.mark.parametrize("era", ["2026 (subscriptions/listen)", "2025 (initialize, notifications)"])
def test_a_list_change_refreshes_the_cached_tools(
    hub: MCPHub, stdio_spec: MCPServerSpec, runs: Path, era: str
) -> None:
    spec = stdio_spec if era.startswith("2026") else MCPServerSpec.stdio(
        "test", sys.executable, [SERVER, "--legacy", "--runs", str(runs)], call_timeout=20, connect_timeout=20)
    tools = toolset(hub, spec)
    assert "double" not in tools.listed_names()
    assert call(tools, "add_tool").content == "added double"
    wait_until(lambda: "double" in [t.name for t in tools.tools()])
    assert call(tools, "double", x=21).content == "42"
    assert stats(tools)["tools_list"] == 2  # once at the start, once for the change
    assert tools.connection.generations == 1


def test_a_stdio_server_that_crashes_mid_call_is_restarted_and_the_call_is_not_sent_twice(
    hub: MCPHub, stdio_spec: MCPServerSpec, runs: Path
) -> None:
    tools = toolset(hub, stdio_spec)
    first_pid = stats(tools)["pid"]
    result = call(tools, "crash")
    assert result.is_error and result.details is not None and result.details["failure"] == "stopped"
    assert "stopped while crash was running" in result.content
    assert "fatal: the crash tool was called" in result.content  # its last words on stderr
    assert ran(runs, "crash") == 1  # a call that may have done its work is never sent again by itself
    assert call(tools, "echo", text="back").content == "back"
    assert stats(tools)["pid"] != first_pid
    assert tools.connection.generations == 2 and tools.connection.list_requests == 2  # listed again on reconnect


def test_a_read_only_call_cut_off_by_a_crash_is_sent_again_once(
    hub: MCPHub, stdio_spec: MCPServerSpec, runs: Path, tmp_path: Path
) -> None:
    tools = toolset(hub, stdio_spec)
    assert call(tools, "crash_once_readonly", marker=str(tmp_path / "a")).content == "answered after a restart"
    assert ran(runs, "crash_once") == 2
    result = call(tools, "crash_once", marker=str(tmp_path / "b"))  # not read-only: told, not repeated
    assert result.is_error and ran(runs, "crash_once") == 3


def test_a_stdio_server_that_died_between_turns_is_back_before_the_next_call(
    hub: MCPHub, stdio_spec: MCPServerSpec
) -> None:
    import os
    import signal

    tools = toolset(hub, stdio_spec)
    os.kill(stats(tools)["pid"], signal.SIGKILL)
    wait_until(lambda: tools.connection.generations == 2 and tools.connection.connected)
    assert call(tools, "echo", text="no error seen").content == "no error seen"


def test_a_restarted_http_server_is_reconnected(hub: MCPHub, http_server: HttpServer, runs: Path) -> None:
    tools = toolset(hub, MCPServerSpec.http("web", http_server.url, call_timeout=20, connect_timeout=20))
    assert call(tools, "echo", text="before").content == "before"
    http_server.restart()
    assert call(tools, "echo", text="after").content == "after"
    assert ran(runs, "echo") == 2 and tools.connection.generations >= 2


def test_a_2025_http_server_that_forgot_the_session_is_reconnected_and_the_call_sent_once(
    hub: MCPHub, legacy_http_server: HttpServer, runs: Path
) -> None:
    tools = toolset(hub, MCPServerSpec.http("web", legacy_http_server.url, call_timeout=20, connect_timeout=20))
    assert call(tools, "echo", text="before").content == "before"
    legacy_http_server.restart()  # a new process: "Session terminated" for the old session id
    assert call(tools, "echo", text="after").content == "after"
    assert ran(runs, "echo") == 2


def test_a_call_while_the_http_server_is_down_waits_for_it(hub: MCPHub, http_server: HttpServer) -> None:
    import threading

    tools = toolset(hub, MCPServerSpec.http("web", http_server.url, call_timeout=30, connect_timeout=30))
    http_server.kill()
    wait_until(lambda: tools.connection.failed_attempts >= 1)  # reconnecting, with backoff
    results: list[ToolResult] = []
    caller = threading.Thread(target=lambda: results.append(call(tools, "echo", text="patient")))
    caller.start()
    http_server.start()
    caller.join(timeout=60)
    assert [r.content for r in results] == ["patient"]


def test_a_slow_call_times_out_and_the_server_stays_usable(hub: MCPHub, runs: Path) -> None:
    spec = MCPServerSpec.stdio("test", sys.executable, [SERVER, "--runs", str(runs)], call_timeout=1,
                               connect_timeout=20)
    tools = toolset(hub, spec)
    result = call(tools, "slow", seconds=30)
    assert result.is_error and "did not answer slow within 1 s" in result.content
    assert call(tools, "echo", text="fine").content == "fine"
    assert tools.connection.generations == 1


def test_a_server_that_cannot_start_says_why_with_its_stderr(hub: MCPHub) -> None:
    spec = MCPServerSpec.stdio("broken", sys.executable, [SERVER, "--fail-start", "boom: GITHUB_TOKEN is not set"],
                               connect_timeout=20)
    tools = MCPToolset(spec, hub=hub)
    with pytest.raises(ToolServerError) as caught:
        tools.start()
    text = str(caught.value)
    assert text.startswith("MCP server 'broken' (stdio: ") and "exited during startup" in text
    assert "boom: GITHUB_TOKEN is not set" in text and caught.value.server == "broken"


def test_a_missing_command_is_named(hub: MCPHub) -> None:
    tools = MCPToolset(MCPServerSpec.stdio("git", "/nonexistent/mcp-server-git"), hub=hub)
    with pytest.raises(ToolServerError, match=r"command '/nonexistent/mcp-server-git' not found"):
        tools.start()


def test_an_unreachable_http_server_is_named(hub: MCPHub, http_server: HttpServer) -> None:
    http_server.kill()
    tools = MCPToolset(MCPServerSpec.http("web", http_server.url, connect_timeout=20), hub=hub)
    with pytest.raises(ToolServerError, match=r"MCP server 'web' at http://127\.0\.0\.1:\d+/mcp is not reachable"):
        tools.start()


def test_http_headers_carry_the_token_and_a_refusal_never_shows_it(hub: MCPHub, tmp_path: Path) -> None:
    server = HttpServer(tmp_path / "auth.log", "--token", "s3cret-token").start()
    try:
        wrong = MCPToolset(MCPServerSpec.http("web", server.url, headers={"Authorization": "Bearer wrong-token"},
                                              connect_timeout=20), hub=hub)
        with pytest.raises(ToolServerError) as caught:
            wrong.start()
        assert "answered HTTP 401 (check its auth or headers)" in str(caught.value)
        assert "wrong-token" not in str(caught.value) and "wrong-token" not in repr(wrong.spec)
        right = toolset(hub, MCPServerSpec.http("web", server.url, headers={"Authorization": "Bearer s3cret-token"}))
        assert call(right, "echo", text="in").content == "in"
    finally:
        server.stop()


def test_closing_the_last_user_stops_the_stdio_server(hub: MCPHub, stdio_spec: MCPServerSpec) -> None:

    tools = toolset(hub, stdio_spec)
    pid = stats(tools)["pid"]
    tools.close()
    wait_until(lambda: not _alive(pid))
    assert hub.connections() == []


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is not alive
        return stat.read().split()[2] != "Z"


def test_a_hub_on_a_lent_loop_calls_on_it_and_closes_when_it_stops(stdio_spec: MCPServerSpec, runs: Path) -> None:
    """The loop a process serves on, lent to the hub: started and closed while that loop is idle,
    called on it without another thread, and still callable from another loop while it runs."""
    import threading

    loop = asyncio.new_event_loop()
    hub = MCPHub()
    assert hub.use_loop(loop)
    before = {thread.ident for thread in threading.enumerate()}
    try:
        tools = toolset(hub, stdio_spec)  # started at once: the hub runs the idle loop itself
        echo = {t.name: t for t in tools.tools()}["echo"]

        async def serving() -> list[str]:
            here = [(await echo.run({"text": "on the loop"})).content]
            elsewhere = await asyncio.to_thread(lambda: asyncio.run(echo.run({"text": "from another loop"})).content)
            started = [t.name for t in threading.enumerate() if t.ident not in before and t.name == "aixgo-mcp"]
            return [*here, elsewhere, *started]

        assert loop.run_until_complete(serving()) == ["on the loop", "from another loop"]
        assert not hub.use_loop(asyncio.new_event_loop())  # lent once: another loop is refused
        assert ran(runs, "echo") == 2
        tools.close()  # the loop is idle again: the hub runs it to close the session
        assert hub.connections() == []
    finally:
        hub.close()
        loop.close()
