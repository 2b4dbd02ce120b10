"""What aixgo sends to an OpenAI-compatible server, shaped so that every known server accepts it.

The stored history stays as the model produced it; only the outgoing request is adjusted, here and
nowhere else (each adjustment has a test against the local test server's matching personality):

* **``tool_choice: "auto"`` whenever tools are offered.** OpenAI defaults to ``auto``, but
  llama-cpp-python's server (function-calling chat formats) treats a missing ``tool_choice`` as
  ``none`` and leaves the tools out of the prompt, so the model never calls one.
* **``content: ""`` on assistant messages that only call tools.** OpenAI sends and accepts
  ``content: null`` there; llama-cpp-python's server refuses it (``Input should be a valid string``,
  a 500), which would break every later turn of a session that once called a tool.
* **Tool results carry only ``role``, ``content`` and ``tool_call_id``.** A stored result may keep
  more (an MCP server's content blocks under ``output``); OpenAI refuses a field it does not know
  ("Additional properties are not allowed").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aixgo.llm.protocol import Message, ToolSchema

_TOOL_RESULT_FIELDS = ("role", "content", "tool_call_id")


def outgoing_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The messages as sent, with ``content: ""`` where an assistant message calls tools and has no text,
    and tool results reduced to their chat fields. An adjusted message is a new dict; the others are
    passed as they are (a model's request messages are its own copies already, see
    :func:`aixgo.agents.context.turns.copy_messages`: a second copy of a long history cost a turn ~1 ms)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            out.append({key: message[key] for key in _TOOL_RESULT_FIELDS if key in message})
        elif role == "assistant" and message.get("tool_calls") and message.get("content") is None:
            out.append({**message, "content": ""})
        else:
            out.append(message if type(message) is dict else dict(message))  # JSON takes dicts
    return out


def tool_fields(
    tools: Sequence[ToolSchema], tool_choice: str | Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The request fields that offer ``tools`` (none without tools); ``tool_choice`` defaults to ``auto``."""
    if not tools:
        return {}
    return {
        "tools": [dict(t) for t in tools],
        "tool_choice": dict(tool_choice) if isinstance(tool_choice, Mapping) else tool_choice or "auto",
    }


__all__ = ["outgoing_messages", "tool_fields"]
