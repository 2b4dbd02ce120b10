"""Tool calls that wait for a person's approval, as a session's history records them (pure, no I/O).

A turn that meets a call needing approval stores the step's tool-call message, then an
``approval_request`` entry naming the step's calls, and stops: nothing of that step runs. Each
decision is an ``approval_decision`` entry. What still waits is derived from the history alone, so
every process and node, before or after a restart, sees the same:

* the request is **open** while only bookkeeping follows it (decisions, usage, metadata): the first
  chat entry after it (the continued turn's first result, a new message) or an ``error`` entry (the
  continued turn failed) closes it;
* a decision counts when it names the open request and one of its calls that needs approval, and is
  that call's first: a decision is taken once;
* the request is **complete** when every such call is decided: the turn continues then (the deciding
  process continues it, with the session's lease held).

The records' fields are checked by :mod:`aixgo.session.core.records`; the rule that a decision must
name a call that still waits, by :func:`check_decision` (the runtime checks and appends under the
session's lease, so two deciders never both decide one call).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aixgo.errors import ApprovalDecidedError, ApprovalNotFoundError
from aixgo.session.types import CHAT_ENTRY_TYPES, ApprovalDecision, Entry, EntryType

ApprovalStatus = Literal["pending", "approved", "denied"]
"""Where a call that needs approval stands."""

_STATUS: dict[str, ApprovalStatus] = {"approve": "approved", "deny": "denied"}
_ENDS_SEARCH = CHAT_ENTRY_TYPES | {EntryType.ERROR, EntryType.APPROVAL_REQUEST}


@dataclass(frozen=True, slots=True)
class StepCall:
    """One tool call of a paused step, in the order the model made them. ``arguments`` is the JSON
    text stored with the call; ``required``: it waits for a decision (the others run with the
    approved ones, once every decision is taken)."""

    id: str
    name: str
    arguments: str
    required: bool


@dataclass(frozen=True, slots=True)
class Approval:
    """A tool call that needs approval, and its decision so far.

    ``status`` is ``pending``, ``approved`` or ``denied``; ``reason``, ``decided_by`` and
    ``decided_at`` come with a decision. ``requested_at`` is when the turn paused."""

    call_id: str
    name: str
    arguments: str
    requested_at: datetime
    status: ApprovalStatus = "pending"
    reason: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """An open approval request: the paused step's calls and the decisions taken so far.

    ``turn_from_seq`` is the ``seq`` of the turn's user message; ``steps`` and ``tool_runs`` what the
    turn had done when it paused (its model requests, its tools run), ``usage`` its tokens so far,
    ``react_format`` the agent's format then, ``content`` the text the model sent with its calls."""

    entry_id: str
    seq: int
    requested_at: datetime
    turn_from_seq: int
    steps: int
    tool_runs: int
    react_format: str
    content: str | None
    usage: Mapping[str, Any]
    calls: tuple[StepCall, ...]
    approvals: tuple[Approval, ...]

    @property
    def waiting(self) -> tuple[Approval, ...]:
        """The calls still waiting for a decision, in order."""
        return tuple(approval for approval in self.approvals if approval.status == "pending")

    @property
    def complete(self) -> bool:
        """Whether every call that needs approval is decided (the turn may continue)."""
        return not self.waiting

    def approval(self, call_id: str) -> Approval | None:
        """The approval of ``call_id``, or None when that call needs none (or is not in the step)."""
        return next((approval for approval in self.approvals if approval.call_id == call_id), None)


def request_data(
    calls: Iterable[tuple[str, str, str, bool]],
    *,
    turn_from_seq: int,
    steps: int,
    tool_calls: int,
    react_format: str,
    content: str | None,
    usage: Mapping[str, Any],
) -> dict[str, Any]:
    """The data of an ``approval_request`` entry for a step's ``calls`` (``(id, name, arguments, needs
    approval)``, in order)."""
    data: dict[str, Any] = {
        "calls": [{"id": cid, "name": name, "arguments": arguments, "approval": needed}
                  for cid, name, arguments, needed in calls],
        "turn_from_seq": turn_from_seq,
        "steps": steps,
        "tool_calls": tool_calls,
        "format": react_format,
        "usage": dict(usage),
    }
    if content:
        data["content"] = content
    return data


