"""The ``mcp_servers:`` section and the agents' MCP keys: typed objects, the checks the schema cannot
make, and turning checked data into those objects. Loading connects to nothing; the runtime does.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from aixgo.config.problems import JsonPath, Problem, did_you_mean
from aixgo.config.source import Marks
from aixgo.redaction import mask_secrets

if TYPE_CHECKING:  # the MCP tool source's own enumeration; importing the agents layer loads the openai client
    from aixgo.agents.tools.mcp.spec import Transport as MCPTransport

MCPAuthType = Literal["bearer"]
"""The ``auth.type`` of an MCP server (the Go aixgo's name; only bearer tokens so far)."""


def __getattr__(name: str) -> Any:
    """``MCPTransport``: the MCP tool source's ``Transport``, imported on first use (loading a config stays light)."""
    if name == "MCPTransport":
        return importlib.import_module("aixgo.agents.tools.mcp.spec").Transport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

PICK = re.compile(r"^[A-Za-z0-9_.-]{1,64}/[A-Za-z0-9_./-]{1,128}$")
"""A ``SERVER/TOOL`` entry of an agent's ``tools:`` (as the schema's pattern has it)."""
STDIO_KEYS = ("command", "args", "env", "cwd")
HTTP_KEYS = ("url", "address", "headers", "auth")
GO_TRANSPORTS = {
    "grpc": "'grpc' is a transport of the Go aixgo; here MCP servers are reached over streamable_http: "
            "transport: streamable_http with url: http://host:port/mcp (or started with transport: stdio "
            "and a command)",
    "local": "'local' (tools built into the Go binary) has no equivalent here: start the server with "
             "transport: stdio and its command, or write the tools in Python (tools: [package.module:function])",
}
"""Transports of the Go aixgo, and what to write instead."""


def enum_hint(path: JsonPath, value: object) -> str | None:
    """What to write instead of an MCP value the schema refuses, when there is more to say than
    "did you mean" (a transport or an auth type of the Go aixgo)."""
    if path[:1] != ("mcp_servers",) or not isinstance(value, str):
        return None
    if path[-1:] == ("transport",):
        return GO_TRANSPORTS.get(value)
    if path[-2:] == ("auth", "type") and value == "oauth":
        return ("OAuth sign-in is not supported yet: get a token and use type: bearer with token_env: VAR "
                "(or token: ${VAR})")
    return None


@dataclass(frozen=True, slots=True, repr=False)
class MCPAuthConfig:
    """An MCP server's ``auth:`` (the Go aixgo's keys): a bearer token, or the variable holding it."""

    type: MCPAuthType = "bearer"
    token: str | None = None
    token_env: str | None = None

    def __repr__(self) -> str:
        return f"MCPAuthConfig(type={self.type!r}, token={'***' if self.token else None}, token_env={self.token_env!r})"


@dataclass(frozen=True, slots=True, repr=False)
class MCPServerConfig:
    """One entry of ``mcp_servers:``. ``repr()`` never shows ``env`` or ``headers`` values, tokens, or
    credentials in the URL. Durations are in seconds; ``None`` means the default."""

    name: str
    transport: MCPTransport
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: MCPAuthConfig | None = None
    timeout: float | None = None
    connect_timeout: float | None = None
    max_result_chars: int | None = None
    max_image_bytes: int | None = None
    require_approval: bool | tuple[str, ...] = False
    """Calls of its tools that wait for a person's approval: ``True`` (all), or glob patterns of their names."""
    index: int = 0
    """Its position in ``mcp_servers:`` (for messages that name the entry)."""

    def __repr__(self) -> str:
        target = f"url={mask_secrets(self.url or '')!r}" if self.transport == "streamable_http" else (
            f"command={self.command!r}, args={list(self.args)!r}")
        hidden = f", env=<{len(self.env)} values>" if self.env else ""
        hidden += f", headers=<{', '.join(sorted(self.headers))}>" if self.headers else ""
        return f"MCPServerConfig({self.name!r}, {self.transport}, {target}{hidden}, auth={self.auth!r})"


@dataclass(frozen=True, slots=True)
class ToolFilterConfig:
    """An agent's ``tool_filter:``: glob patterns of its MCP tools to offer (``allow``) or not (``deny``)."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# -- checks ----------------------------------------------------------------------------------------


def mcp_problems(data: dict[str, Any], marks: Marks) -> Iterator[Problem]:
    """What the schema cannot say about MCP servers and the agents that use them."""
    servers = _list(data.get("mcp_servers"))
    names: dict[str, int] = {}
    for index, raw in enumerate(servers):
        server = _mapping(raw)
        path: JsonPath = ("mcp_servers", index)
        name = server.get("name")
        if isinstance(name, str):
            if name in names:
                first = marks.value(("mcp_servers", names[name], "name"))
                at = f" at line {first.line}" if first else ""
                yield Problem((*path, "name"), f"duplicate MCP server name {name!r}",
                              f"server names must be unique: mcp_servers[{names[name]}]{at} is already called {name!r}",
                              marks.value((*path, "name")))
            else:
                names[name] = index
        yield from _server_problems(server, path, marks)
    for index, raw in enumerate(_list(data.get("agents"))):
        yield from _agent_problems(_mapping(raw), ("agents", index), names, marks)


def _server_problems(server: dict[str, Any], path: JsonPath, marks: Marks) -> Iterator[Problem]:
    transport = server.get("transport")
    if transport == "stdio":
        if "command" not in server:
            yield Problem((*path, "command"), "missing required key 'command'",
                          "mcp_servers[].command: the program that runs the server, e.g. uvx", marks.value(path))
        for key in HTTP_KEYS:
            if key in server:
                hint = ("pass secrets to a stdio server with env:" if key in ("auth", "headers")
                        else "remove it, or use transport: streamable_http")
                yield Problem((*path, key), f"{key} is only used by transport: streamable_http", hint,
                              marks.key((*path, key)))
    elif transport == "streamable_http":
        for key in STDIO_KEYS:
            if key in server:
                yield Problem((*path, key), f"{key} is only used by transport: stdio",
                              "remove it, or use transport: stdio", marks.key((*path, key)))
        if "url" in server and "address" in server:
            yield Problem((*path, "address"), "set either url or address, not both",
                          "keep url (address is the Go aixgo's name for it)", marks.key((*path, "address")))
        elif "url" not in server and "address" not in server:
            yield Problem((*path, "url"), "missing required key 'url'",
                          "mcp_servers[].url: the server's MCP endpoint, e.g. http://localhost:8000/mcp",
                          marks.value(path))
        auth = server.get("auth")
        if isinstance(auth, dict):
            yield from _auth_problems(auth, server, (*path, "auth"), marks)


def _auth_problems(auth: dict[str, Any], server: dict[str, Any], path: JsonPath, marks: Marks) -> Iterator[Problem]:
    if "token" in auth and "token_env" in auth:
        yield Problem((*path, "token_env"), "set either token or token_env, not both",
                      "token_env names a variable read when aixgo connects; token: ${VAR} reads it when loading",
                      marks.key((*path, "token_env")))
    elif "token" not in auth and "token_env" not in auth:
        yield Problem(path, "auth needs a token or a token_env", "add token: ${MY_TOKEN} or token_env: MY_TOKEN",
                      marks.value(path))
    headers = _mapping(server.get("headers"))
    if any(str(key).lower() == "authorization" for key in headers):
        yield Problem(path, "auth and an Authorization header both set the same header",
                      "keep one of them", marks.key(path))


def _agent_problems(agent: dict[str, Any], path: JsonPath, servers: dict[str, int], marks: Marks) -> Iterator[Problem]:
    declared = list(servers)

    def unknown(name: str, where: JsonPath) -> Problem:
        guess = did_you_mean(name, declared)
        if guess:
            hint = f"did you mean {guess!r}?"
        elif declared:
            hint = f"MCP servers declared in this file: {', '.join(declared)}"
        else:
            hint = "declare it in the top-level mcp_servers: list (see docs/tools.md)"
        return Problem(where, f"unknown MCP server {name!r}", hint, marks.value(where))

    used: set[str] = set()
    for number, name in enumerate(_list(agent.get("mcp_servers"))):
        if isinstance(name, str):
            used.add(name)
            if name not in servers:
                yield unknown(name, (*path, "mcp_servers", number))
    for number, spec in enumerate(_list(agent.get("tools"))):
        if isinstance(spec, str) and PICK.match(spec):  # else: the schema reports it
            server = spec.split("/", 1)[0]
            used.add(server)
            if server not in servers:
                yield unknown(server, (*path, "tools", number))
    approvals = agent.get("require_approval")
    for number, pattern in enumerate(approvals if isinstance(approvals, list) else []):
        named = pattern.split("/", 1)[0] if isinstance(pattern, str) and "/" in pattern else None
        if named is not None and named not in used and not any(c in named for c in "*?["):
            at: JsonPath = (*path, "require_approval", number)
            yield Problem(at, f"the agent does not use MCP server {named!r}",
                          "name a server of its mcp_servers: (or of a SERVER/TOOL in its tools:)", marks.value(at))
    prefix = agent.get("tool_prefix")
    if isinstance(prefix, dict):
        for name in prefix:
            if name not in used:
                where: JsonPath = (*path, "tool_prefix", name)
                yield Problem(where, f"the agent does not use MCP server {name!r}",
                              "name a server of its mcp_servers: (or of a SERVER/TOOL in its tools:)", marks.key(where))
    for key in ("tool_filter", "tool_prefix"):
        if key in agent and not used:
            yield Problem((*path, key), f"{key} has no effect without MCP servers",
                          "give the agent mcp_servers: [NAME], or remove it", marks.key((*path, key)))


# -- building --------------------------------------------------------------------------------------


def to_mcp_servers(raw: list[Any], resolve: Callable[[str], Path], seconds: Callable[[Any], float | None]
                   ) -> list[MCPServerConfig]:
    """Typed ``mcp_servers:`` entries from checked data; ``resolve`` makes ``cwd`` a path (relative to
    the file), ``seconds`` turns a duration into seconds."""
    out = []
    for index, item in enumerate(raw):
        server = _mapping(item)
        auth = _mapping(server.get("auth")) if server.get("auth") is not None else None
        out.append(MCPServerConfig(
            name=server["name"],
            transport=server["transport"],
            command=server.get("command"),
            args=tuple(server.get("args") or ()),
            env=dict(server.get("env") or {}),
            cwd=str(resolve(server["cwd"])) if server.get("cwd") else None,
            url=server.get("url") or server.get("address"),
            headers=dict(server.get("headers") or {}),
            auth=MCPAuthConfig(auth.get("type", "bearer"), auth.get("token"), auth.get("token_env"))
            if auth is not None else None,
            timeout=seconds(server.get("timeout")),
            connect_timeout=seconds(server.get("connect_timeout")),
            max_result_chars=server.get("max_result_chars"),
            max_image_bytes=server.get("max_image_bytes"),
            require_approval=approval_setting(server.get("require_approval")),
            index=index,
        ))
    return out


def approval_setting(value: Any) -> bool | tuple[str, ...]:
    """A checked ``require_approval:`` value: a bool, or its patterns as a tuple (unset: False)."""
    if isinstance(value, list):
        return tuple(value)
    return bool(value)


def agent_mcp_keys(agent: dict[str, Any]) -> dict[str, Any]:
    """An agent's ``mcp_servers``, ``tool_filter`` and ``tool_prefix`` (as ``{server: prefix}``) from
    checked data."""
    servers = list(agent.get("mcp_servers") or [])
    picked = [spec.split("/", 1)[0] for spec in agent.get("tools") or [] if "/" in spec and ":" not in spec]
    prefix = agent.get("tool_prefix")
    if isinstance(prefix, str):
        prefixes = dict.fromkeys([*servers, *picked], prefix) if prefix else {}
    else:
        prefixes = {name: value for name, value in (prefix or {}).items() if value}
    raw_filter = _mapping(agent.get("tool_filter"))
    return {
        "mcp_servers": servers,
        "tool_filter": ToolFilterConfig(tuple(raw_filter.get("allow") or ()), tuple(raw_filter.get("deny") or ())),
        "tool_prefix": prefixes,
    }


__all__ = [
    "GO_TRANSPORTS",
    "MCPAuthConfig",
    "MCPServerConfig",
    "MCPTransport",
    "ToolFilterConfig",
    "agent_mcp_keys",
    "approval_setting",
    "enum_hint",
    "mcp_problems",
    "to_mcp_servers",
]
