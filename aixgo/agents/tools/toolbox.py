"""The tools of a config's agents — built-ins, Python functions and MCP servers — built and checked
together: :class:`Toolbox`.

:meth:`Toolbox.from_config` starts (or reaches) the MCP servers the agents use, all at once, each
within its ``connect_timeout``; then gives each agent a
:class:`~aixgo.agents.tools.registry.ToolRegistry` and checks what only the servers can tell: that
each ``SERVER/TOOL`` exists, and that no two sources offer a tool of the same name. Each problem is a
:class:`~aixgo.errors.ConfigError` naming the file, line and field (of both tools, for a clash). A
config without MCP servers starts nothing and imports no MCP code.
"""

from __future__ import annotations

import asyncio
import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aixgo.agents.tools.approval import covers
from aixgo.agents.tools.base import BaseTool
from aixgo.agents.tools.registry import ToolRegistry
from aixgo.agents.tools.resolve import resolve_tools
from aixgo.errors import ConfigError, ToolServerError

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class _Offer:
    """Where one tool an agent is offered comes from (for a clash's message)."""

    label: str
    path: JsonPath


@dataclass
class Toolbox:
    """Every agent's tool registry, and the MCP toolsets they hold (let go by :meth:`close`).

    ``failures``: why each MCP server that could not be started or reached failed, by name (only
    when built with ``strict=False``; ``aixgo tools`` lists the other tools)."""

    registries: dict[str, ToolRegistry] = field(default_factory=dict)
    toolsets: list[Any] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls, config: Any, *, agents: Sequence[str] | None = None, strict: bool = True, hub: Any = None
    ) -> Toolbox:
        """The registries of ``config`` 's agents (``agents``: only those), their MCP servers started.

        Raises:
            ToolServerError: (``strict``) an MCP server cannot be started or reached; the message says
                why, with the last lines of its stderr.
            ConfigError: a ``SERVER/TOOL`` its server does not have, two tools of one name, an
                ``auth.token_env`` that is not set.
            ToolError: a built-in name or ``module:function`` reference that cannot be resolved.
            MissingDependencyError: MCP servers without the ``mcp`` extra installed.
        """
        toolbox = cls()
        try:
            toolbox._build(config, agents, strict, hub)
        except BaseException:
            toolbox.close()
            raise
        return toolbox

    def registry(self, agent: str) -> ToolRegistry:
        """The registry of ``agent``."""
        return self.registries[agent]

    def close(self) -> None:
        """Let the MCP servers go (a server's session ends when nothing else in the process uses it)."""
        for toolset in self.toolsets:
            toolset.close()
        self.toolsets.clear()

    # -- building ---------------------------------------------------------------------------------

    def _build(self, config: Any, only: Sequence[str] | None, strict: bool, hub: Any) -> None:
        chosen = [(index, agent) for index, agent in enumerate(config.agents) if only is None or agent.name in only]
        toolsets = self._toolsets(config, [agent for _, agent in chosen], hub) if any(
            _servers_of(agent) for _, agent in chosen) else {}
        self._start(config, toolsets, strict, hub)
        for index, agent in chosen:
            self.registries[agent.name] = self._registry(config, index, agent, toolsets)

    def _toolsets(self, config: Any, agents: list[Any], hub: Any) -> dict[tuple[str, str], Any]:
        """Each agent's toolset of each MCP server it uses (toolsets of one server share its session)."""
        from aixgo.agents.tools.mcp import MCPToolset, mcp_hub, spec_from_config  # noqa: PLC0415 - the mcp extra

        hub = hub if hub is not None else mcp_hub()
        specs: dict[str, Any] = {}
        made: dict[tuple[str, str], Any] = {}
        for agent in agents:
            picks = _picks(agent)
            for name in _servers_of(agent):
                if name not in specs:
                    server = config.mcp_server(name)
                    specs[name] = spec_from_config(server, headers=_headers(config, server))
                prefix = agent.tool_prefix.get(name, "")
                approval = config.mcp_server(name).require_approval
                if name in agent.mcp_servers:
                    toolset = MCPToolset(specs[name], prefix=prefix, allow=agent.tool_filter.allow,
                                         deny=agent.tool_filter.deny, hub=hub, require_approval=approval)
                else:  # only SERVER/TOOL picks
                    toolset = MCPToolset(specs[name], prefix=prefix, only={tool for tool, _ in picks[name]}, hub=hub,
                                         require_approval=approval)
                self.toolsets.append(toolset)
                made[(agent.name, name)] = toolset
        return made

    def _start(self, config: Any, toolsets: dict[tuple[str, str], Any], strict: bool, hub: Any) -> None:
        """Start every server at once; a failure raises (``strict``) or is kept in :attr:`failures`."""
        connections = {name: toolset.connection for (_, name), toolset in toolsets.items()}
        if not connections:
            return
        hub_of = next(iter(connections.values())).hub
        errors = hub_of.run(_start_all(list(connections.values())))
        failed = [(name, error) for name, error in zip(connections, errors, strict=True) if error is not None]
        for name, error in failed:
            self.failures[name] = str(error)
        if strict and failed:  # every server that cannot start, at once
            lines = [f"{config.where(('mcp_servers', config.mcp_server(name).index))}: {error}" for name, error in failed]
            raise ToolServerError("\n".join(lines), server=failed[0][0]) from failed[0][1]

    def _registry(self, config: Any, index: int, agent: Any, toolsets: dict[tuple[str, str], Any]) -> ToolRegistry:
        registry = ToolRegistry(require_approval=agent.require_approval)
        offers: dict[str, _Offer] = {}
        for number, spec in enumerate(agent.tools):
            if _is_pick(spec):
                continue
            for tool in resolve_tools([spec]):
                offer = _Offer(_label(tool), ("agents", index, "tools", number))
                _check_unique(config, agent.name, offers, tool.name, offer)
                registry.register(tool)
        picks = _picks(agent)
        for name in _servers_of(agent):
            toolset = toolsets[(agent.name, name)]
            if name in self.failures:
                continue
            registry.add_source(toolset)
            listed = toolset.listed_names()
            for tool_name, number in picks.get(name, []):
                if tool_name not in listed:
                    guess = next(iter(difflib.get_close_matches(tool_name, listed, n=1)), None)
                    hint = f"did you mean '{name}/{guess}'?" if guess else f"its tools: {', '.join(listed) or 'none'}"
                    raise ConfigError(f"{config.where(('agents', index, 'tools', number))}: MCP server {name!r} has "
                                      f"no tool {tool_name!r}\n  hint: {hint}")
            path: JsonPath = (("agents", index, "mcp_servers", list(agent.mcp_servers).index(name))
                              if name in agent.mcp_servers else ("agents", index, "tools", picks[name][0][1]))
            for tool in toolset.tools():
                label = f"the tool {tool.server_name!r} of MCP server {name!r}"
                _check_unique(config, agent.name, offers, tool.name, _Offer(label, path), server=name)
            _check_approvals(config, ("mcp_servers", config.mcp_server(name).index, "require_approval"),
                             toolset.require_approval, [(n, f"{name}/{n}") for n in listed],
                             f"the tools of MCP server {name!r}")
        if not any(name in self.failures for name in _servers_of(agent)):  # else its tools are not all known
            _check_approvals(config, ("agents", index, "require_approval"), registry.require_approval,
                             [t.known_as() for t in registry], f"the tools of agent {agent.name!r}")
        return registry


