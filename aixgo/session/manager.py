"""``Manager`` and ``Session``: the public session API over any :class:`~aixgo.session.backend.Backend`."""

from __future__ import annotations

import builtins
import threading
from datetime import timedelta
from types import TracebackType
from typing import Any

from aixgo.errors import SessionExistsError, SessionNotFoundError, StoreClosedError
from aixgo.logs import get_logger
from aixgo.session.backend import Backend, Lease
from aixgo.session.codec import utcnow
from aixgo.session.history import to_chat_messages
from aixgo.session.ids import new_checkpoint_id, new_entry_id, new_session_id, validate_id
from aixgo.session.types import Checkpoint, Entry, EntryType, SessionInfo

log = get_logger("aixgo.session")

DEFAULT_LEASE_TTL = 60.0


class Session:
    """One conversation's durable history. Obtain it from a :class:`Manager`; it is cheap to create.

    Every method goes straight to the backend, so two ``Session`` objects (in one process or on two
    nodes) for the same id always see the same history.
    """

    def __init__(self, manager: Manager, info: SessionInfo) -> None:
        self._manager = manager
        self._info = info

    @property
    def id(self) -> str:
        """The session id."""
        return self._info.id

    @property
    def agent_name(self) -> str:
        """The agent this session belongs to."""
        return self._info.agent

    @property
    def user_id(self) -> str | None:
        """The user the session was created for, if any."""
        return self._info.user_id

    @property
    def info(self) -> SessionInfo:
        """A fresh summary (message count, last update) from the backend."""
        self._info = self._backend.get_info(self.id)
        return self._info

    @property
    def _backend(self) -> Backend:
        return self._manager._open_backend()

    def append_entry(
        self, entry_type: EntryType | str, data: dict[str, Any], *, entry_id: str | None = None
    ) -> Entry:
        """Append one entry after the head and return it with its ``seq`` assigned.

        Passing the same ``entry_id`` twice stores the entry once (safe to retry)."""
        kind = EntryType(entry_type)
        if not isinstance(data, dict):
            raise TypeError(f"entry data must be a dict, got {type(data).__name__}")
        entry = self._backend.append(self.id, entry_id or new_entry_id(), kind, data, utcnow())
        log.debug("session.append", session_id=self.id, agent=self.agent_name, seq=entry.seq, type=kind.value)
        return entry

    def append_message(self, role: str, content: str | None, **extra: Any) -> Entry:
        """Append a chat message (``role``, ``content`` and any OpenAI message fields such as ``tool_calls``)."""
        data: dict[str, Any] = {"role": role, "content": content, **extra}
        if role == "tool":
            return self.append_entry(EntryType.TOOL_RESULT, data)
        if role == "assistant" and extra.get("tool_calls"):
            return self.append_entry(EntryType.TOOL_CALL, data)
        return self.append_entry(EntryType.MESSAGE, data)

    def get_entries(
        self, limit: int | None = None, before: int | None = None, after: int | None = None
    ) -> list[Entry]:
        """Entries of the current history in ``seq`` order.

        Without cursors, the last ``limit`` entries (all if None). ``before=seq`` pages backwards
        (the last ``limit`` entries older than ``seq``); ``after=seq`` pages forwards (the first
        ``limit`` entries newer than ``seq``)."""
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        return self._backend.history(self.id, limit=limit, before=before, after=after)

    def get_messages(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The history as OpenAI chat messages, always provider-valid (see :mod:`aixgo.session.history`).

        ``limit`` bounds the number of *entries* read from the end of history."""
        return to_chat_messages(self.get_entries(limit=limit))

    def all_entries(self) -> list[Entry]:
        """Every stored entry, abandoned branches included, in the order written (for audit and export)."""
        return self._backend.all_entries(self.id)

    def checkpoint(self, metadata: dict[str, Any] | None = None) -> Checkpoint:
        """Mark the current head so :meth:`restore` can return to it. O(1) in history length."""
        cp = self._backend.create_checkpoint(self.id, new_checkpoint_id(), dict(metadata or {}))
        log.info(
            "session.checkpoint", session_id=self.id, agent=self.agent_name, checkpoint=cp.id, seq=cp.seq
        )
        return cp

    def checkpoints(self) -> list[Checkpoint]:
        """The session's checkpoints, oldest first."""
        return self._backend.list_checkpoints(self.id)

    def restore(self, checkpoint_id: str) -> Checkpoint:
        """Durably move the history back to a checkpoint (verified against its checksum).

        Entries after the checkpoint leave the history but stay stored (see :meth:`all_entries`)."""
        cp = self._backend.restore(self.id, checkpoint_id)
        log.info("session.restore", session_id=self.id, agent=self.agent_name, checkpoint=cp.id, seq=cp.seq)
        return cp

    def lease(self, ttl: float = DEFAULT_LEASE_TTL, wait: float | None = None) -> Lease:
        """Take the session's turn lease; use as ``with sess.lease(): ...``.

        ``wait`` seconds to wait for a current holder (None waits forever, 0 fails at once with
        :class:`~aixgo.errors.SessionBusyError`). ``ttl`` bounds how long a crashed holder can block
        others on stores that need it (Redis); the file store's lock dies with its process."""
        return self._backend.acquire_lease(self.id, ttl, wait)

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, agent={self.agent_name!r})"


