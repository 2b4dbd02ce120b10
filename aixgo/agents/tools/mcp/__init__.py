"""MCP servers as a tool source (the ``mcp`` extra: ``pip install -e '.[mcp]'``).

* :class:`MCPServerSpec`: how to reach one server (``stdio``: a command; ``streamable_http``: a URL).
* :class:`MCPToolset`: its tools, for one agent (prefix, allow/deny filters), given to an agent's
  ``tools`` like any other.
* One persistent session per server per process (:mod:`~aixgo.agents.tools.mcp.hub`), shared by all
  agents and turns; its tools listed once and cached, refreshed when the server says they changed
  and on reconnect; a server that dies or forgets the session is reconnected with backoff
  (:mod:`~aixgo.agents.tools.mcp.connection`).

Importing this package does not import ``mcp``; connecting does.
"""

from __future__ import annotations

from aixgo.agents.tools.mcp.hub import MCPHub, mcp_hub
from aixgo.agents.tools.mcp.spec import MCPServerSpec, spec_from_config
from aixgo.agents.tools.mcp.toolset import MCPTool, MCPToolset, exposed_name

__all__ = ["MCPHub", "MCPServerSpec", "MCPTool", "MCPToolset", "exposed_name", "mcp_hub", "spec_from_config"]
