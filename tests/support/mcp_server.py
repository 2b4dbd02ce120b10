"""An MCP server for tests, written with the ``mcp`` SDK: run as a stdio server, or as a streamable
HTTP server on 127.0.0.1.

    python tests/support/mcp_server.py [--legacy] [--runs FILE] [--fail-start MESSAGE]
    python tests/support/mcp_server.py --http PORT [--legacy] ...     (PORT 0: a free one)

An HTTP server prints ``PORT <n>`` on stdout once it listens. ``--legacy`` makes it a pre-2026 server:
it refuses ``server/discover``, so clients fall back to the ``initialize`` handshake (and, over HTTP, a
session id that a restart forgets). ``--runs FILE`` appends one line per tool run to FILE, so a test can
count what ran. ``--fail-start`` writes MESSAGE to stderr and exits 1 before serving. ``--token`` makes
an HTTP server answer 401 to requests without ``Authorization: Bearer TOKEN``.

Tools: ``echo``, ``add`` (structured), ``fail`` (a tool error), ``slow``, ``big``, ``image``, ``links``,
``crash`` (the process exits mid-call), ``crash_once_readonly`` / ``crash_once`` (exit on the first
call, answer on the next), ``record`` (a write), ``add_tool`` (adds ``double`` and says the list
changed), ``calculator`` (clashes with aixgo's built-in), ``loose_object`` / ``loose_array`` (schemas
without ``properties`` / ``items``), and ``stats`` (how many ``tools/list`` requests this process served).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp.types import (
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)
from mcp_types import ErrorData, JSONRPCError, JSONRPCRequest

PNG_HEADER = b"\x89PNG\r\n\x1a\n"
LOOSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "loose_object": {"type": "object"},
    "loose_array": {"type": "object", "properties": {"ids": {"type": "array"}}},
}
"""Tools whose input schema the server lists as written here (valid, but refused by some LLM servers)."""


def build(args: argparse.Namespace) -> MCPServer:
    counts = {"tools/list": 0}

    async def count_and_gate(ctx: Any, call_next: Any) -> Any:
        if ctx.method == "tools/list":
            counts["tools/list"] += 1
        if args.legacy and ctx.method == "server/discover":
            raise MCPError(code=-32601, message="Method not found")
        result = await call_next(ctx)
        if ctx.method == "tools/list" and isinstance(result, dict):
            for listed in result.get("tools", []):
                if listed["name"] in LOOSE_SCHEMAS:  # as some servers write them (valid JSON Schema)
                    listed["inputSchema"] = LOOSE_SCHEMAS[listed["name"]]
        return result

    server = MCPServer("aixgo-test", middleware=[count_and_gate])

    def ran(label: str) -> None:
        if args.runs:
            with open(args.runs, "a", encoding="utf-8") as runs:
                runs.write(f"{label} {os.getpid()}\n")

    @server.tool()
    def echo(text: str) -> str:
        """Say the text back."""
        ran("echo")
        return text

    @server.tool()
    def add(a: int, b: int) -> dict[str, int]:
        """Add two numbers."""
        return {"sum": a + b}

    @server.tool()
    def fail(message: str) -> str:
        """Fail with the message."""
        raise ToolError(message)

    @server.tool()
    async def slow(seconds: float) -> str:
        """Answer after some seconds."""
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool()
    def big(chars: int) -> str:
        """A long text."""
        return "x" * chars

    @server.tool()
    def image(size: int) -> list[Any]:
        """An image of about size bytes, and a caption."""
        data = PNG_HEADER + b"\0" * max(0, size - len(PNG_HEADER))
        return [TextContent(type="text", text="a picture"),
                ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type="image/png")]

    @server.tool()
    def links() -> list[Any]:
        """A resource link and an embedded text resource."""
        return [ResourceLink(type="resource_link", uri="file:///srv/report.csv", name="report.csv",
                             mime_type="text/csv", description="the monthly report"),
                EmbeddedResource(type="resource", resource=TextResourceContents(
                    uri="file:///srv/notes.txt", mime_type="text/plain", text="remember the milk"))]

    @server.tool()
    def crash() -> str:
        """The server's process exits while this runs."""
        ran("crash")
        sys.stderr.write("fatal: the crash tool was called\n")
        sys.stderr.flush()
        os._exit(3)

    def crash_once(marker: str) -> str:
        ran("crash_once")
        path = Path(marker)
        if not path.exists():
            path.write_text("crashed once")
            os._exit(3)
        return "answered after a restart"

    def crash_once_readonly(marker: str) -> str:
        return crash_once(marker)

    server.add_tool(crash_once, name="crash_once", description="Exit on the first call, answer on the next.")
    server.add_tool(crash_once_readonly, description="As crash_once, but read-only.",
                    annotations=ToolAnnotations(read_only_hint=True))

    @server.tool()
    def record(label: str) -> str:
        """Record one run (a write)."""
        ran(f"record:{label}")
        return f"recorded {label}"

    @server.tool()
    async def add_tool(ctx: Context) -> str:
        """Add the tool 'double' and tell the clients the list changed."""
        def double(x: int) -> int:
            return 2 * x

        server.add_tool(double, name="double", description="Double a number.")
        await ctx.notify_tools_changed()  # 2026-era clients: their subscriptions/listen streams
        with contextlib.suppress(Exception):  # not every session has a back channel
            await ctx.session.send_tool_list_changed()  # 2025-era clients: a notification on the session
        return "added double"

    @server.tool()
    def calculator(expression: str) -> str:
        """A calculator that clashes with aixgo's built-in one."""
        return "42"

    def loose(ids: list[Any] | None = None) -> str:
        return f"loose got {ids}"

    for name, schema in LOOSE_SCHEMAS.items():
        server.add_tool(loose, name=name, description=f"A tool whose schema is {schema}.")

    @server.tool()
    def stats() -> dict[str, int]:
        """How many tools/list requests this process served."""
        return {"tools_list": counts["tools/list"], "pid": os.getpid()}

    return server