async def _start_all(connections: list[Any]) -> list[ToolServerError | None]:
    async def one(connection: Any) -> ToolServerError | None:
        try:
            await connection.start()
        except ToolServerError as exc:
            return exc
        return None

    return list(await asyncio.gather(*(one(connection) for connection in connections)))


def _check_approvals(config: Any, path: JsonPath, setting: Any, tools: list[tuple[str, ...]], whose: str) -> None:
    """Each ``require_approval`` pattern matches a tool: one that matches none is most likely a typo, and
    the tool it meant would run without asking.

    Raises:
        ConfigError: naming the pattern's place and the tools there are."""
    if isinstance(setting, bool):
        return
    for number, pattern in enumerate(setting):
        if not any(covers((pattern,), names) for names in tools):
            shown = ", ".join(names[0] for names in tools) or "none"
            guess = next(iter(difflib.get_close_matches(pattern, [names[0] for names in tools], n=1)), None)
            hint = f"did you mean {guess!r}?" if guess else "patterns are globs (git_*), or SERVER/TOOL for an MCP tool"
            raise ConfigError(f"{config.where((*path, number))}: {pattern!r} matches none of {whose} ({shown}): "
                              f"the tool it means would run without approval\n  hint: {hint}")


def _check_unique(config: Any, agent: str, offers: dict[str, _Offer], name: str, offer: _Offer,
                  server: str | None = None) -> None:
    earlier = offers.get(name)
    if earlier is None:
        offers[name] = offer
        return
    fix = (f"give the server a prefix (tool_prefix: {{{server}: {server}_}}) or leave the tool out "
           f"(tool_filter: {{deny: [{server}/{name}]}})" if server is not None else "remove one of them")
    raise ConfigError(f"{config.where(offer.path)}: agent {agent!r} would be offered two tools named {name!r}: "
                      f"{earlier.label} ({config.where(earlier.path)}) and {offer.label}\n  hint: {fix}")


def _is_pick(spec: str) -> bool:
    return "/" in spec and ":" not in spec


def _picks(agent: Any) -> dict[str, list[tuple[str, int]]]:
    """``{server: [(tool, position in tools:)]}`` of an agent's ``SERVER/TOOL`` entries."""
    picks: dict[str, list[tuple[str, int]]] = {}
    for number, spec in enumerate(agent.tools):
        if _is_pick(spec):
            server, _, tool = spec.partition("/")
            picks.setdefault(server, []).append((tool, number))
    return picks


def _servers_of(agent: Any) -> list[str]:
    """The MCP servers an agent uses, in order: those of its ``SERVER/TOOL`` picks, then its ``mcp_servers:``."""
    return list(dict.fromkeys([*_picks(agent), *agent.mcp_servers]))


def _label(tool: BaseTool) -> str:
    return f"the built-in {tool.name}" if tool.source == "built-in" else f"the Python function {tool.origin}"


def _headers(config: Any, server: Any) -> dict[str, str]:
    """The server's HTTP headers, its ``auth:`` token among them (``token_env`` is read now).

    Raises:
        ConfigError: ``token_env`` names a variable that is not set."""
    headers = dict(server.headers)
    auth = server.auth
    if auth is None:
        return headers
    token = auth.token
    if auth.token_env:
        token = os.environ.get(auth.token_env)
        if not token:
            where = config.where(("mcp_servers", server.index, "auth", "token_env"))
            raise ConfigError(f"{where}: environment variable {auth.token_env} is not set (it holds the token of "
                              f"MCP server {server.name!r})\n  hint: export {auth.token_env}=...")
    headers["Authorization"] = f"Bearer {token}"
    return headers


__all__ = ["Toolbox"]
