"""A standard client's conversation as a session: the messages it sent before its new one, stored in one
atomic import (all of them or none), so the turn that follows reads them as the session's history."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from aixgo.errors import InvalidEntryError
from aixgo.session import EntryType, Manager, Session
from aixgo.session.core.codec import utcnow
from aixgo.session.core.records import Header, RecordError
from aixgo.session.core.state import EMPTY_HEAD, next_entry
from aixgo.session.core.transfer import plan_import


def entry_type(message: Mapping[str, Any]) -> EntryType:
    """How a chat message is stored: a tool result, an assistant message that calls tools, or a message."""
    if message.get("role") == "tool":
        return EntryType.TOOL_RESULT
    return EntryType.TOOL_CALL if message.get("tool_calls") else EntryType.MESSAGE


async def aseed_session(
    manager: Manager, agent: str, session_id: str, user_id: str | None, messages: Iterable[Mapping[str, Any]]
) -> Session:
    """Create session ``session_id`` of ``agent`` holding ``messages`` (chat-shaped, oldest first), atomically.
    Raises ``SessionExistsError`` if the id is taken, ``InvalidEntryError`` for a message that may not be
    stored; nothing is stored then."""
    now = utcnow()
    header = Header(id=session_id, agent=agent, user_id=user_id, created_at=now, metadata={})
    head, entries = EMPTY_HEAD, []
    for number, message in enumerate(messages):
        try:
            pending = next_entry(head, f"e_{secrets.token_hex(8)}", entry_type(message), dict(message), now)
        except RecordError as exc:
            raise InvalidEntryError(f"messages[{number}] cannot be stored: {exc}", session_id=session_id) from None
        head = pending.head
        entries.append(pending.entry)
    return await manager.aimport_plan(plan_import(header, entries, [], head.entry_id))


__all__ = ["aseed_session", "entry_type"]
