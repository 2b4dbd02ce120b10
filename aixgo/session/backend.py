"""The storage contract every session store implements: a thin adapter under the session core.

A store keeps sessions as records and makes each write atomic; it decides no rule. What a valid
record is, which entry follows the head (``seq``, ``parent_id``, chain hash), what a checkpoint
records, when a restore is allowed, what an import may contain, which entries a read returns and
what "updated" means all live in :mod:`aixgo.session.core`, which every store calls: a new store
(SQL is next) needs no copy of any rule.

* **Writes** are compare-and-set on the head: the store builds the record for the head it holds
  (under its lock, or in a retried compare-and-set) with :func:`~aixgo.session.core.next_entry` /
  :func:`~aixgo.session.core.checkpoint_at`, and stores it only if the head did not move.
* **Reads** take a :class:`~aixgo.session.core.HistoryRange` and apply it mechanically.
* **Leases** are taken without waiting (:meth:`Backend.try_lease`); waiting is the caller's, on its
  own thread or on the event loop (:mod:`aixgo.session.leases`), never in a store's worker thread.
* **Fencing**: the writes of a turn (:meth:`Backend.append`, :meth:`Backend.create_checkpoint`,
  :meth:`Backend.restore`) may carry ``fence``, the token of the lease the turn holds
  (:attr:`Lease.token`). The store then writes only if that lease is still held — checked in the same
  atomic step as the write (under the same lock, inside the same script or transaction) — and
  otherwise raises :class:`~aixgo.errors.LeaseLostError` having written nothing. The fence is checked
  before anything else the write would do, a retried ``entry_id`` included. A write with
  ``fence=None`` is not fenced.

Every method is thread-safe and may block on I/O; async callers run them on the manager's own
bounded executor, unless the store also implements the optional :class:`AsyncBackend` (native
async I/O, as the PostgreSQL store does): then the manager's ``a``-methods await its ``a``-methods on
the running event loop instead, with no thread hop. A store may also implement
:class:`PagedListing` to answer one page of ``Manager.list`` from an index. Ids are validated by the caller. ``tests/session/contract.py`` is the executable
form of this contract: every store's test module subclasses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol, TypeGuard, runtime_checkable

from aixgo.session.core.records import Header
from aixgo.session.core.slicing import HistoryRange
from aixgo.session.core.state import Snapshot
from aixgo.session.core.transfer import ImportPlan
from aixgo.session.types import Checkpoint, Entry, EntryType, SessionInfo, Verification

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
"""Bytes of session data one store instance keeps in memory to answer reads (least recently used
sessions go first): the file store's replayed files, the Redis store's recent entries."""


@runtime_checkable
class Lease(Protocol):
    """A held turn lease on one session. Release it (or leave the ``with`` block) when the turn ends."""

    token: str

    def extend(self, ttl: float | None = None) -> None:
        """Push the expiry out by ``ttl`` seconds (default: the ttl it was taken with).

        Raises :class:`~aixgo.errors.SessionBusyError` if the lease was lost (expired and taken by
        another holder)."""

    def release(self) -> None:
        """Give the lease up. Releasing twice, or after expiry, never frees another holder's lease."""

    def __enter__(self) -> Lease: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class AsyncLease(Lease, Protocol):
    """A :class:`Lease` whose store also extends and releases it with native async I/O."""

    async def aextend(self, ttl: float | None = None) -> None:
        """Awaitable :meth:`Lease.extend`."""

    async def arelease(self) -> None:
        """Awaitable :meth:`Lease.release`."""


_ASYNC_LEASE_TYPES: dict[type, bool] = {}


def is_async_lease(lease: Lease) -> TypeGuard[AsyncLease]:
    """``isinstance(lease, AsyncLease)``, decided once per lease class (a protocol check walks the
    protocol's members on every call: a measurable share of a turn)."""
    kind = type(lease)
    known = _ASYNC_LEASE_TYPES.get(kind)
    if known is None:
        known = _ASYNC_LEASE_TYPES[kind] = isinstance(lease, AsyncLease)
    return known


