"""No byte of a session file is ever discarded without being moved aside and reported (issue 21, item 4):
a lost final newline, a zeroed tail and a torn write are each handled by the next writer, and
``aixgo sessions verify`` reports them and every damaged record anywhere in the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aixgo.session import FileBackend, Manager
from tests.support.records import split_line, stored_line

ROOT = Path(__file__).resolve().parents[2]


def _session(base: Path, count: int = 3) -> Path:
    with Manager(FileBackend(base, fsync="never")) as mgr:
        s = mgr.create("assistant", "s")
        for i in range(count):
            s.append_message("user", f"m{i}")
    return base / "assistant" / "s.jsonl"


def _contents(base: Path) -> list[str]:
    with Manager(FileBackend(base, fsync="never")) as mgr:
        return [e.data["content"] for e in mgr.get("s").get_entries()]


def _append(base: Path, text: str) -> None:
    with Manager(FileBackend(base, fsync="never")) as mgr:
        mgr.get("s").append_message("user", text)


def _asides(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".damaged-*"))


def _verify(base: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aixgo", "sessions", "--base-dir", str(base), "verify", *args],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )  # fmt: skip


def test_a_lost_final_newline_keeps_the_last_record(tmp_path: Path) -> None:
    path = _session(tmp_path)
    path.write_bytes(path.read_bytes()[:-1])  # the last record is whole, its newline lost
    _append(tmp_path, "after")
    assert _contents(tmp_path) == ["m0", "m1", "m2", "after"]
    assert _asides(path) == []


@pytest.mark.parametrize("damage", ["zeroed tail", "zeroed last record", "torn write"])
def test_an_unterminated_tail_is_moved_aside_not_deleted(tmp_path: Path, damage: str) -> None:
    path = _session(tmp_path)
    data = path.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    if damage == "zeroed tail":  # the file grew but its last blocks were never written (a power loss)
        changed = data + b"\0" * 4096
    elif damage == "zeroed last record":
        changed = data[:last] + b"\0" * (len(data) - last)
    else:
        changed = data + b'{"k":"e","type":"message","id":"e_x'
    path.write_bytes(changed)
    tail = changed[changed.rfind(b"\n") + 1 :]
    verified = _verify(tmp_path, "s")
    assert verified.returncode == 1 and "unterminated" in verified.stdout + verified.stderr
    _append(tmp_path, "after")
    (aside,) = _asides(path)
    assert aside.read_bytes() == tail  # byte for byte
    kept = ["m0", "m1"] if damage == "zeroed last record" else ["m0", "m1", "m2"]
    assert _contents(tmp_path) == [*kept, "after"]
    assert _verify(tmp_path, "s").returncode == 0


@pytest.mark.parametrize(
    "damage", ["flipped bit", "deleted line", "duplicated line", "garbage line", "rewritten with its checksum"]
)
def test_verify_finds_damage_anywhere_in_the_file(tmp_path: Path, damage: str) -> None:
    path = _session(tmp_path, 10)
    lines = path.read_bytes().splitlines(keepends=True)
    line = 6 if damage == "duplicated line" else 5
    if damage == "flipped bit":
        lines[4] = lines[4].replace(b'"m3"', b'"m2"')
    elif damage == "rewritten with its checksum":  # a careful editor: only the chain of hashes shows it
        rec, meta = split_line(lines[4].decode())
        rec["data"]["content"] = "changed"
        lines[4] = stored_line(rec, meta).encode()
    elif damage == "deleted line":
        del lines[4]
    elif damage == "duplicated line":
        lines.insert(4, lines[4])
    else:
        lines.insert(4, b"not a record\n")
    path.write_bytes(b"".join(lines))
    done = _verify(tmp_path, "s")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{path}:{line}" in done.stdout and "DAMAGED" in done.stdout
    assert "Traceback" not in done.stderr


def test_verify_all_checks_every_session_and_names_the_damaged_ones(tmp_path: Path) -> None:
    path = _session(tmp_path)
    with Manager(FileBackend(tmp_path, fsync="never")) as mgr:
        other = mgr.create("assistant", "whole")
        other.append_message("user", "x")
        cp = other.checkpoint()
        other.append_message("user", "y")
        other.restore(cp.id)
    done = _verify(tmp_path, "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 sessions checked, none damaged" in done.stdout
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"m1", b"mX")
    path.write_bytes(b"".join(lines))
    done = _verify(tmp_path, "--all", "--json")
    assert done.returncode == 1
    report = {item["id"]: item for item in json.loads(done.stdout)}
    assert report["whole"]["damage"] is None and report["s"]["damage"] and ":3:" in report["s"]["damage"]


def test_verify_needs_one_id_or_all(tmp_path: Path) -> None:
    _session(tmp_path)
    assert _verify(tmp_path).returncode == 2
    assert _verify(tmp_path, "s", "--all").returncode == 2
    missing = _verify(tmp_path, "nobody")
    assert missing.returncode == 1 and "not found" in missing.stderr
