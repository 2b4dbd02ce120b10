"""``mcp_servers:`` and the agents' MCP keys: what loads, what each mistake says (file:line:column,
the field, a hint naming what to write instead), and that no secret is ever shown."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from aixgo.config import parse_config
from aixgo.config.mcp import MCPAuthConfig, ToolFilterConfig
from aixgo.errors import ConfigError

from .conftest import config_problems, load_text

SERVERS = """\
mcp_servers:
  - name: time
    transport: stdio
    command: mcp-server-time
    args: [--local-timezone, Europe/Paris]
    env: {TZ_TOKEN: "${TZ_TOKEN}"}
    cwd: tools
  - name: notes
    transport: streamable_http
    url: http://127.0.0.1:8000/mcp
    headers: {X-Team: research}
    auth: {type: bearer, token_env: NOTES_TOKEN}
    timeout: 30s
    connect_timeout: 5s
    max_result_chars: 4000
    max_image_bytes: 1024
"""


def test_servers_and_agent_keys_load(tmp_path: object) -> None:
    config = load_text(SERVERS + """\
agents:
  - name: assistant
    model: m
    tools: [calculator, time/convert_time]
    mcp_servers: [notes]
    tool_filter: {allow: [search*], deny: [notes/delete_*]}
    tool_prefix: notes_
""", env={"TZ_TOKEN": "tz-secret"})
    time, notes = config.mcp_servers
    assert (time.name, time.transport, time.command, time.args) == (
        "time", "stdio", "mcp-server-time", ("--local-timezone", "Europe/Paris"))
    assert time.env == {"TZ_TOKEN": "tz-secret"} and time.cwd is not None and time.cwd.endswith("tools")
    assert (notes.url, notes.headers, notes.timeout, notes.connect_timeout) == (
        "http://127.0.0.1:8000/mcp", {"X-Team": "research"}, 30.0, 5.0)
    assert notes.auth == MCPAuthConfig("bearer", None, "NOTES_TOKEN")
    assert (notes.max_result_chars, notes.max_image_bytes, notes.index) == (4000, 1024, 1)
    agent = config.agent("assistant")
    assert agent.mcp_servers == ["notes"]
    assert agent.tool_filter == ToolFilterConfig(("search*",), ("notes/delete_*",))
    assert agent.tool_prefix == {"notes": "notes_", "time": "notes_"}  # a string prefixes every server
    assert config.mcp_server("notes") is notes and config.mcp_server("nope") is None
    assert "tz-secret" not in repr(config) and "tz-secret" not in repr(time)


def test_the_go_aixgo_keys_load() -> None:
    config = load_text("""\
mcp_servers:
  - name: data
    transport: streamable_http
    address: https://tools.example.com/mcp
    auth: {type: bearer, token: "${DATA_TOKEN}"}
agents:
  - {name: a, model: m, mcp_servers: [data]}
