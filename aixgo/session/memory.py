"""The in-memory session store: sessions that live as long as the process (``session_mode: lightweight``).

Each session *is* a :class:`~aixgo.session.core.SessionState`; this module only adds a lock, so it
is also the smallest example of a store: everything it decides comes from the core.

:meth:`MemoryBackend.reopen` gives another handle on the same sessions, as a second process opens
the same file store or a second node the same Redis: the contract suite runs on it like on any
store. Closing a handle closes only that handle; the sessions go when the last handle is closed.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from aixgo.errors import (
    SessionExistsError,
    SessionNotFoundError,
    StoreClosedError,
)
from aixgo.session.core.records import Header
from aixgo.session.core.slicing import HistoryRange, apply_range
from aixgo.session.core.state import SessionState, Snapshot, checkpoint_at
from aixgo.session.core.transfer import ImportPlan, verify_read
from aixgo.session.leases import lease_lost
from aixgo.session.types import Checkpoint, Entry, EntryType, SessionInfo, Verification


class MemoryLease:
    """A turn lease held in this process (it needs no expiry: it dies with the process)."""

    def __init__(self, store: MemoryBackend, session_id: str) -> None:
        self.token = secrets.token_hex(16)
        self._store = store
        self._session_id = session_id
        self._held = True

    def extend(self, ttl: float | None = None) -> None:
        """Nothing to extend; raises :class:`~aixgo.errors.LeaseLostError` if the lease was released."""
        if not self._held:
            raise lease_lost(self._session_id)

    def release(self) -> None:
        """Give the lease up (twice is harmless)."""
        if self._held:
            self._held = False
            self._store._release(self._session_id, self.token)

    def __enter__(self) -> MemoryLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _Shared:
    """The sessions and leases every handle of one in-memory store sees, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: dict[str, SessionState] = {}
        self.leases: dict[str, str] = {}  # session id -> the holder's token
        self.handles = 0


