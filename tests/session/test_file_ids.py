"""The file store's entry-id index (``<session-id>.ids``): a retried append is recognised at any
distance, in any process, at O(1) cost; the session file stays the truth (issue 21, item 1)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from aixgo.session import EntryType, FileBackend, Manager, Session
from aixgo.session.file import ids as ids_module
from tests.session.file_workers import kill_mid_work

MESSAGE = {"role": "user", "content": "hello"}


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "store"


_opened: list[Manager] = []


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def fresh(base: Path, session_id: str = "s") -> Session:
    """The session through a new store object: what a new process sees."""
    mgr = Manager(FileBackend(base, fsync="never"))
    _opened.append(mgr)
    return mgr.get(session_id)


def _seed(base: Path, count: int, pad: int = 0) -> Path:
    with Manager(FileBackend(base, fsync="never")) as mgr:
        s = mgr.create("assistant", "s")
        for i in range(count):
            s.append_entry(EntryType.MESSAGE, {**MESSAGE, "n": i, "pad": "x" * pad}, entry_id=f"id-{i}")
    return base / "assistant" / "s.ids"


def _retry_all(base: Path, count: int) -> None:
    s = fresh(base)
    for i in range(count):
        assert s.append_entry(EntryType.MESSAGE, {**MESSAGE, "n": i, "pad": ""}, entry_id=f"id-{i}").seq == i + 1
    assert [e.id for e in fresh(base).all_entries()] == [f"id-{i}" for i in range(count)]


def test_a_current_index_answers_without_reading_the_session_file(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(base, 300, pad=5000)  # 1.5 MB: the first entries are far behind the end

    def no_scan(*args: object) -> Iterator[tuple[str, int]]:
        raise AssertionError("the session file was scanned")

    monkeypatch.setattr(ids_module, "scan_entry_ids", no_scan)
    s = fresh(base)
    assert s.append_entry(EntryType.MESSAGE, MESSAGE, entry_id="id-0").seq == 1
    assert s.append_entry(EntryType.MESSAGE, MESSAGE, entry_id="new").seq == 301


@pytest.mark.parametrize(
    "damage",
    ["missing", "header flipped", "another boot", "names another file", "covers too much", "truncated"],
)
def test_an_index_that_cannot_be_trusted_is_rebuilt_from_the_session_file(
    base: Path, damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _seed(base, 200)
    raw = bytearray(index.read_bytes())
    if damage == "missing":
        index.unlink()
    elif damage == "header flipped":
        raw[20] ^= 0x01
        index.write_bytes(raw)
    elif damage == "another boot":
        monkeypatch.setattr(ids_module, "boot_id", lambda: b"\x07" * 16)
    elif damage == "names another file":
        with Manager(FileBackend(base, fsync="never")) as mgr:
            mgr.create("assistant", "other").append_entry(EntryType.MESSAGE, MESSAGE, entry_id="x")
        os.replace(base / "assistant" / "other.ids", index)
    elif damage == "covers too much":
        header = ids_module._FIELDS.unpack_from(raw, 0)
        body = ids_module._FIELDS.pack(*header[:4], header[4] * 10, *header[5:])
        raw[: len(body) + 4] = body + ids_module._CRC.pack(ids_module.zlib.crc32(body))
        index.write_bytes(raw)
    elif damage == "truncated":
        index.write_bytes(raw[:100])
    _retry_all(base, 200)


def test_entries_the_index_never_heard_of_are_indexed_before_a_lookup(base: Path) -> None:
    """A writer that died between its append and its index update (or an aixgo that kept no index)
    left entries the index does not cover: they are indexed from the session file first."""
    index = _seed(base, 50)
    before = index.read_bytes()
    s = fresh(base)
    for i in range(50, 80):
        s.append_entry(EntryType.MESSAGE, {**MESSAGE, "n": i}, entry_id=f"id-{i}")
    index.write_bytes(before)  # as if none of those appends had reached the index
    _retry_all(base, 80)


def test_a_damaged_slot_is_never_trusted_over_the_session_file(base: Path) -> None:
    """Slots that point at the wrong line are passed over; the index is rebuilt and the lookup made again,
    so a retried id is still found."""
    index = _seed(base, 100)
    raw = bytearray(index.read_bytes())
    slots = ids_module._HEADER_SIZE
    for at in range(slots, len(raw), ids_module._SLOT.size):  # every filed offset now points at the header
        key, _ = ids_module._SLOT.unpack_from(raw, at)
        if key:
            ids_module._SLOT.pack_into(raw, at, key, 1)
    index.write_bytes(raw)
    _retry_all(base, 100)


def test_the_index_grows_and_survives_reopening(base: Path) -> None:
    _seed(base, 3000)  # 64 slots at first: doubled six times
    _retry_all(base, 3000)
    assert (base / "assistant" / "s.ids").stat().st_size >= ids_module._HEADER_SIZE + 16 * 6000


def test_the_index_follows_replace_repair_and_delete(base: Path) -> None:
    from aixgo.session.transfer import export_lines, import_lines

    _seed(base, 20)
    with Manager(FileBackend(base, fsync="never")) as mgr:
        lines = list(export_lines(mgr.get("s")))
        fresh(base).append_entry(EntryType.MESSAGE, MESSAGE, entry_id="later")
        import_lines(mgr, lines, replace=True)  # "later" is gone with the replaced session
        assert fresh(base).append_entry(EntryType.MESSAGE, MESSAGE, entry_id="later").seq == 21
        assert mgr.delete("s")
        assert not (base / "assistant" / "s.ids").exists()
        mgr.create("assistant", "s")
        assert fresh(base).append_entry(EntryType.MESSAGE, MESSAGE, entry_id="id-3").seq == 1


def _writer(base: Path, ack_fd: int, seed: int, start: int) -> None:
    """Child: append id-<start>, id-<start+1>, … with random sizes, reporting each acknowledged id."""
    rng = random.Random(seed)
    s = Manager(FileBackend(base, fsync="never")).get("s")
    os.write(ack_fd, b"ready\n")
    n = start
    while True:
        s.append_entry(EntryType.METADATA, {"n": n, "pad": "x" * rng.choice([10, 3000, 70_000])}, entry_id=f"id-{n}")
        os.write(ack_fd, f"{n}\n".encode())
        n += 1


@pytest.mark.slow
def test_writers_killed_mid_append_never_let_a_retried_id_be_stored_twice(base: Path) -> None:
    """SIGKILL at random points of appends (between the line and its index update too); the next process
    retries the last acknowledged id and the one that was in flight: each is stored exactly once."""
    with Manager(FileBackend(base)) as mgr:
        mgr.create("assistant", "s")
    rng = random.Random(2121)
    next_id = 0
    for round_no in range(40):
        lines = kill_mid_work(
            lambda ack_fd, n=round_no, start=next_id: _writer(base, ack_fd, n, start),  # type: ignore[misc]
            rng.uniform(0.0, 0.02),
        )
        acked = [int(line) for line in lines]
        last = acked[-1] if acked else next_id - 1
        s = fresh(base)
        for n in range(max(0, last - 1), last + 2):  # the last acknowledged ids, and the one in flight
            s.append_entry(EntryType.METADATA, {"n": n, "retry": True}, entry_id=f"id-{n}")
        next_id = last + 2
        stored = [e.id for e in fresh(base).all_entries()]
        assert len(stored) == len(set(stored)), f"round {round_no}: an id was stored twice"
        assert stored == [f"id-{n}" for n in range(next_id)], f"round {round_no}"


def test_ids_that_need_escaping_are_indexed_from_the_file_too(base: Path) -> None:
    odd = ['say "hi"', "back\\slash", "ü✓ unicode", "tab\there", "new\nline", "\\", '"']
    with Manager(FileBackend(base, fsync="never")) as mgr:
        s = mgr.create("assistant", "s")
        for entry_id in odd:
            s.append_entry(EntryType.METADATA, {"id": entry_id}, entry_id=entry_id)
    (base / "assistant" / "s.ids").unlink()  # indexed again by scanning the file
    s = fresh(base)
    for number, entry_id in enumerate(odd, start=1):
        assert s.append_entry(EntryType.METADATA, {"id": "retry"}, entry_id=entry_id).seq == number
    assert [e.id for e in fresh(base).all_entries()] == odd