class Backend(Protocol):
    """Storage of sessions (see the module docstring)."""

    def create_session(self, header: Header) -> SessionInfo:
        """Store a new, empty session. Raises ``SessionExistsError`` if the id exists, for any agent."""

    def get_info(self, session_id: str) -> SessionInfo:
        """The session's summary. Raises ``SessionNotFoundError``."""

    def list_sessions(self, agent: str | None = None) -> Iterator[SessionInfo]:
        """Summaries of every session (of ``agent`` if given), in no particular order.

        A session that cannot be read is listed with :attr:`SessionInfo.damage` saying why, never
        skipped and never allowed to hide the others."""

    def delete_session(self, session_id: str, *, unchanged_since: datetime | None = None) -> bool:
        """Delete the session and everything stored for it; False if it did not exist.

        With ``unchanged_since``, delete only if the session's "updated" time is not later, checked
        atomically with the delete (so prune never deletes a session written after it was listed)."""

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
        """Append one entry after the head (compare-and-set), built with ``core.next_entry``.

        Idempotent on ``entry_id``: an id already stored returns the stored entry, unwritten. Fenced by
        ``fence`` (see the module docstring)."""

    def history(self, session_id: str, rng: HistoryRange) -> list[Entry]:
        """The entries of the current history that ``rng`` selects, in ``seq`` order."""

    def all_entries(self, session_id: str) -> list[Entry]:
        """Every stored entry, abandoned branches included, in the order they were written."""

    def snapshot(self, session_id: str) -> Snapshot:
        """Header, every entry, checkpoints, head and "updated", read in one atomic step."""

    def create_checkpoint(
        self,
        session_id: str,
        checkpoint_id: str,
        metadata: dict[str, Any],
        timestamp: datetime,
        *,
        fence: str | None = None,
    ) -> Checkpoint:
        """Record a checkpoint of the current head, built with ``core.checkpoint_at``. O(1). Fenced by
        ``fence``."""

    def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """The session's checkpoints, oldest first."""

    def restore(
        self, session_id: str, checkpoint_id: str, timestamp: datetime, *, fence: str | None = None
    ) -> Checkpoint:
        """Durably move the head to the checkpoint, if ``core.checksum_problem`` finds the stored bytes
        match it. Raises ``CheckpointNotFoundError`` or ``ChecksumMismatchError``. Fenced by ``fence``."""

    def import_session(self, plan: ImportPlan, *, replace: bool = False) -> SessionInfo:
        """Store a session validated by ``core.plan_import``, keeping every id, timestamp, ``seq``,
        branch and checkpoint, all or nothing. Raises ``SessionExistsError`` if the id exists.

        With ``replace``, a stored session of the same id *and agent* is replaced by the import in one
        atomic step: every reader, in any process, sees the old session or the new one, whole, never
        neither and never a mix, and a crash at any moment leaves one of them. (Its entries, branches and
        checkpoints go with it; a turn lease held on it stays held.) A session of that id that belongs
        to another agent is never replaced: ``SessionExistsError`` naming that agent. Without a stored
        session, ``replace`` simply imports."""

    def verify(self, session_id: str) -> Verification:
        """Check every stored record of the session and say what is damaged (:class:`Verification`;
        ``aixgo sessions verify``): its bytes where the store keeps a checksum of them (the file store's
        CRC-32 per line, and bytes after the last complete line), and every rule of the core on the
        whole session, read in one consistent step — ids once, ``seq`` and parents, each chain hash
        against the one the store recorded, checkpoints against the chain, the stored head against the
        one the entries make (``core.snapshot_damage`` does the last four for stores without their own
        framing). A session that cannot even be read (a missing key, a damaged header) is reported, not
        raised. O(session), without blocking writers. Raises ``SessionNotFoundError``."""

    def try_lease(self, session_id: str, ttl: float) -> Lease | None:
        """Take the session's turn lease if it is free, else None at once (never waits).

        Its :attr:`Lease.token` fences the turn's writes until it is released or lost. Raises
        ``SessionNotFoundError`` if the session does not exist."""

    def close(self) -> None:
        """Release resources. Later calls raise ``StoreClosedError``. Closing twice is harmless."""


