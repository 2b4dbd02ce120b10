"""Code run in child processes by the PostgreSQL fault tests (importable under spawn)."""

from __future__ import annotations

import os
import time

from aixgo.errors import StoreConnectionError, StoreError
from aixgo.session import EntryType, Manager, PostgresBackend, PostgresOptions


def append_through_restarts(url: str, schema: str, session_id: str, worker: int, count: int, ack_path: str) -> None:
    """Append ``count`` entries with ids of their own, one process and one store for the whole run.

    An append that fails because the server is down is retried with the same entry id (appends are
    idempotent) until it is acknowledged; each acknowledged id is written to ``ack_path`` at once
    (flushed), so the test knows exactly what was acknowledged when the server was killed."""
    options = PostgresOptions(schema=schema, pool_size=1, pool_max=2, retries=3, pool_timeout=2, connect_timeout=2)
    with Manager(PostgresBackend(url, options)) as mgr, open(ack_path, "a", buffering=1) as acks:
        session = mgr.get(session_id)
        for i in range(count):
            entry_id = f"w{worker}-{i}"
            deadline = time.monotonic() + 120
            while True:
                try:
                    session.append_entry(EntryType.METADATA, {"worker": worker, "i": i}, entry_id=entry_id)
                    break
                except (StoreConnectionError, StoreError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            acks.write(entry_id + "\n")
            os.fsync(acks.fileno())
