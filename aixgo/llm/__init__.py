"""Talking to language models: the :class:`ChatModel` protocol and an OpenAI-compatible client.

>>> from aixgo.llm import OpenAIChatModel, ModelSettings
>>> model = OpenAIChatModel("gpt-4o-mini")            # OPENAI_API_KEY / OPENAI_BASE_URL from the environment
>>> # response = await model.complete([{"role": "user", "content": "Hi"}], [], ModelSettings())

Offline doubles for tests live in :mod:`aixgo.testing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aixgo.llm.factory import PROVIDERS, build_model
from aixgo.llm.protocol import (
    ChatModel,
    Message,
    ModelResponse,
    ModelSettings,
    StreamingChatModel,
    StreamItem,
    TextDelta,
    ToolCall,
    ToolSchema,
    Usage,
    stream_response,
)

if TYPE_CHECKING:
    from aixgo.llm.openai_model import OpenAIChatModel
    from aixgo.llm.retry import RetryPolicy

_LAZY = {"OpenAIChatModel": "aixgo.llm.openai_model", "RetryPolicy": "aixgo.llm.retry"}
"""Names whose modules import the ``openai`` client (0.5-1 s): loaded on first use, so a command that
runs the offline model, lists sessions or validates a config never pays for it."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aixgo.llm' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    return getattr(importlib.import_module(module), name)

__all__ = [
    "PROVIDERS",
    "ChatModel",
    "Message",
    "ModelResponse",
    "ModelSettings",
    "OpenAIChatModel",
    "RetryPolicy",
    "StreamItem",
    "StreamingChatModel",
    "TextDelta",
    "ToolCall",
    "ToolSchema",
    "Usage",
    "build_model",
    "stream_response",
]