@runtime_checkable
class AsyncBackend(Protocol):
    """Optional: a store whose I/O is natively async (on the running event loop, no thread).

    When a :class:`~aixgo.session.Manager`'s store implements every method here, its ``a``-methods
    (and those of its sessions and leases) await these instead of running the :class:`Backend`
    methods on the manager's thread pool; writes are still shielded from cancellation. Each method
    behaves exactly as the :class:`Backend` method of the same name without the ``a``. Stores without
    it (file, Redis, memory) keep working unchanged."""

    async def acreate_session(self, header: Header) -> SessionInfo: ...

    async def aget_info(self, session_id: str) -> SessionInfo: ...

    async def adelete_session(self, session_id: str, *, unchanged_since: datetime | None = None) -> bool: ...

    async def aappend(
        self,
        session_id: str,
        entry_id: str,
        entry_type: EntryType,
        data: dict[str, Any],
        timestamp: datetime,
        *,
        fence: str | None = None,
    ) -> Entry: ...

    async def ahistory(self, session_id: str, rng: HistoryRange) -> list[Entry]: ...

    async def aall_entries(self, session_id: str) -> list[Entry]: ...

    async def asnapshot(self, session_id: str) -> Snapshot: ...

    async def acreate_checkpoint(
        self,
        session_id: str,
        checkpoint_id: str,
        metadata: dict[str, Any],
        timestamp: datetime,
        *,
        fence: str | None = None,
    ) -> Checkpoint: ...

    async def alist_checkpoints(self, session_id: str) -> list[Checkpoint]: ...

    async def arestore(
        self, session_id: str, checkpoint_id: str, timestamp: datetime, *, fence: str | None = None
    ) -> Checkpoint: ...

    async def aimport_session(self, plan: ImportPlan, *, replace: bool = False) -> SessionInfo: ...

    async def atry_lease(self, session_id: str, ttl: float) -> AsyncLease | None: ...


ListCursor = tuple[datetime, str]
"""Where a page of ``Manager.list`` ends: the last session's ``(updated_at, id)``."""


@runtime_checkable
class PagedListing(Protocol):
    """Optional: a store that answers one page of ``Manager.list`` itself (from an index), instead of
    the manager reading every summary and sorting them."""

    def list_page(
        self,
        agent: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        before: ListCursor | None = None,
    ) -> list[SessionInfo] | None:
        """Summaries (damaged ones included), most recently updated first, ties by greater id first,
        of sessions of ``agent`` and ``user_id`` (when given) that sort after ``before``; ``offset``
        skipped, at most ``limit``. None when the store cannot answer from its index this time (the
        manager then reads every summary)."""
        ...


@runtime_checkable
class AsyncPagedListing(Protocol):
    """:class:`PagedListing` with native async I/O."""

    async def alist_page(
        self,
        agent: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        before: ListCursor | None = None,
    ) -> list[SessionInfo]: ...


@runtime_checkable
class SearchListing(Protocol):
    """Optional: a store that answers a page of ``Manager.list(search=…)`` itself, from an index of the
    sessions' words (the file store's summary index). Without it, the manager reads every session."""

    def search_page(
        self,
        search: str | None,
        agent: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        before: ListCursor | None = None,
    ) -> list[SessionInfo] | None:
        """As :meth:`PagedListing.list_page`, of the sessions :func:`~aixgo.session.core.summary.matches`
        ``search`` (every word of it begins a word of the session's id, agent, user, or text)."""
        ...
