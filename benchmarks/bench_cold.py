"""Cold reads of the file store beside an indexed SQLite table (issue: file store engine).

A *cold* read is the first read of a process: a new store object (file store: a new ``FileBackend``
and ``Manager``; SQLite: a new connection) reading the last N entries of one long session. The floor
is the same read from an indexed SQLite table (``PRIMARY KEY (session_id, seq)``, ``ORDER BY seq DESC
LIMIT N``) holding the same entries, returning the same :class:`~aixgo.session.Entry` objects (decoded
and validated as every aixgo store decodes them), measured in the same run; the bare rows
(``json.loads`` of each row, no objects) are printed too. The last row runs a fresh Python
process that reads the last 10 entries of a 200,000-entry session and reports its time and the
memory it added over the interpreter's own.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from aixgo.session import EntryType, FileBackend, Manager
from aixgo.session.core.codec import encode_entry
from aixgo.session.core.records import entry_from_record
from benchmarks.harness import header, measure, note, report

CHILD = r"""
import resource, sys, time
from pathlib import Path
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
from aixgo.session import FileBackend, Manager
t1 = time.perf_counter()
with Manager(FileBackend(Path(sys.argv[1]))) as mgr:
    entries = mgr.get("long").get_entries(limit=10)
t2 = time.perf_counter()
assert len(entries) == 10
print(t2 - t1, t1 - t0, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""


def _session(base: Path, count: int) -> None:
    with Manager(FileBackend(base, fsync="never")) as mgr:
        sess = mgr.create("bench", "long")
        for i in range(count):
            sess.append_entry(
                EntryType.MESSAGE,
                {"role": "user" if i % 2 else "assistant", "content": f"message number {i} " * 4},
            )


def _sqlite(path: Path, base: Path) -> None:
    with Manager(FileBackend(base)) as mgr:
        entries = mgr.get("long").get_entries()
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE entries (session_id TEXT, seq INTEGER, data TEXT, record TEXT, PRIMARY KEY (session_id, seq))"
    )
    db.executemany(
        "INSERT INTO entries VALUES (?, ?, ?, ?)",
        (("long", e.seq, json.dumps(e.data), encode_entry(e)) for e in entries),
    )
    db.commit()
    db.close()


def _cold(base: Path, db: Path, count: int) -> None:
    def file_store() -> None:
        with Manager(FileBackend(base)) as fresh:
            assert len(fresh.get("long").get_entries(limit=100)) == 100

    def sqlite_rows() -> None:
        conn = sqlite3.connect(db)
        rows = conn.execute(
            "SELECT seq, data FROM entries WHERE session_id = ? ORDER BY seq DESC LIMIT 100", ("long",)
        ).fetchall()
        [json.loads(data) for _, data in rows]
        conn.close()

    def sqlite_entries() -> None:
        conn = sqlite3.connect(db)
        rows = conn.execute(
            "SELECT record FROM entries WHERE session_id = ? ORDER BY seq DESC LIMIT 100", ("long",)
        ).fetchall()
        [entry_from_record(json.loads(record)) for (record,) in reversed(rows)]
        conn.close()

    report(
        f"floor: SQLite, new connection, last 100 of {count:,} (json rows)",
        measure(sqlite_rows, 200, warmup=5),
    )
    floor = report(
        f"floor: SQLite, new connection, last 100 of {count:,} (the same Entry objects)",
        measure(sqlite_entries, 200, warmup=5),
    )
    report(
        f"file store, new store object, last 100 of {count:,}",
        measure(file_store, 200, warmup=5),
        floor.median,
    )


def run() -> None:
    header("Cold reads (a new store object per read)")
    with tempfile.TemporaryDirectory(prefix="aixgo-bench-cold-") as tmp:
        root = Path(tmp)
        for count in (10_000, 100_000):
            base = root / f"s{count}"
            _session(base, count)
            _sqlite(root / f"s{count}.db", base)
            _cold(base, root / f"s{count}.db", count)
        base = root / "s200k"
        _session(base, 200_000)
        size = (base / "bench" / "long.jsonl").stat().st_size
        runs = [
            [
                float(x)
                for x in subprocess.run(
                    [sys.executable, "-c", CHILD, str(base)], capture_output=True, text=True, check=True
                ).stdout.split()
            ]
            for _ in range(7)
        ]
        report(f"fresh process, last 10 of 200,000 ({size / 1e6:.0f} MB file)", [r[0] for r in runs], 50e-3)
        memory = sorted(r[2] for r in runs)[len(runs) // 2]
        note(
            f"that process added {memory:.1f} MB over the interpreter (target <= 20 MB); import of aixgo "
            f"{sorted(r[1] for r in runs)[len(runs) // 2] * 1000:.0f} ms, not counted"
        )
