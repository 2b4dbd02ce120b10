"""A tool call through aixgo beside the same call on a bare ``mcp`` client (the floor, same run), and
how many ``tools/list`` requests a turn costs once the server is connected.

Both sides call ``echo`` on the same MCP server script (``tests/support/mcp_server.py``, one process
each, over stdio). The floor is a bare ``mcp.Client`` (a ``ClientSession`` after the handshake) on the
caller's event loop. The aixgo side is what an agent's turn does: the registry validates the
arguments and runs the MCP tool, which hops to the hub's event loop (where the process's one session
lives), calls, and turns the result into an observation. The two are timed alternately, call by
call, so the machine's noise hits both alike.
"""

from __future__ import annotations

import asyncio
import json
import sys

from aixgo.agents import ReActAgent
from aixgo.agents.tools import ToolRegistry
from aixgo.agents.tools.mcp import MCPServerSpec, MCPToolset
from aixgo.session import Manager, MemoryBackend
from aixgo.testing import ScriptedModel, tool_call
from benchmarks.harness import header, note, report
from tests.agents.mcp.conftest import SERVER

CALLS = 2000
TURNS = 200
OVERHEAD_TARGET = 0.001


def run() -> None:
    try:
        import mcp  # noqa: F401
    except ImportError:
        print("\n(mcp: not installed: pip install -e '.[mcp]')")
        return
    header("An MCP tool call: through aixgo beside a bare mcp client (stdio, same server script)")
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_calls(loop))
        _turns(loop)
    finally:
        loop.close()


async def _calls(loop: asyncio.AbstractEventLoop) -> None:
    from mcp import Client, StdioServerParameters, stdio_client

    toolset = MCPToolset(MCPServerSpec.stdio("bench", sys.executable, [SERVER]))
    await toolset.aprepare()
    registry = ToolRegistry()
    registry.add_source(toolset)
    params = StdioServerParameters(command=sys.executable, args=[SERVER])
    floor_samples: list[float] = []
    aixgo_samples: list[float] = []
    try:
        async with Client(stdio_client(params), cache=None) as client:
            await client.list_tools()
            for _ in range(50):  # warm both paths
                await client.call_tool("echo", {"text": "x"})
                await registry.execute("echo", '{"text": "x"}')
            for _ in range(CALLS):
                started = loop.time()
                await client.call_tool("echo", {"text": "x"})
                floor_samples.append(loop.time() - started)
                started = loop.time()
                result = await registry.execute("echo", '{"text": "x"}')
                aixgo_samples.append(loop.time() - started)
                assert result.content == "x", result
    finally:
        toolset.close()
    report("floor: bare mcp Client.call_tool (ClientSession), echo", floor_samples)
    report("aixgo: ToolRegistry.execute of the MCP tool, echo", aixgo_samples)
    overhead = [ours - bare for ours, bare in zip(aixgo_samples, floor_samples, strict=True)]
    report("aixgo's overhead: each call minus the floor call beside it", overhead, target=OVERHEAD_TARGET)
    note("the overhead is the hop to the hub's event loop and back, validating the arguments and "
         "building the observation")


def _turns(loop: asyncio.AbstractEventLoop) -> None:
    toolset = MCPToolset(MCPServerSpec.stdio("bench", sys.executable, [SERVER]))
    try:
        loop.run_until_complete(toolset.aprepare())
        model = ScriptedModel()
        agent = ReActAgent("bench", model, "You are a test.", tools=[toolset])
        manager = Manager(MemoryBackend())
        session = manager.create("bench", "mcp-turns")

        def turn() -> None:
            model.add(tool_call("echo", {"text": "x"}), "done")
            loop.run_until_complete(agent.run_turn(session, "echo x"))

        turn()  # warm-up: the first turn
        stats = {t.name: t for t in toolset.tools()}["stats"]
        before = json.loads(loop.run_until_complete(stats.run({})).content)["tools_list"]
        for _ in range(TURNS):
            turn()
        after = json.loads(loop.run_until_complete(stats.run({})).content)["tools_list"]
        note(f"tools/list requests per turn after warm-up: {(after - before) / TURNS:g} "
             f"({TURNS} turns, each calling the MCP tool once; the server counted {after} in all)")
        manager.close()
    finally:
        toolset.close()
