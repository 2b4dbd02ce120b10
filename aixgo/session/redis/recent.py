"""The recent entries of each session, kept by one Redis store instance and checked on every read.

A read of the last N entries of an unchanged session should not move N entries over the network
and decode them again. Each instance keeps, per session, the last entries of the history as they
were at a given head (history length and head chain hash): the ones it appended itself, and the
ones a read brought back when the read reached the end of the history. A read that falls inside
them still runs the history script, which answers ``same`` instead of the entries when the stored
head is still that length and hash (after the same eviction check as every read), so a read never
returns what another node has since changed. The chain hash commits to the bytes of every entry of
the history, so an equal hash means an equal history.

Memory is bounded by a byte budget over all sessions (least recently used sessions go first; each
counts its entries' stored bytes and :data:`TAIL_OVERHEAD`); one session keeps at most a quarter of
the budget, its newest entries. The default budget (64 MiB) keeps whole sessions of tens of
thousands of entries, as the file store keeps whole sessions replayed. A restore, an import or a
delete drops the session's entries; the next read fetches them again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from aixgo.session.core.slicing import HistoryRange, range_bounds
from aixgo.session.types import Entry

SESSION_SHARE = 4
"""One session keeps at most ``budget // SESSION_SHARE`` bytes of entries (the newest)."""
_CUT_TO = 0.9  # over its share, a session is cut to 90% of it, so a long run of appends cuts rarely
TAIL_OVERHEAD = 512
"""Bytes each kept session counts for besides its entries, so that the budget also bounds how many
sessions are kept (an empty new session included)."""


class _Tail:
    """The last ``len(entries)`` entries of a history of ``length`` entries whose head hash is ``head``."""

    __slots__ = ("entries", "head", "length", "sizes", "weight")

    def __init__(self, length: int, head: str, entries: list[Entry], sizes: list[int]) -> None:
        self.length = length
        self.head = head
        self.entries = entries
        self.sizes = sizes
        self.weight = TAIL_OVERHEAD + sum(sizes)

    def fit(self, share: int) -> int:
        """Cut the oldest entries if they hold more than ``share`` bytes; the bytes freed."""
        excess = self.weight - TAIL_OVERHEAD - share
        if excess <= 0:
            return 0
        excess += int(share * (1 - _CUT_TO))
        drop = freed = 0
        for size in self.sizes:
            if freed >= excess:
                break
            freed += size
            drop += 1
        del self.entries[:drop], self.sizes[:drop]
        self.weight -= freed
        return freed


class RecentEntries:
    """Per-session tails of recent entries under one byte budget (``budget`` 0 keeps nothing).

    Thread-safe. Sizes are the entries' stored bytes (canonical JSON)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.share = budget // SESSION_SHARE
        self._tails: OrderedDict[str, _Tail] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        """Bytes of entries kept, over all sessions."""
        return self._held

    def lookup(self, session_id: str, rng: HistoryRange) -> tuple[int, str, list[Entry]] | None:
        """``(length, head hash, entries)`` if the kept tail holds every entry ``rng`` selects from
        the history it was kept at; the caller must confirm that the stored head is still that."""
        with self._lock:
            tail = self._tails.get(session_id)
            if tail is None:
                return None
            start, stop = range_bounds(tail.length, rng)
            first = tail.length - len(tail.entries)
            if start >= stop:
                return tail.length, tail.head, []
            if start < first:
                return None
            self._tails.move_to_end(session_id)
            return tail.length, tail.head, tail.entries[start - first : stop - first]

    def read(
        self, session_id: str, length: int, head: str, start: int, entries: list[Entry], size: int
    ) -> None:
        """A read returned ``entries`` (``size`` stored bytes in all) from index ``start`` of the
        history of ``length`` entries at head hash ``head``: keep them if they end the history."""
        if start + len(entries) != length or not self.budget:
            return
        with self._lock:
            tail = self._tails.get(session_id)
            if (
                tail is not None
                and tail.length == length
                and tail.head == head
                and len(tail.entries) >= len(entries)
            ):
                return  # what is kept already holds these
            each = size // len(entries) if entries else 0
            tail = _Tail(length, head, list(entries), [each] * len(entries))
            tail.fit(self.share)
            self._put(session_id, tail)

    def appended(
        self, session_id: str, length: int, head: str, entry: Entry, size: int, new_head: str
    ) -> None:
        """This instance appended ``entry`` (``size`` bytes) to the history of ``length`` entries at
        head hash ``head``; the head hash is now ``new_head``."""
        with self._lock:
            tail = self._tails.get(session_id)
            if tail is None:
                return
            if tail.length != length or tail.head != head:
                self._remove(session_id)  # another writer moved the head: the next read refills it
                return
            tail.entries.append(entry)
            tail.sizes.append(size)
            tail.length, tail.head = length + 1, new_head
            tail.weight += size
            self._held += size - tail.fit(self.share)
            self._tails.move_to_end(session_id)
            self._fit(keep=session_id)

    def started(self, session_id: str, head: str) -> None:
        """A new, empty session (head hash ``head``): every read of it is known until it changes."""
        if self.budget:
            with self._lock:
                self._put(session_id, _Tail(0, head, [], []))

    def drop(self, session_id: str) -> None:
        """Forget the session's entries (it was restored, imported or deleted)."""
        with self._lock:
            self._remove(session_id)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._tails.clear()
            self._held = 0

    def _put(self, session_id: str, tail: _Tail) -> None:
        self._remove(session_id)
        self._tails[session_id] = tail
        self._held += tail.weight
        self._fit(keep=session_id)

    def _remove(self, session_id: str) -> None:
        tail = self._tails.pop(session_id, None)
        if tail is not None:
            self._held -= tail.weight

    def _fit(self, keep: str) -> None:
        """Drop least recently used tails while over budget; ``keep`` goes last, and only if it
        alone is over the budget."""
        while self._held > self.budget and self._tails:
            oldest = next(iter(self._tails))
            if oldest == keep and len(self._tails) > 1:
                self._tails.move_to_end(keep)
                continue
            self._remove(oldest)


__all__ = ["SESSION_SHARE", "TAIL_OVERHEAD", "RecentEntries"]
