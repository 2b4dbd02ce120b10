"""The rules of one session, as a pure state machine over its records.

:class:`SessionState` is what a session *is*: a header, a tree of immutable entries with a movable
head, the SHA-256 chain hash of every entry, the checkpoints, and the time of the last record. It
is built by applying records in the order they were written (:meth:`SessionState.apply`), and it
decides every rule: which entry may follow the head (``seq`` = head's + 1, ``parent_id`` = head),
what a checkpoint records, which restores are valid (the checksum must match the history), how
many chat messages the history holds, and "updated" (the timestamp of the last record).

The file store replays its log through it, import validates through it, the in-memory store *is*
one, the Redis store builds its writes with :func:`next_entry` / :func:`checkpoint_at` from the
same :class:`Head`, and the hypothesis state machine of the contract suite uses it as its model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from aixgo.errors import CheckpointNotFoundError, ChecksumMismatchError
from aixgo.session.core.codec import ROOT_HASH, chain_hash, encode_entry, restore_record
from aixgo.session.core.records import (
    Header,
    HeadMove,
    RecordError,
    check_depth,
    check_json,
    check_size,
    checkpoint_from_record,
    entry_from_record,
    head_move_from_record,
    header_from_record,
    restore_move,
)
from aixgo.session.types import CHAT_ENTRY_TYPES, Checkpoint, Entry, EntryType, SessionInfo


class Head(NamedTuple):
    """Where a history ends: the head entry (None for the empty history), its ``seq``, chain hash, and
    the number of chat messages in the history. (A named tuple: replay makes one per entry.)"""

    entry_id: str | None = None
    seq: int = 0
    hash: bytes = ROOT_HASH
    message_count: int = 0


EMPTY_HEAD = Head()


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An entry built to follow a head: its canonical bytes and the head it makes."""

    entry: Entry
    encoded: str
    head: Head


def next_entry(
    head: Head, entry_id: str, entry_type: EntryType, data: dict[str, Any], timestamp: datetime
) -> PendingEntry:
    """The entry that appending ``data`` after ``head`` stores (the only place ``seq`` is assigned)."""
    entry = Entry(
        id=entry_id,
        parent_id=head.entry_id,
        seq=head.seq + 1,
        timestamp=timestamp,
        type=entry_type,
        data=data,
    )
    what = f"{entry_type.value} entry data"
    check_depth(data, what)
    try:
        encoded = encode_entry(entry)
    except (ValueError, TypeError) as exc:  # NaN, Infinity, or a value JSON cannot hold
        raise RecordError(f"{what} cannot be stored as JSON ({exc})") from None
    check_size(encoded, what)
    return PendingEntry(entry, encoded, _after(head, entry, encoded))


def follow(head: Head, entry: Entry, raw: str | bytes) -> Head:
    """The head ``entry`` makes when it is appended after ``head``: the rule every stored entry obeys
    (its parent is the head, its ``seq`` the head's + 1). Raises :class:`RecordError` otherwise."""
    if entry.parent_id != head[0] or entry.seq != head[1] + 1:
        raise RecordError(
            f"entry {entry.id!r} (seq {entry.seq}, parent {entry.parent_id!r}) does not follow the head "
            f"{head[0]!r} (seq {head[1]})"
        )
    return _after(head, entry, raw)


def _after(head: Head, entry: Entry, encoded: str | bytes) -> Head:
    return Head(entry.id, entry.seq, chain_hash(head[2], encoded), head[3] + (entry.type in CHAT_ENTRY_TYPES))


def checkpoint_at(
    head: Head, session_id: str, checkpoint_id: str, metadata: dict[str, Any], timestamp: datetime
) -> Checkpoint:
    """The checkpoint of ``head``: its checksum is the head's chain hash, so creating one is O(1).
    Raises :class:`RecordError` for metadata that may not be stored (:func:`check_json`)."""
    check_json(metadata, "checkpoint metadata")
    return Checkpoint(
        id=checkpoint_id,
        session_id=session_id,
        entry_id=head.entry_id,
        seq=head.seq,
        timestamp=timestamp,
        checksum=head.hash.hex(),
        metadata=metadata,
    )


