"""``Session``: one conversation's durable history, and ``HeldLease``, its turn lease.

Every method has an awaitable twin whose name starts with ``a``; see :mod:`aixgo.session.io` for
how they run (the manager's own I/O pool, shielded writes, lease waits on the event loop).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, TypeVarTuple

from aixgo.errors import AixgoError, InvalidEntryError, SessionError
from aixgo.logs import get_logger
from aixgo.session.backend import Backend, Lease, is_async_lease
from aixgo.session.core.approvals import ApprovalRequest, ends_search, open_request
from aixgo.session.core.codec import utcnow
from aixgo.session.core.records import RecordError, check_entry_data
from aixgo.session.core.slicing import HistoryRange, history_range
from aixgo.session.core.state import Snapshot
from aixgo.session.core.transfer import plan_import
from aixgo.session.core.turns import last_turn_start
from aixgo.session.history import to_chat_messages
from aixgo.session.ids import new_checkpoint_id, new_entry_id
from aixgo.session.io import StoreIO
from aixgo.session.leases import await_lease, wait_for_lease
from aixgo.session.observe import StoreStep, observed
from aixgo.session.types import Checkpoint, Entry, EntryType, SessionInfo

log = get_logger("aixgo.session")

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

DEFAULT_LEASE_TTL = 60.0
"""Seconds a lease lasts unless extended: the default of :meth:`Session.lease` and of the runtime's turns
(which extend it every third of it while the turn runs), so it bounds how long a crashed holder keeps
others waiting."""


UNDO_WAIT = 30.0
"""Seconds :meth:`Session.undo` waits for a turn that holds the session's lease to end."""

_TAIL_PAGE = 8
"""Entries read by :meth:`Session.pending_approval`'s first page (a turn ends with its answer and usage)."""


def _entry_type(entry_type: EntryType | str) -> EntryType:
    try:
        return EntryType(entry_type)
    except ValueError:
        known = ", ".join(t.value for t in EntryType)
        raise InvalidEntryError(f"unknown entry type {entry_type!r} (known: {known})") from None


