"""Reading a server's answers, whole or streamed, into :class:`~aixgo.llm.protocol.ModelResponse`:
JSON objects or ``openai`` SDK objects alike, tolerant of what compatible servers leave out (tool
call ids, usage, finish reasons), strict about what is not a chat completion."""

from __future__ import annotations

import json
import math
from typing import Any

from openai.types.chat import ChatCompletion

from aixgo.errors import LLMResponseError
from aixgo.llm.protocol import ModelResponse, ToolCall, Usage, with_unique_ids


def _field(value: Any, name: str) -> Any:
    """``value[name]`` of a JSON object, or ``value.name`` of an ``openai`` model; None when absent."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def _arguments_text(value: object) -> str:
    # Some servers (Ollama among them) send the arguments as a JSON object instead of a string.
    if isinstance(value, str):
        return value
    if value is None:
        return "{}"
    return json.dumps(value)


def _tool_calls(message: Any) -> list[ToolCall]:
    found: list[tuple[Any, Any, str]] = []
    for raw in _field(message, "tool_calls") or []:
        function = _field(raw, "function")
        custom = _field(raw, "custom")
        if function is not None:
            name, arguments = _field(function, "name") or "", _arguments_text(_field(function, "arguments"))
        elif custom is not None:
            name, arguments = _field(custom, "name") or "", _arguments_text(_field(custom, "input"))
        else:
            continue
        found.append((_field(raw, "id"), name, arguments))
    return with_unique_ids(found)


def _count(value: object) -> int:
    """A token count as sent (servers send ints, some floats); 0 for anything else (NaN, Infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value) if math.isfinite(value) else 0


def _usage(raw: Any) -> Usage | None:
    if raw is None:
        return None
    prompt = _count(_field(raw, "prompt_tokens"))
    completion = _count(_field(raw, "completion_tokens"))
    total = _count(_field(raw, "total_tokens")) or prompt + completion
    return Usage(prompt, completion, total)


class StreamAssembler:
    """Builds a :class:`ModelResponse` from streamed chat-completion chunks (tool-call arguments
    arrive in pieces, keyed by their ``index``)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.text: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = None
        self.chunks = 0

    def add(self, chunk: Any) -> str:
        """Take one chunk; returns the text it adds to the answer ("" for none)."""
        self.chunks += 1
        self.model = _field(chunk, "model") or self.model
        usage = _field(chunk, "usage")
        if usage is not None:
            self.usage = _usage(usage)
        choices = _field(chunk, "choices")
        if not isinstance(choices, list) or not choices:
            return ""
        choice = choices[0]
        self.finish_reason = _field(choice, "finish_reason") or self.finish_reason
        delta = _field(choice, "delta")
        if delta is None:
            return ""
        for raw in _field(delta, "tool_calls") or []:
            index = _field(raw, "index")
            slot = self.calls.setdefault(index if isinstance(index, int) else len(self.calls), {
                "id": "", "name": "", "arguments": ""})
            slot["id"] = _field(raw, "id") or slot["id"]
            function = _field(raw, "function")
            if function is not None:
                slot["name"] = _field(function, "name") or slot["name"]
                slot["arguments"] += _arguments_text(_field(function, "arguments") or "")
        text = _field(delta, "content")
        if isinstance(text, str) and text:
            self.text.append(text)
            return text
        return ""

    def response(self) -> ModelResponse:
        """The whole answer."""
        if not self.chunks:
            raise LLMResponseError(f"{self.where} ended the stream without sending anything")
        calls = with_unique_ids(
            [(slot["id"], slot["name"], slot["arguments"] or "{}") for _, slot in sorted(self.calls.items())]
        )
        return ModelResponse(
            content="".join(self.text) if self.text or not calls else None,
            tool_calls=calls,
            finish_reason=self.finish_reason,
            usage=self.usage,
            model=self.model,
        )


def to_model_response(completion: object, where: str = "the model server") -> ModelResponse:
    """Convert a chat completion (its JSON object, or an ``openai`` ``ChatCompletion``) into a
    :class:`ModelResponse`, tolerating servers' quirks: no ``usage``, ``content: null``, missing or
    repeated tool-call ids, object arguments, odd token counts.

    Raises:
        LLMResponseError: not a chat completion, or one without choices.
    """
    if not isinstance(completion, ChatCompletion | dict):
        got = (
            "an HTML page"
            if isinstance(completion, str) and "<html" in completion.lower()
            else type(completion).__name__
        )
        raise LLMResponseError(
            f"{where} did not answer with a chat completion (it sent {got}): it is not an OpenAI-compatible API; "
            "check that llm.base_url points at one (it usually ends in /v1)"
        )
    choices = _field(completion, "choices")
    if not isinstance(choices, list) or not choices:
        raise LLMResponseError(f"{where} answered with no choices")
    choice = choices[0]
    message = _field(choice, "message")
    if message is None:
        raise LLMResponseError(f"{where} answered a choice without a message")
    calls = _tool_calls(message)
    content = _field(message, "content")
    if content is None and not calls:
        content = _field(message, "refusal")
    return ModelResponse(
        content=_text_or_none(content),
        tool_calls=calls,
        finish_reason=_text_or_none(_field(choice, "finish_reason")),
        usage=_usage(_field(completion, "usage")),
        model=_text_or_none(_field(completion, "model")),
    )


def _text_or_none(value: object) -> str | None:
    """A server's string field as is; any other JSON value (a list of content parts) as JSON text."""
    return value if value is None or isinstance(value, str) else json.dumps(value)