def decision_data(
    request_id: str, call_id: str, decision: ApprovalDecision, *, reason: str | None = None, by: str | None = None
) -> dict[str, Any]:
    """The data of an ``approval_decision`` entry."""
    data: dict[str, Any] = {"request_id": request_id, "call_id": call_id, "decision": decision}
    if reason:
        data["reason"] = reason
    if by:
        data["by"] = by
    return data


def ends_search(entries: Iterable[Entry]) -> bool:
    """Whether ``entries`` (read backwards from the end of a history) hold an entry that settles what
    is open: a chat or ``error`` entry (nothing after it can be an open request's) or a request."""
    return any(entry.type in _ENDS_SEARCH for entry in entries)


def open_request(entries: Sequence[Entry]) -> ApprovalRequest | None:
    """The approval request still open at the end of ``entries`` (the newest part of a history, oldest
    first, holding everything after the request), or None (see the module docstring)."""
    for index in range(len(entries) - 1, -1, -1):
        entry = entries[index]
        if entry.type is EntryType.APPROVAL_REQUEST:
            return _request(entry, entries[index + 1:])
        if entry.type in CHAT_ENTRY_TYPES or entry.type is EntryType.ERROR:
            return None
    return None


def _request(entry: Entry, after: Sequence[Entry]) -> ApprovalRequest:
    data = entry.data
    calls = tuple(StepCall(c["id"], c["name"], c["arguments"], c["approval"]) for c in data["calls"])
    decided: dict[str, Entry] = {}
    for later in after:
        if later.type is EntryType.APPROVAL_DECISION and later.data["request_id"] == entry.id:
            decided.setdefault(later.data["call_id"], later)
    approvals = []
    for call in calls:
        if not call.required:
            continue
        decision = decided.get(call.id)
        if decision is None:
            approvals.append(Approval(call.id, call.name, call.arguments, entry.timestamp))
        else:
            approvals.append(Approval(call.id, call.name, call.arguments, entry.timestamp,
                                      _STATUS[decision.data["decision"]], decision.data.get("reason"),
                                      decision.data.get("by"), decision.timestamp))
    return ApprovalRequest(
        entry_id=entry.id,
        seq=entry.seq,
        requested_at=entry.timestamp,
        turn_from_seq=data["turn_from_seq"],
        steps=data["steps"],
        tool_runs=data.get("tool_calls") or 0,
        react_format=data.get("format") or "native",
        content=data.get("content"),
        usage=data.get("usage") or {},
        calls=calls,
        approvals=tuple(approvals),
    )


def check_decision(request: ApprovalRequest | None, call_id: str, session_id: str) -> Approval:
    """The approval a decision on ``call_id`` would take, if it may be taken now.

    Raises:
        ApprovalNotFoundError: nothing waits in the session, or not that call.
        ApprovalDecidedError: the call was already approved or denied.
    """
    if request is None:
        raise ApprovalNotFoundError(f"session {session_id!r} has no tool call waiting for approval",
                                    session_id=session_id, call_ids=(call_id,))
    approval = request.approval(call_id)
    if approval is None:
        waiting = ", ".join(a.call_id for a in request.waiting) or "none"
        raise ApprovalNotFoundError(f"session {session_id!r} has no call {call_id!r} waiting for approval "
                                    f"(waiting: {waiting})", session_id=session_id, call_ids=(call_id,))
    if approval.status != "pending":
        said = f": {approval.reason}" if approval.reason else ""
        raise ApprovalDecidedError(f"call {call_id!r} ({approval.name}) of session {session_id!r} was already "
                                   f"{approval.status}{said}", session_id=session_id, call_ids=(call_id,))
    return approval


__all__ = [
    "Approval",
    "ApprovalRequest",
    "ApprovalStatus",
    "StepCall",
    "check_decision",
    "decision_data",
    "ends_search",
    "open_request",
    "request_data",
]
