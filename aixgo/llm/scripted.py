"""Offline models for :class:`~aixgo.llm.protocol.ChatModel`: replies you script, or a function decides.

Both record every request they receive (:attr:`requests`), so a test can assert what the agent sent.
``llm.provider: scripted`` with a ``script`` builds a :class:`ScriptedModel`; tests import them from
:mod:`aixgo.testing`.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import json
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from aixgo.errors import LLMError
from aixgo.llm.protocol import Message, ModelResponse, ModelSettings, ToolCall, ToolSchema

Reply: TypeAlias = str | ModelResponse | ToolCall | Sequence[ToolCall] | BaseException
"""What a double answers: text, a full response, one or more tool calls, or an exception to raise."""


_call_numbers = itertools.count(1)


class ScriptExhaustedError(LLMError):
    """A :class:`ScriptedModel` was asked for more replies than it was given."""


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One request a double received (deep copies, so later changes by the agent do not show)."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    settings: ModelSettings

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools offered in the request."""
        return [str(t.get("function", {}).get("name")) for t in self.tools]

    @property
    def last_message(self) -> dict[str, Any]:
        """The last message of the request (usually the user's, or a tool result)."""
        return self.messages[-1]


def tool_call(
    name: str, arguments: Mapping[str, Any] | str | None = None, *, id: str | None = None
) -> ToolCall:
    """A :class:`ToolCall` for scripts: ``arguments`` as a dict (encoded to JSON) or raw text (kept
    as is, e.g. to test invalid JSON). ``id`` defaults to ``call_<name>_<n>`` numbered per process."""
    raw = arguments if isinstance(arguments, str) else json.dumps(dict(arguments or {}))
    return ToolCall(
        id=id if id is not None else f"call_{name}_{next(_call_numbers)}", name=name, arguments=raw
    )


def as_response(reply: Reply) -> ModelResponse:
    """Turn a :data:`Reply` into a :class:`ModelResponse` (raising it if it is an exception)."""
    if isinstance(reply, BaseException):
        raise reply
    if isinstance(reply, ModelResponse):
        return reply
    if isinstance(reply, str):
        return ModelResponse(content=reply, finish_reason="stop")
    if isinstance(reply, ToolCall):
        return ModelResponse(content=None, tool_calls=[reply], finish_reason="tool_calls")
    calls = list(reply)
    if not all(isinstance(call, ToolCall) for call in calls):
        raise TypeError(f"a reply must be str, ModelResponse, ToolCall(s) or an exception, got {reply!r}")
    return ModelResponse(content=None, tool_calls=calls, finish_reason="tool_calls")


def _record(
    messages: Sequence[Message], tools: Sequence[ToolSchema], settings: ModelSettings
) -> ModelRequest:
    return ModelRequest(
        messages=[copy.deepcopy(dict(m)) for m in messages],
        tools=[copy.deepcopy(dict(t)) for t in tools],
        settings=settings,
    )


class ScriptedModel:
    """A :class:`ChatModel` that answers with queued replies, in order.

    >>> model = ScriptedModel([tool_call("calculator", {"expression": "2+2"}), "It is 4."])

    Raises :class:`ScriptExhaustedError` when asked for more replies than it was given.
    """

    def __init__(self, replies: Iterable[Reply] = ()) -> None:
        self._queue: deque[Reply] = deque(replies)
        self._given = len(self._queue)
        self.requests: list[ModelRequest] = []

    def add(self, *replies: Reply) -> ScriptedModel:
        """Queue more replies; returns ``self`` for chaining."""
        self._queue.extend(replies)
        self._given += len(replies)
        return self

    @property
    def remaining(self) -> int:
        """Replies not used yet."""
        return len(self._queue)

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema], settings: ModelSettings
    ) -> ModelResponse:
        """Record the request and answer with the next scripted reply."""
        self.requests.append(_record(messages, tools, settings))
        if not self._queue:
            raise ScriptExhaustedError(
                f"ScriptedModel has no reply left for request #{len(self.requests)} "
                f"(it was given {self._given}); add replies to the script"
            )
        return as_response(self._queue.popleft())

    def __repr__(self) -> str:
        return f"ScriptedModel(remaining={self.remaining}, requests={len(self.requests)})"


ReplyFunction = Callable[
    [list[dict[str, Any]], list[dict[str, Any]], ModelSettings], Reply | Awaitable[Reply]
]
"""``(messages, tools, settings) -> reply`` (sync or async) for :class:`FunctionModel`."""


class FunctionModel:
    """A :class:`ChatModel` whose replies a function computes from each request.

    >>> def fn(messages, tools, settings):
    ...     return "pong" if messages[-1]["content"] == "ping" else "?"
    >>> model = FunctionModel(fn)
    """

    def __init__(self, function: ReplyFunction) -> None:
        self.function = function
        self.requests: list[ModelRequest] = []

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema], settings: ModelSettings
    ) -> ModelResponse:
        """Record the request and answer with what the function returns."""
        request = _record(messages, tools, settings)
        self.requests.append(request)
        reply = self.function(copy.deepcopy(request.messages), copy.deepcopy(request.tools), settings)
        if inspect.isawaitable(reply):
            reply = await reply
        return as_response(reply)

    def __repr__(self) -> str:
        return f"FunctionModel({getattr(self.function, '__name__', self.function)!r})"
