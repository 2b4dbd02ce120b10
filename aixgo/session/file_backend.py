"""The embedded session store: one append-only JSONL file per session.

Layout::

    base_dir/                      0700
      <agent>/                     0700
        <session-id>.jsonl         0600  the session's records, one JSON object per line
        <session-id>.lease         0600  flock()ed while a turn holds the session's lease

Records (``"k"`` says which; the first line is always the header)::

    {"k":"s","v":1,"id":…,"agent":…,"user_id":…,"created_at":…,"metadata":{…}}   header
    {"k":"e","type":…,"id":…,"parent_id":…,"seq":…,"ts":…,"data":{…}}          entry (aixgo.session.codec)
    {"k":"c","id":…,"entry_id":…,"seq":…,"ts":…,"checksum":…,"metadata":{…}}   checkpoint
    {"k":"r","checkpoint_id":…,"entry_id":…,"seq":…,"ts":…}                     restore: the head moves
    {"k":"h","entry_id":…,"seq":…}                                              head move written by import

Writes: each record is one ``write`` on an ``O_APPEND`` descriptor while holding ``flock(LOCK_EX)``
on the file and a per-session thread lock, so threads and processes never interleave bytes. Before
writing, a writer reads any records other processes appended, so ``seq`` is assigned from the
latest state.

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
and line.

Each process keeps an index of the sessions it has opened and reads only the bytes appended since,
so reading the last N entries is O(N) and never rescans the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from aixgo.errors import (
    CheckpointNotFoundError,
    ChecksumMismatchError,
    SessionBusyError,
    SessionCorruptedError,
    SessionExistsError,
    SessionNotFoundError,
    StoreClosedError,
    StoreError,
    UnsupportedVersionError,
)
from aixgo.logs import get_logger
from aixgo.session.codec import (
    FORMAT_VERSION,
    ROOT_HASH,
    chain_hash,
    checkpoint_from_record,
    checkpoint_to_record,
    dumps,
    encode_entry,
    entry_from_record,
    format_ts,
    header_record,
    parse_ts,
    utcnow,
)
from aixgo.session.ids import validate_id
from aixgo.session.types import CHAT_ENTRY_TYPES, Checkpoint, Entry, EntryType, SessionInfo

log = get_logger("aixgo.session.file")

FsyncPolicy = Literal["always", "batch", "never"]
FSYNC_POLICIES: tuple[FsyncPolicy, ...] = ("always", "batch", "never")
SUFFIX = ".jsonl"
LEASE_SUFFIX = ".lease"
MAX_OPEN_SESSIONS = 256
_MESSAGE_PREFIXES = tuple(b'\n{"k":"e","type":"' + t.value.encode() + b'"' for t in CHAT_ENTRY_TYPES)

T = TypeVar("T")
_decode = json.JSONDecoder().decode


@contextlib.contextmanager
def _os_errors(path: Path) -> Iterator[None]:
    """Turn an operating-system failure (permissions, full disk, a file where a folder should be) into
    a :class:`StoreError` naming the path."""
    try:
        yield
    except OSError as exc:
        where = exc.filename if exc.filename is not None else path
        raise StoreError(f"file store: {exc.strerror or exc} ({where})") from exc


class _BadRecord(Exception):
    """A line that is not a valid record; ``semantic`` if it parsed as JSON but makes no sense."""

    def __init__(self, reason: str, semantic: bool) -> None:
        super().__init__(reason)
        self.semantic = semantic


class _State:
    """This process's index of one session file."""

    def __init__(self, path: Path, session_id: str, fd: int) -> None:
        self.path = path
        self.session_id = session_id
        self.fd = fd
        self.lock = threading.RLock()
        self.closed = False
        self.offset = 0
        self.lines = 0
        self.header: dict[str, Any] | None = None
        self.entries: dict[str, Entry] = {}
        self.hashes: dict[str | None, bytes] = {None: ROOT_HASH}
        self.history: list[Entry] = []
        self.message_counts: list[int] = []  # message_counts[i]: chat entries among history[: i + 1]
        self.checkpoints: dict[str, Checkpoint] = {}

    @property
    def head(self) -> str | None:
        return self.history[-1].id if self.history else None

    # -- applying records --------------------------------------------------------------------

    def apply(self, raw: bytes) -> None:
        try:
            rec = _decode(raw.decode())  # skips json.loads's per-call encoding sniffing
        except ValueError as exc:
            raise _BadRecord(f"not valid JSON ({exc})", semantic=False) from None
        if not isinstance(rec, dict):
            raise _BadRecord("a record must be a JSON object", semantic=True)
        kind = rec.get("k")
        try:
            if self.header is None:
                if kind != "s":
                    raise _BadRecord("the first record must be the session header", semantic=True)
                self._apply_header(rec)
            elif kind == "e":
                self._apply_entry(rec, raw)
            elif kind == "c":
                self._apply_checkpoint(rec)
            elif kind == "r":
                self._apply_restore(rec)
            elif kind == "h":
                self._apply_head(rec)
            else:
                raise _BadRecord(f"unknown record kind {kind!r}", semantic=True)
        except (KeyError, ValueError, TypeError) as exc:
            raise _BadRecord(f"malformed {kind!r} record ({exc!r})", semantic=True) from None

    def _apply_header(self, rec: dict[str, Any]) -> None:
        version = rec.get("v")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"format version {version!r} is newer than this aixgo supports ({FORMAT_VERSION}); upgrade aixgo",
                self.session_id,
                self.path,
                1,
            )
        if rec["id"] != self.session_id:
            raise _BadRecord(f"header names session {rec['id']!r}, not {self.session_id!r}", semantic=True)
        parse_ts(rec["created_at"])
        self.header = rec

    def _apply_entry(self, rec: dict[str, Any], raw: bytes) -> None:
        entry = entry_from_record(rec)
        self.add_entry(entry, raw)

    def add_entry(self, entry: Entry, raw: bytes) -> None:
        if entry.id in self.entries:
            raise _BadRecord(f"entry id {entry.id!r} appears twice", semantic=True)
        if entry.parent_id != self.head or entry.seq != len(self.history) + 1:
            raise _BadRecord(
                f"entry {entry.id!r} (seq {entry.seq}, parent {entry.parent_id!r}) does not follow the head "
                f"{self.head!r} (seq {len(self.history)})",
                semantic=True,
            )
        self.entries[entry.id] = entry
        self.hashes[entry.id] = chain_hash(self.hashes[entry.parent_id], raw)
        previous = self.message_counts[-1] if self.message_counts else 0
        self.history.append(entry)
        self.message_counts.append(previous + (entry.type in CHAT_ENTRY_TYPES))

    def _apply_checkpoint(self, rec: dict[str, Any]) -> None:
        cp = checkpoint_from_record(rec, self.session_id)
        if cp.entry_id is not None and cp.entry_id not in self.entries:
            raise _BadRecord(f"checkpoint {cp.id!r} names unknown entry {cp.entry_id!r}", semantic=True)
        self.checkpoints[cp.id] = cp

    def _apply_restore(self, rec: dict[str, Any]) -> None:
        cp = self.checkpoints.get(rec["checkpoint_id"])
        if cp is None:
            raise _BadRecord(f"restore names unknown checkpoint {rec['checkpoint_id']!r}", semantic=True)
        self.move_head(cp.entry_id, cp.seq)

    def _apply_head(self, rec: dict[str, Any]) -> None:
        entry_id = rec["entry_id"]
        if entry_id is not None and entry_id not in self.entries:
            raise _BadRecord(f"head move names unknown entry {entry_id!r}", semantic=True)
        seq = self.entries[entry_id].seq if entry_id is not None else 0
        if rec.get("seq") != seq:
            raise _BadRecord(
                f"head move to {entry_id!r} has seq {rec.get('seq')!r}, not {seq}", semantic=True
            )
        self.move_head(entry_id, seq)

    def move_head(self, entry_id: str | None, seq: int) -> None:
        if seq <= len(self.history) and (seq == 0 or self.history[seq - 1].id == entry_id):
            del self.history[seq:]
            del self.message_counts[seq:]
            return
        chain: list[Entry] = []
        cursor = entry_id
        while cursor is not None:
            entry = self.entries[cursor]
            chain.append(entry)
            cursor = entry.parent_id
        chain.reverse()
        self.history = chain
        self.message_counts = []
        count = 0
        for entry in chain:
            count += entry.type in CHAT_ENTRY_TYPES
            self.message_counts.append(count)

    def info(self) -> SessionInfo:
        assert self.header is not None
        mtime = os.fstat(self.fd).st_mtime
        return SessionInfo(
            id=self.session_id,
            agent=str(self.header["agent"]),
            user_id=self.header.get("user_id"),
            created_at=parse_ts(self.header["created_at"]),
            updated_at=datetime.fromtimestamp(mtime, UTC),
            message_count=self.message_counts[-1] if self.message_counts else 0,
            metadata=dict(self.header.get("metadata") or {}),
        )


