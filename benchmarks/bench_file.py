"""File store benchmarks (issue: session store core). Workloads are named in each row.

Floors are measured in the same run: a bare ``os.write`` (+ ``os.fsync`` / ``os.fdatasync``) of the
same bytes an append writes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from aixgo.session import EntryType, FileBackend, Manager
from aixgo.session.core.codec import encode_entry, utcnow
from aixgo.session.core.state import Head
from aixgo.session.file.lines import frame
from aixgo.session.types import Entry
from benchmarks.harness import header, measure, note, report

MESSAGE = {"role": "user", "content": "Remind me what we decided about the launch date, please."}


def _line_bytes() -> bytes:
    """The bytes an append writes: the entry's JSON, its head metadata and its CRC."""
    entry = Entry("e_0123456789abcdef", "e_fedcba9876543210", 1234, utcnow(), EntryType.MESSAGE, MESSAGE)
    return frame(encode_entry(entry).encode(), Head(entry.id, entry.seq, b"\x00" * 32, 1234))


def _floors(root: Path) -> dict[str, float]:
    payload = _line_bytes()
    fd = os.open(root / "floor.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        floors = {}
        floors["write"] = report(
            f"floor: os.write of {len(payload)} bytes", measure(lambda: os.write(fd, payload), 3000)
        ).median

        def write_fsync() -> None:
            os.write(fd, payload)
            os.fsync(fd)

        def write_fdatasync() -> None:
            os.write(fd, payload)
            os.fdatasync(fd)

        floors["fsync"] = report("floor: os.write + os.fsync, same bytes", measure(write_fsync, 400)).median
        floors["fdatasync"] = report(
            "floor: os.write + os.fdatasync, same bytes", measure(write_fdatasync, 400)
        ).median
        return floors
    finally:
        os.close(fd)


def run() -> None:
    header("File store (JSONL, one file per session)")
    with tempfile.TemporaryDirectory(prefix="aixgo-bench-") as tmp:
        root = Path(tmp)
        floors = _floors(root)
        _appends(root, floors)
        _small_session(root)
        _large_session(root)
        _listing(root)
    note(
        "reference, same machine (issue text): OpenAI Agents SDK SQLiteSession append 0.57 ms, last 100 items 0.48 ms"
    )


def _appends(root: Path, floors: dict[str, float]) -> None:
    for policy, n in (("never", 3000), ("batch", 3000), ("always", 400)):
        with Manager(FileBackend(root / f"append-{policy}", fsync=policy)) as mgr:
            sess = mgr.create("bench", "append")
            target = {"never": 50e-6, "always": 1.5 * floors["fdatasync"], "batch": None}[policy]
            samples = measure(lambda s=sess: s.append_entry(EntryType.MESSAGE, MESSAGE), n)  # type: ignore[misc]
            report(f"append, fsync={policy}", samples, target)
    note(
        f"fsync=always target = 1.5 x the os.write+os.fdatasync floor of the same bytes ({floors['fdatasync'] * 1e3:.3f} ms)"
    )


def _create_floor(root: Path) -> None:
    folder = root / "create-floor"
    folder.mkdir()
    header = b"x" * 130 + b"\n"
    counter = iter(range(10**9))

    def bare_create() -> None:
        fd = os.open(folder / f"f{next(counter)}", os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        os.write(fd, header)
        os.fdatasync(fd)
        os.close(fd)
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dir_fd)
        os.close(dir_fd)

    report("floor: create file + write + fdatasync + fsync(dir)", measure(bare_create, 300))


def _small_session(root: Path) -> None:
    _create_floor(root)
    with Manager(FileBackend(root / "small")) as mgr:
        counter = iter(range(10**9))
        report(
            "create session (fsync=always: file + directory)",
            measure(lambda: mgr.create("bench", f"s{next(counter)}"), 300),
            1e-3,
        )
        sess = mgr.create("bench", "hundred")
        for i in range(100):
            sess.append_message("user" if i % 2 == 0 else "assistant", f"message {i} " + "x" * 80)
        report("get 100 messages (get_messages, 100-message session)", measure(sess.get_messages, 2000), 5e-3)
        report("checkpoint, 100-entry session (fsync=always)", measure(sess.checkpoint, 300), 1e-3)


def _large_session(root: Path) -> None:
    base = root / "large"
    with Manager(FileBackend(base, fsync="never")) as mgr:
        sess = mgr.create("bench", "big")
        for i in range(10_000):
            sess.append_message("user" if i % 2 == 0 else "assistant", f"message {i} " + "x" * 80)
    with Manager(FileBackend(base)) as mgr:
        sess = mgr.get("big")
        report(
            "last 100 entries of a 10,000-entry session",
            measure(lambda: sess.get_entries(limit=100), 3000),
            0.3e-3,
        )
        report("all 10,000 entries", measure(sess.get_entries, 200), 15e-3)
        report("checkpoint, 10,000-entry session (fsync=always)", measure(sess.checkpoint, 300), 0.5e-3)
        cp = sess.checkpoint()
        report(
            "restore, 10,000-entry session (verify + durable, fsync=always)",
            measure(lambda: sess.restore(cp.id), 300, setup=lambda: sess.append_message("user", "abandoned")),
            0.5e-3,
        )
    size = (base / "bench" / "big.jsonl").stat().st_size

    def cold_open() -> None:
        with Manager(FileBackend(base)) as fresh:
            fresh.get("big").get_entries(limit=100)

    report(
        f"cold open + last 100, new process state ({size / 1e6:.1f} MB file)",
        measure(cold_open, 20, warmup=2),
    )
    note("a process reads a session file once, then only the bytes appended since; the rows above are warm")


def _listing(root: Path) -> None:
    base = root / "many"
    with Manager(FileBackend(base, fsync="never")) as mgr:
        for i in range(10_000):
            sess = mgr.create(f"agent{i % 4}", f"s{i:05d}", user_id=f"u{i % 100}")
            sess.append_message("user", "hello")
            sess.append_message("assistant", "hi")

    def cold_list() -> None:
        with Manager(FileBackend(base)) as fresh:
            assert len(fresh.list()) == 10_000

    report("list() over 10,000 sessions, new manager", measure(cold_list, 5, warmup=1), 0.3)
    with Manager(FileBackend(base)) as mgr:
        report("list() over 10,000 sessions, warm manager", measure(mgr.list, 5, warmup=1), 0.3)
    _long_listing(root)


def _long_listing(root: Path) -> None:
    """What list() reads does not grow with a session's length; what verify reads does."""
    base = root / "long"
    with Manager(FileBackend(base, fsync="never")) as mgr:
        for i in range(100):
            sess = mgr.create("bench", f"long{i:03d}")
            for n in range(10_000):
                sess.append_message("user" if n % 2 == 0 else "assistant", f"message {n} " + "x" * 80)
    size = sum(path.stat().st_size for path in (base / "bench").glob("*.jsonl"))

    def cold_list() -> None:
        with Manager(FileBackend(base)) as fresh:
            assert len(fresh.list()) == 100

    report(f"list() over 100 sessions of 10,000 entries ({size / 1e6:.0f} MB), new manager", measure(cold_list, 10, 1))
    backend = FileBackend(base)
    try:
        report("verify one 10,000-entry session (every line)", measure(lambda: backend.verify("long000"), 10, 1))
    finally:
        backend.close()
