"""The file store's idempotency check: what recognising a retried ``entry_id`` costs per append, on a
session of 10,000 and of 1,000,000 entries (issue 21, item 1).

Each session file is written directly (the bytes the store would write) so that building a
million-entry session takes seconds, not an hour. Rows, per size:

* floor: ``os.write`` of one entry line (the bytes an append writes), measured in the same run;
* the check alone: looking up an id that is not stored (what every append with a new id does), and
  one stored at the very start of the session (a retry from far back);
* a whole append with a new explicit ``entry_id`` (``fsync=never``, so the check is not hidden
  behind a disk flush);
* the first append of a new store object (a new process), which opens (or builds) what the check
  needs.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from aixgo.session import EntryType, FileBackend
from aixgo.session.core.codec import dumps, header_record
from aixgo.session.core.state import Head, next_entry
from aixgo.session.file.lines import frame
from aixgo.session.file.log import SessionLog
from benchmarks.harness import header, measure, note, report

SIZES = (10_000, 1_000_000)
DATA = {"role": "user", "content": "Remind me what we decided about the launch date, please."}
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _build(base: Path, count: int) -> None:
    """A session ``s`` of ``count`` entries with ids ``id-0`` …, written as the store writes them."""
    folder = base / "bench"
    folder.mkdir(parents=True)
    head = Head()
    with open(folder / "s.jsonl", "wb") as f:
        f.write(frame(dumps(header_record("s", "bench", None, WHEN, {})).encode()))
        batch = []
        for i in range(count):
            pending = next_entry(head, f"id-{i}", EntryType.MESSAGE, DATA, WHEN)
            batch.append(frame(pending.encoded.encode(), pending.head))
            head = pending.head
            if len(batch) == 10_000:
                f.write(b"".join(batch))
                batch.clear()
        f.write(b"".join(batch))
    os.chmod(base, 0o700)
    os.chmod(folder, 0o700)


def _log(backend: FileBackend) -> SessionLog:
    return backend._run("s", lambda log: log, write=True)  # the store's open log of the session, caught up


def run() -> None:
    header("File store: the idempotency check of an explicit entry_id, per append")
    with tempfile.TemporaryDirectory(prefix="aixgo-bench-ids-") as tmp:
        for count in SIZES:
            base = Path(tmp) / f"n{count}"
            _build(base, count)
            _measure(base, count)
    note("'check' is SessionLog.find_entry of a new id, as each append calls it (under the session's write lock)")
    note("the first store object to append to a session written without an id index builds it, once")


def _measure(base: Path, count: int) -> None:
    size = f"{count // 1000:,}k" if count < 1_000_000 else f"{count // 1_000_000}M"
    line = frame(next_entry(Head(), "id-x", EntryType.MESSAGE, DATA, WHEN).encoded.encode(), Head())
    fd = os.open(base / "floor.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        report(f"{size}: floor: os.write of one entry line ({len(line)} B)", measure(lambda: os.write(fd, line), 3000))
    finally:
        os.close(fd)
    fresh_ids = (f"new-{n}" for n in itertools.count())

    def first_append() -> list[float]:
        backend = FileBackend(base, fsync="never")
        try:
            return measure(lambda: backend.append("s", next(fresh_ids), EntryType.MESSAGE, DATA, WHEN), 1, 0)
        finally:
            backend.close()

    report(f"{size}: first append of the first store object", first_append())
    report(f"{size}: first append of a new store object", [t for _ in range(15) for t in first_append()])
    backend = FileBackend(base, fsync="never")
    try:
        report(
            f"{size}: append, new explicit entry_id, fsync=never",
            measure(lambda: backend.append("s", next(fresh_ids), EntryType.MESSAGE, DATA, WHEN), 3000),
        )
        log = _log(backend)
        report(f"{size}: check, an id not stored", measure(lambda: log.find_entry(next(fresh_ids)), 3000))
        found = "found" if log.find_entry("id-0") is not None else "NOT FOUND"
        report(f"{size}: check, the first entry retried ({found})", measure(lambda: log.find_entry("id-0"), 3000))
    finally:
        backend.close()
