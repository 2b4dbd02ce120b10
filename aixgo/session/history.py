"""Turning stored entries into a provider-valid list of OpenAI chat messages.

The OpenAI API rejects a history where an assistant tool call has no result, or a tool result has
no call. A crash mid-turn can leave exactly that on disk, so every conversion repairs it:

* a call whose result is missing gets a synthetic result saying the call was interrupted (or, while
  its step waits for a person's approval, that it waits and has not run);
* a result whose call is unknown (or already answered) is dropped;
* trimming to the last *n* messages never starts with a result cut off from its call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aixgo.session.core.summary import message_text  # the text of a message: its rule lives in the core
from aixgo.session.types import CHAT_ENTRY_TYPES, Entry, EntryType

INTERRUPTED_RESULT = "Error: this tool call was interrupted before it returned a result."
WAITING_RESULT = "Error: this tool call waits for a person's approval; it has not run."


def _tool_call_ids(message: dict[str, Any]) -> list[str]:
    calls = message.get("tool_calls") or []
    return [str(call.get("id")) for call in calls if isinstance(call, dict) and call.get("id")]


def to_chat_messages(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    """Chat-shaped dicts (``role``, ``content``, ``tool_calls``, ``tool_call_id``) for the message-like
    entries, repaired so the list is always valid for the OpenAI chat API."""
    out: list[dict[str, Any]] = []
    pending: list[str] = []  # ids of the tool calls still waiting for their results
    held = _Held()
    for entry in entries:
        if entry.type not in CHAT_ENTRY_TYPES:
            held.note(entry)
            continue
        message = dict(entry.data)
        if message.get("role") == "tool":
            call_id = message.get("tool_call_id")
            if call_id in pending:
                pending.remove(call_id)
                out.append(message)
            continue  # an orphan or duplicate result: the API would reject it
        if pending:
            _close(out, pending, held)
        out.append(message)
        pending.extend(_tool_call_ids(message))
    if pending:
        _close(out, pending, held)
    return out


class _Held:
    """The calls of the latest approval request while some of them still wait for a decision."""

    __slots__ = ("calls", "request", "undecided")

    def __init__(self) -> None:
        self.request = ""
        self.calls: frozenset[str] = frozenset()
        self.undecided: set[str] = set()

    def note(self, entry: Entry) -> None:
        if entry.type is EntryType.APPROVAL_REQUEST:
            calls = entry.data["calls"]
            self.request = entry.id
            self.calls = frozenset(call["id"] for call in calls)
            self.undecided = {call["id"] for call in calls if call["approval"]}
        elif entry.type is EntryType.APPROVAL_DECISION and entry.data["request_id"] == self.request:
            self.undecided.discard(entry.data["call_id"])

    def waits(self, call_id: str) -> bool:
        return bool(self.undecided) and call_id in self.calls


def _close(out: list[dict[str, Any]], pending: list[str], held: _Held) -> None:
    """Answer the calls still pending (their results were never stored): as waiting, while their step
    waits for approval, else as interrupted."""
    for call_id in pending:
        content = WAITING_RESULT if held.waits(call_id) else INTERRUPTED_RESULT
        out.append({"role": "tool", "tool_call_id": call_id, "content": content})
    pending.clear()


def trim_messages(messages: list[dict[str, Any]], max_messages: int | None) -> list[dict[str, Any]]:
    """The last ``max_messages`` messages, moved forward so no tool result is separated from its call."""
    if max_messages is None or len(messages) <= max_messages:
        return list(messages)
    if max_messages <= 0:
        return []
    kept = messages[-max_messages:]
    start = 0
    while start < len(kept) and kept[start].get("role") == "tool":
        start += 1
    return kept[start:]


__all__ = ["INTERRUPTED_RESULT", "WAITING_RESULT", "message_text", "to_chat_messages", "trim_messages"]
