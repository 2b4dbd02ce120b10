"""``module:function`` tools of a config that cannot be imported, as problems at their place in the file.

``aixgo validate`` asks for this check (it imports the modules, as building the agent does); loading a
config for ``run`` or ``serve`` leaves it to building the agents.
"""

from __future__ import annotations

from typing import Any

from aixgo.config.problems import JsonPath, Problem
from aixgo.config.source import Marks

_HINT = "write 'package.module:function' for a function importable from the folder you run aixgo in"


def tool_import_problems(data: Any, marks: Marks) -> list[Problem]:
    """One problem per ``agents[i].tools[j]`` reference (``module:function``) that does not import."""
    agents = data.get("agents") if isinstance(data, dict) else None
    references: list[tuple[JsonPath, str]] = []
    for index, agent in enumerate(agents if isinstance(agents, list) else []):
        tools = agent.get("tools") if isinstance(agent, dict) else None
        for number, name in enumerate(tools if isinstance(tools, list) else []):
            if isinstance(name, str) and ":" in name:
                references.append((("agents", index, "tools", number), name))
    if not references:
        return []
    from aixgo.agents.tools import resolve_tools  # noqa: PLC0415 - only for configs with such tools
    from aixgo.errors import ToolError  # noqa: PLC0415

    problems = []
    for path, name in references:
        try:
            resolve_tools([name])
        except ToolError as exc:
            problems.append(Problem(path, str(exc), _HINT, marks.value(path)))
    return problems


__all__ = ["tool_import_problems"]
