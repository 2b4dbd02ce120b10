"""Tool calls that wait for a person's approval, over HTTP: how a paused turn answers, and the
``/v1/sessions/{id}/approvals`` resources.

A chat completion whose turn paused answers as OpenAI answers a turn that calls tools, so any client
reads it: ``finish_reason: "tool_calls"`` and the waiting calls as the message's ``tool_calls``; plus
``pending_approvals``, each call as an approval resource (below) with the URL that decides it. The
calls are aixgo's to run, not the client's: a client approves or denies each, and the decision that
completes the step continues the turn and answers with its completion.

* ``GET /v1/sessions/{id}/approvals``: ``{"object": "list", "data": [approval, …]}``, the calls of the
  paused step that need approval (pending, approved or denied so far); empty when nothing waits.
* ``POST /v1/sessions/{id}/approvals/{call_id}`` with ``{"decision": "approve" | "deny", "reason": …,
  "by": …, "stream": false}``: decides one call (checked before anything is stored) and answers with
  the turn's completion: answered, or still paused with the calls that wait (``stream: true``:
  server-sent events, as a streamed chat completion).

An approval: ``{"object": "approval", "call_id", "session_id", "agent", "name", "arguments" (the JSON
text the model sent), "status": "pending" | "approved" | "denied", "reason", "decided_by",
"decided_at", "requested_at", "url"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from aixgo.agents.result import TurnResult
from aixgo.server.chat_request import describe
from aixgo.server.errors import BadRequest
from aixgo.session import views
from aixgo.session.core.approvals import Approval
from aixgo.session.types import APPROVAL_DECISIONS, ApprovalDecision

MAX_REASON_CHARS = 4000

DECISION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["decision"],
    "properties": {
        "decision": {"enum": list(APPROVAL_DECISIONS)},
        "reason": {"type": ["string", "null"], "maxLength": MAX_REASON_CHARS},
        "by": {"type": ["string", "null"], "maxLength": 200},
        "stream": {"type": ["boolean", "null"]},
    },
}
_VALIDATOR = Draft202012Validator(DECISION_SCHEMA)


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """A checked ``POST …/approvals/{call_id}`` body."""

    decision: ApprovalDecision
    reason: str | None
    by: str
    stream: bool


def parse_decision(body: dict[str, Any]) -> DecisionRequest:
    """``body`` as a :class:`DecisionRequest`; :class:`BadRequest` (400) naming the wrong field otherwise."""
    error = best_match(_VALIDATOR.iter_errors(body))
    if error is not None:
        raise BadRequest(400, describe(error))
    return DecisionRequest(body["decision"], body.get("reason") or None, body.get("by") or "http",
                           bool(body.get("stream")))


def approval_url(session_id: str, call_id: str) -> str:
    return f"/v1/sessions/{quote(session_id, safe='')}/approvals/{quote(call_id, safe='')}"


def approval_json(session_id: str, agent: str, approval: Approval) -> dict[str, Any]:
    """One approval resource (see the module docstring)."""
    return {**views.approval_json(approval, session_id, agent), "url": approval_url(session_id, approval.call_id)}


def tool_calls_json(approvals: tuple[Approval, ...]) -> list[dict[str, Any]]:
    """The waiting calls in OpenAI's ``tool_calls`` shape."""
    return [{"id": a.call_id, "type": "function", "function": {"name": a.name, "arguments": a.arguments}}
            for a in approvals]


def paused_choice(result: TurnResult) -> tuple[dict[str, Any], str]:
    """The message and finish reason of a completion: the answer, or (paused) the waiting calls."""
    if not result.paused:
        return {"role": "assistant", "content": result.answer}, result.finish_reason or "stop"
    message = {"role": "assistant", "content": result.answer or None, "tool_calls": tool_calls_json(result.approvals)}
    return message, "tool_calls"


def pending_fields(result: TurnResult) -> dict[str, Any]:
    """``{"pending_approvals": [...]}`` for a paused turn's completion; nothing otherwise."""
    if not result.paused:
        return {}
    return {"pending_approvals": [approval_json(result.session_id, result.agent, a) for a in result.approvals]}


__all__ = [
    "DECISION_SCHEMA",
    "DecisionRequest",
    "approval_json",
    "approval_url",
    "parse_decision",
    "paused_choice",
    "pending_fields",
    "tool_calls_json",
]
