"""The embedded session store: one append-only JSONL file per session.

(Longer than most modules: the store protocol's methods, each a few lines over :class:`SessionLog`, plus the
folder and id rules they share; lines, replay, listing, locks, leases and repair have modules of
their own.)

Layout::

    base_dir/                      0700
      <agent>/                     0700
        <session-id>.jsonl         0600  the session's records (aixgo.session.core.codec), one per line
        <session-id>.lease         0600  flock()ed while a turn holds the session's lease
        <session-id>.ids           0600  its entry ids, for retried appends (aixgo.session.file.ids)

Writes: each record is one ``write`` on an ``O_APPEND`` descriptor while holding ``flock(LOCK_EX)``
on the file and a per-session thread lock, so threads and processes never interleave bytes. Before
writing, a writer reads any records other processes appended, so every write is a compare-and-set
on the latest head (:mod:`aixgo.session.file.log`).

Durability (``fsync``), like Redis's ``appendfsync``:

* ``always`` (default): every write is ``fdatasync``-ed before the call returns; a returned append
  survives a power loss. Costs one disk flush per append.
* ``batch``: a background thread flushes dirty files every ``batch_interval`` seconds (default 1);
  a power loss may lose up to that window, a process crash loses nothing.
* ``never``: the OS decides; a process crash loses nothing, a power loss may lose recent appends.

Creating a session file also fsyncs its directory (except with ``never``).

Recovery: a record is complete only with its terminating newline. A torn last record (a crash
mid-write) is ignored by readers and truncated by the next writer. A damaged record followed by
valid ones is never skipped: it raises :class:`~aixgo.errors.SessionCorruptedError` naming the file
and line, and :meth:`FileBackend.list_sessions` lists that session with its damage.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, Literal, TypeVar

from aixgo.errors import (
    SessionBusyError,
    SessionExistsError,
    SessionNotFoundError,
    StoreClosedError,
    StoreError,
)
from aixgo.logs import get_logger
from aixgo.session.backend import DEFAULT_CACHE_BYTES, ListCursor
from aixgo.session.core.codec import checkpoint_record, dumps, header_record
from aixgo.session.core.records import Header
from aixgo.session.core.slicing import HistoryRange
from aixgo.session.core.state import Snapshot, checkpoint_at, next_entry
from aixgo.session.core.transfer import ImportPlan
from aixgo.session.file.dirs import (
    check_base_dir,
    check_private_dir,
    check_regular,
    clean_leftovers,
    fsync_dir,
    make_private_dir,
    open_regular,
    write_all,
    written_aside,
)
from aixgo.session.file.ids import SUFFIX as IDS_SUFFIX
from aixgo.session.file.index import SummaryIndex
from aixgo.session.file.lease import FileLease, holds
from aixgo.session.file.lines import frame
from aixgo.session.file.listing import SUFFIX, Summaries, summarize_file
from aixgo.session.file.locks import DEFAULT_LOCK_TIMEOUT, lock_exclusive, store_lock
from aixgo.session.file.log import IndexBudget, SessionLog, os_errors
from aixgo.session.file.lru import LruDict
from aixgo.session.file.repair import RepairReport, repair_file
from aixgo.session.file.verify import verify_file
from aixgo.session.leases import lease_lost
from aixgo.session.types import Checkpoint, Entry, EntryType, SessionInfo, Verification

log = get_logger("aixgo.session.file")

FsyncPolicy = Literal["always", "batch", "never"]
FSYNC_POLICIES: tuple[FsyncPolicy, ...] = ("always", "batch", "never")
LEASE_SUFFIX = ".lease"
MAX_OPEN_SESSIONS = 256
"""Session files a process keeps open at most (file descriptors)."""
MAX_KNOWN_IDS = 4096
MAX_OPEN_INDEXES = 32
"""Entry-id index files a process keeps open at most (one per session appended to recently)."""

T = TypeVar("T")


class FileBackend:
    """Sessions as append-only JSONL files under ``base_dir`` (default ``~/.aixgo/sessions``).

    ``fsync`` is ``"always"`` (default), ``"batch"`` or ``"never"``; see the module docstring for the
    trade-off. Safe for many threads and many processes on one machine.
    """

    def __init__(
        self,
        base_dir: str | os.PathLike[str] = "~/.aixgo/sessions",
        *,
        fsync: FsyncPolicy = "always",
        batch_interval: float = 1.0,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        index: bool = True,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}, got {fsync!r}")
        if not lock_timeout > 0:
            raise ValueError(f"lock_timeout must be > 0 seconds, got {lock_timeout!r}")
        self.base_dir = Path(os.path.realpath(os.path.expanduser(os.fspath(base_dir))))
        self.fsync: FsyncPolicy = fsync
        self.batch_interval = batch_interval
        self.lock_timeout = lock_timeout
        self.cache_bytes = cache_bytes
        with os_errors(self.base_dir):
            self._make_dir(self.base_dir)
            check_base_dir(self.base_dir)
        self._lock = threading.Lock()
        self._logs: OrderedDict[str, SessionLog] = OrderedDict()
        self._agents: LruDict[str, str] = LruDict(MAX_KNOWN_IDS)  # session id -> agent, recently seen
        self._summaries = Summaries(self.base_dir, self.get_info)
        self._summary_index = SummaryIndex(self.base_dir, summarize_file, self._summaries.agent_dirs) if index else None
        self._dirty: set[int] = set()
        self._closed = False
        self._flusher: threading.Thread | None = None
        self._stop_flusher = threading.Event()
        self._cleaned: set[str] = set()  # agent folders checked for leftovers by this process
        self._opened = 0
        self._create_lock = threading.Lock()
        self._index_budget = IndexBudget(MAX_OPEN_INDEXES)

    def __repr__(self) -> str:
        return f"FileBackend({str(self.base_dir)!r}, fsync={self.fsync!r})"

    # -- files and directories ---------------------------------------------------------------

    def _make_dir(self, path: Path) -> None:
        make_private_dir(path, durable=self.fsync != "never")

    def _agent_dir(self, agent: str) -> Path:
        """The agent's folder, created if needed; never a link or another user's folder. The first time a
        process writes in it, temporary files that a killed import left behind are removed."""
        path = self.base_dir / agent
        self._make_dir(path)
        check_private_dir(path)
        if agent not in self._cleaned and len(self._cleaned) < MAX_KNOWN_IDS:
            self._cleaned.add(agent)
            clean_leftovers(path)
        return path

    def _path(self, agent: str, session_id: str) -> Path:
        return self.base_dir / agent / (session_id + SUFFIX)

    def _locate(self, session_id: str, *, checked: bool = True) -> Path | None:
        """The session's file: the one holding a header (a file a crashed create left empty is no session).

        With ``checked=False`` the first file with that name will do (the caller reads its header). An
        entry of that name that is not a regular file (a link, a folder, a FIFO…) is never opened; if no
        session file is found, its :class:`StoreError` is raised."""
        stray: StoreError | None = None

        def has(path: Path) -> bool:
            nonlocal stray
            try:
                return check_regular(path) and (not checked or self._summaries.has_header(path))
            except StoreError as exc:
                stray = stray or exc
                return False

        agent = self._agents.get(session_id)
        if agent is not None:
            path = self._path(agent, session_id)
            if has(path):
                return path
        for name in self._summaries.agent_dirs():
            path = self._path(name, session_id)
            if has(path):
                self._agents.put(session_id, name)
                return path
        if stray is not None:
            raise stray
        return None

    def _sync(self, fd: int) -> None:
        if self.fsync == "always":
            os.fdatasync(fd)
        elif self.fsync == "batch":
            with self._lock:
                self._dirty.add(fd)
                if self._flusher is None:
                    self._flusher = threading.Thread(target=self._flush_loop, name="aixgo-fsync", daemon=True)
                    self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop_flusher.wait(self.batch_interval):
            with self._lock:
                dirty, self._dirty = self._dirty, set()
            for fd in dirty:
                try:
                    os.fdatasync(fd)
                except OSError:  # closed meanwhile: its data was synced on close
                    continue

    # -- open session logs ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"the file store at {self.base_dir} is closed")

    def _not_found(self, session_id: str) -> SessionNotFoundError:
        return SessionNotFoundError(
            f"session {session_id!r} not found in {self.base_dir}", session_id=session_id
        )

    def _open_log(self, session_id: str, *, checked: bool = False) -> SessionLog:
        path = self._locate(session_id, checked=checked)
        if path is None:
            raise self._not_found(session_id)
        try:
            fd = open_regular(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            raise self._not_found(session_id) from None
        session_log = SessionLog(path, session_id, fd, self._index_budget)
        try:
            with session_log.lock:
                opened = session_log.open()
        except BaseException:
            os.close(fd)
            raise
        if not opened:  # a file without a header, left by a crash during create
            os.close(fd)
            if not checked:  # maybe the session lives under another agent: look at the headers
                return self._open_log(session_id, checked=True)
            raise self._not_found(session_id)
        return session_log

    def _log(self, session_id: str) -> SessionLog:
        with self._lock:
            self._check_open()
            found = self._logs.get(session_id)
            if found is not None:
                self._logs.move_to_end(session_id)
                return found
        opened = self._open_log(session_id)
        with self._lock:
            self._check_open()
            found = self._logs.get(session_id)
            if found is not None:
                os.close(opened.fd)
                return found
            self._logs[session_id] = opened
            self._evict_locked(keep=opened)
        return opened

    def _evict_locked(self, keep: SessionLog) -> None:
        """Close least recently used logs while more than :data:`MAX_OPEN_SESSIONS` are open or they hold
        more than ``cache_bytes`` (``keep``, the one in use, stays); the caller holds ``self._lock``."""
        self._opened += 1
        over = len(self._logs) - MAX_OPEN_SESSIONS
        weigh = self._opened % 16 == 0  # the byte budget is summed every 16th open: a pass over the open logs
        if over <= 0 and not weigh:
            return
        held = sum(found.weight for found in self._logs.values()) if weigh else 0
        # over the count alone, only the least recently used few are looked at (some may be in use)
        candidates = list(self._logs.values()) if weigh else list(islice(self._logs.values(), over + 16))
        for old in candidates:
            if len(self._logs) <= MAX_OPEN_SESSIONS and held <= self.cache_bytes:
                return
            if old is keep or not old.lock.acquire(blocking=False):
                continue
            try:
                held -= old.weight if weigh else 0
                self._forget_locked(old)
            finally:
                old.lock.release()

    def _forget_locked(self, session_log: SessionLog) -> None:
        """Close a log; the caller holds ``self._lock`` and ``session_log.lock``."""
        if self._logs.get(session_log.session_id) is session_log:
            del self._logs[session_log.session_id]
        if not session_log.closed:
            session_log.closed = True
            session_log.close_ids()
            self._dirty.discard(session_log.fd)
            if self.fsync == "batch":
                os.fdatasync(session_log.fd)
            os.close(session_log.fd)

    def _run(self, session_id: str, op: Callable[[SessionLog], T], *, write: bool = False) -> T:
        """Run ``op`` on the session's up-to-date log, holding its thread lock (and, to write,
        ``flock(LOCK_EX)``)."""
        for _ in range(5):
            with os_errors(self.base_dir):
                session_log = self._log(session_id)
            with session_log.lock, os_errors(session_log.path):
                if session_log.closed:
                    continue
                if not write:
                    size = _size_if_current(session_log)
                    if size is None:  # deleted (maybe re-created) by someone else
                        with self._lock:
                            self._forget_locked(session_log)
                        continue
                    session_log.catch_up(exclusive=False, sync=self._sync, size=size)
                    return op(session_log)
                lock_exclusive(session_log.fd, self.lock_timeout, session_log.path, session_id)
                try:
                    size = _size_if_current(session_log)
                    if size is None:  # deleted (maybe re-created), maybe while we waited for the lock
                        with self._lock:  # closing the file releases its lock
                            self._forget_locked(session_log)
                        continue
                    session_log.catch_up(exclusive=True, sync=self._sync, size=size)
                    result = op(session_log)
                    if self._summary_index is not None and not session_log.closed:  # still under the write lock
                        self._summary_index.written(session_id, session_log.path, session_log.fd)
                    return result
                finally:
                    if not session_log.closed:  # a delete closes the log it ran on
                        fcntl.flock(session_log.fd, fcntl.LOCK_UN)
        raise self._not_found(session_id)

    # -- Backend -------------------------------------------------------------------------------

    def create_session(self, header: Header) -> SessionInfo:
        """Create an empty session file for ``header.agent``. Raises ``SessionExistsError`` if the id
        exists for any agent (checked and created under the store-wide create lock)."""
        with os_errors(self.base_dir / header.agent):
            self._check_open()
            self._agent_dir(header.agent)
            path = self._path(header.agent, header.id)
            record = header_record(
                header.id, header.agent, header.user_id, header.created_at, header.metadata
            )
            with self._creating(), store_lock(self.base_dir, self.lock_timeout):
                self._claim(header.id)
                fd = self._write_header(path, frame(dumps(record).encode()))
            try:  # made durable outside the store lock, so creates of other ids do not wait for the disk
                if self.fsync != "never":
                    os.fdatasync(fd)
                    fsync_dir(path.parent)
            finally:
                os.close(fd)
            self._agents.put(header.id, header.agent)
        if self._summary_index is not None:
            self._summary_index.refresh(header.id, path, create=False)
        # the new session is exactly its header: no need to read it back
        return SessionInfo(
            header.id,
            header.agent,
            header.user_id,
            header.created_at,
            header.created_at,
            0,
            dict(header.metadata),
        )

    @staticmethod
    def _write_header(path: Path, line: bytes) -> int:
        """Create the session file holding its header line; returns its descriptor. Under the store lock,
        so ``O_EXCL`` cannot race; a crash before the header is whole leaves a file without a header,
        which is no session (and which the next create of that id removes)."""
        fd = os.open(
            path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
        )
        try:
            write_all(fd, line)
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        return fd

    @contextlib.contextmanager
    def _creating(self) -> Iterator[None]:
        """This process's creates and imports, one at a time: threads queue on a lock (woken at once
        when it is free) rather than poll the store-wide file lock; bounded by ``lock_timeout``."""
        if not self._create_lock.acquire(timeout=self.lock_timeout):
            raise SessionBusyError(
                f"another thread has been creating a session in {self.base_dir} for {self.lock_timeout:g}s"
            )
        try:
            yield
        finally:
            self._create_lock.release()

    def _claim(self, session_id: str, *, agent_may_have: str | None = None) -> Path | None:
        """Make sure no agent has ``session_id`` (the caller holds the store lock): raise
        ``SessionExistsError`` if one does — unless it is ``agent_may_have``, whose file is then returned;
        remove files of that id without a complete header line, what a create that crashed in the first
        version left (creates now write the header at once)."""
        for name in self._summaries.agent_dirs():
            path = self._path(name, session_id)
            if not check_regular(path):  # raises for a link, folder, FIFO… of that name: never removed
                continue
            if self._summaries.has_header(path):
                if name == agent_may_have:
                    return path
                whose = f" (agent {name!r})" if agent_may_have is not None else ""
                raise SessionExistsError(f"session {session_id!r} already exists{whose}", session_id=session_id)
            log.warning("session.create.leftover_removed", path=str(path), size=os.path.getsize(path))
            path.unlink()
        return None

    def get_info(self, session_id: str) -> SessionInfo:
        """The session's summary (without ``title`` and ``tokens``: listings have them). Raises
        ``SessionNotFoundError``."""
        return self._run(session_id, lambda session_log: session_log.info())

    def list_sessions(self, agent: str | None = None) -> Iterator[SessionInfo]:
        """Summaries of the stored sessions (see :class:`~aixgo.session.file.listing.Summaries`)."""
        self._check_open()
        with os_errors(self.base_dir):
            yield from self._summaries.scan(agent)

    def delete_session(self, session_id: str, *, unchanged_since: datetime | None = None) -> bool:
        """Delete the session's file and lease file (see :meth:`Backend.delete_session`)."""

        def delete(session_log: SessionLog) -> bool:
            if unchanged_since is not None and session_log.info().updated_at > unchanged_since:
                return False
            os.unlink(session_log.path)
            session_log.path.with_suffix(LEASE_SUFFIX).unlink(missing_ok=True)
            session_log.path.with_suffix(IDS_SUFFIX).unlink(missing_ok=True)
            if self.fsync != "never":
                fsync_dir(session_log.path.parent)
            with self._lock:
                self._forget_locked(session_log)
            self._agents.pop(session_id)
            return True

        try:
            deleted = self._run(session_id, delete, write=True)
        except SessionNotFoundError:
            return False
        if deleted and self._summary_index is not None:
            self._summary_index.forget(session_id)
        return deleted

    @staticmethod
    def _check_fence(session_log: SessionLog, fence: str | None) -> None:
        """Refuse a fenced write whose lease is not held (the caller holds the file's write lock)."""
        if fence is not None and not holds(session_log.path.with_suffix(LEASE_SUFFIX), fence):
            raise lease_lost(session_log.session_id)

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
        """Append one entry after the head (idempotent on ``entry_id``; fenced by ``fence``)."""

        def append(session_log: SessionLog) -> Entry:
            self._check_fence(session_log, fence)
            existing = session_log.find_entry(entry_id)
            if existing is not None:
                return existing
            pending = next_entry(session_log.head, entry_id, entry_type, data, timestamp)
            raw = session_log.write_record(pending.encoded, pending.head, self._sync)
            session_log.note_entry(pending.entry, raw, pending.head)
            return pending.entry

        return self._run(session_id, append, write=True)

    def history(self, session_id: str, rng: HistoryRange) -> list[Entry]:
        """The entries of the current history that ``rng`` selects."""
        return self._run(session_id, lambda session_log: session_log.history(rng))

    def all_entries(self, session_id: str) -> list[Entry]:
        """Every entry in the file, abandoned branches included, in file order."""
        return self._run(session_id, lambda session_log: list(session_log.load_full().entries.values()))

    def snapshot(self, session_id: str) -> Snapshot:
        """Everything of the session as of one read of its file."""

        return self._run(session_id, lambda session_log: session_log.load_full().snapshot())

    def create_checkpoint(
        self,
        session_id: str,
        checkpoint_id: str,
        metadata: dict[str, Any],
        timestamp: datetime,
        *,
        fence: str | None = None,
    ) -> Checkpoint:
        """Record a checkpoint at the head; its checksum is the head's chain hash (fenced by ``fence``)."""

        def create(session_log: SessionLog) -> Checkpoint:
            self._check_fence(session_log, fence)
            cp = checkpoint_at(session_log.head, session_id, checkpoint_id, metadata, timestamp)
            session_log.write_record(dumps(checkpoint_record(cp)), None, self._sync)
            session_log.note_checkpoint(cp)
            return cp

        return self._run(session_id, create, write=True)

    def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """The session's checkpoints, oldest first."""
        return self._run(session_id, lambda session_log: list(session_log.load_full().checkpoints.values()))

    def restore(
        self, session_id: str, checkpoint_id: str, timestamp: datetime, *, fence: str | None = None
    ) -> Checkpoint:
        """Verify the checkpoint's checksum and durably move the head to it (fenced by ``fence``)."""

        def restore(session_log: SessionLog) -> Checkpoint:
            self._check_fence(session_log, fence)
            state = session_log.load_full()
            cp, record, move = state.restore(checkpoint_id, timestamp, where=str(session_log.path))
            head = state.heads[cp.entry_id]
            session_log.write_record(dumps(record), head, self._sync)
            session_log.note_head_move(move, head)
            return cp

        return self._run(session_id, restore, write=True)

    def import_session(self, plan: ImportPlan, *, replace: bool = False) -> SessionInfo:
        """Write a validated session (see :meth:`Backend.import_session`) all at once: to a temporary
        file, then linked into place (which fails, leaving nothing, if the id appeared meanwhile) or,
        with ``replace``, renamed over the session's file — one atomic step, taken while holding that
        file's write lock, so no append is cut in two and every process sees the old file or the new."""
        header = plan.header
        path = self._path(header.agent, header.id)
        durable = self.fsync != "never"
        with os_errors(self.base_dir / header.agent):
            self._check_open()
            payload = b"".join(frame(record.encode(), head) for record, head in plan.records_with_heads())
            self._agent_dir(header.agent)
            with (
                written_aside(path.parent, payload, durable=durable) as new,
                self._creating(),
                store_lock(self.base_dir, self.lock_timeout),
            ):
                stored = self._claim(header.id, agent_may_have=header.agent if replace else None)
                if stored is None:
                    try:
                        os.link(new, path)  # never overwrites
                    except FileExistsError:
                        raise SessionExistsError(
                            f"session {header.id!r} already exists", session_id=header.id
                        ) from None
                else:
                    self._swap(new, stored, header.id)
                if durable:
                    fsync_dir(path.parent)
            self._agents.put(header.id, header.agent)
        if self._summary_index is not None:
            self._summary_index.refresh(header.id, path, create=False)
        return self.get_info(header.id)

    def _swap(self, new: Path, path: Path, session_id: str) -> None:
        """Rename ``new`` over the session file ``path`` while holding its write lock (other processes'
        logs notice the new file at their next operation; this process's is closed)."""
        fd = open_regular(path, os.O_RDONLY)
        try:
            lock_exclusive(fd, self.lock_timeout, path, session_id)
            os.rename(new, path)
        finally:
            os.close(fd)
        with self._lock:
            found = self._logs.get(session_id)
        if found is not None:
            with found.lock, self._lock:
                self._forget_locked(found)

    def repair(self, session_id: str, *, apply: bool = False) -> RepairReport:
        """Find the first damaged record of a session file; with ``apply``, keep the valid prefix and move
        the rest, byte for byte, to a ``.damaged-…`` file beside it (see :mod:`aixgo.session.file.repair`)."""
        self._check_open()
        path = self._find_file(session_id)
        with os_errors(path):
            report = repair_file(path, session_id, apply=apply, lock_timeout=self.lock_timeout)
        if apply:
            with self._lock:
                found = self._logs.get(session_id)
            if found is not None:
                with found.lock, self._lock:
                    self._forget_locked(found)
            if self._summary_index is not None:
                self._summary_index.refresh(session_id, path, create=False)
        return report

    def verify(self, session_id: str) -> Verification:
        """Check every line of the session file (see :mod:`aixgo.session.file.verify`)."""
        self._check_open()
        path = self._find_file(session_id)
        with os_errors(path):
            return verify_file(path, session_id)

    def _find_file(self, session_id: str) -> Path:
        """The session's file, even a damaged one (whose header may not parse)."""
        path = self._locate(session_id, checked=False)
        if path is None:
            raise self._not_found(session_id)
        return path

    def try_lease(self, session_id: str, ttl: float) -> FileLease | None:
        """The session's turn lease (an flock on ``<session>.lease``) if free, else None."""
        path = self._run(session_id, lambda session_log: session_log.path)
        with os_errors(path.parent):
            return FileLease.try_take(path.with_suffix(LEASE_SUFFIX), session_id, ttl)

    def close(self) -> None:
        """Flush (with ``batch``) and close every open file. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            logs = list(self._logs.values())
        self._stop_flusher.set()
        for session_log in logs:
            with session_log.lock, self._lock:
                self._forget_locked(session_log)
        if self._summary_index is not None:
            self._summary_index.close()

    # -- listing from the summary index ----------------------------------------------------------

    def list_page(
        self,
        agent: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        before: ListCursor | None = None,
    ) -> list[SessionInfo] | None:
        """One page of ``Manager.list`` from the summary index (:mod:`aixgo.session.file.index`), or None
        when the index cannot be used (the manager then reads every file)."""
        return self.search_page(None, agent, user_id, limit, offset, before)

    def search_page(
        self,
        search: str | None,
        agent: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        before: ListCursor | None = None,
    ) -> list[SessionInfo] | None:
        """One page of ``Manager.list(search=…)`` from the summary index, or None (see :meth:`list_page`)."""
        self._check_open()
        if self._summary_index is None:
            return None
        with os_errors(self.base_dir):
            return self._summary_index.page(agent, user_id, limit, offset, before, search)


def _size_if_current(session_log: SessionLog) -> int | None:
    """The size of the file this log has open, if the session's path still names it; None once it
    was deleted, maybe re-created (a hard link elsewhere keeps the old file alive, so the link count
    alone cannot tell). One ``lstat`` answers both: the path's inode is the open file's."""
    try:
        st = os.lstat(session_log.path)
    except FileNotFoundError:
        return None
    return st.st_size if (st.st_dev, st.st_ino) == session_log.identity else None