class MemoryBackend:
    """Sessions in this process's memory; gone when it exits (or its last handle is closed). Thread-safe."""

    def __init__(self, *, _shared: _Shared | None = None) -> None:
        self._shared = _shared if _shared is not None else _Shared()
        self._lock = self._shared.lock
        self._sessions = self._shared.sessions
        self._leases = self._shared.leases
        with self._lock:
            self._shared.handles += 1
        self._closed = False

    def __repr__(self) -> str:
        return "MemoryBackend()"

    def reopen(self) -> MemoryBackend:
        """Another handle on the same sessions (what a second process or node would see)."""
        return MemoryBackend(_shared=self._shared)

    def _state(self, session_id: str, fence: str | None = None) -> SessionState:
        """The session's state (the caller holds the lock); with ``fence``, only while that lease is held."""
        if self._closed:
            raise StoreClosedError("the in-memory store is closed")
        state = self._sessions.get(session_id)
        if state is None:
            raise SessionNotFoundError(f"session {session_id!r} not found", session_id=session_id)
        if fence is not None and self._leases.get(session_id) != fence:
            raise lease_lost(session_id)
        return state

    def create_session(self, header: Header) -> SessionInfo:
        """Create an empty session."""
        with self._lock:
            if self._closed:
                raise StoreClosedError("the in-memory store is closed")
            if header.id in self._sessions:
                raise SessionExistsError(f"session {header.id!r} already exists", session_id=header.id)
            state = SessionState()
            state.header = header
            self._sessions[header.id] = state
            return state.info()

    def get_info(self, session_id: str) -> SessionInfo:
        """The session's summary."""
        with self._lock:
            return self._state(session_id).info()

    def list_sessions(self, agent: str | None = None) -> Iterator[SessionInfo]:
        """Every session (of ``agent``)."""
        with self._lock:
            infos = [state.info() for state in self._state_values()]
        yield from (info for info in infos if agent is None or info.agent == agent)

    def _state_values(self) -> list[SessionState]:
        if self._closed:
            raise StoreClosedError("the in-memory store is closed")
        return list(self._sessions.values())

    def delete_session(self, session_id: str, *, unchanged_since: datetime | None = None) -> bool:
        """Delete the session (only if not updated after ``unchanged_since``, when given)."""
        with self._lock:
            if self._closed:
                raise StoreClosedError("the in-memory store is closed")
            state = self._sessions.get(session_id)
            if state is None or (unchanged_since is not None and state.info().updated_at > unchanged_since):
                return False
            del self._sessions[session_id]
            self._leases.pop(session_id, None)
            return True

    def append(
        self,
        session_id: str,
        entry_id: str,
        entry_type: EntryType,
        data: dict[str, Any],
        timestamp: datetime,
        *,
        fence: str | None = None,
    ) -> Entry:
        """Append after the head (idempotent on ``entry_id``; fenced by ``fence``)."""
        with self._lock:
            state = self._state(session_id, fence)
            existing = state.entries.get(entry_id)
            if existing is not None:
                return existing
            pending = state.next_entry(entry_id, entry_type, data, timestamp)
            state.add_entry(pending.entry, pending.encoded, pending.head)
            return pending.entry

    def history(self, session_id: str, rng: HistoryRange) -> list[Entry]:
        """The entries ``rng`` selects."""
        with self._lock:
            return apply_range(self._state(session_id).history, rng)

    def all_entries(self, session_id: str) -> list[Entry]:
        """Every entry in write order."""
        with self._lock:
            return list(self._state(session_id).entries.values())

    def snapshot(self, session_id: str) -> Snapshot:
        """A consistent copy of the session."""
        with self._lock:
            return self._state(session_id).snapshot()

    def create_checkpoint(
        self,
        session_id: str,
        checkpoint_id: str,
        metadata: dict[str, Any],
        timestamp: datetime,
        *,
        fence: str | None = None,
    ) -> Checkpoint:
        """A checkpoint of the head (fenced by ``fence``)."""
        with self._lock:
            state = self._state(session_id, fence)
            cp = checkpoint_at(state.head, session_id, checkpoint_id, metadata, timestamp)
            state.add_checkpoint(cp)
            return cp

    def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """Checkpoints, oldest first."""
        with self._lock:
            return list(self._state(session_id).checkpoints.values())

    def restore(
        self, session_id: str, checkpoint_id: str, timestamp: datetime, *, fence: str | None = None
    ) -> Checkpoint:
        """Move the head back to a checkpoint (fenced by ``fence``)."""
        with self._lock:
            state = self._state(session_id, fence)
            cp, _, move = state.restore(checkpoint_id, timestamp)
            state.apply_head_move(move)
            return cp

    def import_session(self, plan: ImportPlan, *, replace: bool = False) -> SessionInfo:
        """Store a validated import (with ``replace``, in place of the same agent's session of that id)."""
        session_id = plan.header.id
        with self._lock:
            if self._closed:
                raise StoreClosedError("the in-memory store is closed")
            stored = self._sessions.get(session_id)
            if stored is not None:
                owner = stored.info().agent
                if not replace or owner != plan.header.agent:
                    whose = f" (agent {owner!r})" if replace else ""
                    raise SessionExistsError(f"session {session_id!r} already exists{whose}", session_id=session_id)
            self._sessions[session_id] = plan.state
            return plan.state.info()

    def verify(self, session_id: str) -> Verification:
        """Check the session against the core's rules (see :meth:`Backend.verify`)."""
        return verify_read(session_id, lambda: self.snapshot(session_id))

    def try_lease(self, session_id: str, ttl: float) -> MemoryLease | None:
        """The lease if free, else None."""
        with self._lock:
            self._state(session_id)
            if session_id in self._leases:
                return None
            lease = MemoryLease(self, session_id)
            self._leases[session_id] = lease.token
            return lease

    def _release(self, session_id: str, token: str) -> None:
        with self._lock:
            if self._leases.get(session_id) == token:
                del self._leases[session_id]

    def close(self) -> None:
        """Close this handle (twice is harmless); the last handle closed forgets every session."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._shared.handles -= 1
            if self._shared.handles == 0:
                self._sessions.clear()
                self._leases.clear()
