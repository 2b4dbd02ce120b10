"""The tools one agent may use: :class:`ToolRegistry`, over fixed tools and live :class:`ToolSource` s.

Running a tool never raises into the agent loop: bad arguments, unknown tools and exceptions
become an error observation (:class:`~aixgo.agents.tools.base.ToolResult` with ``is_error=True``)
that the model sees and can react to.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from aixgo.agents.tools.approval import ApprovalSetting, as_setting, covers
from aixgo.agents.tools.base import MAX_RESULT_CHARS, BaseTool, ToolResult, parse_arguments
from aixgo.agents.tools.function import Tool
from aixgo.errors import ToolError
from aixgo.logs import get_logger

log = get_logger("aixgo.agents.tools")


@runtime_checkable
class ToolSource(Protocol):
    """Tools that come and go while the agent runs (an MCP server's, refreshed when it says they
    changed). :meth:`tools` answers from memory; :meth:`aprepare` does the I/O (connecting)."""

    @property
    def label(self) -> str:
        """Where the tools come from, for people (``mcp server 'git'``)."""
        ...

    def tools(self) -> Sequence[BaseTool]:
        """The tools as they are now (no I/O)."""
        ...

    async def aprepare(self) -> None:
        """Be ready to list and run tools (connect if needed); never raises for an unreachable source."""
        ...


class ToolRegistry:
    """The tools one agent may use, by name: fixed tools, then the tools of its sources.

    A name is answered by the first that has it (fixed tools first, then sources in the order added);
    a source's tool shadowed by an earlier one is left out and logged.

    ``require_approval``: the agent's own approval setting (``True``, or patterns of tool names; see
    :mod:`aixgo.agents.tools.approval`), besides each tool's :attr:`~BaseTool.require_approval`."""

    def __init__(
        self, tools: Iterable[BaseTool | Callable[..., Any]] = (), *, require_approval: ApprovalSetting = False
    ) -> None:
        self.require_approval = as_setting(require_approval)
        self._tools: dict[str, BaseTool] = {}
        self._sources: list[ToolSource] = []
        self._shadowed: set[tuple[str, str]] = set()
        for item in tools:
            self.register(item)

    def register(self, item: BaseTool | Callable[..., Any], *, name: str | None = None) -> BaseTool:
        """Add a tool (a :class:`BaseTool` or a plain function). Raises ``ToolError`` on a duplicate name."""
        if isinstance(item, BaseTool) and (name is None or name == item.name):
            added = item
        else:
            function = item.function if isinstance(item, Tool) else item
            if isinstance(function, BaseTool):
                raise ToolError(f"cannot rename the {function.source} tool {function.name!r}")
            added = Tool(function, name=name, require_approval=bool(getattr(item, "require_approval", False)))
        if added.name in self._tools:
            raise ToolError(f"two tools are named {added.name!r}; tool names must be unique per agent")
        self._tools[added.name] = added
        return added

    def add_source(self, source: ToolSource) -> None:
        """Offer the tools of ``source`` too (see :class:`ToolSource`)."""
        self._sources.append(source)

    @property
    def sources(self) -> list[ToolSource]:
        """The live sources, in the order added."""
        return list(self._sources)

    async def aprepare(self) -> None:
        """Make every source ready (connect the MCP servers not connected yet)."""
        for source in self._sources:
            await source.aprepare()

    def _all(self) -> dict[str, BaseTool]:
        if not self._sources:
            return self._tools
        merged = dict(self._tools)
        for source in self._sources:
            for found in source.tools():
                if found.name not in merged:
                    merged[found.name] = found
                elif merged[found.name] is not found:
                    self._note_shadowed(found, merged[found.name], source)
        return merged

    def _note_shadowed(self, hidden: BaseTool, kept: BaseTool, source: ToolSource) -> None:
        key = (hidden.name, source.label)
        if key not in self._shadowed:
            self._shadowed.add(key)
            log.warning("tool.shadowed", tool=hidden.name, source=source.label, kept=f"{kept.source} {kept.origin}",
                        hint="give the source a tool_prefix, or leave the tool out with tool_filter")

    def get(self, name: str) -> BaseTool | None:
        """The tool called ``name``, or None."""
        found = self._tools.get(name)
        if found is not None or not self._sources:
            return found
        return self._all().get(name)

    def requires_approval(self, name: str) -> bool:
        """Whether a call of the tool ``name`` waits for a person's approval (False for an unknown name:
        such a call only tells the model that there is no such tool)."""
        found = self.get(name)
        return found is not None and (found.require_approval or covers(self.require_approval, found.known_as()))

    @property
    def names(self) -> list[str]:
        """Tool names: fixed tools in registration order, then each source's."""
        return list(self._all())

    def schemas(self) -> list[dict[str, Any]]:
        """OpenAI tool definitions of every tool, for a model request."""
        return [t.schema() for t in self._all().values()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[BaseTool]:
        return iter(list(self._all().values()))

    def __len__(self) -> int:
        return len(self._all())

    def __bool__(self) -> bool:
        return bool(self._tools) or bool(self._sources)

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names!r})"

    def check(
        self, name: str, arguments: str | Mapping[str, Any] | None, *, log_fields: Mapping[str, Any] | None = None
    ) -> tuple[BaseTool, dict[str, Any]] | ToolResult:
        """The tool and its keyword arguments for a call, or the error observation of a call that cannot
        run (an unknown tool, arguments that are not JSON or do not match the tool's schema)."""
        fields = dict(log_fields or {})
        found = self.get(name)
        if found is None:
            available = ", ".join(self.names) or "none"
            log.warning("tool.unknown", tool=name, **fields)
            return ToolResult(f"Error: there is no tool named {name!r}. Available tools: {available}.", True)
        try:
            kwargs = parse_arguments(arguments)
        except ValueError as exc:
            log.warning("tool.bad_arguments", tool=name, problem="invalid JSON", **fields)
            return ToolResult(
                f"Error: {exc}. Call {name} again with a JSON object matching its parameters schema.", True
            )
        problem = found.validate(kwargs)
        if problem is not None:
            log.warning("tool.bad_arguments", tool=name, problem="schema", **fields)
            return ToolResult(f"Error: invalid arguments for {name}: {problem}", True)
        return found, kwargs

    async def execute(
        self,
        name: str,
        arguments: str | Mapping[str, Any] | None,
        *,
        max_chars: int = MAX_RESULT_CHARS,
        log_fields: Mapping[str, Any] | None = None,
    ) -> ToolResult:
        """Run one tool call and return its observation; never raises for the tool's own failures."""
        fields = dict(log_fields or {})
        checked = self.check(name, arguments, log_fields=fields)
        if isinstance(checked, ToolResult):
            return checked
        found, kwargs = checked
        started = time.perf_counter()
        try:
            result = await found.run(kwargs, max_chars=max_chars)
        except Exception as exc:
            log.warning(
                "tool.failed",
                tool=name,
                source=found.source,
                error_type=type(exc).__name__,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                exc_info=True,
                **fields,
            )
            return ToolResult(f"Error: {name} failed: {type(exc).__name__}: {exc}", True)
        log.info(
            "tool.done",
            tool=name,
            source=found.source,
            is_error=result.is_error,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            **fields,
        )
        return result


__all__ = ["ToolRegistry", "ToolSource"]
