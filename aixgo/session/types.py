"""Value types of the session store: entries, checkpoints, session summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, get_args


class EntryType(StrEnum):
    """What an entry records. Message-like entries carry OpenAI chat-shaped ``data``."""

    MESSAGE = "message"
    """A chat message: ``{"role": "user"|"assistant"|"system", "content": ...}``."""
    TOOL_CALL = "tool_call"
    """An assistant message that calls tools: ``{"role": "assistant", "content": ..., "tool_calls": [...]}``."""
    TOOL_RESULT = "tool_result"
    """A tool's result: ``{"role": "tool", "tool_call_id": ..., "content": ...}``."""
    CHECKPOINT = "checkpoint"
    """A marker a user or agent may add to history; checkpoints themselves are not entries."""
    METADATA = "metadata"
    """Free-form metadata about the conversation."""
    USAGE = "usage"
    """Token usage of one turn: ``{"prompt_tokens": ..., "completion_tokens": ..., "total_tokens": ...}``."""
    ERROR = "error"
    """A turn that failed or was interrupted, recorded for the audit trail. ``turn_from_seq`` (when
    present) is the ``seq`` of the turn's user message: that turn is kept but not sent again."""
    SUMMARY = "summary"
    """A durable summary of the conversation's entries ``from_seq..to_seq`` (compaction):
    ``{"content": ..., "from_seq": 1, "to_seq": n, ...}``. Requests send it instead of those entries;
    the entries themselves stay stored."""
    APPROVAL_REQUEST = "approval_request"
    """A turn paused before running tool calls that need a person's approval: ``{"calls": [{"id",
    "name", "arguments", "approval"}], "turn_from_seq": n, "steps": k, ...}`` (the calls of the step, in
    order; ``approval`` marks those waiting for a decision). Nothing of that step has run."""
    APPROVAL_DECISION = "approval_decision"
    """A decision on one call of an approval request: ``{"request_id", "call_id", "decision": "approve" |
    "deny", "reason", "by"}``. The first decision of a call is the one that counts."""


ApprovalDecision = Literal["approve", "deny"]
"""What a person decides about a tool call that waits for approval."""
APPROVAL_DECISIONS: tuple[str, ...] = get_args(ApprovalDecision)

CHAT_ENTRY_TYPES = frozenset({EntryType.MESSAGE, EntryType.TOOL_CALL, EntryType.TOOL_RESULT})


@dataclass(frozen=True, slots=True)
class Entry:
    """One immutable record of a session's history.

    ``seq`` is the entry's position in its history (1 for the first entry), so the history is
    always ``seq`` 1..n without gaps. ``parent_id`` is the previous entry of the same history.
    """

    id: str
    parent_id: str | None
    seq: int
    timestamp: datetime
    type: EntryType
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A named point in a session's history that :meth:`Session.restore` can return to.

    ``checksum`` is a SHA-256 hash chain over the content of every entry up to ``entry_id``;
    restoring verifies it.
    """

    id: str
    session_id: str
    entry_id: str | None
    seq: int
    timestamp: datetime
    checksum: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A summary of one session, as returned by :meth:`Manager.list`.

    ``updated_at`` is the timestamp of the session's last record (never a file's modification time,
    so copying a store or importing a session keeps it). ``damage`` is None for a readable session;
    for one that cannot be read it says why (and where), and the other fields hold what is known.
    """

    id: str
    agent: str
    user_id: str | None
    created_at: datetime
    updated_at: datetime
    message_count: int
    metadata: dict[str, Any] = field(default_factory=dict)
    damage: str | None = None
    title: str | None = None
    """The first user message (see :mod:`aixgo.session.core.summary`), when the read that made this summary
    knows it (a listing does; ``get_info`` of most stores does not: None)."""
    tokens: int | None = None
    """The tokens the history's turns used (its ``usage`` entries), when known; None otherwise."""


@dataclass(frozen=True)
class Verification:
    """What checking every stored record of one session found (:meth:`aixgo.session.Backend.verify`).

    ``damage`` is None when the session is whole, else the first problem, naming where (file and line,
    or key). ``records`` is how many records were checked; ``entries`` and ``checkpoints`` count a
    whole session's."""

    session_id: str
    records: int
    damage: str | None
    entries: int = 0
    checkpoints: int = 0
