"""Tools an agent can call, wherever they come from, behind one interface.

* :class:`BaseTool`: a name, a description, a JSON schema of its parameters, and ``run``.
* Python functions: the :func:`tool` decorator and :class:`Tool`; the built-ins ``calculator`` and
  ``current_time`` (:data:`BUILTIN_TOOLS`); ``package.module:function`` references in YAML.
* MCP servers: :class:`~aixgo.agents.tools.mcp.MCPToolset` (the ``mcp`` extra), one persistent
  session per server per process, its tool list cached.
* :class:`ToolRegistry`: one agent's tools, fixed ones and those of live sources; running a tool
  never raises into the agent loop.

The agent sees tools, not where they come from.
"""

from __future__ import annotations

from aixgo.agents.tools.base import MAX_RESULT_CHARS, BaseTool, ToolResult, format_result, parse_arguments
from aixgo.agents.tools.function import Tool, tool
from aixgo.agents.tools.registry import ToolRegistry, ToolSource
from aixgo.agents.tools.resolve import BUILTIN_TOOLS, resolve_tools

__all__ = [
    "BUILTIN_TOOLS",
    "MAX_RESULT_CHARS",
    "BaseTool",
    "Tool",
    "ToolRegistry",
    "ToolResult",
    "ToolSource",
    "format_result",
    "parse_arguments",
    "resolve_tools",
    "tool",
]
