"""``Manager`` and ``Session``: the public session API over any :class:`~aixgo.session.backend.Backend`.

Every method has an awaitable twin whose name starts with ``a`` (``get_or_create`` /
``aget_or_create``, ``append_message`` / ``aappend_message``, …) for code on an event loop. The
twins run the store's I/O on the manager's own bounded thread pool (``io_threads``, never the
loop's default executor), shield writes from cancellation (a cancelled turn never leaves a write
half done: it completes, then the cancellation is delivered), and wait for leases on the event loop
itself, so no thread is ever parked on a lock or a lease while other work needs one.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

from aixgo.errors import InvalidEntryError, SessionExistsError, SessionNotFoundError, StoreClosedError
from aixgo.logs import get_logger
from aixgo.session.backend import Backend, Lease
from aixgo.session.core.codec import utcnow
from aixgo.session.core.records import Header, RecordError, check_entry_data
from aixgo.session.core.slicing import history_range
from aixgo.session.core.transfer import ImportPlan, plan_import
from aixgo.session.history import to_chat_messages
from aixgo.session.ids import new_checkpoint_id, new_entry_id, new_session_id, validate_id
from aixgo.session.leases import await_lease, wait_for_lease
from aixgo.session.types import Checkpoint, Entry, EntryType, SessionInfo

log = get_logger("aixgo.session")

T = TypeVar("T")

DEFAULT_LEASE_TTL = 60.0
DEFAULT_IO_THREADS = 8


def _entry_type(entry_type: EntryType | str) -> EntryType:
    try:
        return EntryType(entry_type)
    except ValueError:
        known = ", ".join(t.value for t in EntryType)
        raise InvalidEntryError(f"unknown entry type {entry_type!r} (known: {known})") from None


class HeldLease:
    """A session's turn lease as :meth:`Session.lease` / :meth:`Session.alease` return it: the store's
    lease, with awaitable twins (``aextend``, ``arelease``, ``async with``) run on the manager's pool."""

    def __init__(self, lease: Lease, manager: Manager) -> None:
        self._lease = lease
        self._manager = manager
        self.token = lease.token

    def extend(self, ttl: float | None = None) -> None:
        """Push the expiry out (see :meth:`Lease.extend`)."""
        self._lease.extend(ttl)

    async def aextend(self, ttl: float | None = None) -> None:
        """Awaitable :meth:`extend`."""
        await self._manager._io(self._lease.extend, ttl)

    def release(self) -> None:
        """Give the lease up; twice is harmless."""
        self._lease.release()

    async def arelease(self) -> None:
        """Awaitable :meth:`release` (shielded: a cancelled caller still frees the lease)."""
        await self._manager._write(self._lease.release)

    def __enter__(self) -> HeldLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    async def __aenter__(self) -> HeldLease:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.arelease()


