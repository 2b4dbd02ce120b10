"""What every tool is, wherever it comes from: :class:`BaseTool`, the :class:`ToolResult` it produces,
and the helpers that turn model output into arguments and return values into observations.

A tool has a name, a description and a JSON schema of its parameters (what the model is shown), and
:meth:`BaseTool.run` turns validated arguments into a :class:`ToolResult`. Built-in and Python tools
(:class:`~aixgo.agents.tools.function.Tool`) and the tools of MCP servers
(:class:`~aixgo.agents.tools.mcp.MCPTool`) are all ``BaseTool``: the agent never asks which.
"""

from __future__ import annotations

import functools
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError, best_match

MAX_RESULT_CHARS = 16_000
"""Longer observations are cut to this many characters before the model sees them."""

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What OpenAI-compatible servers accept as a function name."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The observation a tool call produced. ``content`` is what the model sees.

    ``details`` are stored with the result in the session's ``tool_result`` entry and never sent to
    the model (an MCP server's content blocks, structured content and what was cut, for example)."""

    content: str
    is_error: bool = False
    details: Mapping[str, Any] | None = field(default=None, compare=False)

    def message_fields(self) -> dict[str, Any]:
        """The fields the tool's result message carries besides ``role``, ``content`` and
        ``tool_call_id`` (``{"output": details}`` when there are details)."""
        return {"output": dict(self.details)} if self.details else {}


class BaseTool(ABC):
    """A tool the model may call: its name, description and parameter schema, and how to run it.

    ``source`` says where it comes from, for people (``aixgo tools``, logs): ``built-in``,
    ``python``, ``mcp``."""

    name: str
    description: str
    parameters: dict[str, Any]
    source: str = "python"
    origin: str = ""
    """Where exactly: the ``module:function`` of a Python tool, the MCP server's name."""
    require_approval: bool = False
    """Whether a call of this tool waits for a person's approval before it runs: the turn pauses, stored,
    until someone approves or denies it (docs/tools.md#approvals)."""

    def known_as(self) -> tuple[str, ...]:
        """The names an approval pattern is matched against (the name the model sees; an MCP tool adds
        ``SERVER/TOOL``)."""
        return (self.name,)

    def schema(self) -> dict[str, Any]:
        """The OpenAI tool definition (``{"type": "function", "function": {...}}``)."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def validate(self, arguments: Mapping[str, Any]) -> str | None:
        """None if ``arguments`` match the schema, else a one-line description of the first problem."""
        validator = self.validator
        if validator is None:
            return None
        error = best_match(validator.iter_errors(dict(arguments)))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path)
        return f"{where}: {error.message}" if where else error.message

    @functools.cached_property
    def validator(self) -> Any:
        """The parameters' jsonschema validator (None if the schema itself is invalid)."""
        return schema_validator(self.parameters)

    @abstractmethod
    async def run(self, arguments: Mapping[str, Any], *, max_chars: int = MAX_RESULT_CHARS) -> ToolResult:
        """Run the tool with validated keyword ``arguments``. Failures of the tool itself may raise: the
        registry turns them into an error observation."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def schema_validator(schema: Mapping[str, Any]) -> Any:
    """A jsonschema validator for ``schema`` (its own ``$schema`` draft, else 2020-12); None when the
    schema itself is invalid (the tool's server then judges the arguments alone)."""
    schema = dict(schema)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError:
        return None
    return cls(schema)


def format_result(value: Any, max_chars: int = MAX_RESULT_CHARS) -> str:
    """A tool's return value as observation text: JSON for JSON-like values, else ``str()``; bounded."""
    if isinstance(value, str):
        text = value
    elif value is None:
        text = "(no output)"
    elif isinstance(value, dict | list | tuple | int | float | bool):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return bounded(text, max_chars)


def bounded(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars``, saying how much was cut."""
    if len(text) > max_chars:
        return f"{text[:max_chars]}\n… [truncated: {len(text) - max_chars} more characters]"
    return text


def parse_arguments(raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The keyword arguments encoded in a tool call's ``arguments`` text.

    Raises:
        ValueError: not valid JSON, or not a JSON object (the message says which).
    """
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    text = raw.strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        reason = exc.msg.removesuffix(" at")  # some messages end in "at" already ("...starting at")
        raise ValueError(f"the arguments are not valid JSON ({reason} at character {exc.pos})") from exc
    if not isinstance(value, dict):
        raise ValueError(f"the arguments must be a JSON object, got {type(value).__name__}")
    return value


__all__ = [
    "MAX_RESULT_CHARS",
    "NAME_PATTERN",
    "BaseTool",
    "ToolResult",
    "bounded",
    "format_result",
    "parse_arguments",
    "schema_validator",
]
