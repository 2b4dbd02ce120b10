"""Sessions, entries and checkpoints as JSON-ready dicts: one shape for ``--json`` in the CLI and
for the HTTP API of ``aixgo serve``. Timestamps are ISO-8601 UTC with microseconds."""

from __future__ import annotations

from typing import Any

from aixgo.session.core.approvals import Approval
from aixgo.session.core.codec import format_ts
from aixgo.session.types import Checkpoint, Entry, SessionInfo


def info_json(info: SessionInfo) -> dict[str, Any]:
    """A session summary as a JSON-ready dict (timestamps ISO-8601 UTC with microseconds)."""
    return {
        "id": info.id,
        "agent": info.agent,
        "user_id": info.user_id,
        "created_at": format_ts(info.created_at),
        "updated_at": format_ts(info.updated_at),
        "message_count": info.message_count,
        "title": info.title,
        "tokens": info.tokens,
        "metadata": info.metadata,
    } | ({"damage": info.damage} if info.damage is not None else {})


def entry_json(entry: Entry) -> dict[str, Any]:
    """An entry as a JSON-ready dict."""
    return {
        "id": entry.id,
        "parent_id": entry.parent_id,
        "seq": entry.seq,
        "timestamp": format_ts(entry.timestamp),
        "type": entry.type.value,
        "data": entry.data,
    }


def checkpoint_json(cp: Checkpoint, branch: str | None = None) -> dict[str, Any]:
    """A checkpoint as a JSON-ready dict; ``branch`` (see :func:`checkpoint_branch`) is added if given."""
    result: dict[str, Any] = {
        "id": cp.id,
        "session_id": cp.session_id,
        "entry_id": cp.entry_id,
        "seq": cp.seq,
        "timestamp": format_ts(cp.timestamp),
        "checksum": cp.checksum,
        "metadata": cp.metadata,
    }
    if branch is not None:
        result["branch"] = branch
    return result


def approval_json(approval: Approval, session_id: str, agent: str) -> dict[str, Any]:
    """A tool call that needs approval, and its decision so far, as a JSON-ready dict."""
    return {
        "object": "approval",
        "call_id": approval.call_id,
        "session_id": session_id,
        "agent": agent,
        "name": approval.name,
        "arguments": approval.arguments,
        "status": approval.status,
        "reason": approval.reason,
        "decided_by": approval.decided_by,
        "decided_at": format_ts(approval.decided_at) if approval.decided_at is not None else None,
        "requested_at": format_ts(approval.requested_at),
    }


__all__ = ["approval_json", "checkpoint_json", "entry_json", "info_json"]
