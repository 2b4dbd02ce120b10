"""The model interface the agents program against, and the values that cross it.

Messages and tool schemas are plain OpenAI chat-shaped dicts (``{"role": ..., "content": ...}`` and
``{"type": "function", "function": {...}}``), so any history read from a session can be sent as is.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Message = Mapping[str, Any]
"""One OpenAI chat message: ``role``, ``content`` and optionally ``tool_calls`` / ``tool_call_id``."""

ToolSchema = Mapping[str, Any]
"""One OpenAI tool definition: ``{"type": "function", "function": {"name", "description", "parameters"}}``."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to run one tool.

    ``arguments`` is the raw text the model produced, normally a JSON object; it is kept verbatim
    because models do not always produce valid JSON, and that is the agent's problem to report back,
    not the client's to hide.
    """

    id: str
    name: str
    arguments: str = "{}"

    def to_openai(self) -> dict[str, Any]:
        """The call as an entry of an assistant message's ``tool_calls``."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


def with_unique_ids(found: Sequence[tuple[Any, Any, str]]) -> list[ToolCall]:
    """``(id, name, arguments)`` as tool calls, with a fresh id where a server omitted or repeated one
    (a tool result names its call by id, so two calls must never share one)."""
    calls: list[ToolCall] = []
    seen: set[str] = set()
    for given, name, arguments in found:
        call_id = str(given) if given and given not in seen else f"call_{secrets.token_hex(8)}"
        seen.add(call_id)
        calls.append(ToolCall(id=call_id, name=str(name or ""), arguments=arguments))
    return calls


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one request (or, summed with ``+``, of a whole turn)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        """``{"prompt_tokens", "completion_tokens", "total_tokens"}``, the shape of a ``USAGE`` entry."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """What the model answered: text, tool calls, or both.

    ``finish_reason`` is the server's (``"stop"``, ``"tool_calls"``, ``"length"`` …, or None when it
    sent none); ``usage`` is None when the server reported no token counts.
    """

    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None


ToolChoiceMode = Literal["auto", "required", "none"]
"""What ``tool_choice`` may say in words (it may also be OpenAI's object that forces one function)."""


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Per-request settings. ``None`` leaves a value to the model client or server default.

    ``timeout`` (seconds) overrides the client's timeout for this request; ``stop`` lists stop
    sequences (the text ReAct format uses it to keep the model from inventing observations);
    ``tool_choice`` says whether the model may call the tools offered.
    """

    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float | None = None
    stop: tuple[str, ...] = ()
    tool_choice: ToolChoiceMode | str | Mapping[str, Any] | None = None
    """``auto`` (what is sent when None and tools are offered), ``none``, ``required``, or the OpenAI
    object that forces one function."""
    top_p: float | None = None
    seed: int | None = None
    extra_body: Mapping[str, Any] | None = None
    """Fields sent as they are in the request body (server-specific options)."""


@runtime_checkable
class ChatModel(Protocol):
    """Anything that can answer a chat request: the OpenAI client, :mod:`aixgo.testing` doubles, yours.

    Implementations raise :class:`~aixgo.errors.LLMError` subclasses for failures, never provider
    exceptions.
    """

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema],
        settings: ModelSettings,
    ) -> ModelResponse:
        """Answer ``messages``; ``tools`` (possibly empty) are the tools the model may call."""
        ...


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text, as a streaming model sends it."""

    text: str


StreamItem = TextDelta | ModelResponse
"""What :meth:`StreamingChatModel.stream` yields: text deltas, then the whole response, last."""


@runtime_checkable
class StreamingChatModel(ChatModel, Protocol):
    """A :class:`ChatModel` that can also stream its answer."""

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema],
        settings: ModelSettings,
    ) -> AsyncIterator[StreamItem]:
        """Yield :class:`TextDelta` pieces of the answer as they arrive, then the whole
        :class:`ModelResponse` (text, tool calls, finish reason, usage) as the last item."""
        ...


def as_stream(response: ModelResponse) -> list[StreamItem]:
    """A whole answer as a stream would give it: its text as one delta (an answer that calls tools
    gives none), then the response."""
    if response.content and not response.tool_calls:
        return [TextDelta(response.content), response]
    return [response]


async def stream_response(
    model: ChatModel, messages: Sequence[Message], tools: Sequence[ToolSchema], settings: ModelSettings
) -> AsyncIterator[StreamItem]:
    """``model``'s stream when it can stream; else its whole answer as one delta, then the response."""
    if isinstance(model, StreamingChatModel):
        async for item in model.stream(messages, tools, settings):
            yield item
        return
    for item in as_stream(await model.complete(messages, tools, settings)):
        yield item