class HeldLease:
    """A session's turn lease as :meth:`Session.lease` / :meth:`Session.alease` return it: the store's
    lease, with awaitable twins (``aextend``, ``arelease``, ``async with``) run on the manager's pool.

    Write the turn through :attr:`session`: its writes are *fenced* by this lease, so a turn that
    lost its lease (it expired while the process stalled, or was released) cannot write over the
    next holder's turn::

        with sess.lease(ttl=60) as lease:
            lease.session.append_message("assistant", answer)   # LeaseLostError once the lease is gone
    """

    def __init__(self, lease: Lease, io: StoreIO, session: Session) -> None:
        self._lease = lease
        self._io = io
        self.token = lease.token
        self.session = session._fenced_by(lease.token)
        """The session, seen through this lease: its appends, checkpoints and restores carry the lease's
        token, and the store refuses each one with :class:`~aixgo.errors.LeaseLostError` (writing
        nothing) once the lease is no longer held. Reads are unchanged."""
        self.released = False
        """Whether this holder gave the lease up (:meth:`release`, or at the end of its turn)."""
        self._free_at_turn_end = False

    def release_at_turn_end(self) -> None:
        """Ask for the lease to be given up by the turn's last write (``run_blocking(..., ends_turn=True)`` on
        :attr:`session`), in the same trip to the store, once that write succeeded: the end of a turn then
        costs one trip instead of two. Only for a lease released on the pool (not a native async one); if the
        release fails there, the lease stays held and :meth:`arelease` tries again."""
        if not is_async_lease(self._lease):
            self._free_at_turn_end = True
            self.session._turn_end = self._release_at_turn_end

    def _release_at_turn_end(self) -> None:
        if not self._free_at_turn_end:
            return
        self._free_at_turn_end = False
        try:
            self.release()
        except AixgoError:  # left to arelease(), which tries again and says why it failed
            return

    def extend(self, ttl: float | None = None) -> None:
        """Push the expiry out (see :meth:`Lease.extend`)."""
        self._lease.extend(ttl)

    async def aextend(self, ttl: float | None = None) -> None:
        """Awaitable :meth:`extend`."""
        if is_async_lease(self._lease):
            await self._lease.aextend(ttl)
            return
        await self._io.read(self._lease.extend, ttl)

    def release(self) -> None:
        """Give the lease up; twice is harmless."""
        self._lease.release()
        self.released = True

    async def arelease(self) -> None:
        """Awaitable :meth:`release` (shielded: a cancelled caller still frees the lease)."""
        if self.released:
            return
        if is_async_lease(self._lease):
            await self._io.shielded(self._lease.arelease())
            return
        await self._io.write(self._lease.release)

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

    def __init__(self, io: StoreIO, info: SessionInfo, *, _fence: str | None = None) -> None:
        self._io = io
        self._info = info
        self._fence = _fence

    def _fenced_by(self, token: str) -> Session:
        return Session(self._io, self._info, _fence=token)

    _turn_end: Callable[[], None] | None = None
    """Set by :meth:`HeldLease.release_at_turn_end` on the session seen through that lease."""

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

    def get_info(self) -> SessionInfo:
        """A fresh summary of the session (message count, last update, metadata): reads the store."""
        self._info = self._backend.get_info(self.id)
        return self._info

    async def aget_info(self) -> SessionInfo:
        """Awaitable :meth:`get_info` (the store's own async side, or the manager's I/O pool: never on the
        event loop)."""
        native = self._io.native
        if native is not None:
            self._info = await native.aget_info(self.id)
        else:
            self._info = await self._io.read(self._backend.get_info, self.id)
        return self._info

    @property
    def info(self) -> SessionInfo:
        """The same as :meth:`get_info`, kept for code written before it. It reads the store, so async code
        must not use it: ``await sess.aget_info()``."""
        return self.get_info()

    async def ainfo(self) -> SessionInfo:
        """The same as :meth:`aget_info` (its first name)."""
        return await self.aget_info()

    async def run_blocking(
        self, fn: Callable[[*Ts], T], *args: *Ts, write: bool = False, ends_turn: bool = False
    ) -> T:
        """Run ``fn(*args)`` (several sync calls on this session in a row) on the manager's own I/O pool,
        in one hop from the event loop; ``write=True`` shields it from cancellation. ``ends_turn``: this is
        the turn's last write; if the turn's lease was asked to go then (:meth:`HeldLease.release_at_turn_end`),
        it is released in the same hop once ``fn`` returned."""
        turn_end = self._turn_end if ends_turn else None
        if turn_end is None:
            return await (self._io.write(fn, *args) if write else self._io.read(fn, *args))

        def then_release() -> T:
            result = fn(*args)
            turn_end()
            return result

        return await self._io.write(then_release)

    @property
    def _backend(self) -> Backend:
        return self._io.backend

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
        backend = self._backend
        try:
            entry = self._io.observed("append", self.id, lambda: backend.append(
                self.id, entry_id or new_entry_id(), kind, data, utcnow(), fence=self._fence
            ))
        except RecordError as exc:
            raise InvalidEntryError(f"cannot append to session {self.id!r}: {exc}", session_id=self.id) from None
        return entry

    async def aappend_entry(
        self, entry_type: EntryType | str, data: dict[str, Any], *, entry_id: str | None = None
    ) -> Entry:
        """Awaitable :meth:`append_entry` (shielded: a cancelled caller never leaves it half done)."""
        kind = self._prepare(entry_type, data)
        native = self._io.native
        if native is None:
            return await self._io.write(functools.partial(self.append_entry, entry_id=entry_id), entry_type, data)
        write = native.aappend(self.id, entry_id or new_entry_id(), kind, data, utcnow(), fence=self._fence)
        try:
            return await self._io.aobserved("append", self.id, self._io.shielded(write))
        except RecordError as exc:
            raise InvalidEntryError(f"cannot append to session {self.id!r}: {exc}", session_id=self.id) from None

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
        """Mark the current head so :meth:`restore` can return to it. O(1) in history length.

        ``metadata`` that may not be stored (not JSON, NaN, nested deeper than
        :data:`~aixgo.session.core.records.MAX_JSON_DEPTH` levels, larger than 16 MiB) raises
        :class:`~aixgo.errors.InvalidEntryError` and stores nothing."""
        backend = self._backend
        try:
            cp = self._io.observed("checkpoint", self.id, lambda: backend.create_checkpoint(
                self.id, new_checkpoint_id(), dict(metadata or {}), utcnow(), fence=self._fence
            ))
        except RecordError as exc:
            raise InvalidEntryError(f"cannot checkpoint session {self.id!r}: {exc}", session_id=self.id) from None
        log.info("session.checkpoint", session_id=self.id, agent=self.agent, checkpoint=cp.id, seq=cp.seq)
        return cp

    async def acheckpoint(self, metadata: dict[str, Any] | None = None) -> Checkpoint:
        """Awaitable :meth:`checkpoint`."""
        native = self._io.native
        if native is None:
            return await self._io.write(self.checkpoint, metadata)
        write = native.acreate_checkpoint(self.id, new_checkpoint_id(), dict(metadata or {}), utcnow(), fence=self._fence)
        try:
            cp = await self._io.aobserved("checkpoint", self.id, self._io.shielded(write))
        except RecordError as exc:
            raise InvalidEntryError(f"cannot checkpoint session {self.id!r}: {exc}", session_id=self.id) from None
        log.info("session.checkpoint", session_id=self.id, agent=self.agent, checkpoint=cp.id, seq=cp.seq)
        return cp

    def restore(self, checkpoint_id: str) -> Checkpoint:
        """Durably move the history back to a checkpoint (verified against its checksum).

        Entries after the checkpoint leave the history but stay stored (see :meth:`all_entries`)."""
        backend = self._backend
        cp = self._io.observed("restore", self.id,
                               lambda: backend.restore(self.id, checkpoint_id, utcnow(), fence=self._fence))
        log.info("session.restore", session_id=self.id, agent=self.agent, checkpoint=cp.id, seq=cp.seq)
        return cp

    async def arestore(self, checkpoint_id: str) -> Checkpoint:
        """Awaitable :meth:`restore`."""
        native = self._io.native
        if native is None:
            return await self._io.write(self.restore, checkpoint_id)
        restoring = self._io.shielded(native.arestore(self.id, checkpoint_id, utcnow(), fence=self._fence))
        cp = await self._io.aobserved("restore", self.id, restoring)
        log.info("session.restore", session_id=self.id, agent=self.agent, checkpoint=cp.id, seq=cp.seq)
        return cp

    def undo(self) -> list[Entry]:
        """Leave the last turn out of the history, durably: the last user message and everything after it
        (the answer, tool calls and results, usage) leave the history but stay stored as an abandoned branch
        (:meth:`all_entries`, ``aixgo sessions show --all``), as after :meth:`restore`, and the next append
        follows the entry before that message. The OpenAI Agents SDK's ``pop_item``, without losing anything.

        Returns the entries that left the history, oldest first. Raises
        :class:`~aixgo.errors.SessionError` when the history holds no user message (nothing to undo).
        Waits up to :data:`UNDO_WAIT` seconds for the session's turn lease (so no turn runs meanwhile)
        unless this session is seen through a held lease; the session is rewritten in one atomic step
        (an import in place of it), so an undo costs the session's size."""
        if self._fence is not None:
            return self._undo_now()
        with self.lease(wait=UNDO_WAIT):
            return self._undo_now()

    async def aundo(self) -> list[Entry]:
        """Awaitable :meth:`undo` (the lease is waited for on the event loop)."""
        if self._fence is not None:
            return await self._io.write(self._undo_now)
        async with await self.alease(wait=UNDO_WAIT):
            return await self._io.write(self._undo_now)

    def _undo_now(self) -> list[Entry]:
        snapshot = self._backend.snapshot(self.id)
        plan = plan_import(snapshot.header, snapshot.entries, snapshot.checkpoints, snapshot.head.entry_id,
                           source=f"session {self.id}")
        history = list(plan.state.history)
        start = last_turn_start(history)
        if start is None:
            raise SessionError(f"session {self.id!r} has no turn to undo", session_id=self.id)
        plan.state.move_head(history[start].parent_id)
        plan.state.updated = utcnow()
        self._info = self._backend.import_session(plan, replace=True)
        log.info("session.undo", session_id=self.id, agent=self.agent, entries=len(history) - start)
        return history[start:]

    # -- reading -------------------------------------------------------------------------------

    def get_entries(
        self, limit: int | None = None, before: int | None = None, after: int | None = None
    ) -> list[Entry]:
        """Entries of the current history in ``seq`` order.

        Without cursors, the last ``limit`` entries (all if None). ``before=seq`` pages backwards
        (the last ``limit`` entries older than ``seq``); ``after=seq`` pages forwards (the first
        ``limit`` entries newer than ``seq``)."""
        return self._history(history_range(limit, before, after))

    def _history(self, rng: HistoryRange) -> list[Entry]:
        backend, observers = self._backend, self._io.observers
        if not observers:
            return backend.history(self.id, rng)
        with observed(observers, StoreStep("read", self._io.kind, self.id)) as step:
            entries = backend.history(self.id, rng)
            step.details["entries"] = len(entries)
        return entries

    async def aget_entries(
        self, limit: int | None = None, before: int | None = None, after: int | None = None
    ) -> list[Entry]:
        """Awaitable :meth:`get_entries`."""
        rng = history_range(limit, before, after)
        native = self._io.native
        if native is not None:
            return await self._io.aobserved("read", self.id, native.ahistory(self.id, rng))
        return await self._io.read(self._history, rng)

    def get_messages(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The history as OpenAI chat messages, always provider-valid (see :mod:`aixgo.session.history`).

        ``limit`` bounds the number of *entries* read from the end of history."""
        return to_chat_messages(self.get_entries(limit=limit))

    async def aget_messages(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Awaitable :meth:`get_messages`."""
        return to_chat_messages(await self.aget_entries(limit=limit))

    def pending_approval(self) -> ApprovalRequest | None:
        """The approval request still open at the end of the history (a turn that paused before tool
        calls needing a person's approval, and the decisions taken so far), or None.

        Reads the end of the history only: backwards in pages, until the entry that settles it."""
        entries: list[Entry] = []
        page, cursor = _TAIL_PAGE, None
        while True:
            chunk = self.get_entries(limit=page, before=cursor)
            entries[:0] = chunk
            if len(chunk) < page or ends_search(chunk):
                return open_request(entries)
            cursor, page = chunk[0].seq, page * 4

    async def apending_approval(self) -> ApprovalRequest | None:
        """Awaitable :meth:`pending_approval`."""
        entries: list[Entry] = []
        page, cursor = _TAIL_PAGE, None
        while True:
            chunk = await self.aget_entries(limit=page, before=cursor)
            entries[:0] = chunk
            if len(chunk) < page or ends_search(chunk):
                return open_request(entries)
            cursor, page = chunk[0].seq, page * 4

    def all_entries(self) -> list[Entry]:
        """Every stored entry, abandoned branches included, in the order written (for audit and export)."""
        return self._backend.all_entries(self.id)

    async def aall_entries(self) -> list[Entry]:
        """Awaitable :meth:`all_entries`."""
        native = self._io.native
        if native is not None:
            return await native.aall_entries(self.id)
        return await self._io.read(self._backend.all_entries, self.id)

    def snapshot(self) -> Snapshot:
        """The whole session read in one atomic step: header, every entry (abandoned branches too),
        checkpoints, head and "updated" — what an export writes."""
        return self._backend.snapshot(self.id)

    async def asnapshot(self) -> Snapshot:
        """Awaitable :meth:`snapshot`."""
        native = self._io.native
        if native is not None:
            return await native.asnapshot(self.id)
        return await self._io.read(self._backend.snapshot, self.id)

    def checkpoints(self) -> list[Checkpoint]:
        """The session's checkpoints, oldest first."""
        return self._backend.list_checkpoints(self.id)

    async def acheckpoints(self) -> list[Checkpoint]:
        """Awaitable :meth:`checkpoints`."""
        native = self._io.native
        if native is not None:
            return await native.alist_checkpoints(self.id)
        return await self._io.read(self._backend.list_checkpoints, self.id)

    # -- leases --------------------------------------------------------------------------------

    def lease(self, ttl: float = DEFAULT_LEASE_TTL, wait: float | None = None) -> HeldLease:
        """Take the session's turn lease; use as ``with sess.lease(): ...``.

        ``wait`` seconds to wait for a current holder (None waits forever, 0 fails at once with
        :class:`~aixgo.errors.SessionBusyError`). ``ttl`` bounds how long a crashed holder can block
        others on stores that need it (Redis); the file store's lock dies with its process. The
        wait happens on the calling thread. Write the turn through the lease's
        :attr:`HeldLease.session`, so no write lands once the lease is lost."""
        backend = self._backend
        details: dict[str, object] = {"waited": False}
        lease = self._io.observed("lease", self.id, lambda: wait_for_lease(
            functools.partial(backend.try_lease, self.id, ttl), self.id, wait, _noting_wait(details)), details)
        return HeldLease(lease, self._io, self)

    async def alease(self, ttl: float = DEFAULT_LEASE_TTL, wait: float | None = None) -> HeldLease:
        """Awaitable :meth:`lease`: waits on the event loop, holding no thread while the lease is busy.

        Use as ``async with await sess.alease(): ...``."""
        io = self._io
        native = io.native
        details: dict[str, object] = {"waited": False}
        if native is not None:
            waiting = await_lease(lambda: native.atry_lease(self.id, ttl), self.id, wait, _noting_wait(details))
        else:
            backend = self._backend
            waiting = await_lease(lambda: io.read(backend.try_lease, self.id, ttl), self.id, wait,
                                  _noting_wait(details))
        held: Lease = await io.aobserved("lease", self.id, waiting, details)
        return HeldLease(held, io, self)

    def __repr__(self) -> str:
        fenced = ", fenced" if self._fence is not None else ""
        return f"Session(id={self.id!r}, agent={self.agent!r}{fenced})"


def _noting_wait(details: dict[str, object]) -> Callable[[], None]:
    """A lease wait's ``on_wait``: the observed step's ``waited`` detail becomes true."""
    return functools.partial(details.__setitem__, "waited", True)