class Session:
    """One conversation's durable history. Obtain it from a :class:`Manager`; it is cheap to create.

    Every method goes straight to the store, so two ``Session`` objects (in one process or on two
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
    def agent(self) -> str:
        """The agent this session belongs to (as in :attr:`SessionInfo.agent`)."""
        return self._info.agent

    @property
    def agent_name(self) -> str:
        """The agent this session belongs to (same as :attr:`agent`)."""
        return self._info.agent

    @property
    def user_id(self) -> str | None:
        """The user the session was created for, if any."""
        return self._info.user_id

    @property
    def info(self) -> SessionInfo:
        """A fresh summary (message count, last update) from the store."""
        self._info = self._backend.get_info(self.id)
        return self._info

    async def ainfo(self) -> SessionInfo:
        """Awaitable :attr:`info`."""
        self._info = await self._manager._io(self._backend.get_info, self.id)
        return self._info

    @property
    def _backend(self) -> Backend:
        return self._manager._open_backend()

    # -- writing -------------------------------------------------------------------------------

    def _prepare(self, entry_type: EntryType | str, data: dict[str, Any]) -> EntryType:
        kind = _entry_type(entry_type)
        try:
            check_entry_data(kind, data)
        except RecordError as exc:
            raise InvalidEntryError(f"cannot append to session {self.id!r}: {exc}", session_id=self.id) from None
        return kind

    def append_entry(
        self, entry_type: EntryType | str, data: dict[str, Any], *, entry_id: str | None = None
    ) -> Entry:
        """Append one entry after the head and return it with its ``seq`` assigned.

        Passing the same ``entry_id`` twice stores the entry once (safe to retry). Data that is not
        a valid record raises :class:`~aixgo.errors.InvalidEntryError` and stores nothing."""
        kind = self._prepare(entry_type, data)
        try:
            entry = self._backend.append(self.id, entry_id or new_entry_id(), kind, data, utcnow())
        except RecordError as exc:
            raise InvalidEntryError(f"cannot append to session {self.id!r}: {exc}", session_id=self.id) from None
        log.debug("session.append", session_id=self.id, agent=self.agent, seq=entry.seq, type=kind.value)
        return entry

    async def aappend_entry(
        self, entry_type: EntryType | str, data: dict[str, Any], *, entry_id: str | None = None
    ) -> Entry:
        """Awaitable :meth:`append_entry` (shielded: a cancelled caller never leaves it half done)."""
        self._prepare(entry_type, data)
        return await self._manager._write(functools.partial(self.append_entry, entry_id=entry_id), entry_type, data)

    @staticmethod
    def _message(role: str, content: str | None, extra: dict[str, Any]) -> tuple[EntryType, dict[str, Any]]:
        data: dict[str, Any] = {"role": role, "content": content, **extra}
        if role == "tool":
            return EntryType.TOOL_RESULT, data
        if role == "assistant" and extra.get("tool_calls"):
            return EntryType.TOOL_CALL, data
        return EntryType.MESSAGE, data

    def append_message(self, role: str, content: str | None, **extra: Any) -> Entry:
        """Append a chat message (``role``, ``content`` and any OpenAI message fields such as ``tool_calls``)."""
        return self.append_entry(*self._message(role, content, extra))

    async def aappend_message(self, role: str, content: str | None, **extra: Any) -> Entry:
        """Awaitable :meth:`append_message`."""
        return await self.aappend_entry(*self._message(role, content, extra))

    def checkpoint(self, metadata: dict[str, Any] | None = None) -> Checkpoint:
        """Mark the current head so :meth:`restore` can return to it. O(1) in history length."""
        cp = self._backend.create_checkpoint(self.id, new_checkpoint_id(), dict(metadata or {}), utcnow())
        log.info("session.checkpoint", session_id=self.id, agent=self.agent, checkpoint=cp.id, seq=cp.seq)
        return cp

    async def acheckpoint(self, metadata: dict[str, Any] | None = None) -> Checkpoint:
        """Awaitable :meth:`checkpoint`."""
        return await self._manager._write(self.checkpoint, metadata)

    def restore(self, checkpoint_id: str) -> Checkpoint:
        """Durably move the history back to a checkpoint (verified against its checksum).

        Entries after the checkpoint leave the history but stay stored (see :meth:`all_entries`)."""
        cp = self._backend.restore(self.id, checkpoint_id, utcnow())
        log.info("session.restore", session_id=self.id, agent=self.agent, checkpoint=cp.id, seq=cp.seq)
        return cp

    async def arestore(self, checkpoint_id: str) -> Checkpoint:
        """Awaitable :meth:`restore`."""
        return await self._manager._write(self.restore, checkpoint_id)

    # -- reading -------------------------------------------------------------------------------

    def get_entries(
        self, limit: int | None = None, before: int | None = None, after: int | None = None
    ) -> list[Entry]:
        """Entries of the current history in ``seq`` order.

        Without cursors, the last ``limit`` entries (all if None). ``before=seq`` pages backwards
        (the last ``limit`` entries older than ``seq``); ``after=seq`` pages forwards (the first
        ``limit`` entries newer than ``seq``)."""
        return self._backend.history(self.id, history_range(limit, before, after))

    async def aget_entries(
        self, limit: int | None = None, before: int | None = None, after: int | None = None
    ) -> list[Entry]:
        """Awaitable :meth:`get_entries`."""
        return await self._manager._io(self._backend.history, self.id, history_range(limit, before, after))

    def get_messages(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The history as OpenAI chat messages, always provider-valid (see :mod:`aixgo.session.history`).

        ``limit`` bounds the number of *entries* read from the end of history."""
        return to_chat_messages(self.get_entries(limit=limit))

    async def aget_messages(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Awaitable :meth:`get_messages`."""
        return to_chat_messages(await self.aget_entries(limit=limit))

    def all_entries(self) -> list[Entry]:
        """Every stored entry, abandoned branches included, in the order written (for audit and export)."""
        return self._backend.all_entries(self.id)

    async def aall_entries(self) -> list[Entry]:
        """Awaitable :meth:`all_entries`."""
        return await self._manager._io(self._backend.all_entries, self.id)

    def checkpoints(self) -> list[Checkpoint]:
        """The session's checkpoints, oldest first."""
        return self._backend.list_checkpoints(self.id)

    async def acheckpoints(self) -> list[Checkpoint]:
        """Awaitable :meth:`checkpoints`."""
        return await self._manager._io(self._backend.list_checkpoints, self.id)

    # -- leases --------------------------------------------------------------------------------

    def lease(self, ttl: float = DEFAULT_LEASE_TTL, wait: float | None = None) -> HeldLease:
        """Take the session's turn lease; use as ``with sess.lease(): ...``.

        ``wait`` seconds to wait for a current holder (None waits forever, 0 fails at once with
        :class:`~aixgo.errors.SessionBusyError`). ``ttl`` bounds how long a crashed holder can block
        others on stores that need it (Redis); the file store's lock dies with its process. The
        wait happens on the calling thread."""
        backend = self._backend
        lease = wait_for_lease(functools.partial(backend.try_lease, self.id, ttl), self.id, wait)
        return HeldLease(lease, self._manager)

    async def alease(self, ttl: float = DEFAULT_LEASE_TTL, wait: float | None = None) -> HeldLease:
        """Awaitable :meth:`lease`: waits on the event loop, holding no thread while the lease is busy.

        Use as ``async with await sess.alease(): ...``."""
        backend = self._backend
        lease = await await_lease(lambda: self._manager._io(backend.try_lease, self.id, ttl), self.id, wait)
        return HeldLease(lease, self._manager)

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, agent={self.agent!r})"


