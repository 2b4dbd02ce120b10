"""An MCP server's tools as an agent's tools: :class:`MCPToolset` (a tool source) and :class:`MCPTool`.

The toolset shows the connection's cached tool list (no request per turn), filtered
(``allow``/``deny`` glob patterns, or ``only`` some names) and renamed (``prefix``; characters that
OpenAI-compatible servers refuse in a function name become ``_``). Input schemas are passed to the
model as the server wrote them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aixgo.agents.tools.approval import ApprovalSetting, as_setting, covers
from aixgo.agents.tools.base import MAX_RESULT_CHARS, BaseTool, ToolResult
from aixgo.agents.tools.mcp.hub import MCPHub, mcp_hub
from aixgo.agents.tools.mcp.spec import MCPServerSpec
from aixgo.errors import ToolServerError
from aixgo.llm.watch import current as current_watcher
from aixgo.logs import get_logger

if TYPE_CHECKING:
    import mcp.types as mt

    from aixgo.agents.tools.mcp.connection import MCPConnection

log = get_logger("aixgo.mcp")

_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_-]")


def exposed_name(prefix: str, name: str) -> str:
    """The name the model sees for the server's tool ``name``: ``prefix`` + ``name``, characters
    outside ``[A-Za-z0-9_-]`` replaced by ``_``, and at most 64 characters (a long name keeps a
    short hash of the whole)."""
    text = _NOT_IN_NAMES.sub("_", prefix + name)
    if len(text) > 64:
        text = text[:55] + "_" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return text


class MCPTool(BaseTool):
    """One tool of an MCP server, as the agent sees it."""

    source = "mcp"

    def __init__(self, toolset: MCPToolset, listed: mt.Tool, name: str) -> None:
        self.toolset = toolset
        self.server_name = listed.name
        """The tool's name on its server (``name`` is what the model sees)."""
        self.name = name
        self.description = listed.description or listed.title or f"The {listed.name} tool of MCP server {toolset.spec.name!r}."
        self.parameters: dict[str, Any] = listed.input_schema
        self.origin = toolset.spec.name
        hints = listed.annotations
        self.retry_safe = bool(hints is not None and (hints.read_only_hint or hints.idempotent_hint))
        """The server says the tool is read-only or idempotent: a call cut off by the server's end
        may be sent again."""
        self.require_approval = covers(toolset.require_approval, (listed.name, f"{self.origin}/{listed.name}"))

    def known_as(self) -> tuple[str, ...]:
        return (self.name, f"{self.origin}/{self.server_name}")

    async def run(self, arguments: Mapping[str, Any], *, max_chars: int = MAX_RESULT_CHARS) -> ToolResult:
        """Call the tool on its server; failures (timeouts, a server that stopped) become an error
        observation, never an exception."""
        from aixgo.agents.tools.mcp.results import to_tool_result  # noqa: PLC0415 - imports mcp

        spec = self.toolset.spec
        watcher = current_watcher()  # a tracer's: the trace goes on to the server (in _meta, and HTTP headers)
        trace = dict(watcher.sending(spec.url or "", "mcp")) if watcher is not None else {}
        outcome = await self.toolset.connection.call(self.server_name, dict(arguments), retry_safe=self.retry_safe,
                                                     trace=trace)
        limit = spec.max_result_chars if spec.max_result_chars is not None else max_chars
        return to_tool_result(spec.name, self.server_name, outcome, max_chars=limit,
                              max_image_bytes=spec.max_image_bytes)


class MCPToolset:
    """The tools of one MCP server, for one agent (a :class:`~aixgo.agents.tools.registry.ToolSource`).

    >>> time = MCPToolset(MCPServerSpec.stdio("time", "python", ["-m", "mcp_server_time"]))  # doctest: +SKIP
    >>> agent = ReActAgent("assistant", model, tools=["calculator", time])                     # doctest: +SKIP

    The server is connected when :meth:`start` (or the agent's first turn) asks for it, and its
    session is shared with every other toolset of an equal spec in the process; :meth:`close` lets
    it go (the session ends when no toolset uses it any more).

    Args:
        server: the server (an :class:`MCPServerSpec`).
        prefix: put before every tool name (``git_`` makes ``status`` ``git_status``).
        allow: glob patterns; when given, only the tools whose name (as the server lists it, or as
            ``server/name``) matches one are offered.
        deny: glob patterns of tools never offered (applied after ``allow``).
        only: offer exactly these tools (names as the server lists them).
        require_approval: ``True``: a call of any of its tools waits for a person's approval before
            it runs; or glob patterns of the tools that do (names as the server lists them).
    """

    def __init__(
        self,
        server: MCPServerSpec,
        *,
        prefix: str = "",
        allow: Sequence[str] = (),
        deny: Sequence[str] = (),
        only: Collection[str] | None = None,
        hub: MCPHub | None = None,
        require_approval: ApprovalSetting = False,
    ) -> None:
        self.spec = server
        self.require_approval = as_setting(require_approval)
        self.prefix = prefix
        self.allow = tuple(allow)
        self.deny = tuple(deny)
        self.only = frozenset(only) if only is not None else None
        self._hub = hub if hub is not None else mcp_hub()
        self.connection: MCPConnection = self._hub.acquire(server)
        self._released = False
        self._seen_version = -1
        self._tools: list[MCPTool] = []

    @property
    def label(self) -> str:
        return f"MCP server {self.spec.name!r}"

    def offers(self, name: str) -> bool:
        """Whether the server's tool ``name`` passes ``only``, ``allow`` and ``deny``."""
        if self.only is not None and name not in self.only:
            return False
        qualified = f"{self.spec.name}/{name}"

        def matches(pattern: str) -> bool:
            return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(qualified, pattern)

        if self.allow and not any(matches(p) for p in self.allow):
            return False
        return not any(matches(p) for p in self.deny)

    def tools(self) -> list[MCPTool]:
        """The offered tools, from the list the connection last received (rebuilt when it changed)."""
        connection = self.connection
        if connection.version != self._seen_version:
            listed = connection.tools
            self._seen_version = connection.version
            tools: dict[str, MCPTool] = {}
            for item in listed:
                if not self.offers(item.name):
                    continue
                name = exposed_name(self.prefix, item.name)
                if name in tools:
                    log.warning("mcp.tool.name_clash", server=self.spec.name, tool=item.name, name=name)
                    continue
                tools[name] = MCPTool(self, item, name)
            self._tools = list(tools.values())
        return self._tools

    def listed_names(self) -> list[str]:
        """Every tool the server lists, as it names them (before filtering)."""
        return [item.name for item in self.connection.tools]

    async def aprepare(self) -> None:
        """Connect if not connected (bounded by the spec's ``connect_timeout``); a server that cannot be
        reached is logged, its tools are left out of this turn, and it keeps being retried."""
        if self.connection.connected:
            return
        try:
            await self.connection.start()
        except ToolServerError as exc:
            log.warning("mcp.unavailable", server=self.spec.name, error=str(exc).splitlines()[0])

    def start(self) -> None:
        """Connect now and list the tools (blocking; not on an event loop).

        Raises:
            ToolServerError: the server cannot be started or reached (with its stderr's last lines).
        """
        self.connection.start_blocking()

    def close(self) -> None:
        """Let the connection go (safe to call twice)."""
        if not self._released:
            self._released = True
            self._hub.release(self.connection)

    def __repr__(self) -> str:
        return f"MCPToolset({self.spec!r})"


__all__ = ["MCPTool", "MCPToolset", "exposed_name"]
