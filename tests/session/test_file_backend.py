"""The file backend: the contract suite, plus what only files can show (modes, paths, torn lines)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aixgo.errors import SessionCorruptedError, StoreError, UnsupportedVersionError
from aixgo.session import Backend, EntryType, FileBackend, FsyncPolicy, Manager
from tests.session.contract import BackendContract, MakeBackend
from tests.support.records import parse_line, split_line, stored_line


class TestFileContract(BackendContract):
    fsync: FsyncPolicy = "never"

    @pytest.fixture
    def store_dir(self, tmp_path: Path) -> Path:
        return tmp_path / "sessions"

    @pytest.fixture
    def make_backend(self, store_dir: Path) -> Iterator[MakeBackend]:
        made: list[FileBackend] = []

        def make() -> Backend:
            backend = FileBackend(store_dir, fsync=self.fsync)
            made.append(backend)
            return backend

        yield make
        for backend in made:
            backend.close()

    def tamper_entry(self, make_backend: MakeBackend, session_id: str, entry_id: str) -> None:
        backend = make_backend()
        assert isinstance(backend, FileBackend)
        (path,) = backend.base_dir.glob(f"*/{session_id}.jsonl")
        lines = path.read_text().splitlines(keepends=True)
        for i, line in enumerate(lines):
            if f'"id":"{entry_id}"' in line:
                rec, meta = split_line(line)
                rec["data"]["content"] = "tampered"
                lines[i] = stored_line(rec, meta)  # a careful tamperer: the line's own checksum matches
        path.write_text("".join(lines))
        backend.close()


class TestFileContractFsyncAlways(TestFileContract):
    """The whole contract again with every write flushed to disk (the default setting)."""

    fsync: FsyncPolicy = "always"
    model_examples = 15


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Callable[..., Manager]]:
    made: list[Manager] = []

    def open_store(**kwargs: object) -> Manager:
        mgr = Manager(FileBackend(tmp_path / "store", **kwargs))  # type: ignore[arg-type]
        made.append(mgr)
        return mgr

    yield open_store
    for mgr in made:
        mgr.close()


def session_file(mgr: Manager, session_id: str) -> Path:
    backend = mgr.backend
    assert isinstance(backend, FileBackend)
    (path,) = backend.base_dir.glob(f"*/{session_id}.jsonl")
    return path


def test_layout_and_permissions(tmp_path: Path) -> None:
    base = tmp_path / "deep" / "store"
    with Manager(FileBackend(base)) as mgr:
        s = mgr.create("assistant", "perm")
        s.append_message("user", "x")
        path = session_file(mgr, "perm")
        assert path == base / "assistant" / "perm.jsonl"
        assert stat.S_IMODE(base.stat().st_mode) == 0o700
        assert stat.S_IMODE(base.parent.stat().st_mode) == 0o700  # parents it created too
        assert stat.S_IMODE((base / "assistant").stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        header = parse_line(path.read_text().splitlines()[0])
        assert header["k"] == "s" and header["v"] == 1 and header["agent"] == "assistant"


def test_default_base_dir_expands_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    backend = FileBackend()
    assert backend.base_dir == tmp_path / ".aixgo" / "sessions"
    assert backend.base_dir.is_dir()
    backend.close()


@pytest.mark.parametrize("bad", ["../x", "a/../../b", "/etc/passwd", "..", "a\x00b", "x\\..\\y"])
def test_nothing_written_outside_base_dir(tmp_path: Path, bad: str) -> None:
    base = tmp_path / "store"
    with Manager(FileBackend(base)) as mgr:
        for call in (lambda: mgr.create("assistant", bad), lambda: mgr.create(bad, "ok")):
            with pytest.raises(Exception, match=r"not allowed|must not"):
                call()
    outside = sorted(
        p.relative_to(tmp_path) for p in tmp_path.rglob("*") if base not in p.parents and p != base
    )
    assert outside == []
    assert list(base.rglob("*.jsonl")) == []


def test_fsync_setting_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="always, batch, never"):
        FileBackend(tmp_path, fsync="sometimes")  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", ["always", "batch", "never"])
def test_every_fsync_policy_persists(store: Callable[..., Manager], policy: str) -> None:
    mgr = store(fsync=policy, batch_interval=0.05)
    s = mgr.create("assistant", "p")
    for i in range(5):
        s.append_message("user", str(i))
    mgr.close()
    assert [e.seq for e in store().get("p").get_entries()] == [1, 2, 3, 4, 5]


def test_torn_last_line_is_ignored_then_truncated(store: Callable[..., Manager]) -> None:
    mgr = store()
    s = mgr.create("assistant", "torn")
    s.append_message("user", "kept")
    mgr.close()
    path = session_file(store(), "torn")
    good = path.read_bytes()
    with path.open("ab") as f:
        f.write(b'{"k":"e","type":"message","id":"e_half","par')
    reader = store().get("torn")
    assert [e.data["content"] for e in reader.get_entries()] == ["kept"]
    assert path.read_bytes().startswith(good)  # a reader does not modify the file
    reader.append_message("user", "next")
    text = path.read_bytes()
    assert b"e_half" not in text
    assert [e.seq for e in store().get("torn").get_entries()] == [1, 2]


def test_cut_at_every_offset_recovers_complete_prefix(tmp_path: Path) -> None:
    src = tmp_path / "src"
    with Manager(FileBackend(src, fsync="never")) as mgr:
        s = mgr.create("assistant", "cut")
        s.append_message("user", "one")
        cp = s.checkpoint()
        s.append_message("assistant", "two ✓")
        s.restore(cp.id)
        s.append_message("user", "three")
    data = (src / "assistant" / "cut.jsonl").read_bytes()
    line_ends = [i + 1 for i, b in enumerate(data) if b == ord("\n")]
    expected_by_records: dict[int, list[str]] = {}
    contents = [parse_line(line) for line in data.splitlines()]
    history: list[str] = []
    by_entry: dict[str, list[str]] = {}
    for n, rec in enumerate(contents, start=1):
        if rec["k"] == "e":
            history = [*history, rec["data"]["content"]]
            by_entry[rec["id"]] = history
        elif rec["k"] == "r":
            history = by_entry[rec["entry_id"]] if rec["entry_id"] else []
        expected_by_records[n] = history
    for cut in range(len(data) + 1):
        target = tmp_path / f"cut-{cut}" / "assistant"
        target.mkdir(parents=True)
        (target / "cut.jsonl").write_bytes(data[:cut])
        complete = sum(1 for end in line_ends if end <= cut)
        with Manager(FileBackend(target.parent, fsync="never")) as mgr:
            if complete == 0:
                assert mgr.list() == []
                continue
            got = [e.data["content"] for e in mgr.get("cut").get_entries()]
            assert got == expected_by_records[complete], f"cut at byte {cut}"
            mgr.get("cut").append_message("user", "after")
        with Manager(FileBackend(target.parent, fsync="never")) as mgr:
            assert [e.data["content"] for e in mgr.get("cut").get_entries()][-1] == "after"


def test_damage_in_the_middle_names_file_and_line(store: Callable[..., Manager]) -> None:
    mgr = store()
    s = mgr.create("assistant", "mid")
    for i in range(4):
        s.append_message("user", str(i))
    mgr.close()
    path = session_file(store(), "mid")
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2][:20] + b"\n"  # line 3: a truncated record followed by valid ones
    path.write_bytes(b"".join(lines))
    # reads cost what they return: opening reads the header and the end; reading the history meets the damage
    with pytest.raises(SessionCorruptedError) as err:
        store().get("mid").get_entries()
    assert err.value.path == str(path)
    assert err.value.line == 3
    assert f"{path}:3:" in str(err.value)
    assert path.read_bytes() == b"".join(lines)  # nothing was repaired away


def test_semantically_broken_record_is_an_error_even_at_the_end(store: Callable[..., Manager]) -> None:
    mgr = store()
    s = mgr.create("assistant", "sem")
    s.append_message("user", "x")
    mgr.close()
    path = session_file(store(), "sem")
    with path.open("a") as f:
        f.write(
            '{"k":"e","type":"message","id":"e_2","parent_id":"e_unknown","seq":2,"ts":"2026-01-01T00:00:00Z","data":{}}\n'
        )
    with pytest.raises(SessionCorruptedError, match=":3: damaged record"):
        store().get("sem")


def test_newer_format_version_is_refused(store: Callable[..., Manager]) -> None:
    mgr = store()
    mgr.create("assistant", "future")
    mgr.close()
    path = session_file(store(), "future")
    header = parse_line(path.read_text())
    header["v"] = 99
    path.write_text(json.dumps(header) + "\n")
    with pytest.raises(UnsupportedVersionError, match="upgrade aixgo"):
        store().get("future")


def test_file_left_without_header_by_crashed_create(store: Callable[..., Manager]) -> None:
    mgr = store()
    mgr.create("assistant", "first")
    path = session_file(mgr, "first").parent / "half.jsonl"
    path.write_bytes(b'{"k":"s","v":1,"id":"ha')
    assert [i.id for i in mgr.list()] == ["first"]
    s = mgr.create("assistant", "half")
    s.append_message("user", "ok")
    assert [e.seq for e in store().get("half").get_entries()] == [1]


def test_list_sees_sessions_written_by_another_instance(store: Callable[..., Manager]) -> None:
    a, b = store(), store()
    s = a.create("assistant", "shared")
    assert b.list()[0].message_count == 0
    s.append_message("user", "x")
    s.append_message("assistant", "y")
    assert b.list()[0].message_count == 2
    assert b.get("shared").get_entries()[-1].data["content"] == "y"


def test_many_open_sessions_are_evicted_not_leaked(store: Callable[..., Manager]) -> None:
    mgr = store()
    before = len(os.listdir("/proc/self/fd"))
    sessions = [mgr.create("assistant", f"s{i}") for i in range(400)]
    for s in sessions:
        s.append_entry(EntryType.METADATA, {"i": 1})
    assert len(os.listdir("/proc/self/fd")) - before <= 300
    assert all(len(s.get_entries()) == 1 for s in sessions)


def test_list_reports_a_damaged_session_and_opening_it_raises(store: Callable[..., Manager]) -> None:
    mgr = store()
    mgr.create("assistant", "fine")
    bad = mgr.create("assistant", "bad")
    for i in range(3):
        bad.append_message("user", str(i))
    path = session_file(mgr, "bad")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"garbage\n" + b"".join(lines[2:]))
    assert sorted(i.id for i in store().list()) == ["bad", "fine"]  # list reads headers only
    with pytest.raises(SessionCorruptedError, match=":2: damaged record"):
        store().get("bad").get_entries()
    path.write_bytes(b'{"k":"s","v":1,"id":"bad","agent":"assistant","created_at":"not a time"}\n')
    listed = {i.id: i for i in store().list()}  # a damaged header is reported, and hides nothing
    assert listed["fine"].damage is None
    assert "bad.jsonl" in (listed["bad"].damage or "") and "created_at" in (listed["bad"].damage or "")
    path.write_bytes(b'{"k":"s","v":1,"id":"bad","agent":"assistant","created_at":"2026-01-01T00:00:00Z",'
                     b'"user_id":{"a":1}}\n')
    listed = {i.id: i for i in store().list()}
    assert "user id" in (listed["bad"].damage or "")
    assert store().most_recent().id == "fine"  # type: ignore[union-attr]
    with pytest.raises(SessionCorruptedError, match=":1: damaged record"):
        store().get("bad")


RESTORE_IN_CHILD = """
import sys
from aixgo.session import FileBackend, Manager
with Manager(FileBackend(sys.argv[1])) as mgr:
    s = mgr.get("restart")
    cp = s.checkpoints()[0]
    s.restore(cp.id)
    s.append_message("user", "after restore")
