"""Which tools need a person's approval before they run (``require_approval``): per tool, per MCP server,
per agent; in YAML (checked by the schema, ``aixgo validate`` and, once the servers are up, the
toolbox) and in Python; shown by ``aixgo tools``. (What happens when the model calls one:
tests/agents/test_approvals.py and friends.)"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from aixgo.agents.tools import BUILTIN_TOOLS, BaseTool, Tool, ToolRegistry, ToolResult, tool
from aixgo.agents.tools.mcp import MCPHub, MCPServerSpec, MCPToolset
from aixgo.agents.tools.toolbox import Toolbox
from aixgo.config import load_config, parse_config
from aixgo.errors import ConfigError
from tests.agents.mcp.conftest import SERVER
from tests.agents.mcp.test_toolbox import HEAD, config


def write(tmp_path: Path, agents: str, head: str = HEAD) -> Path:
    return config(tmp_path, agents, head)


def needing(registry: ToolRegistry) -> list[str]:
    return [name for name in registry.names if registry.requires_approval(name)]


class _Remote(BaseTool):
    """A tool of a source called ``git`` (as an MCP tool names its origin)."""

    source = "mcp"
    origin = "git"

    def __init__(self, name: str, server_name: str) -> None:
        self.name, self.server_name, self.description, self.parameters = name, server_name, "", {"type": "object"}

    def known_as(self) -> tuple[str, ...]:
        return (self.name, f"{self.origin}/{self.server_name}")

    async def run(self, arguments: Mapping[str, Any], *, max_chars: int = 0) -> ToolResult:
        return ToolResult("ran")


# -- Python ----------------------------------------------------------------------------------------


def test_a_python_tool_can_need_approval() -> None:
    @tool(require_approval=True)
    def delete_file(path: str) -> str:
        """Delete a file."""
        return path

    assert delete_file.require_approval is True
    assert Tool(lambda x: x, name="plain").require_approval is False
    assert Tool(delete_file, name="again", require_approval=False).require_approval is False
    assert needing(ToolRegistry([delete_file, BUILTIN_TOOLS["calculator"]])) == ["delete_file"]


@pytest.mark.parametrize(("policy", "expected"), [
    (True, ["calculator", "current_time", "git_commit", "git_status"]),
    (False, []),
    (["current_*"], ["current_time"]),
    (["git/commit"], ["git_commit"]),
    (["git/*"], ["git_commit", "git_status"]),
    (["git_status", "calculator"], ["calculator", "git_status"]),
], ids=["all", "none", "glob", "server/tool", "server/any", "names"])
def test_an_agent_policy_is_matched_against_names_and_server_tool(policy: Any, expected: list[str]) -> None:
    registry = ToolRegistry([*BUILTIN_TOOLS.values(), _Remote("git_commit", "commit"),
                             _Remote("git_status", "status")], require_approval=policy)
    assert sorted(needing(registry)) == expected
    assert not registry.requires_approval("no_such_tool")


def test_an_mcp_toolset_can_need_approval_for_all_or_some_of_its_tools(hub: MCPHub) -> None:
    spec = MCPServerSpec.stdio("test", sys.executable, [SERVER], connect_timeout=20)
    every = MCPToolset(spec, hub=hub, require_approval=True, only={"echo", "record"})
    some = MCPToolset(spec, hub=hub, prefix="t_", require_approval=["rec*"], only={"echo", "record"})
    try:
        every.start()
        assert {t.name: t.require_approval for t in every.tools()} == {"echo": True, "record": True}
        assert {t.name: t.require_approval for t in some.tools()} == {"t_echo": False, "t_record": True}
    finally:
        every.close()
        some.close()


# -- YAML ------------------------------------------------------------------------------------------


def test_yaml_per_tool_per_server_and_per_agent(tmp_path: Path) -> None:
    head = HEAD.replace(f"args: [{SERVER}]}}", f"args: [{SERVER}], require_approval: [record]}}")
    path = write(tmp_path, """\
  - {name: every, model: m, tools: [calculator, current_time], require_approval: true}
  - {name: some, model: m, tools: [calculator, current_time, test/echo], require_approval: [current_*, test/echo]}
  - {name: server, model: m, tools: [calculator], mcp_servers: [test], tool_filter: {allow: [echo, record]}}
  - {name: none, model: m, tools: [calculator]}
