"""The file store on a real disk: damage never hidden, nothing written outside the store, one id namespace,
bounded lock waits. Each test reproduces a defect of the first version (issue "File store engine")."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aixgo.errors import (
    SessionBusyError,
    SessionCorruptedError,
    SessionExistsError,
    SessionNotFoundError,
    StoreError,
)
from aixgo.session import EntryType, FileBackend, Manager, Session
from aixgo.session.core.transfer import parse_export
from aixgo.session.file.log import SessionLog
from aixgo.session.file.store import MAX_OPEN_SESSIONS
from aixgo.session.transfer import export_lines


def _file(base: Path, agent: str, session_id: str) -> Path:
    return base / agent / f"{session_id}.jsonl"


def test_a_flipped_byte_in_the_last_record_is_damage_not_a_torn_write(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path)) as mgr:
        s = mgr.create("assistant", "flip")
        for i in range(6):
            s.append_message("user", f"message {i}")
    path = _file(tmp_path, "assistant", "flip")
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x01  # inside the last acknowledged record, which still ends with its newline
    path.write_bytes(bytes(data))
    with (
        Manager(FileBackend(tmp_path)) as mgr,
        pytest.raises(SessionCorruptedError, match=r"flip\.jsonl:7: "),
    ):
        mgr.get("flip").get_entries()
    with Manager(FileBackend(tmp_path)) as mgr, pytest.raises(SessionCorruptedError):
        mgr.get("flip").append_message("user", "more")  # a writer must not cut the damage away
    assert path.read_bytes() == bytes(data)  # nothing truncated


def test_every_record_carries_a_checksum(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path)) as mgr:
        s = mgr.create("assistant", "crc")
        s.append_message("user", "hello")
        s.checkpoint()
    for line in _file(tmp_path, "assistant", "crc").read_text().splitlines():
        body, _, crc = line.rpartition("\t")
        assert body.startswith("{") and len(crc) == 8, line


def test_only_an_unterminated_tail_is_a_torn_write(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path)) as mgr:
        s = mgr.create("assistant", "torn")
        s.append_message("user", "kept")
    path = _file(tmp_path, "assistant", "torn")
    with path.open("ab") as f:
        f.write(b'{"k":"e","type":"message","id":"e_x')  # a crash mid-write: no newline
    with Manager(FileBackend(tmp_path)) as mgr:
        s = mgr.get("torn")
        assert [e.data["content"] for e in s.get_entries()] == ["kept"]
        s.append_message("user", "after")  # the writer cuts the torn tail and appends
        assert [e.data["content"] for e in s.get_entries()] == ["kept", "after"]


def test_repair_keeps_the_valid_prefix_and_moves_the_rest_aside(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path)) as mgr:
        s = mgr.create("assistant", "fixme")
        for i in range(5):
            s.append_message("user", f"m{i}")
    path = _file(tmp_path, "assistant", "fixme")
    lines = path.read_bytes().splitlines(keepends=True)
    damaged = b"".join(lines[:3]) + b"garbage\n" + b"".join(lines[4:])
    path.write_bytes(damaged)
    backend = FileBackend(tmp_path)
    report = backend.repair("fixme", apply=False)
    assert (report.kept_lines, report.damaged_line) == (3, 4)
    assert path.read_bytes() == damaged  # a dry run changes nothing
    report = backend.repair("fixme", apply=True)
    assert report.moved_to is not None and report.moved_to.read_bytes() == b"garbage\n" + b"".join(lines[4:])
    assert path.read_bytes() == b"".join(lines[:3])
    with Manager(FileBackend(tmp_path)) as mgr:
        assert [e.data["content"] for e in mgr.get("fixme").get_entries()] == ["m0", "m1"]
    backend.close()


def test_a_symlinked_agent_folder_is_refused(tmp_path: Path) -> None:
    base, elsewhere = tmp_path / "store", tmp_path / "elsewhere"
    elsewhere.mkdir()
    with Manager(FileBackend(base)) as mgr:
        (base / "evil").symlink_to(elsewhere)
        with pytest.raises(StoreError, match="symbolic link"):
            mgr.create("evil", "s1")
    assert list(elsewhere.iterdir()) == []


def test_a_symlinked_session_file_is_never_followed(tmp_path: Path) -> None:
    base = tmp_path / "store"
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    with Manager(FileBackend(base)) as mgr:
        mgr.create("good", "s1")
        (base / "good" / "s2.jsonl").symlink_to(precious)
        with pytest.raises((StoreError, SessionExistsError, SessionNotFoundError)):
            mgr.create("good", "s2")
        with pytest.raises((StoreError, SessionNotFoundError)):
            mgr.get("s2").append_message("user", "x")
    assert precious.read_text() == "keep me\n"


def test_a_deleted_session_with_another_hard_link_accepts_no_appends(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path)) as mgr:
        s = mgr.create("assistant", "linked")
        s.append_message("user", "one")
        os.link(_file(tmp_path, "assistant", "linked"), tmp_path / "backup.jsonl")
        with Manager(FileBackend(tmp_path)) as other:
            assert other.delete("linked")
        with pytest.raises(SessionNotFoundError):
            s.append_message("user", "two")


def _create_for(
    base: str, agent: str, ids: list[str], results: multiprocessing.Queue[tuple[str, str]]
) -> None:
    with Manager(FileBackend(base, fsync="never")) as mgr:
        for session_id in ids:
            try:
                mgr.create(agent, session_id)
                results.put((session_id, agent))
            except SessionExistsError:
                pass


def test_one_id_namespace_across_agents_and_processes(tmp_path: Path) -> None:
    ids = [f"race-{i}" for i in range(300)]
    ctx = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[tuple[str, str]] = ctx.Queue()
    procs = [
        ctx.Process(target=_create_for, args=(str(tmp_path), agent, ids, results)) for agent in ("a1", "a2")
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    won: dict[str, list[str]] = {}
    while not results.empty():
        session_id, agent = results.get()
        won.setdefault(session_id, []).append(agent)
    assert sorted(won) == sorted(ids)
    assert all(len(agents) == 1 for agents in won.values()), [k for k, v in won.items() if len(v) > 1][:5]
    with Manager(FileBackend(tmp_path)) as mgr:
        assert len(mgr.list()) == 300


def test_a_crash_during_create_leaves_the_id_absent_or_whole(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path)) as mgr:
        mgr.create("assistant", "other")
    (tmp_path / "assistant" / "half.jsonl").write_bytes(b"")  # what a SIGKILL mid-create can leave
    with Manager(FileBackend(tmp_path)) as mgr:
        with pytest.raises(SessionNotFoundError):
            mgr.get("half")
        assert mgr.create("coder", "half").agent == "coder"  # the id is free for anyone
        assert mgr.get("half").agent == "coder"


_HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_a_stopped_writer_blocks_nobody_for_longer_than_the_lock_timeout(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path)) as mgr:
        mgr.create("assistant", "stuck").append_message("user", "before")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(_file(tmp_path, "assistant", "stuck"))], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        os.kill(holder.pid, signal.SIGSTOP)
        with Manager(FileBackend(tmp_path, lock_timeout=0.5)) as mgr:
            s = mgr.get("stuck")
            assert [e.data["content"] for e in s.get_entries()] == ["before"]  # readers never wait
            with pytest.raises(SessionBusyError, match="lock"):
                s.append_message("user", "blocked")
            assert holder.poll() is None  # it gave up while the stopped writer still held the lock
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()


def test_leftover_import_files_are_cleaned(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path)) as mgr:
        mgr.create("assistant", "s1")
    leftover = tmp_path / "assistant" / ".import-0123456789abcdef.tmp"
    leftover.write_bytes(b"half an import")
    old = time.time() - 3600
    os.utime(leftover, (old, old))
    with Manager(FileBackend(tmp_path)) as mgr:
        mgr.create("assistant", "s2")  # the first write in that folder by a process cleans it
    assert not leftover.exists()


def test_a_world_writable_base_dir_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "open"
    base.mkdir()
    base.chmod(0o777)
    with pytest.raises(StoreError, match="writable by others"):
        FileBackend(base)


def test_export_round_trips_through_the_checksummed_format(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path)) as mgr:
        s = mgr.create("assistant", "exp")
        s.append_entry(EntryType.MESSAGE, {"role": "user", "content": "tab\there"})
        lines = list(export_lines(s))
    assert parse_export(lines).state.history[0].data["content"] == "tab\there"


def test_repair_from_the_command_line(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path)) as mgr:
        s = mgr.create("assistant", "cli-fix")
        for i in range(3):
            s.append_message("user", f"m{i}")
    path = _file(tmp_path, "assistant", "cli-fix")
    path.write_bytes(path.read_bytes() + b"half a line that ends\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aixgo", "sessions", "--base-dir", str(tmp_path), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    listed = run("list")
    assert listed.returncode == 0 and "DAMAGED" in listed.stdout
    dry = run("repair", "cli-fix")
    assert dry.returncode == 0, dry.stderr
    assert "would keep 4 valid records" in dry.stdout and "cli-fix.jsonl:5" in dry.stdout
    done = run("repair", "cli-fix", "--apply")
    assert done.returncode == 0 and "moved 22 bytes from line 5 on to" in done.stdout
    assert "Traceback" not in dry.stderr + done.stderr
    shown = run("show", "cli-fix")
    assert shown.returncode == 0 and "m2" in shown.stdout
    assert [p.name.split(".damaged-")[0] for p in path.parent.glob("*.damaged-*")] == ["cli-fix.jsonl"]


def test_memory_and_files_do_not_grow_with_every_session_seen(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path, fsync="never", cache_bytes=50_000)
    with Manager(backend) as mgr:
        for i in range(300):
            s = mgr.create("assistant", f"s{i}")
            s.append_message("user", "x" * 500)
            with s.lease(wait=0):
                pass
        held = sum(log.weight for log in backend._logs.values())
        assert len(backend._logs) < 300 and held <= 50_000 + 2_000  # the bound, plus the session in use
        assert len(backend._agents) <= 4096
        assert len(list((tmp_path / "assistant").glob("*.lease"))) == 300  # one per session, no more
        assert len(mgr.list()) == 300
        assert mgr.delete("s0") and not (tmp_path / "assistant" / "s0.lease").exists()


def test_opening_a_session_with_the_most_logs_open_does_not_weigh_every_open_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each open beyond MAX_OPEN_SESSIONS summed the bytes of all 256 open logs to close one: 0.9 ms
    of every new session's first turn in a service that had served 256 others."""
    weighed = 0
    real = SessionLog.weight

    def counted(self: SessionLog) -> int:
        nonlocal weighed
        weighed += 1
        return real.fget(self)  # type: ignore[no-any-return, misc]

    backend = FileBackend(tmp_path, fsync="never")
    with Manager(backend) as mgr:
        for i in range(MAX_OPEN_SESSIONS + 10):
            mgr.create("assistant", f"s{i}").append_message("user", "hi")
        monkeypatch.setattr(SessionLog, "weight", property(counted))
        for i in range(64):
            mgr.create("assistant", f"more{i}").append_message("user", "hi")
        assert len(backend._logs) <= MAX_OPEN_SESSIONS
        assert weighed <= 4 * (MAX_OPEN_SESSIONS + 2) + 64  # every 16th open weighs them all, the others none


