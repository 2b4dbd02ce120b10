"""PostgreSQL faults, on real servers: killed (``pg_ctl stop -m immediate``) and restarted while several
processes append, a dropped pooled connection, ``statement_timeout``, an exhausted pool, a server
that is gone. Nothing acknowledged is lost, nothing is stored twice, errors are clear."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aixgo.errors import StoreConnectionError, StoreError
from aixgo.session import EntryType, Manager, PostgresBackend, PostgresOptions
from tests.session.postgres_server import PostgresServer, postgres_server
from tests.session.postgres_workers import append_through_restarts

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def durable() -> Iterator[PostgresServer]:
    """A server of its own (it is killed), durable as in production: fsync and synchronous_commit on."""
    with postgres_server(settings={"fsync": "on", "synchronous_commit": "on"}) as server:
        yield server


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _acked(paths: list[Path]) -> list[str]:
    return [line for path in paths if path.exists() for line in path.read_text().split()]


def test_kill_and_restart_during_appends_from_several_processes(durable: PostgresServer, tmp_path: Path) -> None:
    """Three processes append to one session; the server is killed twice (no shutdown checkpoint: the
    WAL is replayed) and restarted. The processes are never restarted: every entry they were told was
    stored is there, none twice, ``seq`` gapless."""
    schema, url = "faults", durable.socket_url()
    with Manager(PostgresBackend(url, PostgresOptions(schema=schema))) as mgr:
        mgr.create("assistant", "kill-me")
    workers, per_worker = 3, 120
    paths = [tmp_path / f"acks-{w}" for w in range(workers)]
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=append_through_restarts, args=(url, schema, "kill-me", w, per_worker, str(paths[w])))
        for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    try:
        for kill in (1, 2):
            threshold = kill * workers * per_worker // 3
            _wait_for(lambda t=threshold: len(_acked(paths)) >= t, f"{threshold} acknowledged appends")
            acked_before_kill = set(_acked(paths))
            durable.stop("immediate")
            time.sleep(0.3)  # appends fail meanwhile, and are retried
            durable.start()
            with Manager(PostgresBackend(url, PostgresOptions(schema=schema))) as check:
                stored = {e.id for e in check.get("kill-me").all_entries()}
            assert acked_before_kill <= stored, f"lost acknowledged entries: {sorted(acked_before_kill - stored)[:5]}"
        for proc in procs:
            proc.join(timeout=180)
            assert proc.exitcode == 0, f"worker exited with {proc.exitcode}"
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
    acked = _acked(paths)
    with Manager(PostgresBackend(url, PostgresOptions(schema=schema))) as check:
        entries = check.get("kill-me").get_entries()
        everything = check.get("kill-me").all_entries()
    ids = [e.id for e in entries]
    assert len(acked) == workers * per_worker == len(set(acked))
    assert len(ids) == len(set(ids)) == workers * per_worker, "an entry was stored twice (or lost)"
    assert set(ids) == set(acked)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert len(everything) == len(entries)
    for w in range(workers):  # each process's own entries are in its order
        mine = [e.data["i"] for e in entries if e.data["worker"] == w]
        assert mine == list(range(per_worker))


def test_a_dropped_pool_connection_is_replaced(open_pg: Callable[..., Any], pg_server: PostgresServer) -> None:
    backend = open_pg(pool_size=2, application_name="aixgo-dropped")
    mgr = Manager(backend)
    sess = mgr.create("assistant", "dropped")
    sess.append_message("user", "before")

    def kill_connections() -> int:
        with pg_server.connect() as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'aixgo-dropped'"
            ).fetchall()
        return len(rows)

    assert kill_connections() >= 1
    sess.append_message("user", "after the sync connections were dropped")

    async def on_the_loop() -> None:
        await sess.aappend_message("user", "async before")
        assert kill_connections() >= 1
        await sess.aappend_message("user", "after the async connection was dropped")

    asyncio.run(on_the_loop())
    assert [e.data["content"] for e in sess.get_entries()] == [
        "before", "after the sync connections were dropped", "async before", "after the async connection was dropped",
    ]  # fmt: skip
    mgr.close()


def test_statement_timeout_is_a_clear_error_and_stores_nothing(open_pg: Callable[..., Any], pg_server: PostgresServer, pg_schema: str) -> None:
    mgr = Manager(open_pg(statement_timeout=0.3))
    sess = mgr.create("assistant", "slow")
    sess.append_message("user", "one")
    with pg_server.connect() as blocker, blocker.transaction():  # holds the session's row: the append waits
        blocker.execute(f'SELECT 1 FROM "{pg_schema}".sessions WHERE id = %s FOR UPDATE', ("slow",))
        with pytest.raises(StoreError, match=r"ran longer than allowed \(0.3s, statement_timeout\)"):
            sess.append_message("user", "blocked")
    assert [e.data["content"] for e in sess.get_entries()] == ["one"]
    sess.append_message("user", "two")
    assert [e.seq for e in sess.get_entries()] == [1, 2]
    mgr.close()


def test_an_exhausted_pool_is_a_clear_error(open_pg: Callable[..., Any]) -> None:
    backend = open_pg(pool_size=0, pool_max=1, pool_timeout=0.3)
    mgr = Manager(backend)
    sess = mgr.create("assistant", "busy-pool")
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with backend.engine.connection():
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(10)
    try:
        with pytest.raises(StoreError, match=r"all 1 connections of the pool to PostgreSQL at .* stayed busy"):
            sess.append_message("user", "no connection for me")
    finally:
        release.set()
        holder.join()
    sess.append_message("user", "now there is one")

    async def exhaust_the_loop() -> None:
        connections = await backend.engine._async_pool()
        held = await connections.get()
        try:
            with pytest.raises(StoreError, match=r"all 1 connections to PostgreSQL at .* stayed busy"):
                await sess.aappend_message("user", "none on this loop either")
        finally:
            connections.put(held)
        await sess.aappend_message("user", "and now one here")

    asyncio.run(exhaust_the_loop())
    assert [e.data["content"] for e in sess.get_entries()] == ["now there is one", "and now one here"]
    mgr.close()


def test_a_server_that_is_gone_is_a_clear_error() -> None:
    with postgres_server(settings={"fsync": "off"}) as server:
        mgr = Manager(PostgresBackend(server.socket_url(), PostgresOptions(schema=f"t{uuid.uuid4().hex[:8]}", retries=1, pool_timeout=1, connect_timeout=2)))
        sess = mgr.create("assistant", "gone")
        server.stop("immediate")
        with pytest.raises(StoreConnectionError, match="PostgreSQL at postgresql://aixgo@"):
            sess.append_entry(EntryType.METADATA, {"x": 1})
        server.start()
        assert sess.append_entry(EntryType.METADATA, {"x": 2}).seq == 1  # back without a new store
        mgr.close()
