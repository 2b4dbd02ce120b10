"""The text ReAct format, for models or servers without native tool calling.

The model writes::

    Thought: I need to compute this.
    Action: calculator
    Action Input: {"expression": "12 * 7"}

the agent runs the tool and replies ``Observation: 84``, until the model writes
``Final Answer: ...``. :func:`parse_react_text` is forgiving about what models actually produce:
any letter case, markdown bold or bullets around labels, code fences around the input, an invented
``Observation:`` after the action (cut off), ``Action: tool[input]`` shorthand, and plain text with
no labels at all (taken as the final answer).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aixgo.agents.tools import BaseTool
from aixgo.errors import LLMResponseError

OBSERVATION_PREFIX = "Observation: "
STOP_SEQUENCES = ("\nObservation:",)

_LABEL = re.compile(
    r"^[ \t>*#_-]*(?:\*\*|__)?\s*(thought|action input|action|observation|final answer)\s*(?:\*\*|__)?\s*:"
    r"(?:\*\*|__)?[ \t]*",
    re.IGNORECASE | re.MULTILINE,
)
_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.DOTALL)
_INLINE_CALL = re.compile(r"^([A-Za-z_][\w.-]*)\s*[\[(](.*)[\])]$", re.DOTALL)


class TextFormatError(LLMResponseError, ValueError):
    """The model's text follows neither an action nor a final answer; the message tells it how to."""


@dataclass(frozen=True, slots=True)
class TextAction:
    """The model asked to run ``tool`` with ``tool_input`` (raw text, normally a JSON object)."""

    tool: str
    tool_input: str
    thought: str | None = None


@dataclass(frozen=True, slots=True)
class TextFinalAnswer:
    """The model's final answer for the turn."""

    answer: str
    thought: str | None = None


def _strip_fences(text: str) -> str:
    text = text.strip()
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text.strip("`").strip()


def parse_react_text(text: str) -> TextAction | TextFinalAnswer:
    """Parse one model reply in the text ReAct format.

    Raises:
        TextFormatError: an ``Action`` without a tool name, an empty ``Final Answer``, or only a
            ``Thought``.
    """
    labels = [(m.group(1).lower(), m.start(), m.end()) for m in _LABEL.finditer(text)]
    if not labels:
        if not text.strip():
            raise TextFormatError("the reply is empty; write an Action or a Final Answer")
        return TextFinalAnswer(text.strip())

    def body(index: int) -> str:
        end = labels[index + 1][1] if index + 1 < len(labels) else len(text)
        return text[labels[index][2] : end].strip()

    kinds = [kind for kind, _, _ in labels]
    thought = body(kinds.index("thought")) if "thought" in kinds else None
    action_at = kinds.index("action") if "action" in kinds else None
    final_at = kinds.index("final answer") if "final answer" in kinds else None
    if action_at is not None and (final_at is None or action_at < final_at):
        name = _strip_fences(body(action_at)).splitlines()[0].strip() if body(action_at) else ""
        name = name.strip("`'\" ")
        input_at = next((i for i in range(action_at + 1, len(kinds)) if kinds[i] == "action input"), None)
        # An "Observation" before the input means the model invented a result: ignore what follows.
        observed = next((i for i in range(action_at + 1, len(kinds)) if kinds[i] == "observation"), None)
        if input_at is not None and observed is not None and observed < input_at:
            input_at = None
        tool_input = _strip_fences(body(input_at)) if input_at is not None else ""
        inline = _INLINE_CALL.match(name)
        if inline and not tool_input:
            name, tool_input = inline.group(1), inline.group(2).strip()
        if not name:
            raise TextFormatError("the Action has no tool name; write 'Action: <tool name>'")
        return TextAction(name, tool_input, thought)
    if final_at is not None:
        answer = body(final_at)  # up to the next label: anything after the answer is rambling
        if not answer:
            raise TextFormatError("the Final Answer is empty; write 'Final Answer: <your answer>'")
        return TextFinalAnswer(answer, thought)
    raise TextFormatError(
        "expected 'Action:' with 'Action Input:', or 'Final Answer:'; write one of them after your Thought"
    )


def action_arguments(tool_input: str, tool: BaseTool | None) -> str | dict[str, Any]:
    """The tool arguments for an ``Action Input``: JSON as is; plain text is given to the tool's only
    parameter when it has exactly one (models often write ``Action Input: 2 + 2``)."""
    text = tool_input.strip()
    if text.startswith("{") or tool is None:
        return text
    properties = list(tool.parameters.get("properties", {}))
    if len(properties) == 1:
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        if isinstance(value, dict):
            return value
        if tool.validate({properties[0]: value}) is not None:  # e.g. a number for a string parameter
            value = text
        return {properties[0]: value}
    return text or "{}"


def text_instructions(tools: Iterable[BaseTool]) -> str:
    """The format instructions appended to the system prompt of a text-format agent."""
    listed = list(tools)
    lines: list[str] = []
    if listed:
        lines.append("You can use these tools:")
        lines += [
            f"- {t.name}: {t.description} Arguments (JSON schema): {json.dumps(t.parameters)}" for t in listed
        ]
        lines += [
            "",
            "To use a tool, write exactly:",
            "Thought: what you are thinking",
            f"Action: the tool name, one of [{', '.join(t.name for t in listed)}]",
            "Action Input: the arguments as a JSON object",
            "Then stop. You will receive 'Observation: <result>'. Repeat as needed.",
            "",
        ]
    lines += ["When you know the answer, write:", "Thought: I know the answer.", "Final Answer: your answer"]
    return "\n".join(lines)
