"""Durable, checkpointable conversation sessions.

>>> from aixgo import session
>>> mgr = session.Manager(session.FileBackend("~/.aixgo/sessions"))
>>> sess = mgr.get_or_create("assistant", "user-123")
>>> sess.append_message("user", "Hello!")

Backends: :class:`FileBackend` (embedded default, one machine) and :class:`RedisBackend`
(multi-node, ``pip install 'aixgo[redis]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aixgo.session.backend import Backend, Lease
from aixgo.session.context import context_with_session, session_from_context, use_session
from aixgo.session.file_backend import FileBackend, FsyncPolicy
from aixgo.session.history import to_chat_messages, trim_messages
from aixgo.session.ids import validate_id
from aixgo.session.manager import Manager, Session
from aixgo.session.types import Checkpoint, Entry, EntryType, SessionInfo

if TYPE_CHECKING:
    from aixgo.session.redis_backend import RedisBackend, RedisOptions


def __getattr__(name: str) -> Any:
    # The Redis backend imports the optional ``redis`` package only when asked for.
    if name in ("RedisBackend", "RedisOptions"):
        from aixgo.session import redis_backend  # noqa: PLC0415 - redis is an optional extra

        return getattr(redis_backend, name)
    raise AttributeError(f"module 'aixgo.session' has no attribute {name!r}")


__all__ = [
    "Backend",
    "Checkpoint",
    "Entry",
    "EntryType",
    "FileBackend",
    "FsyncPolicy",
    "Lease",
    "Manager",
    "RedisBackend",
    "RedisOptions",
    "Session",
    "SessionInfo",
    "context_with_session",
    "session_from_context",
    "to_chat_messages",
    "trim_messages",
    "use_session",
    "validate_id",
]
