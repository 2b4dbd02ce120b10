"""Code run in child processes by the file backend's stress tests (importable under spawn)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from aixgo.session import EntryType, FileBackend, Manager


def append_from_threads(base_dir: str, session_id: str, proc: int, threads: int, per_thread: int) -> None:
    """Append ``per_thread`` entries from each of ``threads`` threads, all through one manager."""
    with Manager(FileBackend(Path(base_dir), fsync="never")) as mgr:
        sess = mgr.get(session_id)
        barrier = threading.Barrier(threads)

        def work(thread: int) -> None:
            barrier.wait()
            for i in range(per_thread):
                sess.append_entry(EntryType.METADATA, {"p": proc, "t": thread, "i": i, "pad": "x" * (i % 97)})

        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()


def turns_then_stale_writes(base_dir: str, session_id: str, holder: int, turns: int, per_turn: int) -> int:
    """Take the session's lease ``turns`` times, append ``per_turn`` entries through it each time, and after
    each release try one more write through the released lease. Returns how many of those were refused."""
    from aixgo.errors import LeaseLostError

    refused = 0
    with Manager(FileBackend(Path(base_dir), fsync="never")) as mgr:
        sess = mgr.get(session_id)
        for turn in range(turns):
            with sess.lease(wait=120) as lease:
                for step in range(per_turn):
                    lease.session.append_entry(EntryType.METADATA, {"h": holder, "t": turn, "s": step})
            try:
                lease.session.append_entry(EntryType.METADATA, {"h": holder, "t": turn, "s": "stale"})
            except LeaseLostError:
                refused += 1
    return refused


def kill_mid_work(work: Callable[[int], None], delay: float) -> list[bytes]:
    """Fork a child that runs ``work(ack_fd)`` (it writes ``ready\\n`` to ``ack_fd``, then one line per
    acknowledged write), SIGKILL it ``delay`` seconds after it is ready, and return its lines."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_fd)
        try:
            work(write_fd)
        finally:
            os._exit(1)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        assert pipe.readline() == b"ready\n"
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return [line for line in pipe.read().split(b"\n") if line]
