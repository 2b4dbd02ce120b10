"""One session's log file, open in this process, read from its end.

(Longer than most modules: opening, catching up, the backward reads and the writes all keep one invariant,
``offset`` = the bytes of complete lines this process has applied, so they stay in one class.)

:class:`SessionLog` holds the descriptor of ``<session-id>.jsonl`` and what the session is at its
end (:class:`~aixgo.session.core.state.HeadTracker`: header, head, "updated"), read from the first
line and the last head-moving line (see :mod:`aixgo.session.file.lines`). So a new process answers
``info``, appends, checkpoints and reads the last N entries in time and memory proportional to what
they touch, not to the session's length; it keeps only a bounded window of recent entries. The
operations that need the whole tree (every entry, the checkpoints, a restore, an export) replay the
file once (:mod:`aixgo.session.file.replay`) and keep that replay while the store's byte budget
allows.

Writers append each record as one ``write`` (looping on a short write) under ``flock(LOCK_EX)`` and
the log's thread lock; readers take no lock: a record's single ``write`` ends with its newline, so a
reader that meets a record being written sees an unterminated tail and ignores it. A complete line
that fails its checksum, does not parse or breaks a rule is damage, wherever it is: an error names
the file and line and nothing is cut away. Only an unterminated last line is a torn write: the next
writer cuts it off.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from aixgo.errors import SessionCorruptedError, StoreError, UnsupportedVersionError
from aixgo.logs import get_logger
from aixgo.session.core.codec import ENTRY_LINK, ENTRY_START, dumps, kind_of, loads, moved_to, parse_ts
from aixgo.session.core.records import (
    Header,
    HeadMove,
    NewerVersionError,
    RecordError,
    entry_from_record,
    header_from_record,
)
from aixgo.session.core.slicing import HistoryRange, apply_range, range_bounds
from aixgo.session.core.state import EMPTY_HEAD, Head, HeadTracker, SessionState
from aixgo.session.file.dirs import write_all
from aixgo.session.file.ids import SUFFIX as IDS_SUFFIX
from aixgo.session.file.ids import IdIndex, id_hash, read_line
from aixgo.session.file.lines import (
    CRC_DIGITS,
    LineError,
    frame,
    head_from_meta,
    iter_back,
    line_number,
    unframe,
)
from aixgo.session.file.locks import writer_at_work
from aixgo.session.file.repair import move_aside
from aixgo.session.file.replay import Replay
from aixgo.session.types import Checkpoint, Entry, SessionInfo

log = get_logger("aixgo.session.file")


RECENT_LIMIT = 512
"""Recent entries of the history a log keeps in memory (warm reads of the last N are a slice)."""
MAX_RECENT = 4 * RECENT_LIMIT
"""The most entries kept in the recent window (older pages read back widen it up to this)."""
_NULL = dumps(None).encode()
OPEN_READ = 64 * 1024
"""Bytes read at once when a session file is opened (the whole file, when it is no larger)."""
HEADER_READ = 4096
"""Bytes read first from each end of a larger file (its header; its last newline)."""


class os_errors:  # lower case: used as a function, ``with os_errors(path): ...``
    """Turn an operating-system failure (permissions, full disk, a file where a folder should be) into
    a :class:`StoreError` naming the path. A class, not ``@contextmanager``: it wraps every store
    operation, and a generator per use costs more than the warm read it wraps."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, OSError):
            where = exc.filename if exc.filename is not None else self.path
            raise StoreError(f"file store: {exc.strerror or exc} ({where})") from exc


class IndexBudget:
    """How many entry-id index files a store keeps open at most (each an open descriptor beside the
    session file's): the least recently opened are closed first, when their session is not in use."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._open: dict[int, SessionLog] = {}  # in the order opened

    def opened(self, session_log: SessionLog) -> None:
        """``session_log`` opened its index (its lock is held); close others' beyond the limit."""
        with self._lock:
            self._open.pop(id(session_log), None)
            self._open[id(session_log)] = session_log
            over = [self._open.pop(key) for key in list(self._open)[: max(0, len(self._open) - self.limit)]]
        for old in over:
            if old.lock.acquire(blocking=False):  # one in use stays open a while longer
                try:
                    old.close_ids()
                finally:
                    old.lock.release()

    def closed(self, session_log: SessionLog) -> None:
        """``session_log`` closed its index."""
        with self._lock:
            self._open.pop(id(session_log), None)


