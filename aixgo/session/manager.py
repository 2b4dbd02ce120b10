"""``Manager`` (and, from :mod:`aixgo.session.session`, ``Session``): the public session API over any :class:`~aixgo.session.backend.Backend`.

Every method has an awaitable twin whose name starts with ``a`` (``get_or_create`` /
``aget_or_create``, ``append_message`` / ``aappend_message``, …) for code on an event loop; they
run as :mod:`aixgo.session.io` describes (the manager's own bounded I/O pool, shielded writes, lease
waits on the event loop).
"""

from __future__ import annotations

import asyncio
import builtins
import functools
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar, TypeVarTuple

from aixgo.errors import AixgoError, InvalidEntryError, SessionExistsError, SessionNotFoundError
from aixgo.logs import get_logger
from aixgo.session.backend import (
    AsyncBackend,
    AsyncPagedListing,
    Backend,
    ListCursor,
    PagedListing,
    SearchListing,
)
from aixgo.session.core.codec import utcnow
from aixgo.session.core.records import Header, RecordError, check_json
from aixgo.session.core.slicing import history_range
from aixgo.session.core.summary import matches, searchable_text, summarize
from aixgo.session.core.transfer import ImportPlan, plan_import
from aixgo.session.ids import new_session_id, validate_id
from aixgo.session.io import StoreIO
from aixgo.session.observe import StoreObserver
from aixgo.session.session import DEFAULT_LEASE_TTL, HeldLease, Session
from aixgo.session.types import Checkpoint, Entry, SessionInfo

log = get_logger("aixgo.session")

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

DEFAULT_IO_THREADS = 8