class Manager:
    """Creates, finds, lists and deletes sessions on one backend.

    Use it as a context manager, or call :meth:`close` when done.
    """

    def __init__(self, backend: Backend) -> None:
        self._backend: Backend | None = backend
        self._lock = threading.Lock()

    @property
    def backend(self) -> Backend:
        """The backend this manager uses."""
        return self._open_backend()

    def _open_backend(self) -> Backend:
        backend = self._backend
        if backend is None:
            raise StoreClosedError("the session manager is closed")
        return backend

    def create(
        self,
        agent: str,
        session_id: str | None = None,
        *,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Session:
        """Create a new session (a random id if none is given). Raises ``SessionExistsError``."""
        validate_id(agent, "agent name")
        sid = validate_id(session_id) if session_id is not None else new_session_id()
        if user_id is not None:
            validate_id(user_id, "user id")
        info = self._open_backend().create_session(agent, sid, user_id, dict(metadata or {}))
        log.info("session.create", session_id=sid, agent=agent)
        return Session(self, info)

    def get(self, session_id: str) -> Session:
        """The existing session with this id. Raises ``SessionNotFoundError``."""
        validate_id(session_id)
        return Session(self, self._open_backend().get_info(session_id))

    def get_or_create(self, agent: str, session_id: str, *, user_id: str | None = None) -> Session:
        """Resume the session with this id, or create it for ``agent``.

        Raises ``SessionExistsError`` if the id belongs to another agent."""
        validate_id(agent, "agent name")
        validate_id(session_id)
        backend = self._open_backend()
        for _ in range(3):  # create can race with another creator
            try:
                info = backend.get_info(session_id)
            except SessionNotFoundError:
                try:
                    return self.create(agent, session_id, user_id=user_id)
                except SessionExistsError:
                    continue
            if info.agent != agent:
                raise SessionExistsError(
                    f"session {session_id!r} belongs to agent {info.agent!r}, not {agent!r}", session_id
                )
            return Session(self, info)
        raise SessionExistsError(f"session {session_id!r} could not be created or opened", session_id)

    def list(
        self,
        agent: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[SessionInfo]:
        """Session summaries, most recently updated first, filtered by agent and user."""
        if agent is not None:
            validate_id(agent, "agent name")
        infos = [
            info
            for info in self._open_backend().list_sessions(agent)
            if user_id is None or info.user_id == user_id
        ]
        infos.sort(key=lambda i: (i.updated_at, i.id), reverse=True)
        end = None if limit is None else offset + limit
        return infos[offset:end]

    def most_recent(self, agent: str | None = None, user_id: str | None = None) -> Session | None:
        """The most recently updated session (of ``agent`` / ``user_id``), or None."""
        infos = self.list(agent=agent, user_id=user_id, limit=1)
        return Session(self, infos[0]) if infos else None

    def import_session(
        self, info: SessionInfo, entries: builtins.list[Entry], checkpoints: builtins.list[Checkpoint], head: str | None
    ) -> Session:
        """Recreate an exported session (see :mod:`aixgo.session.transfer`) in this manager's store."""
        validate_id(info.agent, "agent name")
        validate_id(info.id)
        stored = self._open_backend().import_session(info, entries, checkpoints, head)
        log.info("session.import", session_id=info.id, agent=info.agent, entries=len(entries))
        return Session(self, stored)

    def delete(self, session_id: str) -> bool:
        """Delete a session and its stored data. Returns False if it did not exist."""
        validate_id(session_id)
        deleted = self._open_backend().delete_session(session_id)
        log.info("session.delete", session_id=session_id, deleted=deleted)
        return deleted

    def prune(self, older_than: timedelta, agent: str | None = None) -> builtins.list[str]:
        """Delete sessions not updated for ``older_than``; returns the deleted ids."""
        cutoff = utcnow() - older_than
        deleted = [
            info.id
            for info in list(self._open_backend().list_sessions(agent))
            if info.updated_at < cutoff and self._open_backend().delete_session(info.id)
        ]
        log.info("session.prune", deleted=len(deleted), older_than=str(older_than), agent=agent)
        return deleted

    def close(self) -> None:
        """Close the backend. Safe to call twice."""
        with self._lock:
            backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()

    def __enter__(self) -> Manager:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
