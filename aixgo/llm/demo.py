"""``OfflineDemoModel``: a tiny rule-based stand-in for an LLM, for demos and ``llm.provider: scripted``.

It is **not** a language model. It answers from the conversation it is sent, by a handful of rules,
so a demo can show an agent that remembers across processes without a network or an API key:

* "my name is Ada" / "call me Ada"            → acknowledges; later "what is my name?" answers from history
* "remember that the door code is 1234"       → acknowledges; "what did I ask you to remember?" lists it
* "what did I say?"                           → quotes your earlier messages
* arithmetic ("what is 12 * (3 + 4)?")        → calls the ``calculator`` tool, then answers with its result
* "what time is it [in Europe/Paris]?"        → calls the ``current_time`` tool, then answers with it
* anything else                               → a short reply saying what it can do

Everything is deterministic. With native tools it answers with tool calls; when it is sent no tools
but a system prompt describing the text ReAct format (``Action Input:``), it writes
``Thought / Action / Action Input`` and ``Final Answer`` text instead.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aixgo.llm.protocol import Message, ModelResponse, ModelSettings, ToolCall, ToolSchema, Usage

_NAME_RE = re.compile(r"\b(?:my name is|call me)\s+([A-Za-z][\w'-]*(?:\s+[A-Z][\w'-]*){0,2})", re.IGNORECASE)
_REMEMBER_RE = re.compile(
    r"^(?:please\s+|can you\s+|could you\s+)?remember(?:\s+that)?\s+(.+?)[.!?]*$", re.IGNORECASE | re.DOTALL
)
_ASK_NAME_RE = re.compile(r"\b(what(?:'s| is) my name|who am i|do you (?:know|remember) my name)\b", re.I)
_ASK_RECALL_RE = re.compile(
    r"\b(what did i (?:say|tell you|ask you to remember|mention)|what do you remember|"
    r"what have i (?:said|told you))\b",
    re.IGNORECASE,
)
_TIME_RE = re.compile(
    r"\b(what time|current time|time is it|what(?:'s| is) the (?:time|date)|today's date)\b", re.I
)
_ZONE_RE = re.compile(r"\b([A-Z][A-Za-z_]+/[A-Z][A-Za-z_/]+)\b")
_ARITH_RE = re.compile(r"[-+(]*\s*\d[\d\s.+\-*/()^%]*")
_GREETING_RE = re.compile(r"^\s*(hi|hello|hey|good (?:morning|afternoon|evening))\b", re.IGNORECASE)
_ACTION_RE = re.compile(r"^\s*Action\s*:\s*(.+)$", re.MULTILINE | re.IGNORECASE)
_INPUT_RE = re.compile(r"^\s*Action Input\s*:\s*(.+)$", re.MULTILINE | re.IGNORECASE)

DEMO_NOTE = (
    "I am aixgo's offline demo model: tell me your name, ask me to remember something, "
    "ask what you said, or give me some arithmetic."
)


@dataclass(frozen=True, slots=True)
class _Call:
    tool: str
    arguments: dict[str, Any]
    thought: str


def _text(message: Message) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def _arithmetic(text: str) -> str | None:
    """The arithmetic expression in ``text``, if it has one with an operator."""
    best = ""
    for match in _ARITH_RE.finditer(text):
        candidate = match.group().strip().rstrip(".")
        if re.search(r"\d\s*[-+*/^%]\s*[-+(]*\s*\d", candidate) and len(candidate) > len(best):
            best = candidate
    if not best:
        return None
    # Drop unbalanced brackets at the edges ("(what is 2+2)" → "2+2").
    while best.count("(") > best.count(")") and best.startswith("("):
        best = best[1:].strip()
    while best.count(")") > best.count("(") and best.endswith(")"):
        best = best[:-1].strip()
    return best


class OfflineDemoModel:
    """A deterministic, offline demo :class:`~aixgo.llm.protocol.ChatModel` (see the module docstring).

    Token usage is estimated as characters / 4 so demos show plausible numbers.
    """

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema], settings: ModelSettings
    ) -> ModelResponse:
        """Answer the last message of ``messages`` by the demo rules."""
        tool_names = {str(t.get("function", {}).get("name")) for t in tools}
        system = " ".join(_text(m) for m in messages if m.get("role") == "system")
        text_mode = not tools and "Action Input:" in system
        if text_mode:  # the tools are described in the prompt instead
            tool_names = {
                name for name in ("calculator", "current_time") if re.search(rf"\b{name}\b", system)
            }
        decision = self._decide(list(messages), tool_names)
        if isinstance(decision, _Call):
            response = self._call(decision, messages, text_mode)
        else:
            content = (
                f"Thought: I can answer this directly.\nFinal Answer: {decision}" if text_mode else decision
            )
            response = ModelResponse(content=content, finish_reason="stop")
        prompt_chars = sum(len(_text(m)) for m in messages) + sum(len(json.dumps(dict(t))) for t in tools)
        out_chars = len(response.content or "") + sum(
            len(c.arguments) + len(c.name) for c in response.tool_calls
        )
        usage = Usage(prompt_chars // 4 + 1, out_chars // 4 + 1, prompt_chars // 4 + out_chars // 4 + 2)
        return ModelResponse(
            response.content, response.tool_calls, response.finish_reason, usage, "offline-demo"
        )

    @staticmethod
    def _call(call: _Call, messages: Sequence[Message], text_mode: bool) -> ModelResponse:
        if text_mode:
            content = (
                f"Thought: {call.thought}\nAction: {call.tool}\nAction Input: {json.dumps(call.arguments)}"
            )
            return ModelResponse(content=content, finish_reason="stop")
        digest = hashlib.sha256(f"{len(messages)}:{call.tool}:{call.arguments}".encode()).hexdigest()[:12]
        tool_call = ToolCall(id=f"call_demo_{digest}", name=call.tool, arguments=json.dumps(call.arguments))
        return ModelResponse(content=None, tool_calls=[tool_call], finish_reason="tool_calls")

    def _decide(self, messages: list[Message], tools: set[str]) -> _Call | str:
        if not messages:
            return DEMO_NOTE
        last = messages[-1]
        if last.get("role") == "tool":
            return self._after_tool(messages, _text(last))
        text = _text(last)
        if last.get("role") == "user" and text.lstrip().startswith("Observation:"):
            return self._after_tool(messages, text.split(":", 1)[1].strip())
        earlier = [_text(m) for m in messages[:-1] if m.get("role") == "user"]
        return self._answer(text, earlier, tools)

    @staticmethod
    def _after_tool(messages: list[Message], result: str) -> str:
        tool, arguments = "a tool", {}
        for message in reversed(messages[:-1]):
            if message.get("role") != "assistant":
                continue
            calls = message.get("tool_calls") or []
            if calls:
                function = calls[-1].get("function", {})
                tool = str(function.get("name"))
                try:
                    arguments = json.loads(function.get("arguments") or "{}")
                except ValueError:
                    arguments = {}
            else:
                action, action_input = _ACTION_RE.search(_text(message)), _INPUT_RE.search(_text(message))
                if action is None:
                    continue
                tool = action.group(1).strip()
                try:
                    arguments = json.loads(action_input.group(1)) if action_input else {}
                except ValueError:
                    arguments = {}
            break
        if result.startswith("Error"):
            reason = re.sub(r"^Error:\s*(?:\S+ failed: \w+: )?", "", result)
            return f"Sorry, the {tool} tool failed: {reason}"
        if tool == "calculator" and isinstance(arguments, dict) and arguments.get("expression"):
            return f"{arguments['expression']} = {result}"
        if tool == "current_time":
            return f"The current time is {result}."
        return f"{tool} returned: {result}"

    @staticmethod
    def _answer(text: str, earlier: list[str], tools: set[str]) -> _Call | str:
        names = [m.group(1).strip() for t in earlier for m in _NAME_RE.finditer(t)]
        facts = list(
            dict.fromkeys(m.group(1).strip() for t in earlier if (m := _REMEMBER_RE.search(t.strip())))
        )
        if _ASK_NAME_RE.search(text):
            return f"Your name is {names[-1]}." if names else "You have not told me your name yet."
        if _ASK_RECALL_RE.search(text):
            if facts:
                return "You asked me to remember: " + "; ".join(facts) + "."
            if earlier:
                return "Earlier you said: " + " / ".join(f'"{t}"' for t in earlier[-3:])
            return "You have not told me anything yet in this conversation."
        if name := _NAME_RE.search(text):
            return f"Nice to meet you, {name.group(1).strip()}! I will remember your name."
        if fact := _REMEMBER_RE.search(text.strip()):
            return f"Got it. I will remember that {fact.group(1).strip()}."
        if _TIME_RE.search(text):
            if "current_time" not in tools:
                return "I cannot tell the time without the current_time tool."
            zone = _ZONE_RE.search(text)
            return _Call("current_time", {"timezone": zone.group(1)} if zone else {}, "I need the clock.")
        if expression := _arithmetic(text):
            if "calculator" not in tools:
                return "I would need the calculator tool to compute that."
            return _Call("calculator", {"expression": expression}, "This is arithmetic: use the calculator.")
        if _GREETING_RE.search(text):
            return (f"Hello again, {names[-1]}! " if names else "Hello! ") + DEMO_NOTE
        return f'You said: "{text.strip()}". {DEMO_NOTE}'