async def serve_stdio(server: MCPServer) -> None:
    await server.run_stdio_async()


async def serve_legacy_stdio(server: MCPServer) -> None:
    """Serve stdio as a pre-2026 server does: ``server/discover`` is an unknown method, so the client
    falls back to ``initialize`` (the SDK's own stdio loop would take the probe as the modern era's)."""
    lowlevel = server._lowlevel_server
    async with stdio_server() as (read, write):
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](16)

        async def gate() -> None:
            async with send:
                async for item in read:
                    message = item.message if isinstance(item, SessionMessage) else None
                    if isinstance(message, JSONRPCRequest) and message.method == "server/discover":
                        refusal = JSONRPCError(jsonrpc="2.0", id=message.id,
                                               error=ErrorData(code=-32601, message="Method not found"))
                        await write.send(SessionMessage(refusal))
                        continue
                    await send.send(item)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(gate)
            await lowlevel.run(receive, write, lowlevel.create_initialization_options())


def bearer_only(app: Any, token: str) -> Any:
    """``app`` answering 401 to HTTP requests without ``Authorization: Bearer <token>``."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != expected:
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return
        await app(scope, receive, send)

    return guarded


def record_traces(app: Any, path: str) -> Any:
    """``app`` appending the ``traceparent`` header of every HTTP request that has one to ``path``."""

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            value = dict(scope["headers"]).get(b"traceparent")
            if value:
                with open(path, "a") as traces:
                    traces.write(value.decode() + "\n")
        await app(scope, receive, send)

    return recording


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=None)
    parser.add_argument("--legacy", action="store_true")
    parser.add_argument("--runs", default=None)
    parser.add_argument("--fail-start", default=None)
    parser.add_argument("--token", default=None, help="HTTP: refuse requests without 'Authorization: Bearer TOKEN'")
    parser.add_argument("--traces", default=None, help="HTTP: append each request's traceparent header to this file")
    args = parser.parse_args()
    if args.fail_start:
        sys.stderr.write(f"{args.fail_start}\n")
        sys.exit(1)
    server = build(args)
    if args.http is None:
        anyio.run(serve_legacy_stdio if args.legacy else serve_stdio, server)
        return
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.http))
    sock.listen(128)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    app = server.streamable_http_app()
    if args.token:
        app = bearer_only(app, args.token)
    if args.traces:
        app = record_traces(app, args.traces)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
