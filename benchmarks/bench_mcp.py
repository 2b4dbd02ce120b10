"""A tool call through aixgo beside the same call on a bare ``mcp`` client (the floor, same run), and
how many ``tools/list`` requests a turn costs once the server is connected.

Both sides call ``echo`` on the same MCP server script (``tests/support/mcp_server.py``, one process
each, over stdio). The floor is a bare ``mcp.Client`` (a ``ClientSession`` after the handshake) on the
caller's event loop. The aixgo side is what an agent's turn does: the registry validates the
arguments and runs the MCP tool, which calls on the hub's event loop (where the process's one session
lives) and turns the result into an observation. As in ``aixgo serve``, the caller's loop is lent to
the hub (``MCPHub.use_loop``), so the call is awaited there directly; a second aixgo row calls through
a hub on a thread of its own (a caller on any other loop: a hop to that thread and back). The three
are timed alternately, call by call, so the machine's noise hits them alike.
"""

from __future__ import annotations

import asyncio
import json
import sys

from aixgo.agents import ReActAgent
from aixgo.agents.tools import ToolRegistry
from aixgo.agents.tools.mcp import MCPHub, MCPServerSpec, MCPToolset
from aixgo.agents.tools.mcp.hub import mcp_hub
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
    mcp_hub().use_loop(loop)  # as aixgo serve lends its serving loop
    try:
        loop.run_until_complete(_calls(loop))
        _turns(loop)
    finally:
        loop.close()


async def _calls(loop: asyncio.AbstractEventLoop) -> None:
    from mcp import Client, StdioServerParameters, stdio_client

    spec = MCPServerSpec.stdio("bench", sys.executable, [SERVER])
    toolset, threaded = MCPToolset(spec), MCPToolset(spec, hub=MCPHub())
    await toolset.aprepare()
    await threaded.aprepare()
    registry, hopping = ToolRegistry(), ToolRegistry()
    registry.add_source(toolset)
    hopping.add_source(threaded)
    params = StdioServerParameters(command=sys.executable, args=[SERVER])
    samples: dict[str, list[float]] = {"floor": [], "aixgo": [], "hop": []}
    try:
        async with Client(stdio_client(params), cache=None) as client:
            await client.list_tools()
            for _ in range(50):  # warm every path
                await client.call_tool("echo", {"text": "x"})
                await registry.execute("echo", '{"text": "x"}')
                await hopping.execute("echo", '{"text": "x"}')
            for _ in range(CALLS):
                for name, call in (("floor", lambda: client.call_tool("echo", {"text": "x"})),
                                   ("aixgo", lambda: registry.execute("echo", '{"text": "x"}')),
                                   ("hop", lambda: hopping.execute("echo", '{"text": "x"}'))):
                    started = loop.time()
                    result = await call()
                    samples[name].append(loop.time() - started)
                    assert name == "floor" or result.content == "x", result
    finally:
        toolset.close()
        threaded.close()
    report("floor: bare mcp Client.call_tool (ClientSession), echo", samples["floor"])
    report("aixgo: ToolRegistry.execute of the MCP tool, echo (hub on the caller's loop)", samples["aixgo"])
    report("aixgo: the same through a hub on its own thread (hop)", samples["hop"])
    for name, label in (("aixgo", "aixgo's overhead"), ("hop", "overhead with the hop")):
        overhead = [ours - bare for ours, bare in zip(samples[name], samples["floor"], strict=True)]
        report(f"{label}: each call minus the floor call beside it", overhead,
               target=OVERHEAD_TARGET if name == "aixgo" else None)
    note("the overhead is validating the arguments and building the observation (and, with the hop, "
         "two thread wake-ups: to the hub's thread and back)")


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