class Manager:
    """Creates, finds, lists and deletes sessions on one store.

    Use it as a context manager (``with`` / ``async with``), or call :meth:`close` when done.
    ``io_threads`` bounds the threads the ``a``-methods use for store I/O (they run there in the
    caller's context: its context variables, a tracer's current span). ``observers``:
    :class:`~aixgo.session.observe.StoreObserver` hooks around the store's operations.
    """

    def __init__(
        self, backend: Backend, *, io_threads: int = DEFAULT_IO_THREADS, observers: Iterable[StoreObserver] = ()
    ) -> None:
        self._io = StoreIO(backend, io_threads, observers)

    @property
    def observers(self) -> tuple[StoreObserver, ...]:
        """The hooks around this store's operations (:mod:`aixgo.session.observe`); assign to change them."""
        return self._io.observers

    @observers.setter
    def observers(self, observers: Iterable[StoreObserver]) -> None:
        self._io.observers = tuple(observers)

    @property
    def backend(self) -> Backend:
        """The store this manager uses."""
        return self._io.backend

    async def run_blocking(self, fn: Callable[[*Ts], T], *args: *Ts, write: bool = False) -> T:
        """Run ``fn(*args)`` (blocking store work, e.g. several session calls in a row) on this manager's
        own I/O pool, in one hop from the event loop; ``write=True`` shields it from cancellation."""
        return await (self._io.write(fn, *args) if write else self._io.read(fn, *args))

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
        info = self._io.backend.create_session(header)
        log.info("session.create", session_id=header.id, agent=agent)
        return Session(self._io, info)

    async def acreate(
        self,
        agent: str,
        session_id: str | None = None,
        *,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Session:
        """Awaitable :meth:`create`."""
        native = self._io.native
        if native is None:
            return await self._io.write(
                functools.partial(self.create, user_id=user_id, metadata=metadata), agent, session_id
            )
        header = self._header(agent, session_id, user_id, metadata)
        info = await self._io.shielded(native.acreate_session(header))
        log.info("session.create", session_id=header.id, agent=agent)
        return Session(self._io, info)

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
        try:
            check_json(metadata or {}, "session metadata")
        except RecordError as exc:
            raise InvalidEntryError(f"cannot create session {sid!r}: {exc}", session_id=sid) from None
        return Header(
            id=sid, agent=agent, user_id=user_id, created_at=utcnow(), metadata=dict(metadata or {})
        )

    def get(self, session_id: str) -> Session:
        """The existing session with this id. Raises ``SessionNotFoundError``."""
        validate_id(session_id)
        return Session(self._io, self._io.backend.get_info(session_id))

    async def aget(self, session_id: str) -> Session:
        """Awaitable :meth:`get`."""
        validate_id(session_id)
        native = self._io.native
        if native is not None:
            return Session(self._io, await native.aget_info(session_id))
        return Session(self._io, await self._io.read(self._io.backend.get_info, session_id))

    def get_or_create(self, agent: str, session_id: str, *, user_id: str | None = None) -> Session:
        """Resume the session with this id, or create it for ``agent``.

        Raises ``SessionExistsError`` if the id belongs to another agent."""
        validate_id(agent, "agent name")
        validate_id(session_id)
        backend = self._io.backend
        for _ in range(3):  # create can race with another creator
            try:
                info = backend.get_info(session_id)
            except SessionNotFoundError:
                try:
                    return self.create(agent, session_id, user_id=user_id)
                except SessionExistsError:
                    continue
            return self._owned(info, agent)
        raise SessionExistsError(
            f"session {session_id!r} could not be created or opened", session_id=session_id
        )

    async def aget_or_create(self, agent: str, session_id: str, *, user_id: str | None = None) -> Session:
        """Awaitable :meth:`get_or_create`."""
        validate_id(agent, "agent name")
        validate_id(session_id)
        native = self._io.native
        if native is None:
            return await self._io.write(functools.partial(self.get_or_create, user_id=user_id), agent, session_id)
        for _ in range(3):  # create can race with another creator
            try:
                info = await native.aget_info(session_id)
            except SessionNotFoundError:
                try:
                    return await self.acreate(agent, session_id, user_id=user_id)
                except SessionExistsError:
                    continue
            return self._owned(info, agent)
        raise SessionExistsError(
            f"session {session_id!r} could not be created or opened", session_id=session_id
        )

    def _owned(self, info: SessionInfo, agent: str) -> Session:
        if info.agent != agent:
            raise SessionExistsError(
                f"session {info.id!r} belongs to agent {info.agent!r}, not {agent!r}", session_id=info.id
            )
        return Session(self._io, info)

    def list(
        self,
        agent: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        *,
        before: ListCursor | None = None,
        search: str | None = None,
    ) -> builtins.list[SessionInfo]:
        """Session summaries, most recently updated first (ties: greater id first), filtered by agent
        and user. ``before`` (the last listed session's ``(updated_at, id)``) starts the page after it:
        a store with :class:`~aixgo.session.backend.PagedListing` (the file store's index, PostgreSQL)
        then reads just that page from an index, however many sessions there are.

        ``search``: only sessions with every word of it (case-insensitive) in their id, agent, user or
        messages (:func:`~aixgo.session.core.summary.matches`); a store with
        :class:`~aixgo.session.backend.SearchListing` answers from its index, others are read whole.

        Each summary carries its ``title`` and ``tokens``
        (:mod:`~aixgo.session.core.summary`): from the store's index, or read from the listed sessions.
        A session that cannot be read is listed too, with :attr:`SessionInfo.damage` set."""
        if agent is not None:
            validate_id(agent, "agent name")
        backend = self._io.backend
        if search is not None and not search.split():
            search = None
        page = None
        if search is not None and isinstance(backend, SearchListing):
            page = backend.search_page(search, agent, user_id, limit, offset, before)
        elif search is None and isinstance(backend, PagedListing):
            page = backend.list_page(agent, user_id, limit, offset, before)
        if page is not None:
            return self._summarized(page)
        infos = [
            info
            for info in backend.list_sessions(agent)
            if (user_id is None or info.user_id == user_id)
            and (before is None or (info.updated_at, info.id) < before)
        ]
        infos.sort(key=lambda i: (i.updated_at, i.id), reverse=True)
        if search is not None:  # no index of words: read the sessions, newest first, until the page is full
            found: builtins.list[SessionInfo] = []
            for info in infos:
                if limit is not None and len(found) >= offset + limit:
                    break
                if self._matches(info, search):
                    found.append(info)
            infos = found
        end = None if limit is None else offset + limit
        return self._summarized(infos[offset:end])

    def _matches(self, info: SessionInfo, search: str) -> bool:
        words = [info.id, info.agent, info.user_id or ""]
        if info.damage is None and not matches(search, words):
            words += [searchable_text(e.type, e.data) for e in self._io.backend.all_entries(info.id)]
        return matches(search, words)

    @staticmethod
    async def _asummary(native: AsyncBackend, info: SessionInfo) -> SessionInfo | None:
        """:meth:`_summarized` of one summary, through the store's native async side."""
        if info.tokens is not None or info.damage is not None:
            return info
        try:
            summary = summarize(await native.ahistory(info.id, history_range(None, None, None)))
        except SessionNotFoundError:
            return None
        except AixgoError as exc:
            return replace(info, damage=str(exc))
        return replace(info, title=summary.title, tokens=summary.tokens)

    def _summarized(self, infos: builtins.list[SessionInfo]) -> builtins.list[SessionInfo]:
        """``infos`` with their title and tokens, read from the sessions whose store did not know them."""
        result = []
        for listed in infos:
            info = listed
            if info.tokens is None and info.damage is None:
                try:
                    summary = summarize(self._io.backend.history(info.id, history_range(None, None, None)))
                except SessionNotFoundError:
                    continue  # deleted since it was listed
                except AixgoError as exc:  # damaged since: listed as such
                    info = replace(info, damage=str(exc))
                else:
                    info = replace(info, title=summary.title, tokens=summary.tokens)
            result.append(info)
        return result

    async def alist(
        self,
        agent: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        *,
        before: ListCursor | None = None,
        search: str | None = None,
    ) -> builtins.list[SessionInfo]:
        """Awaitable :meth:`list`."""
        native = self._io.native
        if isinstance(native, AsyncPagedListing) and not (search and search.split()):
            if agent is not None:
                validate_id(agent, "agent name")
            page = await native.alist_page(agent, user_id, limit, offset, before)
            return [info for info in [await self._asummary(native, info) for info in page] if info is not None]
        return await self._io.read(functools.partial(self.list, before=before, search=search), agent, user_id,
                                   limit, offset)

    def most_recent(
        self, agent: str | None = None, user_id: str | None = None, *, with_messages: bool = False
    ) -> Session | None:
        """The most recently updated readable session (of ``agent`` / ``user_id``), or None.
        ``with_messages``: only a conversation, a session with at least one message (what ``aixgo run -c``
        continues: an empty session is passed over)."""
        before: ListCursor | None = None
        while True:  # a page at a time: a store that pages from an index reads only what it must
            page = self.list(agent=agent, user_id=user_id, limit=20, before=before)
            for info in page:
                if info.damage is None and (info.message_count or not with_messages):
                    return Session(self._io, info)
            if len(page) < 20:
                return None
            before = (page[-1].updated_at, page[-1].id)

    async def amost_recent(
        self, agent: str | None = None, user_id: str | None = None, *, with_messages: bool = False
    ) -> Session | None:
        """Awaitable :meth:`most_recent`."""
        return await self._io.read(functools.partial(self.most_recent, with_messages=with_messages), agent, user_id)

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

    async def aimport_session(
        self,
        info: SessionInfo,
        entries: builtins.list[Entry],
        checkpoints: builtins.list[Checkpoint],
        head: str | None,
    ) -> Session:
        """Awaitable :meth:`import_session`."""
        return await self._io.write(self.import_session, info, entries, checkpoints, head)

    def import_plan(self, plan: ImportPlan, *, replace: bool = False) -> Session:
        """Store a validated import (see :mod:`aixgo.session.transfer`). With ``replace``, in place of the
        same agent's stored session of that id, atomically (see :meth:`Backend.import_session`)."""
        stored = self._io.backend.import_session(plan, replace=replace)
        log.info(
            "session.import",
            session_id=stored.id,
            agent=stored.agent,
            entries=len(plan.state.entries),
            replace=replace,
        )
        return Session(self._io, stored)

    async def aimport_plan(self, plan: ImportPlan, *, replace: bool = False) -> Session:
        """Awaitable :meth:`import_plan`."""
        native = self._io.native
        if native is None:
            return await self._io.write(functools.partial(self.import_plan, replace=replace), plan)
        stored = await self._io.shielded(native.aimport_session(plan, replace=replace))
        log.info("session.import", session_id=stored.id, agent=stored.agent, entries=len(plan.state.entries),
                 replaced=replace)
        return Session(self._io, stored)

    def delete(self, session_id: str) -> bool:
        """Delete a session and its stored data. Returns False if it did not exist."""
        validate_id(session_id)
        deleted = self._io.backend.delete_session(session_id)
        log.info("session.delete", session_id=session_id, deleted=deleted)
        return deleted

    async def adelete(self, session_id: str) -> bool:
        """Awaitable :meth:`delete`."""
        native = self._io.native
        if native is None:
            return await self._io.write(self.delete, session_id)
        validate_id(session_id)
        deleted = await self._io.shielded(native.adelete_session(session_id))
        log.info("session.delete", session_id=session_id, deleted=deleted)
        return deleted

    def prune(self, older_than: timedelta, agent: str | None = None) -> builtins.list[str]:
        """Delete sessions not updated for ``older_than``; returns the deleted ids.

        Each candidate is re-checked atomically as it is deleted: a session written after it was
        listed is kept. Damaged sessions are never pruned (repair or delete them by id)."""
        if older_than <= timedelta(0):
            raise ValueError(f"older_than must be positive, got {older_than!r}")
        cutoff = utcnow() - older_than
        backend = self._io.backend
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
        return await self._io.write(self.prune, older_than, agent)

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the store and the I/O pool. Safe to call twice."""
        self._io.close()

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


__all__ = ["DEFAULT_IO_THREADS", "DEFAULT_LEASE_TTL", "HeldLease", "Manager", "Session"]