class SessionLog:
    """This process's view of one session file (see the module docstring)."""

    def __init__(self, path: Path | str, session_id: str, fd: int, index_budget: IndexBudget | None = None) -> None:
        self._path = path  # a Path is built on first use: listing opens thousands of logs and needs none
        self.session_id = session_id
        self.fd = fd
        self.lock = threading.RLock()
        self.closed = False
        self.offset = 0  # bytes of complete lines read or written
        self.tracker: HeadTracker | None = None
        self.full: Replay | None = None
        self.recent: list[Entry] | None = None  # the last entries of the history, when known
        self.recent_keep = RECENT_LIMIT  # how many of them to keep (more once older pages were read)
        self.ids: IdIndex | None = None  # the entry-id index beside the file, opened by the first append
        self.tail_reported = False
        self.index_budget = index_budget
        self.last_write_offset = 0

    @property
    def path(self) -> Path:
        """The session file's path."""
        path = self._path
        if isinstance(path, Path):
            return path
        self._path = path = Path(path)
        return path

    @functools.cached_property
    def identity(self) -> tuple[int, int]:
        """Device and inode of the open file (to tell when its path names another file, or none)."""
        opened = os.fstat(self.fd)
        return opened.st_dev, opened.st_ino

    # -- what the session is ------------------------------------------------------------------

    @property
    def head(self) -> Head:
        """The current head."""
        return self._tracker().head

    def info(self) -> SessionInfo:
        """The session's summary."""
        return self._tracker().info()

    @property
    def weight(self) -> int:
        """Roughly the bytes of session data this log keeps in memory: the whole file once replayed,
        else the recent window's share of it (older pages read back widen that window)."""
        if self.full is not None:
            return self.offset
        if self.recent is None or self.tracker is None:
            return 0
        return self.offset * len(self.recent) // max(1, self.tracker.head.seq)

    def _tracker(self) -> HeadTracker:
        if self.tracker is None:
            raise self._damage("the session has no header", 1)
        return self.tracker

    def _damage(self, reason: str, line: int | None) -> SessionCorruptedError:
        return SessionCorruptedError(
            f"damaged record: {reason}", session_id=self.session_id, path=self.path, line=line
        )

    def _damage_at(self, reason: str, offset: int) -> SessionCorruptedError:
        return self._damage(reason, line_number(self.fd, offset) if self.fd >= 0 else None)

    # -- opening -------------------------------------------------------------------------------

    def open(self, prefix: bytes | None = None, size: int | None = None) -> bool:
        """Read the header and the session's end; False if the file holds no complete header line.

        ``prefix``: the file's first bytes, and ``size`` its size, if the caller read them already.
        A file of up to :data:`OPEN_READ` bytes is read in one call."""
        if size is None:
            size = os.fstat(self.fd).st_size
        if prefix is None:  # a small file at once; of a large one, what its header needs
            prefix = os.pread(self.fd, size if size <= OPEN_READ else HEADER_READ, 0)
        first = prefix
        if b"\n" not in first and len(first) < min(size, OPEN_READ):
            first = os.pread(self.fd, min(size, OPEN_READ), 0)
        newline = first.find(b"\n")
        if newline < 0 or b"\t" not in first[:newline]:
            # no complete header in the first bytes (a huge header, or a crashed create), or a file
            # without checksums (no head metadata to read from): replay it
            self.load_full(size)
            return self.tracker is not None
        header = self._header(first[:newline])
        whole = len(first) == size
        end = first.rfind(b"\n") + 1 if whole else self._end_of_complete_lines(size)
        lines = _lines_back(first, end) if whole else iter_back(self.fd, end, HEADER_READ)
        updated = None
        head = EMPTY_HEAD
        for offset, line in lines:
            if offset == 0:
                break
            _, meta, rec = self._decode(line, offset)
            if updated is None:
                updated = rec.get("ts") if isinstance(rec.get("ts"), str) else None
            if meta is not None:
                head = self._meta_head(*moved_to(rec), meta, offset)
                break
        tracker = HeadTracker(header, head, header.created_at)
        if updated is not None:
            try:
                tracker.updated = parse_ts(updated)
            except ValueError as exc:
                raise self._damage_at(str(exc), end) from None
        self.tracker = tracker
        self.offset = end
        return True

    def _header(self, line: bytes) -> Header:
        try:
            record, _ = unframe(line, checksummed=True)
            header = header_from_record(loads(record))
        except NewerVersionError as exc:
            raise UnsupportedVersionError(
                str(exc), session_id=self.session_id, path=self.path, line=1
            ) from None
        except ValueError as exc:
            raise self._damage(str(exc), 1) from None
        if header.id != self.session_id:
            raise self._damage(f"the header names session {header.id!r}, not {self.session_id!r}", 1)
        return header

    def _end_of_complete_lines(self, size: int) -> int:
        pos = size
        step = HEADER_READ  # a file normally ends with its newline: a small read finds it
        while pos > 0:
            start = max(0, pos - step)
            step = OPEN_READ
            newline = os.pread(self.fd, pos - start, start).rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            pos = start
        return 0

    def _decode(self, line: bytes, offset: int) -> tuple[bytes, bytes | None, dict[str, object]]:
        try:
            record, meta = unframe(line, checksummed=True)
            rec = loads(record)
        except ValueError as exc:
            raise self._damage_at(str(exc), offset) from None
        if not isinstance(rec, dict):
            raise self._damage_at("a record must be a JSON object", offset)
        return record, meta, rec

    def _meta_head(self, ident: object, seq: object, meta: bytes, offset: int) -> Head:
        if not (ident is None or isinstance(ident, str)) or type(seq) is not int:
            raise self._damage_at("a head-moving record without a valid entry id and seq", offset)
        try:
            return head_from_meta(ident, seq, meta)
        except ValueError as exc:
            raise self._damage_at(str(exc), offset) from None

    @contextlib.contextmanager
    def _at(self, offset: int) -> Iterator[None]:
        """Report a ``ValueError`` (a refused record or line) as damage at ``offset``."""
        try:
            yield
        except ValueError as exc:  # RecordError, LineError, bad timestamps
            raise self._damage_at(str(exc), offset) from None

    def load_full(self, end: int | None = None) -> SessionState:
        """Replay the whole file (up to ``end``, default: what this log has read) and keep the replay."""
        if self.full is None:
            replay = Replay(self.path, self.session_id)
            data = os.pread(self.fd, self.offset if end is None else end, 0)
            replay.apply_lines(data)
            self.full = replay
            self.offset = replay.offset
            self.recent = None
            self._follow_full()
        return self.full.state

    def _follow_full(self) -> None:
        assert self.full is not None
        state = self.full.state
        if state.header is not None:
            self.tracker = HeadTracker(state.header, state.head, state.updated or state.header.created_at)

    # -- reading -------------------------------------------------------------------------------

    def catch_up(self, *, exclusive: bool, sync: Callable[[int], None], size: int | None = None) -> None:
        """Apply the records appended since the last read; the caller holds :attr:`lock`.

        ``size``: the file's size when the caller has just read it (else it is read here). Bytes after
        the last complete line are a record being written, or what a crash left: with ``exclusive`` the
        caller holds ``flock(LOCK_EX)``, so no writer is at work and they are settled
        (:meth:`_settle_tail`); otherwise they are left alone (and logged once if no writer holds the
        lock)."""
        if size is None:
            size = os.fstat(self.fd).st_size
        if size == self.offset:
            return
        if size < self.offset:
            raise SessionCorruptedError(
                f"the file shrank from {self.offset} to {size} bytes while open",
                session_id=self.session_id,
                path=self.path,
            )
        data = os.pread(self.fd, size - self.offset, self.offset)
        if self.full is not None:
            consumed = self.full.apply_lines(data)
            self.offset = self.full.offset
            self._follow_full()
        else:
            consumed = self._apply_tail(data)
        if consumed == len(data):
            return
        if exclusive:
            self._settle_tail(data[consumed:], sync)
        elif not self.tail_reported and not writer_at_work(self.fd):
            self.tail_reported = True
            log.warning(
                "session.unterminated_tail",
                session_id=self.session_id,
                path=str(self.path),
                bytes=len(data) - consumed,
                hint="a crash mid-write or damage; the next write moves it aside",
            )

    def _settle_tail(self, tail: bytes, sync: Callable[[int], None]) -> None:
        """Bytes after the last complete line, with no writer at work: a whole record that lost only its
        newline gets it back; anything else (a torn write, zeroed blocks) is moved, byte for byte, to
        ``<file>.damaged-<time>`` beside the file and cut off. Nothing is dropped unreported."""
        if _whole_record(tail):
            write_all(self.fd, b"\n")
            sync(self.fd)
            log.warning("session.newline_restored", session_id=self.session_id, path=str(self.path))
            self.catch_up(exclusive=True, sync=sync)
            return
        aside = move_aside(self.path, tail)
        log.warning(
            "session.unterminated_tail_moved_aside",
            session_id=self.session_id,
            path=str(self.path),
            bytes=len(tail),
            moved_to=str(aside),
        )
        os.ftruncate(self.fd, self.offset)
        sync(self.fd)

    def _apply_tail(self, data: bytes) -> int:
        tracker = self._tracker()
        pos = 0
        while True:
            newline = data.find(b"\n", pos)
            if newline < 0:
                return pos
            offset = self.offset
            record, meta, rec = self._decode(data[pos:newline], offset)
            head_after = None
            if meta is not None:
                head_after = self._meta_head(*moved_to(rec), meta, offset)
            with self._at(offset):
                entry = tracker.apply(rec, record, head_after)
            if entry is not None:
                self._remember(entry)
            elif head_after is not None:
                self.recent = None
            self.offset += newline + 1 - pos
            pos = newline + 1

    def _remember(self, entry: Entry) -> None:
        if self.recent is not None:
            self.recent.append(entry)
            if len(self.recent) > 2 * self.recent_keep:
                del self.recent[: -self.recent_keep]

    def history(self, rng: HistoryRange) -> list[Entry]:
        """The entries of the current history that ``rng`` selects: from the replay when this process
        has one, from the recent window when it covers them, else read backwards from the end (or,
        for more than :data:`RECENT_LIMIT` entries, from a replay, kept for the next read)."""
        if self.full is not None:
            return apply_range(self.full.state.history, rng)
        length = self.head.seq
        start, stop = range_bounds(length, rng)
        if start >= stop:
            return []
        if stop - start > RECENT_LIMIT:
            return apply_range(self.load_full().history, rng)
        recent = self.recent
        if recent is not None and start >= length - len(recent):
            first = length - len(recent)
            return recent[start - first : stop - first]
        if stop < length and length - start <= MAX_RECENT:
            # an older page: reading back passes every entry after it anyway, so keep them all; the
            # next pages of a reader paging back to the start (every turn of an agent) cost nothing
            entries = self._read_back(start, length)
            self.recent = entries
            self.recent_keep = max(self.recent_keep, len(entries))
            return entries[: stop - start]
        entries = self._read_back(start, stop)
        if stop == length:
            self.recent = entries[-RECENT_LIMIT:]
        return entries

    def _read_back(self, start: int, stop: int) -> list[Entry]:
        """History entries with index in ``[start, stop)``, found by following parents from the head.

        Entry lines are recognised and linked by their canonical prefix (``id``, ``parent_id``); the
        ones kept are checked against their CRC and decoded in one parser call."""
        if stop == self.head.seq:
            linear = self._read_tail_linear(stop - start)
            if linear is not None:
                return linear
        head = self.head.entry_id
        want = _NULL if head is None else dumps(head).encode()  # ids compared in their canonical JSON form
        seq = self.head.seq
        kept: list[tuple[int, bytes]] = []
        for offset, line in iter_back(self.fd, self.offset):
            if want == _NULL or seq <= start:
                break
            match = ENTRY_LINK.match(line)
            if match is None:
                if line.startswith(ENTRY_START):  # an entry line of an unexpected shape: decode it to say why
                    self._decode(line, offset)
                continue
            if match.group(1) != want:
                continue
            if seq <= stop:
                kept.append((offset, line))
            want, seq = match.group(2), seq - 1
        if seq > start:  # the chain is broken: replaying the file names the damaged line
            self.load_full()
            raise self._damage(f"entry {want.decode()} of the history (seq {seq}) is not in the file", None)
        kept.reverse()
        entries = self._decode_entries(kept, stop)
        assert entries is not None
        return entries

    def _read_tail_linear(self, count: int) -> list[Entry] | None:
        """The last ``count`` entries of the history when they are the file's last ``count`` entry lines
        (a session whose end was not restored elsewhere, the common case); None when they are not."""
        kept: list[tuple[int, bytes]] = []
        guess = max(HEADER_READ, count * 384)  # about what ``count`` lines take: grows if short
        for offset, line in iter_back(self.fd, self.offset, guess):
            if line.startswith(ENTRY_START):
                kept.append((offset, line))
                if len(kept) == count:
                    break
        if len(kept) != count:
            return None
        kept.reverse()
        entries = self._decode_entries(kept, self.head.seq, check=False)
        if entries is None or entries[-1].id != self.head.entry_id:
            return None
        for previous, entry in itertools.pairwise(entries):
            if entry.parent_id != previous.id:
                return None
        return entries

    def _decode_entries(
        self, kept: list[tuple[int, bytes]], last_seq: int, *, check: bool = True
    ) -> list[Entry] | None:
        bodies = []
        for offset, line in kept:
            payload, _, crc = line.rpartition(b"\t")  # unframe(), inlined: this loop is the hot path
            try:
                if len(crc) != CRC_DIGITS or zlib.crc32(payload) != int(crc, 16):
                    raise LineError("its checksum does not match its content")
            except ValueError as exc:
                raise self._damage_at(
                    str(exc) if isinstance(exc, LineError) else "its checksum is malformed", offset
                ) from None
            bodies.append(payload.partition(b"\t")[0])
        try:
            records = loads(b"[" + b",".join(bodies) + b"]")
            entries = [entry_from_record(rec) for rec in records]
        except ValueError:  # find the line to blame
            for offset, line in kept:
                _, _, rec = self._decode(line, offset)
                try:
                    entry_from_record(rec)
                except RecordError as exc:
                    raise self._damage_at(str(exc), offset) from None
            raise
        first_seq = last_seq - len(entries) + 1
        for index, entry in enumerate(entries):
            if entry.seq != first_seq + index:
                if not check:
                    return None
                raise self._damage_at(
                    f"entry {entry.id!r} has seq {entry.seq}, its place in the history {first_seq + index}",
                    kept[index][0],
                )
        return entries

    def find_entry(self, entry_id: str) -> Entry | None:
        """The stored entry with this id, wherever it is in the file: how a retried append is recognised.
        The caller holds :attr:`lock` and the file's write lock.

        From the replay when this process holds one, else through the entry-id index beside the file
        (:mod:`aixgo.session.file.ids`), each hit read back from the file. A hit that is not that entry
        means a damaged index: it is rebuilt from the file and asked again. Either way the index is
        brought up to date first, since this append will be filed in it."""
        ids = self._id_index()
        if self.full is not None:
            return self.full.state.entries.get(entry_id)
        if ids is None:  # the index cannot be written (a full disk?): the replay answers instead
            return self.load_full().entries.get(entry_id)
        found, misfiled = self._look_up(ids, entry_id)
        if misfiled:
            log.warning("session.ids.misfiled", session_id=self.session_id, path=str(ids.path))
            ids.rebuild(self.offset)
            found, _ = self._look_up(ids, entry_id)
        return found

    def _look_up(self, ids: IdIndex, entry_id: str) -> tuple[Entry | None, bool]:
        """The entry the index files under ``entry_id``'s hash, read back from the file, and whether a
        slot pointed at a line that is not that entry."""
        misfiled = False
        for at in ids.candidates(entry_id):
            if at >= self.offset or (at > 0 and os.pread(self.fd, 1, at - 1) != b"\n"):
                misfiled = True
                continue
            _, _, rec = self._decode(read_line(self.fd, at, self.offset), at)  # a damaged line is damage
            other = rec.get("id") if kind_of(rec) == "e" else None
            if other != entry_id:  # another entry whose id shares the hash is no damage; anything else is
                misfiled = misfiled or not (isinstance(other, str) and id_hash(other) == id_hash(entry_id))
                continue
            with self._at(at):
                return entry_from_record(rec), misfiled
        return None, misfiled

    def _id_index(self) -> IdIndex | None:
        """The entry-id index, current up to :attr:`offset`; None if it cannot be read or written."""
        try:
            if self.ids is None:
                self.ids = IdIndex(self.path.with_suffix(IDS_SUFFIX), self.fd)
            opening = self.ids.fd < 0
            self.ids.refresh(self.offset)
        except OSError as exc:
            log.warning("session.ids.unavailable", session_id=self.session_id, error=str(exc))
            self.close_ids()
            return None
        if opening and self.index_budget is not None:
            self.index_budget.opened(self)
        return self.ids

    def close_ids(self) -> None:
        """Close the entry-id index's file (the next append opens it again); the caller holds :attr:`lock`."""
        if self.ids is not None:
            with contextlib.suppress(OSError):
                self.ids.close()
            if self.index_budget is not None:
                self.index_budget.closed(self)

    # -- writing ------------------------------------------------------------------------------

    def write_record(self, line: str, head: Head | None, sync: Callable[[int], None]) -> bytes:
        """Write one record (with the head it leaves, if it moves it); the caller holds :attr:`lock` and
        ``flock(LOCK_EX)``. Returns the record's JSON bytes. A failed or short write is cut off again,
        so nothing half-written stays visible."""
        raw = line.encode()
        payload = frame(raw, head)
        self.last_write_offset = self.offset
        try:
            write_all(self.fd, payload)
            sync(self.fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.offset)
            raise StoreError(f"cannot write to {self.path}: {exc.strerror or exc}") from exc
        self.offset += len(payload)
        if self.full is not None:
            self.full.offset = self.offset
            self.full.lines += 1
        return raw

    def note_entry(self, entry: Entry, raw: bytes, head: Head) -> None:
        """Record an entry just written."""
        tracker = self._tracker()
        tracker.head, tracker.updated = head, entry.timestamp
        self._remember(entry)
        if self.ids is not None:
            try:
                self.ids.add(entry.id, self.last_write_offset, self.offset)
            except OSError as exc:  # the entry is stored; the next append indexes it from the file
                log.warning("session.ids.unavailable", session_id=self.session_id, error=str(exc))
                self.close_ids()
        if self.full is not None:
            self.full.state.add_entry(entry, raw, head)

    def note_checkpoint(self, cp: Checkpoint) -> None:
        """Record a checkpoint just written."""
        self._tracker().updated = cp.timestamp
        if self.full is not None:
            self.full.state.add_checkpoint(cp)

    def note_head_move(self, move: HeadMove, head: Head) -> None:
        """Record a restore just written (this log holds the replay: restores need it)."""
        tracker = self._tracker()
        tracker.head = head
        if move.timestamp is not None:
            tracker.updated = move.timestamp
        self.recent = None
        if self.full is not None:
            self.full.state.apply_head_move(move)


def _whole_record(tail: bytes) -> bool:
    """Whether bytes after a file's last newline are one whole record (its checksum right) that lacks only
    its newline."""
    try:
        record, _ = unframe(tail, checksummed=True)
        return isinstance(loads(record), dict)
    except ValueError:
        return False


def _lines_back(data: bytes, end: int) -> Iterator[tuple[int, bytes]]:
    """:func:`~aixgo.session.file.lines.iter_back` over bytes already read (the whole file)."""
    pos = end - 1  # the newline ending the last complete line
    while pos > 0:
        start = data.rfind(b"\n", 0, pos) + 1
        yield start, data[start:pos]
        pos = start - 1
