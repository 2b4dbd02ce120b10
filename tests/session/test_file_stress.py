"""Stress tests of the file backend: many writers at once, and writers killed mid-append."""

from __future__ import annotations

import multiprocessing
import os
import random
from pathlib import Path

import pytest

from aixgo.session import EntryType, FileBackend, Manager
from tests.session.file_workers import append_from_threads, kill_mid_work, turns_then_stale_writes
from tests.support.records import parse_line

pytestmark = pytest.mark.slow


def test_processes_and_threads_append_to_one_session(tmp_path: Path) -> None:
    procs, threads, per_thread = 8, 4, 250
    with Manager(FileBackend(tmp_path)) as mgr:
        mgr.create("assistant", "busy")
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=append_from_threads, args=(str(tmp_path), "busy", p, threads, per_thread))
        for p in range(procs)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=240)
        assert w.exitcode == 0

    raw = (tmp_path / "assistant" / "busy.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    lines = raw.split(b"\n")[:-1]
    records = [parse_line(line) for line in lines]  # every line parses: no interleaved bytes
    entries = [r for r in records if r["k"] == "e"]
    total = procs * threads * per_thread
    assert len(entries) == total
    assert sorted(r["seq"] for r in entries) == list(range(1, total + 1))
    assert len({(r["data"]["p"], r["data"]["t"], r["data"]["i"]) for r in entries}) == total
    with Manager(FileBackend(tmp_path)) as mgr:
        history = mgr.get("busy").get_entries()
    assert [e.seq for e in history] == list(range(1, total + 1))
    for p in range(procs):  # each thread's entries stay in its own order
        for t in range(threads):
            mine = [e.data["i"] for e in history if e.data["p"] == p and e.data["t"] == t]
            assert mine == list(range(per_thread))


def _writer(base: Path, session_id: str, ack_fd: int, seed: int) -> None:
    """Child: append entries of random sizes forever, reporting each acknowledged id on ``ack_fd``."""
    rng = random.Random(seed)
    backend = FileBackend(base, fsync="always")
    sess = Manager(backend).get(session_id)
    os.write(ack_fd, b"ready\n")
    n = 0
    while True:
        size = rng.choice([10, 300, 5_000, 50_000, 200_000])
        entry = sess.append_entry(EntryType.MESSAGE, {"role": "user", "content": "x" * size, "n": n})
        os.write(ack_fd, entry.id.encode() + b"\n")
        n += 1


def test_sigkill_mid_append_never_loses_acknowledged_entries(tmp_path: Path) -> None:
    rounds, rounds_per_session = 200, 20  # a fresh session now and then keeps the files small
    acknowledged: list[str] = []
    rng = random.Random(1234)
    torn_seen = total_acknowledged = 0
    for round_no in range(rounds):
        session_id = f"crash-{round_no // rounds_per_session}"
        if round_no % rounds_per_session == 0:
            with Manager(FileBackend(tmp_path)) as mgr:
                mgr.create("assistant", session_id)
            acknowledged = []
        lines = kill_mid_work(
            lambda ack_fd, sid=session_id, n=round_no: _writer(tmp_path, sid, ack_fd, n),  # type: ignore[misc]
            rng.uniform(0.0, 0.03),
        )
        acknowledged += [line.decode() for line in lines]
        data = (tmp_path / "assistant" / f"{session_id}.jsonl").read_bytes()
        torn_seen += not data.endswith(b"\n")
        with Manager(FileBackend(tmp_path)) as mgr:  # must open, whatever the kill left
            entries = mgr.get(session_id).get_entries()
        ids = [e.id for e in entries]
        assert len(ids) == len(set(ids)), f"round {round_no}: duplicated entries"
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        missing = set(acknowledged) - set(ids)
        assert not missing, f"round {round_no}: acknowledged entries lost: {sorted(missing)[:3]}"
        total_acknowledged += (
            len(acknowledged) if round_no % rounds_per_session == rounds_per_session - 1 else 0
        )
    assert total_acknowledged > rounds  # the writers did real work
    print(f"{rounds} kills, {total_acknowledged} acknowledged appends, {torn_seen} torn tails seen")


def test_processes_taking_turns_never_write_through_a_released_lease(tmp_path: Path) -> None:
    """Fencing across processes: each process takes the lease in turn, writes its turn through it, and
    then tries once more with the released lease. Every stale write is refused; every turn is whole."""
    procs, turns, per_turn = 4, 10, 3
    with Manager(FileBackend(tmp_path)) as mgr:
        mgr.create("assistant", "turns")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(procs) as pool:
        refused = pool.starmap(
            turns_then_stale_writes, [(str(tmp_path), "turns", p, turns, per_turn) for p in range(procs)]
        )
    assert refused == [turns] * procs
    with Manager(FileBackend(tmp_path)) as mgr:
        data = [e.data for e in mgr.get("turns").get_entries()]
    assert len(data) == procs * turns * per_turn and all(d["s"] != "stale" for d in data)
    for start in range(0, len(data), per_turn):
        chunk = data[start : start + per_turn]
        assert {(d["h"], d["t"]) for d in chunk} == {(chunk[0]["h"], chunk[0]["t"])}
        assert [d["s"] for d in chunk] == list(range(per_turn))
