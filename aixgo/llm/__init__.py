"""Talking to language models: the :class:`ChatModel` protocol and an OpenAI-compatible client.

>>> from aixgo.llm import OpenAIChatModel, ModelSettings
>>> model = OpenAIChatModel("gpt-4o-mini")            # OPENAI_API_KEY / OPENAI_BASE_URL from the environment
>>> # response = await model.complete([{"role": "user", "content": "Hi"}], [], ModelSettings())

Offline doubles for tests live in :mod:`aixgo.testing`.
"""

from __future__ import annotations

from aixgo.llm.factory import PROVIDERS, build_model
from aixgo.llm.openai_model import OpenAIChatModel
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
from aixgo.llm.retry import RetryPolicy

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