""", head)
    toolbox = Toolbox.from_config(load_config(path))
    try:
        assert needing(toolbox.registry("every")) == ["calculator", "current_time"]
        assert needing(toolbox.registry("some")) == ["current_time", "echo"]
        assert needing(toolbox.registry("server")) == ["record"]
        assert needing(toolbox.registry("none")) == []
        assert BUILTIN_TOOLS["calculator"].require_approval is False  # the shared built-in is left as it was
    finally:
        toolbox.close()


@pytest.mark.parametrize(("agents", "head_extra", "where", "said"), [
    ("  - {name: a, model: m, tools: [calculator], require_approval: [calculater]}\n", "",
     ":6:65: agents[0].require_approval[0]", "'calculater' matches none of the tools of agent 'a' (calculator)"),
    ("  - {name: a, model: m, mcp_servers: [test], tool_filter: {allow: [echo]}}\n", ", require_approval: [recrod]",
     # the pattern's column follows the server's path, which is as long as the checkout's path makes it
     f":4:{HEAD.splitlines()[3].index(SERVER) + len(SERVER) + 23}: mcp_servers[0].require_approval[0]",
     "'recrod' matches none of the tools of MCP server 'test' (echo, "),
], ids=["agent", "server"])
def test_an_approval_pattern_that_matches_no_tool_is_an_error_with_its_line(
    tmp_path: Path, agents: str, head_extra: str, where: str, said: str
) -> None:
    head = HEAD.replace(f"args: [{SERVER}]}}", f"args: [{SERVER}]{head_extra}}}")
    path = write(tmp_path, agents, head)
    with pytest.raises(ConfigError) as caught:
        Toolbox.from_config(load_config(path))
    text = str(caught.value)
    assert text.startswith(f"{path}{where}: ") and said in text, text


@pytest.mark.parametrize(("yaml", "said"), [
    ("agents:\n  - {name: a, model: m, require_approval: yes please}\n", "agents[0].require_approval"),
    ("agents:\n  - {name: a, model: m, require_approval: [1]}\n", "agents[0].require_approval[0]"),
    ("mcp_servers:\n  - {name: s, transport: stdio, command: x, require_approval: [\"\"]}\nagents: []\n",
     "mcp_servers[0].require_approval[0]"),
    ("mcp_servers:\n  - {name: s, transport: stdio, command: x}\n"
     "agents:\n  - {name: a, model: m, tools: [calculator], require_approval: [other/x]}\n",
     "the agent does not use MCP server 'other'"),
], ids=["not a boolean or list", "not a name", "empty pattern", "unused server"])
def test_the_schema_and_validate_refuse_what_cannot_be_meant(tmp_path: Path, yaml: str, said: str) -> None:
    with pytest.raises(ConfigError, match=f"app.yaml:\\d+:\\d+: .*{said.replace('[', '.').replace(']', '.')}"):
        parse_config(yaml, path="app.yaml", base_dir=tmp_path, env={})


def test_validate_accepts_the_settings(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {name: a, model: m, tools: [calculator, test/echo], require_approval: [test/*]}\n",
                 HEAD.replace(f"args: [{SERVER}]}}", f"args: [{SERVER}], require_approval: true}}"))
    done = subprocess.run([sys.executable, "-m", "aixgo", "validate", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    config = load_config(path)
    assert config.mcp_servers[0].require_approval is True and config.agents[0].require_approval == ("test/*",)


def test_aixgo_tools_says_which_tools_need_approval(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {name: a, model: m, tools: [calculator, current_time], require_approval: [calculator]}\n")
    table = subprocess.run([sys.executable, "-m", "aixgo", "tools", str(path)], capture_output=True, text=True,
                           timeout=60, check=False, env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"})
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[1].split()[:3] == ["calculator", "built-in", "(approval)"]
    assert "(approval)" not in lines[2]
    listed = subprocess.run([sys.executable, "-m", "aixgo", "tools", str(path), "--json"], capture_output=True,
                            text=True, timeout=60, check=False)
    found = json.loads(listed.stdout)["agents"][0]["tools"]
    assert [(t["name"], t["require_approval"]) for t in found] == [("calculator", True), ("current_time", False)]
