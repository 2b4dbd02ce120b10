"""A full disk: the append fails with a clear StoreError and the stored session stays intact.

Needs a small tmpfs, which only root can mount; skipped (with the reason) elsewhere.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aixgo.errors import StoreError
from aixgo.session import EntryType, FileBackend, Manager


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a 64 KiB tmpfs to fill it needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_full_disk_fails_the_append_and_keeps_what_was_stored(tiny_disk: Path) -> None:
    with Manager(FileBackend(tiny_disk / "sessions")) as mgr:
        session = mgr.create("assistant", "full")
        stored = [
            session.append_entry(EntryType.MESSAGE, {"role": "user", "content": "x" * 2000}) for _ in range(5)
        ]
        with pytest.raises(StoreError, match=r"cannot write to .*full\.jsonl: No space left on device"):
            for _ in range(100):  # fill the 64 KiB: one of these must fail
                session.append_entry(EntryType.METADATA, {"blob": "y" * 4000})
        before_failure = session.get_entries()
        assert before_failure[:5] == stored
    data = (tiny_disk / "sessions" / "assistant" / "full.jsonl").read_bytes()
    assert data.endswith(b"\n")  # the partial record was cut off again
    with Manager(FileBackend(tiny_disk / "sessions")) as mgr:
        assert mgr.get("full").get_entries() == before_failure


def test_import_onto_a_full_disk_fails_and_stores_nothing(tiny_disk: Path, tmp_path: Path) -> None:
    """The first version reported success and stored a truncated session (one unchecked short write)."""
    from aixgo.errors import SessionNotFoundError
    from aixgo.session import export_lines, import_lines

    with Manager(FileBackend(tmp_path / "big")) as source:
        big = source.create("assistant", "big")
        for _ in range(40):
            big.append_entry(EntryType.MESSAGE, {"role": "user", "content": "z" * 2000})
        lines = list(export_lines(big))
    with Manager(FileBackend(tiny_disk / "sessions")) as mgr:
        with pytest.raises(StoreError, match="No space left on device"):
            import_lines(mgr, lines, source="big.jsonl")
        with pytest.raises(SessionNotFoundError):
            mgr.get("big")
        assert not [p.name for p in (tiny_disk / "sessions" / "assistant").iterdir()]  # no half file left