def checksum_problem(cp: Checkpoint, actual: bytes | None) -> str | None:
    """Why restoring ``cp`` must be refused, given the chain hash of its entry recomputed from the stored
    bytes (None if the entry is missing); None when the checkpoint matches the history."""
    if actual is None:
        return f"checkpoint {cp.id!r} names entry {cp.entry_id!r}, which is not stored"
    if actual.hex() != cp.checksum:
        return (
            f"checkpoint {cp.id!r} does not match the stored history (checksum {cp.checksum[:12]}…, history "
            f"hashes to {actual.hex()[:12]}…): entries up to seq {cp.seq} were modified"
        )
    return None


def check_restore(
    session_id: str,
    checkpoint_id: str,
    cp: Checkpoint | None,
    actual: bytes | None,
    *,
    where: str | None = None,
) -> Checkpoint:
    """The checkpoint a restore moves to, if it may: raises ``CheckpointNotFoundError`` when there is
    none, ``ChecksumMismatchError`` when the stored bytes (whose chain hash is ``actual``) do not match."""
    if cp is None:
        raise CheckpointNotFoundError(
            f"session {session_id!r} has no checkpoint {checkpoint_id!r}",
            session_id=session_id,
            checkpoint_id=checkpoint_id,
        )
    problem = checksum_problem(cp, actual)
    if problem is not None:
        raise ChecksumMismatchError(problem, session_id=session_id, path=where)
    return cp


