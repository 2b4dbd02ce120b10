"""``aixgo tools CONFIG [--agent A] [--json]``: every tool each agent can call, where it comes from
(built-in, Python, MCP server) and what it does, connecting to the MCP servers as ``aixgo run`` would.

A server that cannot be started or reached is one line on stderr (why, and the last line it wrote
to stderr), its tools are left out, the others are listed, and the command exits 1.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from aixgo.agents.tools.base import BaseTool
from aixgo.agents.tools.toolbox import Toolbox
from aixgo.cli.app import EXIT_ERROR
from aixgo.config import load_config


def _source(tool: BaseTool) -> str:
    if tool.source == "mcp":
        return f"mcp {tool.origin}"
    if tool.source == "python":
        return f"python {tool.origin}"
    return tool.source


def _summary(text: str, width: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


@click.command("tools")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--agent", "agent_names", multiple=True, help="Only this agent (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the agents, their tools, the failed servers.")
def tools(config: Path, agent_names: tuple[str, ...], as_json: bool) -> None:
    """List the tools each agent of CONFIG can call: name, source, description (connects to its MCP servers)."""
    loaded = load_config(config)
    for name in agent_names:
        loaded.agent(name)  # an unknown name: AgentNotFoundError, listing the agents
    toolbox = Toolbox.from_config(loaded, agents=list(agent_names) or None, strict=False)
    try:
        listed = {agent: list(registry) for agent, registry in toolbox.registries.items()}
        approval = {(agent, t.name): registry.requires_approval(t.name) for agent, registry in toolbox.registries.items()
                    for t in listed[agent]}
    finally:
        toolbox.close()
    if as_json:
        click.echo(json.dumps({
            "agents": [{"agent": agent, "tools": [
                {"name": t.name, "source": t.source, "origin": t.origin, "description": t.description,
                 "require_approval": approval[(agent, t.name)]}
                for t in found]} for agent, found in listed.items()],
            "failed_servers": [{"server": server, "error": error} for server, error in toolbox.failures.items()],
        }, ensure_ascii=False, indent=2))
    else:
        _print_table(listed, approval)
    for error in toolbox.failures.values():
        click.echo(f"error: {_one_line(error)}", err=True)
    if toolbox.failures:
        raise click.exceptions.Exit(EXIT_ERROR)


def _print_table(listed: dict[str, list[BaseTool]], approval: dict[tuple[str, str], bool]) -> None:
    """One block per agent; a tool whose calls wait for approval says ``(approval)`` after its source."""
    width = shutil.get_terminal_size((100, 24)).columns
    for number, (agent, found) in enumerate(listed.items()):
        if number:
            click.echo("")
        click.echo(f"{agent}: {len(found)} tool{'s' * (len(found) != 1)}")
        sources = {t.name: _source(t) + (" (approval)" if approval[(agent, t.name)] else "") for t in found}
        names = max((len(t.name) for t in found), default=0)
        widest = max((len(source) for source in sources.values()), default=0)
        for tool in found:
            room = width - names - widest - 6
            click.echo(f"  {tool.name:<{names}}  {sources[tool.name]:<{widest}}  "
                       f"{_summary(tool.description, max(room, 20))}")


def _one_line(error: str) -> str:
    """The first line of a server's failure, with the last line of its stderr when there is one."""
    lines = error.splitlines()
    last = lines[-1].strip() if len(lines) > 2 and lines[1].strip().startswith("its stderr") else ""
    return f"{lines[0]} (stderr: {last})" if last else lines[0]


__all__ = ["tools"]
