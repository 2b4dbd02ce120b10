"""The recent entries of the sessions a PostgreSQL store instance reads and writes, so a read of an
unchanged session moves no entries.

Each session's held window is a run of consecutive history entries (positions ``first+1 ..
first+len``) read or appended at a head (its ``seq`` and chain hash). A read whose range (the core's
:func:`~aixgo.session.core.slicing.range_bounds` at the held head's length) lies inside the window
sends the held head's hash with the statement; when the session's head is still that one, the
server answers without the entries and the held ones are returned. Any write by anyone moves the
head (a new chain hash), so a read is never stale. Memory is bounded by ``cache_bytes`` (the least
recently used sessions go first, and no session holds more than a quarter of it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from aixgo.session.core.slicing import HistoryRange, range_bounds
from aixgo.session.types import Entry


@dataclass
class _Held:
    head_hash: bytes
    head_seq: int
    first: int  # index (seq - 1) of entries[0]
    entries: list[Entry]
    sizes: list[int]
    size: int


class RecentEntries:
    """Held windows of recent entries, per session, within a byte budget. Thread-safe."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._per_session = budget // 4
        self._lock = threading.Lock()
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._size = 0

    def lookup(self, session_id: str, rng: HistoryRange) -> tuple[bytes, list[Entry]] | None:
        """The held head's hash and the entries ``rng`` selects from it, if the window holds them all."""
        with self._lock:
            held = self._held.get(session_id)
            if held is None:
                return None
            start, stop = range_bounds(held.head_seq, rng)
            if start >= stop:
                return held.head_hash, []
            if start < held.first or stop > held.first + len(held.entries):
                return None
            self._held.move_to_end(session_id)
            return held.head_hash, held.entries[start - held.first : stop - held.first]

    def read(self, session_id: str, head_hash: bytes, head_seq: int, rng: HistoryRange, entries: list[Entry], size: int) -> None:
        """Hold what a read returned (``size``: its stored bytes), replacing the session's window."""
        start, _ = range_bounds(head_seq, rng)
        sizes = [size // len(entries)] * len(entries) if entries else []
        self._put(session_id, _Held(head_hash, head_seq, start, list(entries), sizes, sum(sizes)))

    def appended(self, session_id: str, before: bytes, after: bytes, entry: Entry, size: int) -> None:
        """This instance appended ``entry`` (``size`` bytes) after the head ``before``: extend the window
        if it ends at that head."""
        with self._lock:
            held = self._held.get(session_id)
            if held is None or held.head_hash != before or held.first + len(held.entries) != held.head_seq:
                return
            held.entries.append(entry)
            held.sizes.append(size)
            held.size += size
            self._size += size
            held.head_hash, held.head_seq = after, entry.seq
            while held.size > self._per_session and held.entries:
                held.entries.pop(0)
                dropped = held.sizes.pop(0)
                held.size -= dropped
                self._size -= dropped
                held.first += 1
            self._shrink()

    def started(self, session_id: str, head_hash: bytes) -> None:
        """A new, empty session: hold its empty history, so its first appends are held too."""
        self._put(session_id, _Held(head_hash, 0, 0, [], [], 0))

    def drop(self, session_id: str) -> None:
        """Forget the session (deleted, restored, imported)."""
        with self._lock:
            held = self._held.pop(session_id, None)
            if held is not None:
                self._size -= held.size

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._held.clear()
            self._size = 0

    def _put(self, session_id: str, held: _Held) -> None:
        if held.size > self._per_session:
            self.drop(session_id)
            return
        with self._lock:
            old = self._held.pop(session_id, None)
            if old is not None:
                self._size -= old.size
            self._held[session_id] = held
            self._size += held.size
            self._shrink()

    def _shrink(self) -> None:
        while self._size > self._budget and self._held:
            _, oldest = self._held.popitem(last=False)
            self._size -= oldest.size


__all__ = ["RecentEntries"]
