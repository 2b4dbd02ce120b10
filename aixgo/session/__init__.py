"""Durable, checkpointable conversation sessions.

>>> from aixgo import session
>>> mgr = session.Manager(session.FileBackend("~/.aixgo/sessions"))
>>> sess = mgr.get_or_create("assistant", "chat-1", user_id="user-123")
>>> sess.append_message("user", "Hello!")

Every method has an awaitable twin (``await mgr.aget_or_create(...)``,
``await sess.aappend_message(...)``, …) for code on an event loop.

Stores: :class:`FileBackend` (embedded default, one machine), :class:`RedisBackend` (multi-node,
``pip install -e '.[redis]'``), :class:`PostgresBackend` (multi-node, durable, ``pip install -e
'.[postgres]'``) and :class:`MemoryBackend` (this process only). The rules they all
follow live in :mod:`aixgo.session.core`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aixgo.session.backend import Backend, Lease
from aixgo.session.context import context_with_session, session_from_context, use_session
from aixgo.session.file import FileBackend, FsyncPolicy
from aixgo.session.history import message_text, to_chat_messages, trim_messages
from aixgo.session.ids import validate_id
from aixgo.session.manager import Manager, Session
from aixgo.session.memory import MemoryBackend
from aixgo.session.stores import StoreOptions, open_backend, open_manager
from aixgo.session.transfer import aexport_lines, aimport_lines, export_lines, import_lines
from aixgo.session.types import Checkpoint, Entry, EntryType, SessionInfo

if TYPE_CHECKING:
    from aixgo.session.postgres import PostgresBackend, PostgresOptions
    from aixgo.session.redis import RedisBackend, RedisOptions

_OPTIONAL_STORES = {
    "RedisBackend": "aixgo.session.redis",
    "RedisOptions": "aixgo.session.redis",
    "PostgresBackend": "aixgo.session.postgres",
    "PostgresOptions": "aixgo.session.postgres",
}


def __getattr__(name: str) -> Any:
    # The Redis and PostgreSQL stores import their optional client packages only when asked for.
    module = _OPTIONAL_STORES.get(name)
    if module is not None:
        import importlib  # noqa: PLC0415

        return getattr(importlib.import_module(module), name)
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
    "MemoryBackend",
    "PostgresBackend",
    "PostgresOptions",
    "RedisBackend",
    "RedisOptions",
    "Session",
    "SessionInfo",
    "StoreOptions",
    "aexport_lines",
    "aimport_lines",
    "context_with_session",
    "export_lines",
    "import_lines",
    "message_text",
    "open_backend",
    "open_manager",
    "session_from_context",
    "to_chat_messages",
    "trim_messages",
    "use_session",
    "validate_id",
]