def branch_swap(
    entry_id: str | None, seq: int, abandoned: Callable[[str], bool], parent_of: Callable[[str], str | None]
) -> tuple[int, list[str]]:
    """Moving the head to ``entry_id`` (at ``seq``; None and 0 for the root): how many entries of the
    current history stay (its first ``keep``), and the ids of the abandoned entries that follow them,
    oldest first; the history becomes ``history[:keep]`` + those entries, and the rest of it is abandoned.

    ``abandoned(id)``: the entry is not in the current history; ``parent_of(id)``: its parent's id. The
    walk goes up from the entry while it is abandoned: the first ancestor in the history is at its seq,
    and so is every entry before it. Every store moves its head by this rule: :class:`SessionState`
    (file and memory stores) calls it, and the Redis store's ``restore.lua`` (``branch_swap`` in its
    prelude) and the PostgreSQL store's ``restore.sql`` (its ``branch``/``fork``) apply it to their keys
    and rows, tested against it (``tests/session/test_lua_rules.py``, the contract suite)."""
    branch: list[str] = []
    cursor, keep = entry_id, seq
    while keep > 0 and cursor is not None and abandoned(cursor):
        branch.append(cursor)
        cursor, keep = parent_of(cursor), keep - 1
    branch.reverse()
    return keep, branch


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent copy of one session, as a store reads it in one atomic step."""

    header: Header
    entries: list[Entry]  # every entry, in write order
    checkpoints: list[Checkpoint]  # oldest first
    head: Head
    updated: datetime


class HeadTracker:
    """What a session is at its end, without its history: header, head and "updated".

    For stores that read a session from its end (the file store's new processes) rather than replay
    it: each record is validated, each entry must :func:`follow` the head, and a record that moves the
    head elsewhere (restore, head move) comes with the head it leaves, as the store recorded it.
    :class:`SessionState` decides the same things with the whole tree in memory."""

    def __init__(self, header: Header, head: Head, updated: datetime) -> None:
        self.header = header
        self.head = head
        self.updated = updated

    def apply(self, rec: object, raw: str | bytes, head_after: Head | None) -> Entry | None:
        """Apply one decoded record after the header; returns the entry it adds, if any."""
        if not isinstance(rec, dict):
            raise RecordError("a record must be a JSON object")
        kind = rec.get("k")
        if kind == "e":
            entry = entry_from_record(rec)
            after = follow(self.head, entry, raw)
            if head_after is not None and head_after != after:
                raise RecordError(f"entry {entry.id!r} records another head than its content makes")
            self.head, self.updated = after, entry.timestamp
            return entry
        if kind == "c":
            self.updated = checkpoint_from_record(rec, self.header.id).timestamp
        elif kind in ("r", "h"):
            move = head_move_from_record(rec)
            if head_after is None or (head_after.entry_id, head_after.seq) != (move.entry_id, move.seq):
                raise RecordError("a head move without the head it leaves")
            self.head = head_after
            if move.timestamp is not None:
                self.updated = move.timestamp
        elif kind == "s":
            raise RecordError("a second session header")
        else:
            raise RecordError(f"unknown record kind {kind!r}")
        return None

    def info(self) -> SessionInfo:
        """The session's summary."""
        header = self.header
        return SessionInfo(
            id=header.id,
            agent=header.agent,
            user_id=header.user_id,
            created_at=header.created_at,
            updated_at=self.updated,
            message_count=self.head.message_count,
            metadata=dict(header.metadata),
        )


class SessionState:
    """One session's records applied in order; see the module docstring.

    Memory grows with the session (every entry is kept); stores that must bound memory keep only
    the :class:`Head` and read entries on demand, using the same functions."""

    def __init__(self) -> None:
        self.header: Header | None = None
        self.entries: dict[str, Entry] = {}  # every entry, abandoned branches included, in write order
        self.heads: dict[str | None, Head] = {None: Head()}  # entry id -> the head it makes
        self.history: list[Entry] = []  # history[i].seq == i + 1
        self.checkpoints: dict[str, Checkpoint] = {}  # in creation order
        self.updated: datetime | None = None
        self._head = EMPTY_HEAD

    # -- reading ------------------------------------------------------------------------------

    @property
    def head(self) -> Head:
        """The current head."""
        return self._head

    def info(self) -> SessionInfo:
        """The session's summary. ``updated_at`` is the timestamp of the last record."""
        header = self._header()
        return SessionInfo(
            id=header.id,
            agent=header.agent,
            user_id=header.user_id,
            created_at=header.created_at,
            updated_at=self.updated or header.created_at,
            message_count=self.head.message_count,
            metadata=dict(header.metadata),
        )

    def _header(self) -> Header:
        if self.header is None:
            raise RecordError("the session has no header")
        return self.header

    def snapshot(self) -> Snapshot:
        """A copy of everything the session holds (what an export writes)."""
        return Snapshot(
            self._header(),
            list(self.entries.values()),
            list(self.checkpoints.values()),
            self.head,
            self.info().updated_at,
        )

    # -- applying records ---------------------------------------------------------------------

    def apply(self, rec: object, raw: str | bytes | None = None) -> None:
        """Apply one decoded record (``raw``: its stored bytes, for an entry's chain hash).

        Raises :class:`RecordError` (or :class:`~aixgo.session.core.records.NewerVersionError`) for a
        record that is invalid here: malformed, out of order, or naming what does not exist."""
        if not isinstance(rec, dict):
            raise RecordError("a record must be a JSON object")
        kind = rec.get("k")
        if self.header is None:
            self.header = header_from_record(rec)
        elif kind == "e":
            entry = entry_from_record(rec)
            self.add_entry(entry, raw if raw is not None else encode_entry(entry))
        elif kind == "c":
            self.add_checkpoint(checkpoint_from_record(rec, self.header.id))
        elif kind in ("r", "h"):
            self.apply_head_move(head_move_from_record(rec))
        elif kind == "s":
            raise RecordError("a second session header")
        else:
            raise RecordError(f"unknown record kind {kind!r}")

    def add_entry(self, entry: Entry, raw: str | bytes, after: Head | None = None) -> Head:
        """Add an entry that must follow the current head; returns the new head.

        ``after`` is the head it makes, when already computed (:attr:`PendingEntry.head`)."""
        head = self._head
        if entry.id in self.entries:
            raise RecordError(f"entry id {entry.id!r} appears twice")
        if entry.parent_id != head[0] or entry.seq != head[1] + 1:
            raise RecordError(
                f"entry {entry.id!r} (seq {entry.seq}, parent {entry.parent_id!r}) does not follow the head "
                f"{head.entry_id!r} (seq {head.seq})"
            )
        after = self._head = after if after is not None else _after(head, entry, raw)
        self.entries[entry.id] = entry
        self.heads[entry.id] = after
        self.history.append(entry)
        self.updated = entry.timestamp
        return after

    def add_checkpoint(self, cp: Checkpoint) -> None:
        """Add a checkpoint; it must name a stored entry with the same ``seq``, and a new id."""
        if cp.id in self.checkpoints:
            raise RecordError(f"checkpoint id {cp.id!r} appears twice")
        head = self.heads.get(cp.entry_id)
        if head is None:
            raise RecordError(f"checkpoint {cp.id!r} names unknown entry {cp.entry_id!r}")
        if cp.seq != head.seq:
            raise RecordError(f"checkpoint {cp.id!r} has seq {cp.seq}, but its entry has seq {head.seq}")
        self.checkpoints[cp.id] = cp
        self._touch(cp.timestamp)

    def apply_head_move(self, move: HeadMove) -> None:
        """Move the head as a restore or import record says (its checkpoint and seq must agree)."""
        if move.checkpoint_id is not None:
            cp = self.checkpoints.get(move.checkpoint_id)
            if cp is None:
                raise RecordError(f"restore names unknown checkpoint {move.checkpoint_id!r}")
            if (cp.entry_id, cp.seq) != (move.entry_id, move.seq):
                raise RecordError(f"restore of checkpoint {cp.id!r} names another entry or seq")
        head = self.heads.get(move.entry_id)
        if head is None:
            raise RecordError(f"head move names unknown entry {move.entry_id!r}")
        if head.seq != move.seq:
            raise RecordError(f"head move to {move.entry_id!r} has seq {move.seq}, not {head.seq}")
        self.move_head(move.entry_id)
        if move.timestamp is not None:
            self._touch(move.timestamp)

    def move_head(self, entry_id: str | None) -> None:
        """Make ``entry_id`` (a stored entry, or None for the root) the head (:func:`branch_swap`)."""
        target = self.heads[entry_id]
        self._head = target
        history, heads, entries = self.history, self.heads, self.entries

        def abandoned(eid: str) -> bool:
            seq = heads[eid].seq
            return seq > len(history) or history[seq - 1].id != eid

        keep, branch = branch_swap(entry_id, target.seq, abandoned, lambda eid: entries[eid].parent_id)
        del history[keep:]
        history.extend(entries[eid] for eid in branch)

    def _touch(self, ts: datetime) -> None:
        self.updated = ts

    # -- the rules of writes ----------------------------------------------------------------

    def next_entry(
        self, entry_id: str, entry_type: EntryType, data: dict[str, Any], timestamp: datetime
    ) -> PendingEntry:
        """The entry appending ``data`` now would store (see :func:`next_entry`)."""
        return next_entry(self._head, entry_id, entry_type, data, timestamp)

    def restore(
        self, checkpoint_id: str, timestamp: datetime, *, where: str | None = None
    ) -> tuple[Checkpoint, dict[str, Any], HeadMove]:
        """Check a restore (see :func:`check_restore`) and return the checkpoint, the restore record to
        store, and the head move that record stands for: apply it with :meth:`apply_head_move` once
        the record is stored."""
        header = self._header()
        cp = self.checkpoints.get(checkpoint_id)
        head = self.heads.get(cp.entry_id) if cp is not None else None
        cp = check_restore(header.id, checkpoint_id, cp, None if head is None else head.hash, where=where)
        return cp, restore_record(cp, timestamp), restore_move(cp, timestamp)

    def restore_problem(self, cp: Checkpoint) -> str | None:
        """Why a restore to ``cp`` must be refused (see :func:`checksum_problem`), or None."""
        head = self.heads.get(cp.entry_id)
        return checksum_problem(cp, None if head is None else head.hash)
