"""The file store's summary index: listings (pages, filters, searches) answered from it stay true to the
session files whatever writes them — this process, another process, a writer that never updated the
index, a file copied in, a damaged or deleted file — and a store whose index cannot be used lists by
reading its files, as before."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from aixgo.session import EntryType, FileBackend, Manager
from aixgo.session.file.index import INDEX_NAME


def fill(manager: Manager, count: int, user: str = "alice") -> None:
    for number in range(count):
        session = manager.create("bot", f"s{number:03d}", user_id=user if number % 2 else "bob")
        session.append_message("user", f"Question {number} about Paris and zebras")
        session.append_message("assistant", "An answer")
        session.append_entry(EntryType.USAGE, {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10})


def listed(manager: Manager, **kwargs: object) -> list[str]:
    return [info.id for info in manager.list(**kwargs)]  # type: ignore[arg-type]


def test_pages_filters_and_searches_come_from_the_index(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path, fsync="never")) as manager:
        fill(manager, 30)
        assert not (tmp_path / INDEX_NAME).exists()  # nobody listed yet: writes paid nothing for it
        everything = manager.list()
        assert (tmp_path / INDEX_NAME).exists()
        assert [i.id for i in everything] == [f"s{n:03d}" for n in range(29, -1, -1)]
        first = everything[0]
        assert (first.title, first.tokens, first.message_count) == ("Question 29 about Paris and zebras", 10, 2)
        page = manager.list(limit=5, before=(everything[4].updated_at, everything[4].id))
        assert [i.id for i in page] == [i.id for i in everything[5:10]]
        assert listed(manager, limit=3, offset=2) == [i.id for i in everything[2:5]]
        assert listed(manager, user_id="alice", limit=2) == ["s029", "s027"]
        assert listed(manager, search="question 7") == ["s007"]
        assert listed(manager, search="ZEBR") == [i.id for i in everything]  # words begin with the search's words
        assert listed(manager, search="s01") == [f"s{n:03d}" for n in range(19, 9, -1)]  # ids are words too
        assert listed(manager, search="bob question 2", limit=3) == ["s028", "s026", "s024"]
        assert listed(manager, search="lyon") == []
        # each write moves its session to the top, with its new summary
        manager.get("s003").append_message("user", "And Lyon?")
        top = manager.list(limit=1)[0]
        assert (top.id, top.message_count, top.title) == ("s003", 3, "Question 3 about Paris and zebras")
        assert listed(manager, search="lyon") == ["s003"]
        # a restore summarises the session again: its history, not what was appended after the checkpoint
        session = manager.get("s004")
        checkpoint = session.checkpoint()
        session.append_entry(EntryType.USAGE, {"total_tokens": 90})
        assert manager.list(limit=1)[0].tokens == 100
        session.restore(checkpoint.id)
        assert (manager.list(limit=1)[0].id, manager.list(limit=1)[0].tokens) == ("s004", 10)
        assert manager.delete("s005")
        assert "s005" not in listed(manager)


def test_another_process_and_a_writer_that_skips_the_index_are_seen(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path, fsync="never")) as lister:
        fill(lister, 5)
        assert listed(lister, limit=1) == ["s004"]
        # another store instance (as another process) writes: it finds the index and updates it
        with Manager(FileBackend(tmp_path, fsync="never")) as other:
            other.get("s001").append_message("user", "a new word: kumquat")
        assert listed(lister, limit=1) == ["s001"] and listed(lister, search="kumquat") == ["s001"]
        # a writer that never touches the index (an older aixgo, a crash before its update): the stale row is
        # noticed when it is listed, and summarised again from the file
        with Manager(FileBackend(tmp_path, fsync="never", index=False)) as blind:
            blind.get("s000").append_message("user", "quince")
        rows = lister.list()
        assert rows[-1].id != "s000" or rows[-1].message_count == 3
        refreshed = next(info for info in lister.list() if info.id == "s000")
        assert refreshed.message_count == 3
    # a session copied in by hand, and one deleted by hand, are noticed by the next process's first listing
    shutil.copy(tmp_path / "bot" / "s002.jsonl", tmp_path / "bot" / "s002-copy.jsonl")
    text = (tmp_path / "bot" / "s002-copy.jsonl").read_text()
    (tmp_path / "bot" / "s002.jsonl").unlink()
    assert '"s002"' in text
    with Manager(FileBackend(tmp_path, fsync="never")) as fresh:
        infos = {info.id: info for info in fresh.list()}
        assert "s002" not in infos
        assert infos["s002-copy"].damage is not None  # its header names another session: damage, not hidden


def test_a_damaged_session_is_listed_with_its_damage(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path, fsync="never")) as manager:
        fill(manager, 3)
        manager.list()
        path = tmp_path / "bot" / "s001.jsonl"
        lines = path.read_bytes().split(b"\n")
        lines[1] = lines[1].replace(b"Question", b"Qu3stion")  # its checksum no longer matches
        path.write_bytes(b"\n".join(lines))
        damaged = next(info for info in manager.list() if info.id == "s001")
        assert damaged.damage is not None and "s001.jsonl:2: damaged record" in damaged.damage
        assert [info.id for info in manager.list(search="question")] == ["s002", "s000"]


@pytest.mark.parametrize("spoil", ["symlink", "newer", "garbage"])
def test_an_index_that_cannot_be_used_falls_back_to_reading_the_files(tmp_path: Path, spoil: str) -> None:
    index = tmp_path / INDEX_NAME
    tmp_path.mkdir(exist_ok=True)
    if spoil == "symlink":
        os.symlink(tmp_path / "elsewhere.db", index)
    elif spoil == "garbage":
        index.write_bytes(b"not a database at all" * 100)
    else:
        with sqlite3.connect(index) as db:
            db.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            db.execute("INSERT INTO meta VALUES ('version', '99')")
    with Manager(FileBackend(tmp_path, fsync="never")) as manager:
        fill(manager, 4)
        infos = manager.list(search="question 3")
        assert [(i.id, i.title, i.tokens) for i in infos] == [("s003", "Question 3 about Paris and zebras", 10)]
        assert listed(manager, limit=2) == ["s003", "s002"]
    assert not (tmp_path / "elsewhere.db").exists()  # a link is never followed