""", env={"DATA_TOKEN": "t0ken-value"})
    server = config.mcp_servers[0]
    assert server.url == "https://tools.example.com/mcp" and server.auth is not None
    assert server.auth.token == "t0ken-value" and "t0ken-value" not in repr(server)


@dataclass(frozen=True)
class Case:
    text: str
    line: int
    column: int
    path: str
    message: str
    hint: str


HEAD = "mcp_servers:\n  - name: git\n"  # lines 1-2; server keys go on line 3+
AGENTS = "agents:\n  - name: a\n    model: m\n"

CASES = {
    "go grpc transport": Case(HEAD + "    transport: grpc\n    address: http://h/mcp\n" + AGENTS, 3, 16,
                              "mcp_servers[0].transport", "expected one of 'stdio', 'streamable_http'",
                              "transport: streamable_http with url: http://host:port/mcp"),
    "go local transport": Case(HEAD + "    transport: local\n" + AGENTS, 3, 16, "mcp_servers[0].transport",
                               "found the string 'local'", "transport: stdio and its command"),
    "stdio without command": Case(HEAD + "    transport: stdio\n" + AGENTS, 2, 5, "mcp_servers[0].command",
                                  "missing required key 'command'", "the program that runs the server"),
    "http without url": Case(HEAD + "    transport: streamable_http\n" + AGENTS, 2, 5, "mcp_servers[0].url",
                             "missing required key 'url'", "http://localhost:8000/mcp"),
    "a stdio key on http": Case(HEAD + "    transport: streamable_http\n    url: http://h/mcp\n    command: x\n"
                                + AGENTS, 5, 5, "mcp_servers[0].command", "command is only used by transport: stdio",
                                "use transport: stdio"),
    "auth on stdio": Case(HEAD + "    transport: stdio\n    command: x\n    auth: {type: bearer, token: t}\n"
                          + AGENTS, 5, 5, "mcp_servers[0].auth", "auth is only used by transport: streamable_http",
                          "pass secrets to a stdio server with env:"),
    "url and address": Case(HEAD + "    transport: streamable_http\n    url: http://h/mcp\n    address: http://h/mcp\n"
                            + AGENTS, 5, 5, "mcp_servers[0].address", "set either url or address, not both",
                            "keep url"),
    "token and token_env": Case(HEAD + "    transport: streamable_http\n    url: http://h/mcp\n    auth:\n"
                                "      type: bearer\n      token: t\n      token_env: T\n" + AGENTS, 8, 7,
                                "mcp_servers[0].auth.token_env", "set either token or token_env, not both",
                                "token_env names a variable"),
    "oauth": Case(HEAD + "    transport: streamable_http\n    url: http://h/mcp\n    auth: {type: oauth, token: t}\n"
                  + AGENTS, 5, 18, "mcp_servers[0].auth.type", "expected one of 'bearer'",
                  "OAuth sign-in is not supported yet"),
    "duplicate server": Case("mcp_servers:\n  - {name: git, transport: stdio, command: x}\n"
                             "  - {name: git, transport: stdio, command: y}\n" + AGENTS, 3, 12,
                             "mcp_servers[1].name", "duplicate MCP server name 'git'", "at line 2"),
    "a number in env": Case(HEAD + "    transport: stdio\n    command: x\n    env: {PORT: 8080}\n" + AGENTS, 5, 17,
                            "mcp_servers[0].env.PORT", "expected a string, found the number 8080",
                            "put the value in quotes"),
    "unknown server of an agent": Case("mcp_servers:\n  - {name: github, transport: stdio, command: x}\n" + AGENTS
                                       + "    mcp_servers: [githb]\n", 6, 19, "agents[0].mcp_servers[0]",
                                       "unknown MCP server 'githb'", "did you mean 'github'?"),
    "unknown server of a pick": Case("mcp_servers:\n  - {name: time, transport: stdio, command: x}\n" + AGENTS
                                     + "    tools: [tiem/get_time]\n", 6, 13, "agents[0].tools[0]",
                                     "unknown MCP server 'tiem'", "did you mean 'time'?"),
    "no servers at all": Case(AGENTS + "    mcp_servers: [git]\n", 4, 19, "agents[0].mcp_servers[0]",
                              "unknown MCP server 'git'", "declare it in the top-level mcp_servers: list"),
    "prefix for an unused server": Case("mcp_servers:\n  - {name: git, transport: stdio, command: x}\n"
                                        "  - {name: web, transport: stdio, command: y}\n" + AGENTS
                                        + "    mcp_servers: [git]\n    tool_prefix: {web: w_}\n", 8, 19,
                                        "agents[0].tool_prefix.web", "the agent does not use MCP server 'web'",
                                        "name a server of its mcp_servers:"),
    "filter without servers": Case(AGENTS + "    tool_filter: {deny: [x]}\n", 4, 5, "agents[0].tool_filter",
                                   "tool_filter has no effect without MCP servers", "give the agent mcp_servers:"),
    "a bad pick": Case(AGENTS + "    tools: ['git/ bad']\n", 4, 13, "agents[0].tools[0]",
                       "expected a tool reference", "SERVER/TOOL"),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_each_mistake_names_file_line_field_and_what_to_write(case: Case) -> None:
    problems = config_problems(case.text)
    assert len(problems) == 1, "\n\n".join(problems)
    head = problems[0].splitlines()[0]
    assert head.startswith(f"cfg.yaml:{case.line}:{case.column}: {case.path}: "), problems[0]
    assert case.message in head, problems[0]
    hints = [line for line in problems[0].splitlines() if line.startswith("  hint: ")]
    assert len(hints) == 1 and case.hint in hints[0], problems[0]


def test_no_secret_of_a_server_is_shown_in_a_problem() -> None:
    text = """\
mcp_servers:
  - name: web
    transport: streamable_http
    url: http://user:hunter2@h/mcp
    headers:
      Authorization: Bearer sekrit-header
      X-Api-Key: sekrit-key
    auth: {type: bearer, token: sekrit-token, token_env: X}
  - name: local
    transport: stdio
    command: x
    env:
      GITHUB_TOKEN: sekrit-env
      PORT: 1
agents:
  - {name: a, model: m}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, path="cfg.yaml", env={})
    shown = str(caught.value)
    assert "Authorization" in shown and "token_env" in shown and "PORT" in shown  # the problems are there
    for secret in ("hunter2", "sekrit-header", "sekrit-key", "sekrit-token", "sekrit-env"):
        assert secret not in shown
