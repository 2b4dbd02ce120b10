"""Summaries written by compaction, as the sessions commands show and carry them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aixgo.session import EntryType, FileBackend, Manager
from tests.cli.conftest import invoke


def _compacted(base_dir: Path) -> None:
    with Manager(FileBackend(base_dir)) as mgr:
        session = mgr.create("assistant", "long-1")
        session.append_message("user", "My name is Ada.")
        session.append_message("assistant", "Hello Ada.")
        session.append_message("user", "I live in Zürich.")
        session.append_entry(
            EntryType.SUMMARY,
            {"content": "The user is Ada.", "from_seq": 1, "to_seq": 2, "turns": 1, "requests": 1, "window": 1024},
        )
        session.append_message("assistant", "Nice city.")


def test_show_marks_summaries_and_keeps_every_message(sessions_runner: CliRunner, tmp_path: Path) -> None:
    base = tmp_path / "store"
    _compacted(base)
    out = invoke(sessions_runner, ["sessions", "show", "long-1", "--base-dir", str(base)]).stdout
    assert "[4] summary of [1..2]" in out and "    The user is Ada." in out
    assert '"turns":1' in out and '"window":1024' in out
    assert "[1] user" in out and "My name is Ada." in out  # the summarized messages stay stored and shown


def test_export_and_import_carry_summaries(sessions_runner: CliRunner, tmp_path: Path) -> None:
    base, other = tmp_path / "store", tmp_path / "other"
    _compacted(base)
    dump = tmp_path / "long.jsonl"
    assert invoke(sessions_runner, ["sessions", "export", "long-1", "-o", str(dump), "--base-dir", str(base)]).exit_code == 0
    assert invoke(sessions_runner, ["sessions", "import", str(dump), "--base-dir", str(other)]).exit_code == 0
    with Manager(FileBackend(other)) as mgr:
        entries = mgr.get("long-1").get_entries()
    summary = [e for e in entries if e.type is EntryType.SUMMARY]
    assert len(summary) == 1 and summary[0].data["content"] == "The user is Ada." and summary[0].seq == 4


def test_a_malformed_summary_is_refused(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path / "store")) as mgr:
        session = mgr.create("assistant", "bad-1")
        for data in ({"content": 1, "from_seq": 1, "to_seq": 1}, {"content": "x", "from_seq": 3, "to_seq": 2},
                     {"content": "x", "from_seq": 1}):
            with pytest.raises(ValueError, match="summary"):
                session.append_entry(EntryType.SUMMARY, data)
        assert session.get_entries() == []