class _FileLease:
    """A turn lease held as ``flock(LOCK_EX)`` on the session's ``.lease`` file.

    The OS releases it if the process dies, so it needs no expiry; ``ttl`` is accepted for API
    parity with the Redis store."""

    def __init__(self, path: Path, session_id: str, ttl: float, wait: float | None) -> None:
        self.token = secrets.token_hex(16)
        self.ttl = ttl
        self._session_id = session_id
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = None if wait is None else time.monotonic() + wait
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    raise SessionBusyError(
                        f"session {session_id!r} is busy: another turn holds its lease", session_id
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        self._fd: int | None = fd

    def extend(self, ttl: float | None = None) -> None:
        if self._fd is None:
            raise SessionBusyError(
                f"the lease on session {self._session_id!r} was released", self._session_id
            )

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> _FileLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


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
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}, got {fsync!r}")
        self.base_dir = Path(os.path.expanduser(os.fspath(base_dir))).absolute()
        self.fsync: FsyncPolicy = fsync
        self.batch_interval = batch_interval
        with _os_errors(self.base_dir):
            self._make_dir(self.base_dir)
        self._lock = threading.Lock()
        self._states: OrderedDict[str, _State] = OrderedDict()
        self._agents: dict[str, str] = {}  # session id -> agent, for sessions seen by this process
        self._info_cache: dict[Path, tuple[int, int, SessionInfo]] = {}
        self._dirty: set[int] = set()
        self._closed = False
        self._flusher: threading.Thread | None = None
        self._stop_flusher = threading.Event()

    def __repr__(self) -> str:
        return f"FileBackend({str(self.base_dir)!r}, fsync={self.fsync!r})"

    # -- files and directories ---------------------------------------------------------------

    def _make_dir(self, path: Path) -> None:
        """Create ``path`` and any missing parents, each ``0700`` (sessions are private)."""
        if path.is_dir():
            return
        self._make_dir(path.parent)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:  # created meanwhile by another process
            return
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
        if self.fsync != "never":
            self._fsync_dir(path.parent)

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _path(self, agent: str, session_id: str) -> Path:
        return self.base_dir / agent / (session_id + SUFFIX)

    def _locate(self, session_id: str) -> Path | None:
        agent = self._agents.get(session_id)
        if agent is not None:
            path = self._path(agent, session_id)
            if path.exists():
                return path
        try:
            dirs = sorted(d.name for d in os.scandir(self.base_dir) if d.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return None
        for name in dirs:
            path = self._path(name, session_id)
            if path.exists():
                self._agents[session_id] = name
                return path
        return None

    def _sync_data(self, fd: int) -> None:
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
            self._flush_dirty()

    def _flush_dirty(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        for fd in dirty:
            with contextlib.suppress(OSError):  # closed meanwhile: its data was synced on close
                os.fdatasync(fd)

    # -- the per-session index ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"the file store at {self.base_dir} is closed")

    def _open_state(self, session_id: str) -> _State:
        path = self._locate(session_id)
        if path is None:
            raise SessionNotFoundError(f"session {session_id!r} not found in {self.base_dir}", session_id)
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except FileNotFoundError:
            raise SessionNotFoundError(
                f"session {session_id!r} not found in {self.base_dir}", session_id
            ) from None
        state = _State(path, session_id, fd)
        try:
            with state.lock:
                self._catch_up(state, exclusive=False)
        except BaseException:
            os.close(fd)
            raise
        if state.header is None:  # an empty file left by a crash during create
            os.close(fd)
            raise SessionNotFoundError(f"session {session_id!r} not found in {self.base_dir}", session_id)
        return state

    def _state(self, session_id: str) -> _State:
        with self._lock:
            self._check_open()
            state = self._states.get(session_id)
            if state is not None:
                self._states.move_to_end(session_id)
                return state
        state = self._open_state(session_id)
        with self._lock:
            self._check_open()
            existing = self._states.get(session_id)
            if existing is not None:
                os.close(state.fd)
                return existing
            self._states[session_id] = state
            self._evict_locked()
        return state

    def _evict_locked(self) -> None:
        for sid in list(self._states)[: max(0, len(self._states) - MAX_OPEN_SESSIONS)]:
            state = self._states[sid]
            if state.lock.acquire(blocking=False):
                try:
                    self._close_state_locked(state)
                finally:
                    state.lock.release()

    def _close_state_locked(self, state: _State) -> None:
        """Forget a state; caller holds ``self._lock`` and ``state.lock``."""
        if self._states.get(state.session_id) is state:
            del self._states[state.session_id]
        if not state.closed:
            state.closed = True
            self._dirty.discard(state.fd)
            if self.fsync == "batch":
                os.fdatasync(state.fd)
            os.close(state.fd)

    def _run(self, session_id: str, op: Callable[[_State], T]) -> T:
        """Run ``op`` on the session's live state, holding its thread lock."""
        for _ in range(5):
            with _os_errors(self.base_dir):
                state = self._state(session_id)
            with state.lock, _os_errors(state.path):
                if state.closed:
                    continue
                if os.fstat(state.fd).st_nlink == 0:  # deleted (maybe re-created) by someone else
                    with self._lock:
                        self._close_state_locked(state)
                    continue
                return op(state)
        raise SessionNotFoundError(f"session {session_id!r} not found in {self.base_dir}", session_id)

    def _catch_up(self, state: _State, exclusive: bool) -> None:
        """Apply records appended since ``state.offset``; the caller holds ``state.lock``.

        With ``exclusive`` the caller holds ``flock(LOCK_EX)`` and a torn tail is truncated;
        otherwise a shared flock is taken while reading and a torn tail is left alone."""
        size = os.fstat(state.fd).st_size
        if size == state.offset:
            return
        if not exclusive:
            fcntl.flock(state.fd, fcntl.LOCK_SH)
        try:
            size = os.fstat(state.fd).st_size
            if size < state.offset:
                raise SessionCorruptedError(
                    f"the file shrank from {state.offset} to {size} bytes while open",
                    state.session_id,
                    state.path,
                )
            data = os.pread(state.fd, size - state.offset, state.offset)
            consumed = self._apply_lines(state, data)
        finally:
            if not exclusive:
                fcntl.flock(state.fd, fcntl.LOCK_UN)
        if consumed < len(data) and exclusive:
            keep = state.offset
            log.warning(
                "session.torn_tail_truncated",
                session_id=state.session_id,
                path=str(state.path),
                dropped_bytes=len(data) - consumed,
            )
            os.ftruncate(state.fd, keep)
            if self.fsync != "never":
                os.fdatasync(state.fd)

    def _apply_lines(self, state: _State, data: bytes) -> int:
        """Apply the complete records in ``data``; returns how many bytes were consumed."""
        pos = 0
        while True:
            newline = data.find(b"\n", pos)
            if newline < 0:
                return pos
            raw = data[pos:newline]
            try:
                state.apply(raw)
            except _BadRecord as bad:
                line = state.lines + 1
                if bad.semantic or self._valid_record_follows(data, newline + 1):
                    raise SessionCorruptedError(
                        f"damaged record: {bad}", state.session_id, state.path, line
                    ) from None
                return pos  # garbage up to the end of the file: a torn tail
            state.lines += 1
            state.offset += newline + 1 - pos
            pos = newline + 1

    @staticmethod
    def _valid_record_follows(data: bytes, start: int) -> bool:
        for raw in data[start:].split(b"\n")[:-1]:
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if isinstance(rec, dict) and "k" in rec:
                return True
        return False

    def _write_record(self, state: _State, line: str) -> bytes:
        """Write one record line; the caller holds ``state.lock`` and ``flock(LOCK_EX)``."""
        raw = line.encode()
        payload = raw + b"\n"
        try:
            written = os.write(state.fd, payload)
            while written < len(payload):  # only on a nearly full disk; we hold the lock
                written += os.write(state.fd, payload[written:])
        except OSError as exc:
            os.ftruncate(state.fd, state.offset)
            raise StoreError(f"cannot write to {state.path}: {exc.strerror}") from exc
        self._sync_data(state.fd)
        state.lines += 1
        state.offset += len(payload)
        return raw

    def _locked_write(self, session_id: str, op: Callable[[_State], T]) -> T:
        """Run ``op`` holding the thread lock and ``flock(LOCK_EX)``, after catching up."""

        def locked(state: _State) -> T:
            fcntl.flock(state.fd, fcntl.LOCK_EX)
            try:
                self._catch_up(state, exclusive=True)
                return op(state)
            finally:
                fcntl.flock(state.fd, fcntl.LOCK_UN)

        return self._run(session_id, locked)

    def _refresh(self, state: _State) -> None:
        self._catch_up(state, exclusive=False)

    # -- Backend -----------------------------------------------------------------------------

    def create_session(
        self, agent: str, session_id: str, user_id: str | None, metadata: dict[str, Any]
    ) -> SessionInfo:
        """Create an empty session file for ``agent``. Raises ``SessionExistsError``."""
        with _os_errors(self.base_dir / agent):
            return self._create_session(agent, session_id, user_id, metadata)

    def _create_session(
        self, agent: str, session_id: str, user_id: str | None, metadata: dict[str, Any]
    ) -> SessionInfo:
        self._check_open()
        validate_id(agent, "agent name")
        validate_id(session_id)
        existing = self._locate(session_id)
        if existing is not None and self._has_header(existing):
            raise SessionExistsError(f"session {session_id!r} already exists", session_id)
        agent_dir = self.base_dir / agent
        self._make_dir(agent_dir)
        path = self._path(agent, session_id)
        header = header_record(session_id, agent, user_id, utcnow(), metadata)
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | os.O_CREAT
        try:
            fd = os.open(path, flags | os.O_EXCL, 0o600)
        except FileExistsError:
            fd = os.open(path, flags, 0o600)  # a file without header, left by a crash during create
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size and self._has_header(path):
                raise SessionExistsError(f"session {session_id!r} already exists", session_id)
            os.ftruncate(fd, 0)
            os.write(fd, (dumps(header) + "\n").encode())
            if self.fsync != "never":
                os.fdatasync(fd)
                self._fsync_dir(agent_dir)
        finally:
            os.close(fd)
        self._agents[session_id] = agent
        return self.get_info(session_id)

    @staticmethod
    def _has_header(path: Path) -> bool:
        try:
            with open(path, "rb") as f:
                return f.readline().endswith(b"\n")
        except FileNotFoundError:
            return False

    def get_info(self, session_id: str) -> SessionInfo:
        """The session's summary. Raises ``SessionNotFoundError``."""

        def info(state: _State) -> SessionInfo:
            self._refresh(state)
            return state.info()

        return self._run(session_id, info)

    def list_sessions(self, agent: str | None = None) -> Iterator[SessionInfo]:
        """Summaries of the stored sessions, read cheaply: a session file is parsed in full only if it
        has restore records; otherwise its header and a byte count of message records suffice."""
        with _os_errors(self.base_dir):
            yield from self._list_sessions(agent)

    def _list_sessions(self, agent: str | None) -> Iterator[SessionInfo]:
        self._check_open()
        try:
            agents = (
                [agent]
                if agent is not None
                else sorted(d.name for d in os.scandir(self.base_dir) if d.is_dir(follow_symlinks=False))
            )
        except FileNotFoundError:
            return
        for name in agents:
            try:
                files = list(os.scandir(self.base_dir / name))
            except FileNotFoundError:
                continue
            for item in files:
                if not item.name.endswith(SUFFIX):
                    continue
                try:
                    info = self._summary(Path(item.path), item.name[: -len(SUFFIX)], name)
                except SessionCorruptedError as exc:
                    # one damaged file must not hide every other session; opening it still raises
                    log.warning("session.list.skipped_corrupted", path=item.path, error=str(exc))
                    continue
                if info is not None:
                    yield info

    def _summary(self, path: Path, session_id: str, agent: str) -> SessionInfo | None:
        try:
            st = path.stat()
            cached = self._info_cache.get(path)
            if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
                return cached[2]
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        end = data.rfind(b"\n")
        first = data.find(b"\n")
        if first < 0:
            return None  # no complete header: a create that crashed
        data = data[: end + 1]
        if b'\n{"k":"r"' in data or b'\n{"k":"h"' in data:
            try:
                info = self.get_info(session_id)
            except SessionNotFoundError:
                return None
        else:
            try:
                header = json.loads(data[:first])
                created = parse_ts(header["created_at"])
            except (ValueError, KeyError, TypeError) as exc:
                raise SessionCorruptedError(f"damaged header ({exc})", session_id, path, 1) from None
            info = SessionInfo(
                id=session_id,
                agent=agent,
                user_id=header.get("user_id"),
                created_at=created,
                updated_at=datetime.fromtimestamp(st.st_mtime, UTC),
                message_count=sum(data.count(prefix) for prefix in _MESSAGE_PREFIXES),
                metadata=dict(header.get("metadata") or {}),
            )
        self._info_cache[path] = (st.st_mtime_ns, st.st_size, info)
        return info

    def delete_session(self, session_id: str) -> bool:
        """Delete the session's file and lease file. Returns False if it did not exist."""

        def delete(state: _State) -> bool:
            fcntl.flock(state.fd, fcntl.LOCK_EX)
            try:
                if os.fstat(state.fd).st_nlink == 0:
                    return False
                os.unlink(state.path)
                state.path.with_suffix(LEASE_SUFFIX).unlink(missing_ok=True)
                if self.fsync != "never":
                    self._fsync_dir(state.path.parent)
            finally:
                fcntl.flock(state.fd, fcntl.LOCK_UN)
            with self._lock:
                self._close_state_locked(state)
                self._info_cache.pop(state.path, None)
            self._agents.pop(session_id, None)
            return True

        try:
            return self._run(session_id, delete)
        except SessionNotFoundError:
            return False

    def append(
        self, session_id: str, entry_id: str, entry_type: EntryType, data: dict[str, Any], timestamp: datetime
    ) -> Entry:
        """Append one entry after the head (idempotent on ``entry_id``)."""

        def append(state: _State) -> Entry:
            existing = state.entries.get(entry_id)
            if existing is not None:
                return existing
            entry = Entry(
                id=entry_id,
                parent_id=state.head,
                seq=len(state.history) + 1,
                timestamp=timestamp,
                type=entry_type,
                data=data,
            )
            state.add_entry(entry, self._write_record(state, encode_entry(entry)))
            return entry

        return self._locked_write(session_id, append)

    def history(
        self, session_id: str, limit: int | None = None, before: int | None = None, after: int | None = None
    ) -> list[Entry]:
        """Entries of the current history (see :meth:`Backend.history`)."""

        def read(state: _State) -> list[Entry]:
            self._refresh(state)
            return slice_history(state.history, limit, before, after)

        return self._run(session_id, read)

    def all_entries(self, session_id: str) -> list[Entry]:
        """Every entry in the file, abandoned branches included, in file order."""

        def read(state: _State) -> list[Entry]:
            self._refresh(state)
            return list(state.entries.values())

        return self._run(session_id, read)

    def create_checkpoint(self, session_id: str, checkpoint_id: str, metadata: dict[str, Any]) -> Checkpoint:
        """Record a checkpoint at the head; its checksum is the head's hash chain value."""

        def create(state: _State) -> Checkpoint:
            head = state.head
            cp = Checkpoint(
                id=checkpoint_id,
                session_id=session_id,
                entry_id=head,
                seq=len(state.history),
                timestamp=utcnow(),
                checksum=state.hashes[head].hex(),
                metadata=metadata,
            )
            self._write_record(state, dumps(checkpoint_to_record(cp)))
            state.checkpoints[cp.id] = cp
            return cp

        return self._locked_write(session_id, create)

    def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """The session's checkpoints, oldest first."""

        def read(state: _State) -> list[Checkpoint]:
            self._refresh(state)
            return list(state.checkpoints.values())

        return self._run(session_id, read)

    def restore(self, session_id: str, checkpoint_id: str) -> Checkpoint:
        """Verify the checkpoint's checksum and durably move the head to it."""

        def restore(state: _State) -> Checkpoint:
            cp = state.checkpoints.get(checkpoint_id)
            if cp is None:
                raise CheckpointNotFoundError(
                    f"session {session_id!r} has no checkpoint {checkpoint_id!r}", session_id, checkpoint_id
                )
            actual = state.hashes[cp.entry_id].hex()
            if actual != cp.checksum:
                raise ChecksumMismatchError(
                    f"checkpoint {checkpoint_id!r} does not match the stored history (checksum {cp.checksum[:12]}…,"
                    f" history hashes to {actual[:12]}…): entries up to seq {cp.seq} were modified",
                    session_id,
                    state.path,
                )
            record = {
                "k": "r",
                "checkpoint_id": cp.id,
                "entry_id": cp.entry_id,
                "seq": cp.seq,
                "ts": format_ts(utcnow()),
            }
            self._write_record(state, dumps(record))
            state.move_head(cp.entry_id, cp.seq)
            return cp

        return self._locked_write(session_id, restore)

    def import_session(
        self, info: SessionInfo, entries: list[Entry], checkpoints: list[Checkpoint], head: str | None
    ) -> SessionInfo:
        """Write a whole session (see :meth:`Backend.import_session`), validated before anything is stored."""
        with _os_errors(self.base_dir / info.agent):
            return self._import_session(info, entries, checkpoints, head)

    def _import_session(
        self, info: SessionInfo, entries: list[Entry], checkpoints: list[Checkpoint], head: str | None
    ) -> SessionInfo:
        self._check_open()
        validate_id(info.agent, "agent name")
        validate_id(info.id)
        existing = self._locate(info.id)
        if existing is not None and self._has_header(existing):
            raise SessionExistsError(f"session {info.id!r} already exists", info.id)
        header = header_record(info.id, info.agent, info.user_id, info.created_at, info.metadata)
        lines = [dumps(header)]
        cursor: str | None = None
        by_id = {e.id: e for e in entries}
        for entry in entries:
            if entry.parent_id != cursor:
                parent_seq = by_id[entry.parent_id].seq if entry.parent_id in by_id else 0
                lines.append(dumps({"k": "h", "entry_id": entry.parent_id, "seq": parent_seq}))
            lines.append(encode_entry(entry))
            cursor = entry.id
        lines.extend(dumps(checkpoint_to_record(cp)) for cp in checkpoints)
        head_seq = by_id[head].seq if head in by_id else 0
        lines.append(dumps({"k": "h", "entry_id": head, "seq": head_seq}))
        payload = ("\n".join(lines) + "\n").encode()
        scratch = _State(self._path(info.agent, info.id), info.id, -1)
        try:
            self._apply_lines(scratch, payload)
        except SessionCorruptedError as exc:
            raise SessionCorruptedError(f"cannot import: {exc}", info.id) from None
        if scratch.offset != len(payload):
            raise SessionCorruptedError("cannot import: the data is incomplete", info.id)
        for cp in scratch.checkpoints.values():
            if scratch.hashes.get(cp.entry_id, b"").hex() != cp.checksum:
                raise ChecksumMismatchError(
                    f"cannot import: checkpoint {cp.id!r} does not match its entries", info.id
                )
        agent_dir = self.base_dir / info.agent
        self._make_dir(agent_dir)
        path = self._path(info.agent, info.id)
        tmp = path.with_name(f".{info.id}.import-{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, payload)
            if self.fsync != "never":
                os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if the id appeared meanwhile: never overwrite a session
        except FileExistsError:
            raise SessionExistsError(f"session {info.id!r} already exists", info.id) from None
        finally:
            tmp.unlink()
        if self.fsync != "never":
            self._fsync_dir(agent_dir)
        self._agents[info.id] = info.agent
        return self.get_info(info.id)

    def acquire_lease(self, session_id: str, ttl: float, wait: float | None) -> _FileLease:
        """Take the session's turn lease (an flock on ``<session>.lease``)."""
        path = self._run(session_id, lambda state: state.path)
        with _os_errors(path.parent):
            return _FileLease(path.with_suffix(LEASE_SUFFIX), session_id, ttl, wait)

    def close(self) -> None:
        """Flush (with ``batch``) and close every open file. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            states = list(self._states.values())
        self._stop_flusher.set()
        for state in states:
            with state.lock, self._lock:
                self._close_state_locked(state)


def slice_history(
    history: list[Entry], limit: int | None, before: int | None, after: int | None
) -> list[Entry]:
    """Apply ``limit``/``before``/``after`` (exclusive ``seq`` cursors) to a history whose entry at index i
    has ``seq`` i + 1. Shared by backends that keep the history as a list."""
    end = len(history) if before is None else max(0, min(len(history), before - 1))
    if after is not None:
        start = max(0, min(after, end))
        return history[start:end] if limit is None else history[start : min(end, start + limit)]
    start = 0 if limit is None else max(0, end - limit)
    return history[start:end]