"""


def test_restore_survives_a_process_restart(tmp_path: Path) -> None:
    import subprocess
    import sys

    with Manager(FileBackend(tmp_path)) as mgr:
        s = mgr.create("assistant", "restart")
        s.append_message("user", "kept")
        s.checkpoint()
        s.append_message("user", "abandoned")
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", RESTORE_IN_CHILD, str(tmp_path)], check=True, cwd=root)
    with Manager(FileBackend(tmp_path)) as mgr:
        s = mgr.get("restart")
        assert [e.data["content"] for e in s.get_entries()] == ["kept", "after restore"]
        assert [e.data["content"] for e in s.all_entries()] == ["kept", "abandoned", "after restore"]


def test_os_failures_are_store_errors_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=r"file store: Not a directory \(.*not-a-folder"):
        FileBackend(blocker / "sessions")
    with Manager(FileBackend(tmp_path / "store")) as mgr:
        (tmp_path / "store" / "blocked").write_text("a file where an agent folder goes")
        with pytest.raises(StoreError, match="blocked"):
            mgr.create("blocked", "s1")
        s = mgr.create("assistant", "s2")
        path = session_file(mgr, "s2")
        os.chmod(path, 0o000)
        if os.geteuid() != 0:  # root reads anything; the mapping is covered by the cases above then
            with pytest.raises(StoreError, match=r"s2\.jsonl"):
                store_mgr = Manager(FileBackend(tmp_path / "store"))
                store_mgr.get("s2")
        os.chmod(path, 0o600)
        assert s.append_message("user", "still fine").seq == 1
