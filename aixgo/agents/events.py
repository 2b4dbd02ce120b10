"""What a streamed turn yields (:meth:`aixgo.runtime.Runtime.astream_with_session`).

Every event has a ``type``: ``step`` (a model request begins), ``text_delta`` (a piece of the answer,
``.text``), ``tool_call`` (a tool is about to run), ``tool_result`` (it returned, or was denied),
``approval_required`` (the turn paused, stored, before tool calls that need a person's approval:
``.approvals``), and, last, ``turn_end`` (``.result``, the :class:`~aixgo.agents.TurnResult`). The
concatenated ``text_delta`` texts of a turn are its answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aixgo.agents.result import TurnResult
from aixgo.session.core.approvals import Approval


@dataclass(frozen=True, slots=True)
class StepEvent:
    """A model request begins (``step`` counts from 1)."""

    step: int
    type: Literal["step"] = "step"


@dataclass(frozen=True, slots=True)
class TextDeltaEvent:
    """A piece of the answer's text."""

    text: str
    type: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    """The model called a tool; it runs next."""

    id: str
    name: str
    arguments: str
    type: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True)
class ToolResultEvent:
    """A tool returned (``content`` is what the model sees)."""

    id: str
    name: str
    content: str
    type: Literal["tool_result"] = "tool_result"


@dataclass(frozen=True, slots=True)
class ApprovalRequiredEvent:
    """The turn paused, stored, before tool calls that need a person's approval (``approvals``: those
    still waiting); ``turn_end`` follows. Nothing of that step ran."""

    approvals: tuple[Approval, ...]
    type: Literal["approval_required"] = "approval_required"


@dataclass(frozen=True, slots=True)
class TurnEndEvent:
    """The turn is done and stored; ``result`` is what :meth:`~aixgo.runtime.Runtime.acall_with_session` returns."""

    result: TurnResult
    type: Literal["turn_end"] = "turn_end"


TurnEvent = StepEvent | TextDeltaEvent | ToolCallEvent | ToolResultEvent | ApprovalRequiredEvent | TurnEndEvent
"""Any event of a streamed turn."""

EventSink = Callable[[TurnEvent], Awaitable[None]]
"""Where an agent sends its events while a turn runs."""

__all__ = [
    "ApprovalRequiredEvent",
    "EventSink",
    "StepEvent",
    "TextDeltaEvent",
    "ToolCallEvent",
    "ToolResultEvent",
    "TurnEndEvent",
    "TurnEvent",
]
