"""Where a history's turns begin: a turn is a user message and everything after it, up to the next user
message (the model's answers, tool calls and results, usage, an approval request). What
:meth:`~aixgo.session.Session.undo` leaves out of the history is the last such turn."""

from __future__ import annotations

from collections.abc import Sequence

from aixgo.session.types import Entry, EntryType


def is_user_message(entry: Entry) -> bool:
    """Whether ``entry`` is a message the user said: where a turn begins."""
    return entry.type is EntryType.MESSAGE and entry.data.get("role") == "user"


def last_turn_start(history: Sequence[Entry]) -> int | None:
    """The index in ``history`` (a session's current entries, oldest first) of the user message that begins
    its last turn; None when no user message is in it."""
    for index in range(len(history) - 1, -1, -1):
        if is_user_message(history[index]):
            return index
    return None


__all__ = ["is_user_message", "last_turn_start"]