def test_paging_back_to_the_start_reads_the_file_once_not_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent reads its conversation page by page back to the start on every turn: once an older
    page was read back from the end of the file, the next turns' pages come from memory (the file
    was read back through on every turn: 20 ms per turn at 1,100 entries)."""
    walks: list[tuple[int, int]] = []
    real = SessionLog._read_back
    monkeypatch.setattr(SessionLog, "_read_back", lambda self, a, b: walks.append((a, b)) or real(self, a, b))
    with Manager(FileBackend(tmp_path, fsync="never")) as mgr:
        s = mgr.create("assistant", "paged")
        for i in range(1100):
            s.append_message("user" if i % 2 else "assistant", f"message {i}")

    def page_back(session: Session) -> list[int]:
        seqs: list[int] = []
        before = None
        for limit in (128, 512):
            chunk = session.get_entries(limit=limit, before=before)
            seqs[:0] = [e.seq for e in chunk]
            before = chunk[0].seq
        return [e.seq for e in session.get_entries(limit=before - 1, before=before)] + seqs

    backend = FileBackend(tmp_path)
    with Manager(backend) as mgr:
        s = mgr.get("paged")
        assert page_back(s) == list(range(1, 1101))
        kept = backend._logs["paged"]
        assert kept.full is None and kept.weight >= 0.9 * kept.offset  # what is kept counts in cache_bytes
        first_turn = len(walks)
        for turn in range(3):
            s.append_message("user", f"turn {turn}")
            assert page_back(s) == list(range(1, 1102 + turn))
        assert len(walks) == first_turn  # later turns read nothing back from the file


def test_a_new_process_reads_the_last_entries_without_replaying_the_file(tmp_path: Path) -> None:
    """Reads cost what they return: the last N entries, the summary and an append touch the file's end."""
    with Manager(FileBackend(tmp_path, fsync="never")) as mgr:
        s = mgr.create("assistant", "long")
        for i in range(2000):
            s.append_message("user" if i % 2 else "assistant", f"message {i}")
    path = _file(tmp_path, "assistant", "long")
    lines = path.read_bytes().splitlines(keepends=True)
    lines[5] = lines[5].replace(b"message", b"massage")  # damage far from the end: a cold read never sees it
    path.write_bytes(b"".join(lines))
    backend = FileBackend(tmp_path)
    with Manager(backend) as mgr:
        s = mgr.get("long")
        assert s.info.message_count == 2000
        assert [e.data["content"] for e in s.get_entries(limit=3)] == ["message 1997", "message 1998", "message 1999"]
        assert [e.seq for e in s.get_entries(limit=2, before=1001)] == [999, 1000]
        appended = s.append_message("user", "one more")
        assert appended.seq == 2001 and s.info.message_count == 2001
        assert backend._logs["long"].full is None  # nothing needed the whole file
        with pytest.raises(SessionCorruptedError, match=r"long\.jsonl:6: "):
            s.get_entries()  # reading it all meets the damage, and names its line
