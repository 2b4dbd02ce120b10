"""A config's agents and their MCP servers, built together (``Runtime.from_config``, ``aixgo run``,
``aixgo serve``): servers started before the first turn and shared by every agent and runtime of
the process; what only a server can tell is checked then, with the file, line and field."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from aixgo.agents.tools.toolbox import Toolbox
from aixgo.config import load_config
from aixgo.errors import ConfigError, ToolServerError
from aixgo.runtime import Runtime
from tests.agents.mcp.conftest import SERVER, HttpServer
from tests.agents.mcp.test_connection import wait_until

HEAD = f"""\
session: {{enabled: false}}
llm: {{base_url: 'http://127.0.0.1:9/v1', api_key: sk-test}}
mcp_servers:
  - {{name: test, transport: stdio, command: {sys.executable}, args: [{SERVER}]}}
"""


def config(tmp_path: Path, agents: str, head: str = HEAD) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(head + "agents:\n" + agents)
    return path


def test_a_tool_offered_by_two_sources_is_an_error_naming_both(tmp_path: Path) -> None:
    path = config(tmp_path, "  - name: a\n    model: m\n    tools: [calculator]\n    mcp_servers: [test]\n")
    with pytest.raises(ConfigError) as caught:
        Runtime.from_config(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:9:19: agents[0].mcp_servers[0]: agent 'a' would be offered two tools named "
                           "'calculator': the built-in calculator ")
    assert f"({path}:8:13: agents[0].tools[0])" in text and "the tool 'calculator' of MCP server 'test'" in text
    assert "hint: give the server a prefix (tool_prefix: {test: test_})" in text


@pytest.mark.parametrize("fix", ["    tool_prefix: {test: t_}\n", "    tool_filter: {deny: [test/calculator]}\n"])
def test_a_prefix_or_a_filter_settles_a_clash(tmp_path: Path, fix: str) -> None:
    path = config(tmp_path, "  - name: a\n    model: m\n    tools: [calculator]\n    mcp_servers: [test]\n" + fix)
    toolbox = Toolbox.from_config(load_config(path))
    try:
        names = toolbox.registry("a").names
        assert names[0] == "calculator" and names.count("calculator") == 1 and "stats" in " ".join(names)
    finally:
        toolbox.close()


def test_a_pick_the_server_does_not_have_is_an_error_with_a_guess(tmp_path: Path) -> None:
    path = config(tmp_path, "  - name: a\n    model: m\n    tools: [test/echoo]\n")
    with pytest.raises(ConfigError) as caught:
        Toolbox.from_config(load_config(path))
    assert str(caught.value) == (f"{path}:8:13: agents[0].tools[0]: MCP server 'test' has no tool 'echoo'\n"
                                 "  hint: did you mean 'test/echo'?")


def test_a_token_env_that_is_not_set_is_an_error_at_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTES_TOKEN", raising=False)
    head = HEAD + "  - name: notes\n    transport: streamable_http\n    url: http://127.0.0.1:9/mcp\n" \
                  "    auth: {type: bearer, token_env: NOTES_TOKEN}\n"
    path = config(tmp_path, "  - {name: a, model: m, mcp_servers: [notes]}\n", head)
    with pytest.raises(ConfigError, match=r":8:37: mcp_servers\[1\]\.auth\.token_env: environment variable "
                                          r"NOTES_TOKEN is not set"):
        Toolbox.from_config(load_config(path))


def test_a_token_env_is_read_when_connecting_and_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = HttpServer(tmp_path / "auth.log", "--token", "from-the-env").start()
    try:
        monkeypatch.setenv("NOTES_TOKEN", "from-the-env")
        head = HEAD + f"  - name: notes\n    transport: streamable_http\n    url: {server.url}\n" \
                      "    auth: {type: bearer, token_env: NOTES_TOKEN}\n"
        toolbox = Toolbox.from_config(load_config(config(tmp_path, "  - {name: a, model: m, tools: [notes/echo]}\n", head)))
        try:
            assert toolbox.registry("a").names == ["echo"]
        finally:
            toolbox.close()
    finally:
        server.stop()


def test_a_server_that_cannot_start_fails_the_runtime_with_its_line_and_stderr(tmp_path: Path) -> None:
    head = HEAD.replace(f"args: [{SERVER}]", f"args: [{SERVER}, --fail-start, 'boom: bad key']")
    path = config(tmp_path, "  - {name: a, model: m, mcp_servers: [test]}\n", head)
    with pytest.raises(ToolServerError) as caught:
        Runtime.from_config(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:4:5: mcp_servers[0]: MCP server 'test' (stdio: ")
    assert text.endswith("exited during startup\n  its stderr ends with:\n    boom: bad key")


def test_runtimes_and_agents_of_one_process_share_one_session_per_server(tmp_path: Path) -> None:
    path = config(tmp_path, "  - {name: a, model: m, tools: [test/stats]}\n  - {name: b, model: m, mcp_servers: [test],"
                            " tool_prefix: b_, tool_filter: {allow: [stats]}}\n")
    first, second = Runtime.from_config(path), Runtime.from_config(path)

    def stats(runtime: Runtime, agent: str, name: str) -> dict[str, int]:
        import asyncio

        tool = runtime.agent(agent).tools.get(name)  # type: ignore[attr-defined]
        return json.loads(asyncio.run(tool.run({})).content)

    pids = {stats(first, "a", "stats")["pid"], stats(first, "b", "b_stats")["pid"], stats(second, "a", "stats")["pid"]}
    assert len(pids) == 1 and stats(second, "b", "b_stats")["tools_list"] == 1
    first.close()
    assert stats(second, "a", "stats")["pid"] in pids  # the other runtime still uses it
    second.close()
    pid = pids.pop()
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2])
