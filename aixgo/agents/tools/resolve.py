"""What an agent's ``tools:`` list names, resolved: built-in names, ``package.module:function``
references, :class:`~aixgo.agents.tools.base.BaseTool` objects, functions and live tool sources."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from aixgo.agents.builtin import calculator, current_time
from aixgo.agents.tools.base import BaseTool
from aixgo.agents.tools.function import Tool
from aixgo.agents.tools.registry import ToolRegistry, ToolSource
from aixgo.errors import ToolError

BUILTIN_TOOLS: dict[str, Tool] = {
    t.name: t for t in (Tool(calculator, source="built-in"), Tool(current_time, source="built-in"))
}
"""The tools a config can name without a module: ``calculator`` and ``current_time``."""


def import_reference(spec: str) -> Callable[..., Any]:
    """The function a ``package.module:function`` reference names.

    Raises:
        ToolError: a malformed reference, a module that cannot be imported, a missing attribute, or
            something that is not a function.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ToolError(f"tool reference {spec!r} must look like 'package.module:function'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ToolError(
            f"tool {spec!r}: cannot import module {module_name!r} ({exc}); is it installed?"
        ) from exc
    except Exception as exc:
        raise ToolError(
            f"tool {spec!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ToolError(f"tool {spec!r}: module {module_name!r} has no attribute {attribute!r}") from exc
    if not callable(target):
        raise ToolError(f"tool {spec!r} is a {type(target).__name__}, not a function")
    return target  # type: ignore[no-any-return]


ToolSpec = str | BaseTool | ToolSource | Callable[..., Any]
"""One item of an agent's ``tools``."""


def resolve_tools(specs: Iterable[ToolSpec] | ToolRegistry = ()) -> ToolRegistry:
    """A registry from built-in names (``"calculator"``), ``"package.module:function"`` references,
    :class:`~aixgo.agents.tools.base.BaseTool` objects, plain functions and tool sources (an
    :class:`~aixgo.agents.tools.mcp.MCPToolset`) — what an agent's ``tools:`` list holds.

    Raises:
        ToolError: an unknown name, an unimportable reference, a non-function, or a duplicate name.
    """
    if isinstance(specs, ToolRegistry):
        return specs
    registry = ToolRegistry()
    for spec in specs:
        if isinstance(spec, ToolSource) and not isinstance(spec, BaseTool):
            registry.add_source(spec)
        elif not isinstance(spec, str):
            registry.register(spec)
        elif ":" in spec:
            registry.register(import_reference(spec.strip()))
        elif spec.strip() in BUILTIN_TOOLS:
            registry.register(BUILTIN_TOOLS[spec.strip()])
        else:
            builtins = ", ".join(BUILTIN_TOOLS)
            raise ToolError(
                f"unknown tool {spec!r}: built-in tools are {builtins}; "
                "reference your own function as 'package.module:function'"
            )
    return registry


__all__ = ["BUILTIN_TOOLS", "ToolSpec", "import_reference", "resolve_tools"]