class Manager:
    """Creates, finds, lists and deletes sessions on one store.

    Use it as a context manager (``with`` / ``async with``), or call :meth:`close` when done.
    ``io_threads`` bounds the threads the ``a``-methods use for store I/O.
    """

    def __init__(self, backend: Backend, *, io_threads: int = DEFAULT_IO_THREADS) -> None:
        if io_threads < 1:
            raise ValueError(f"io_threads must be >= 1, got {io_threads!r}")
        self._backend: Backend | None = backend
        self._lock = threading.Lock()
        self._io_threads = io_threads
        self._executor: ThreadPoolExecutor | None = None

    @property
    def backend(self) -> Backend:
        """The store this manager uses."""
        return self._open_backend()

    def _open_backend(self) -> Backend:
        backend = self._backend
        if backend is None:
            raise StoreClosedError("the session manager is closed")
        return backend

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._backend is None:
                raise StoreClosedError("the session manager is closed")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._io_threads, thread_name_prefix="aixgo-store")
            return self._executor

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking store I/O on this manager's own pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), functools.partial(fn, *args))

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """:meth:`_io` for a write: shielded, so cancelling the caller lets the write finish."""
        return await asyncio.shield(self._io(fn, *args))

    # -- sessions ------------------------------------------------------------------------------

    def create(
        self,
        agent: str,
        session_id: str | None = None,
        *,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Session:
        """Create a new session (a random id if none is given). Raises ``SessionExistsError``."""
        header = self._header(agent, session_id, user_id, metadata)
        info = self._open_backend().create_session(header)
        log.info("session.create", session_id=header.id, agent=agent)
        return Session(self, info)

    async def acreate(
        self,
        agent: str,
        session_id: str | None = None,
        *,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Session:
        """Awaitable :meth:`create`."""
        header = self._header(agent, session_id, user_id, metadata)
        info = await self._write(self._open_backend().create_session, header)
        return Session(self, info)

    @staticmethod
    def _header(
        agent: str, session_id: str | None, user_id: str | None, metadata: dict[str, Any] | None
    ) -> Header:
        validate_id(agent, "agent name")
        sid = validate_id(session_id) if session_id is not None else new_session_id()
        if user_id is not None:
            validate_id(user_id, "user id")
        if metadata is not None and not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
        return Header(id=sid, agent=agent, user_id=user_id, created_at=utcnow(), metadata=dict(metadata or {}))

    def get(self, session_id: str) -> Session:
        """The existing session with this id. Raises ``SessionNotFoundError``."""
        validate_id(session_id)
        return Session(self, self._open_backend().get_info(session_id))

    async def aget(self, session_id: str) -> Session:
        """Awaitable :meth:`get`."""
        validate_id(session_id)
        return Session(self, await self._io(self._open_backend().get_info, session_id))

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
            return self._owned(info, agent)
        raise SessionExistsError(f"session {session_id!r} could not be created or opened", session_id=session_id)

    async def aget_or_create(self, agent: str, session_id: str, *, user_id: str | None = None) -> Session:
        """Awaitable :meth:`get_or_create`."""
        validate_id(agent, "agent name")
        validate_id(session_id)
        return await self._write(functools.partial(self.get_or_create, user_id=user_id), agent, session_id)

    def _owned(self, info: SessionInfo, agent: str) -> Session:
        if info.agent != agent:
            raise SessionExistsError(
                f"session {info.id!r} belongs to agent {info.agent!r}, not {agent!r}", session_id=info.id
            )
        return Session(self, info)

    def list(
        self,
        agent: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[SessionInfo]:
        """Session summaries, most recently updated first, filtered by agent and user.

        A session that cannot be read is listed too, with :attr:`SessionInfo.damage` set."""
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

    async def alist(
        self,
        agent: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> builtins.list[SessionInfo]:
        """Awaitable :meth:`list`."""
        return await self._io(self.list, agent, user_id, limit, offset)

    def most_recent(self, agent: str | None = None, user_id: str | None = None) -> Session | None:
        """The most recently updated readable session (of ``agent`` / ``user_id``), or None."""
        infos = [info for info in self.list(agent=agent, user_id=user_id) if info.damage is None]
        return Session(self, infos[0]) if infos else None

    async def amost_recent(self, agent: str | None = None, user_id: str | None = None) -> Session | None:
        """Awaitable :meth:`most_recent`."""
        return await self._io(self.most_recent, agent, user_id)

    def import_session(
        self,
        info: SessionInfo,
        entries: builtins.list[Entry],
        checkpoints: builtins.list[Checkpoint],
        head: str | None,
    ) -> Session:
        """Recreate a session from its parts (entries in write order, parents first), validated by the
        same rules as every store; nothing is stored if anything is invalid."""
        validate_id(info.agent, "agent name")
        validate_id(info.id)
        if info.user_id is not None:
            validate_id(info.user_id, "user id")
        header = Header(info.id, info.agent, info.user_id, info.created_at, dict(info.metadata))
        return self.import_plan(plan_import(header, entries, checkpoints, head))

    def import_plan(self, plan: ImportPlan) -> Session:
        """Store a validated import (see :mod:`aixgo.session.transfer`)."""
        stored = self._open_backend().import_session(plan)
        log.info("session.import", session_id=stored.id, agent=stored.agent, entries=len(plan.state.entries))
        return Session(self, stored)

    async def aimport_plan(self, plan: ImportPlan) -> Session:
        """Awaitable :meth:`import_plan`."""
        return await self._write(self.import_plan, plan)

    def delete(self, session_id: str) -> bool:
        """Delete a session and its stored data. Returns False if it did not exist."""
        validate_id(session_id)
        deleted = self._open_backend().delete_session(session_id)
        log.info("session.delete", session_id=session_id, deleted=deleted)
        return deleted

    async def adelete(self, session_id: str) -> bool:
        """Awaitable :meth:`delete`."""
        return await self._write(self.delete, session_id)

    def prune(self, older_than: timedelta, agent: str | None = None) -> builtins.list[str]:
        """Delete sessions not updated for ``older_than``; returns the deleted ids.

        Each candidate is re-checked atomically as it is deleted: a session written after it was
        listed is kept. Damaged sessions are never pruned (repair or delete them by id)."""
        if older_than <= timedelta(0):
            raise ValueError(f"older_than must be positive, got {older_than!r}")
        cutoff = utcnow() - older_than
        backend = self._open_backend()
        deleted = [
            info.id
            for info in builtins.list(backend.list_sessions(agent))
            if info.damage is None
            and info.updated_at < cutoff
            and backend.delete_session(info.id, unchanged_since=info.updated_at)
        ]
        log.info("session.prune", deleted=len(deleted), older_than=str(older_than), agent=agent)
        return deleted

    async def aprune(self, older_than: timedelta, agent: str | None = None) -> builtins.list[str]:
        """Awaitable :meth:`prune`."""
        return await self._write(self.prune, older_than, agent)

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the store and the I/O pool. Safe to call twice."""
        with self._lock:
            backend, self._backend = self._backend, None
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        if backend is not None:
            backend.close()

    async def aclose(self) -> None:
        """Awaitable :meth:`close` (the pool is drained off the event loop)."""
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def __enter__(self) -> Manager:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Manager:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
