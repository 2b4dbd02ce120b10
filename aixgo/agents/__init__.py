"""ReAct agents with tools, over durable sessions.

>>> from aixgo.agents import ReActAgent
>>> from aixgo.llm import OpenAIChatModel
>>> agent = ReActAgent("assistant", OpenAIChatModel(), "You are helpful.", tools=["calculator"],
...                    model_name="gpt-4o-mini")
>>> # result = await agent.run_turn(session, "What is 12 * 7?")

Tools are plain functions (see :func:`tool`); the built-ins are ``calculator`` and ``current_time``.
"""

from __future__ import annotations

from aixgo.agents.builtin import calculator, current_time
from aixgo.agents.context.budget import ContextSettings
from aixgo.agents.factory import agent_from_config
from aixgo.agents.observe import TurnObserver, TurnStep
from aixgo.agents.protocol import Agent, AgentTurn, BaseAgent
from aixgo.agents.react import ReActAgent
from aixgo.agents.result import TurnResult
from aixgo.agents.spec import REACT_FORMATS, ReactFormat
from aixgo.agents.text_format import TextFormatError
from aixgo.agents.tools import BUILTIN_TOOLS, Tool, ToolRegistry, ToolResult, resolve_tools, tool
from aixgo.agents.turn import ReActTurn

__all__ = [
    "BUILTIN_TOOLS",
    "REACT_FORMATS",
    "Agent",
    "AgentTurn",
    "BaseAgent",
    "ContextSettings",
    "ReActAgent",
    "ReActTurn",
    "ReactFormat",
    "TextFormatError",
    "Tool",
    "ToolRegistry",
    "ToolResult",
    "TurnObserver",
    "TurnResult",
    "TurnStep",
    "agent_from_config",
    "calculator",
    "current_time",
    "resolve_tools",
    "tool",
]
