"""Offline test doubles for aixgo agents: use them in your own tests, no network or API key needed.

>>> from aixgo.testing import ScriptedModel, tool_call
>>> model = ScriptedModel([tool_call("calculator", {"expression": "6*7"}), "The answer is 42."])

* :class:`ScriptedModel` answers with queued replies (text, tool calls, or exceptions to raise).
* :class:`FunctionModel` lets a function compute each reply from the request.
* :class:`OfflineDemoModel` is a deterministic rule-based demo model (``llm.provider: scripted``).

Each double records the requests it received in ``.requests``. They live in :mod:`aixgo.llm.scripted`
and :mod:`aixgo.llm.demo` (``llm.provider: scripted`` builds them in production too); this package
gathers them for tests, and production code never imports it.
"""

from __future__ import annotations

from aixgo.llm.demo import OfflineDemoModel
from aixgo.llm.scripted import (
    FunctionModel,
    ModelRequest,
    Reply,
    ReplyFunction,
    ScriptedModel,
    ScriptExhaustedError,
    as_response,
    tool_call,
)

__all__ = [
    "FunctionModel",
    "ModelRequest",
    "OfflineDemoModel",
    "Reply",
    "ReplyFunction",
    "ScriptExhaustedError",
    "ScriptedModel",
    "as_response",
    "tool_call",
]
