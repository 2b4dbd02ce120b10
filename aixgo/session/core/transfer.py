"""The export format, and the validation every import goes through, whatever the store.

An export is the session's records as JSON lines, closed by an end record::

    {"k":"s","v":1,"id":…,"agent":…,"user_id":…,"created_at":…,"metadata":{…}}   header
    {"k":"e",…}            every entry, abandoned branches included, in the order written
    {"k":"c",…}            every checkpoint, oldest first
    {"k":"h","entry_id":…,"seq":…,"ts":…}   the head (where the history ends) and "updated"
    {"k":"end","entries":N,"checkpoints":M,"sha256":…}

``sha256`` is the SHA-256 of every line before the end record, each with its ``\\n``. An export
cut short (at a line boundary or not) lacks the end record, and an edited one fails the hash, so
either is refused with an error naming the line instead of being imported as another session.

:func:`plan_import` replays what is to be imported through :class:`SessionState`, so import
accepts exactly what the stores accept, and refuses the rest before anything is stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from aixgo.errors import (
    ChecksumMismatchError,
    SessionCorruptedError,
    SessionNotFoundError,
    UnsupportedVersionError,
)
from aixgo.session.core.codec import (
    checkpoint_record,
    dumps,
    encode_entry,
    head_record,
    header_record,
    loads,
)
from aixgo.session.core.records import (
    Header,
    NewerVersionError,
    RecordError,
    check_json,
    entry_from_record,
    head_move_from_record,
)
from aixgo.session.core.state import Head, SessionState, Snapshot
from aixgo.session.types import Checkpoint, Entry, Verification

END_KIND = "end"


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """A validated session to import: ``state`` holds it replayed (every rule checked)."""

    header: Header
    state: SessionState

    @property
    def updated(self) -> datetime:
        """The imported session's "updated" time (its last record's, not the time of the import)."""
        return self.state.updated or self.header.created_at

    def records(self) -> Iterator[str]:
        """The session as store records that replay to the same state (see :meth:`records_with_heads`)."""
        for record, _ in self.records_with_heads():
            yield record

    def records_with_heads(self) -> Iterator[tuple[str, Head | None]]:
        """Each record with the head it leaves (None for records that do not move it): the header, the
        entries (with a head move before each entry whose parent is not the previous entry), the
        checkpoints, and a final head move carrying "updated"."""
        header, heads = self.header, self.state.heads
        yield (
            dumps(header_record(header.id, header.agent, header.user_id, header.created_at, header.metadata)),
            None,
        )
        cursor: str | None = None
        for entry in self.state.entries.values():
            if entry.parent_id != cursor:
                parent = heads[entry.parent_id]
                yield dumps(head_record(entry.parent_id, parent.seq, entry.timestamp)), parent
            yield encode_entry(entry), heads[entry.id]
            cursor = entry.id
        for cp in self.state.checkpoints.values():
            yield dumps(checkpoint_record(cp)), None
        head = self.state.head
        yield dumps(head_record(head.entry_id, head.seq, self.updated)), head


def export_records(snapshot: Snapshot) -> Iterator[str]:
    """The lines (without newlines) of an export of ``snapshot``, end record included."""
    digest = hashlib.sha256()
    header = snapshot.header

    def line(text: str) -> str:
        digest.update(text.encode() + b"\n")
        return text

    yield line(
        dumps(header_record(header.id, header.agent, header.user_id, header.created_at, header.metadata))
    )
    for entry in snapshot.entries:
        yield line(encode_entry(entry))
    for cp in snapshot.checkpoints:
        yield line(dumps(checkpoint_record(cp)))
    yield line(dumps(head_record(snapshot.head.entry_id, snapshot.head.seq, snapshot.updated)))
    yield dumps(
        {
            "k": END_KIND,
            "entries": len(snapshot.entries),
            "checkpoints": len(snapshot.checkpoints),
            "sha256": digest.hexdigest(),
        }
    )


def plan_import(
    header: Header,
    entries: Iterable[Entry],
    checkpoints: Iterable[Checkpoint],
    head: str | None,
    updated: datetime | None = None,
    *,
    source: str | None = None,
) -> ImportPlan:
    """Validate a session to import (entries parents first, in write order) and return its plan.

    Raises :class:`~aixgo.errors.SessionCorruptedError` (or ``ChecksumMismatchError``) naming what is
    wrong; nothing has been stored."""
    try:
        state = rebuild(header, entries, checkpoints, head)
    except CheckpointMismatch as exc:
        raise ChecksumMismatchError(f"cannot import: {exc}", session_id=header.id, path=source) from None
    except RecordError as exc:
        raise SessionCorruptedError(f"cannot import: {exc}", session_id=header.id, path=source) from None
    if updated is not None:
        state.updated = updated
    return ImportPlan(header, state)


class CheckpointMismatch(RecordError):
    """A checkpoint whose checksum is not the chain hash of the history it names."""


def rebuild(
    header: Header, entries: Iterable[Entry], checkpoints: Iterable[Checkpoint], head: str | None
) -> SessionState:
    """The session these parts make (entries parents first, in write order), every rule checked: raises
    :class:`RecordError` (:class:`CheckpointMismatch` for a checkpoint) naming the first that breaks."""
    state = SessionState()
    state.header = header
    for entry in entries:
        add_in_write_order(state, entry)
    for cp in checkpoints:
        state.add_checkpoint(cp)
        problem = state.restore_problem(cp)
        if problem is not None:
            raise CheckpointMismatch(problem)
    if head not in state.heads:
        raise RecordError(f"the head names unknown entry {head!r}")
    state.move_head(head)
    return state


def verify_read(session_id: str, read: Callable[[], Snapshot], where: str | None = None) -> Verification:
    """:meth:`Backend.verify` for a store that reads a session whole in one step (``read``) and keeps no
    checksum of its own: damage that keeps it from being read at all (a missing key, a record that does
    not decode) is reported, not raised; so is what :func:`snapshot_damage` finds (prefixed with
    ``where``, the store's name for the session). ``SessionNotFoundError`` is raised."""
    try:
        snapshot = read()
    except SessionNotFoundError:
        raise
    except SessionCorruptedError as exc:
        return Verification(session_id, 0, str(exc))
    damage = snapshot_damage(snapshot)
    records = 1 + len(snapshot.entries) + len(snapshot.checkpoints)
    if damage is not None:
        return Verification(session_id, records, damage if where is None else f"{where}: {damage}")
    return Verification(session_id, records, None, len(snapshot.entries), len(snapshot.checkpoints))


def snapshot_damage(snapshot: Snapshot) -> str | None:
    """What breaks a rule in a session a store read whole, or None: its entries replayed in write order,
    its checkpoints checked against the chain hashes of the entries, and the head it stores (entry, seq,
    chain hash, message count) compared with the one they make. How :meth:`Backend.verify` checks a
    session on stores that keep no checksum of their own."""
    head = snapshot.head
    try:
        state = rebuild(snapshot.header, snapshot.entries, snapshot.checkpoints, head.entry_id)
    except RecordError as exc:
        return str(exc)
    if state.head != head:
        return (
            f"the head it stores (entry {head.entry_id!r}, seq {head.seq}, {head.message_count} messages, chain "
            f"hash {head.hash.hex()[:12]}…) is not the one its entries make (seq {state.head.seq}, "
            f"{state.head.message_count} messages, {state.head.hash.hex()[:12]}…)"
        )
    return None


def add_in_write_order(state: SessionState, entry: Entry) -> None:
    """Add an entry of a session listed in write order: an entry whose parent is not the head starts
    (or continues) another branch, so the head moves to its parent first."""
    if entry.parent_id != state.head.entry_id:
        if entry.parent_id not in state.heads:
            raise RecordError(
                f"entry {entry.id!r} comes before its parent {entry.parent_id!r} (or the parent is missing)"
            )
        state.move_head(entry.parent_id)
    state.add_entry(entry, encode_entry(entry))


def renamed(plan: ImportPlan, session_id: str) -> ImportPlan:
    """``plan`` for a session of id ``session_id`` (``import --new-id``): the header and the
    checkpoints take the new id; entries, checkpoints and their checksums are unchanged (the checksum
    chain covers entry content, not the session id)."""
    header = replace(plan.header, id=session_id)
    state = plan.state
    state.header = header
    state.checkpoints = {cp_id: replace(cp, session_id=session_id) for cp_id, cp in state.checkpoints.items()}
    return ImportPlan(header, state)


_BOUNDED = {"s": ("metadata", "session metadata"), "e": ("data", "entry data"), "c": ("metadata", "checkpoint metadata")}
"""The field of each record kind holding a value of the user's, bounded on import as on any write (check_json)."""


def parse_export(lines: Iterable[str | bytes], source: str = "<input>") -> ImportPlan:
    """Read an export (see the module docstring) and validate it; errors name ``source`` and the line."""
    reader = _ExportReader(source)
    for number, line in enumerate(lines, start=1):
        reader.feed(number, line)
    return reader.finish()


class _ExportReader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.state = SessionState()
        self.digest = hashlib.sha256()
        self.counts = {"e": 0, "c": 0}
        self.head_seen = False
        self.end: dict[str, Any] | None = None
        self.last_line = 0

    def fail(self, message: str, line: int | None) -> SessionCorruptedError:
        session_id = self.state.header.id if self.state.header is not None else None
        return SessionCorruptedError(
            f"not a valid session export: {message}", session_id=session_id, path=self.source, line=line
        )

    def feed(self, number: int, line: str | bytes) -> None:
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        text = text.rstrip("\r\n")
        if not text.strip():
            return
        if self.end is not None:
            raise self.fail("a record after the end record", number)
        self.last_line = number
        try:
            rec = loads(text)
            kind = rec.get("k") if isinstance(rec, dict) else None
            if kind == END_KIND:
                self.end = rec
                return
            bounded = _BOUNDED.get(kind)  # type: ignore[arg-type]
            if bounded is not None and isinstance(rec.get(bounded[0]), dict):
                check_json(rec[bounded[0]], bounded[1])
            self.digest.update(text.encode() + b"\n")
            if self.head_seen:
                raise RecordError("a record after the head record")
            if kind == "h" and self.state.header is not None:
                move = head_move_from_record(rec)
                self.state.apply_head_move(move)
                if move.timestamp is not None:
                    self.state.updated = move.timestamp
                self.head_seen = True
                return
            if kind == "r":
                raise RecordError("an export holds no restore records")
            if kind == "e" and self.state.header is not None:
                add_in_write_order(self.state, entry_from_record(rec))
            else:
                self.state.apply(rec)
            if kind in self.counts:
                self.counts[kind] += 1
            if kind == "c":
                cp = list(self.state.checkpoints.values())[-1]
                problem = self.state.restore_problem(cp)
                if problem is not None:
                    raise ChecksumMismatchError(
                        f"not a valid session export: {problem}",
                        session_id=cp.session_id,
                        path=self.source,
                        line=number,
                    )
        except NewerVersionError as exc:
            raise UnsupportedVersionError(
                f"export format version {exc.version!r} is newer than this aixgo supports",
                path=self.source,
                line=number,
            ) from None
        except (ValueError, AttributeError) as exc:  # RecordError is a ValueError, as is bad JSON
            raise self.fail(str(exc), number) from None

    def finish(self) -> ImportPlan:
        header = self.state.header
        if header is None:
            raise self.fail("empty: no session header", None)
        if self.end is None:
            raise self.fail(
                f"it ends at line {self.last_line} without its end record: the export was cut short",
                self.last_line,
            )
        if not self.head_seen:
            raise self.fail("no head record before the end record", self.last_line)
        expected = (self.end.get("entries"), self.end.get("checkpoints"))
        if expected != (self.counts["e"], self.counts["c"]):
            raise self.fail(
                f"the end record counts {expected[0]!r} entries and {expected[1]!r} checkpoints, the file holds "
                f"{self.counts['e']} and {self.counts['c']}",
                self.last_line,
            )
        if self.end.get("sha256") != self.digest.hexdigest():
            raise self.fail(
                "the end record's sha256 does not match the lines before it: the file was edited",
                self.last_line,
            )
        return ImportPlan(header, self.state)
