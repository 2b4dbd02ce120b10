"""What only the PostgreSQL store can show, on a real server: migrations under concurrency, the
statements' use of their indexes, stored bytes, idempotency at any distance, retention in batches,
damage and newer formats."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from aixgo.errors import UnsupportedVersionError
from aixgo.session import EntryType, Manager, PostgresOptions
from aixgo.session.core.codec import encode_entry
from aixgo.session.postgres import migrate
from aixgo.session.postgres.statements import LATEST_VERSION, Statements
from tests.session.postgres_server import PostgresServer

pytestmark = pytest.mark.postgres


def test_processes_starting_together_migrate_once(pg_server: PostgresServer) -> None:
    """Six connections find a fresh database at once: each migration is applied exactly once (a cached
    "no such table" of a connection that looked before another created it must not count)."""
    for _ in range(3):
        url = pg_server.url(pg_server.create_database())
        barrier, errors = threading.Barrier(6), list[str]()

        def start(url: str = url, barrier: threading.Barrier = barrier, errors: list[str] = errors) -> None:
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    barrier.wait()
                    migrate.ensure(conn, PostgresOptions(), "test")
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(repr(exc))

        threads = [threading.Thread(target=start) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with psycopg.connect(url) as conn:
            versions = [v for (v,) in conn.execute("SELECT version FROM aixgo.aixgo_migrations ORDER BY 1")]
        assert versions == list(range(LATEST_VERSION + 1))


def _plan(pg_server: PostgresServer, schema: str, name: str, params: dict[str, Any], filter: str = "") -> str:
    statement = Statements(schema).get(name, filter)
    with pg_server.connect() as conn:
        conn.execute(f'ANALYZE "{schema}".entries')
        conn.execute(f'ANALYZE "{schema}".sessions')
        rows = conn.execute(b"EXPLAIN " + statement, params).fetchall()
    return "\n".join(row[0] for row in rows)


def test_reads_and_lists_use_their_indexes(open_pg: Callable[..., Any], pg_server: PostgresServer, pg_schema: str) -> None:
    mgr = Manager(open_pg())
    for n in range(600):
        mgr.create("many", f"s{n:03d}", user_id=f"u{n % 7}")
    for n in range(15):
        mgr.create("rare", f"r{n:03d}", user_id="u-rare")
    long = mgr.create("assistant", "long")
    for i in range(2000):
        long.append_entry(EntryType.METADATA, {"i": i})
    history = _plan(pg_server, pg_schema, "history", {"sid": "long", "window": None, "start": -100, "stop": -1, "held": None})
    assert "entries_history" in history, history
    page = {"agent": "rare", "user_id": "u-rare", "limit": 20, "offset": 0, "before_ts": "infinity", "before_id": ""}
    for filters, index in (((False, False), "sessions_recent"), ((True, False), "sessions_agent_recent"),
                           ((False, True), "sessions_user_recent")):
        from aixgo.session.postgres.statements import LIST_FILTERS

        listing = _plan(pg_server, pg_schema, "list_page", page, LIST_FILTERS[filters])
        assert index in listing, listing
    append = _plan(pg_server, pg_schema, "append", {
        "sid": "long", "entry_id": "e_x", "prev_seq": 1, "prev_hash": b"", "seq": 2, "hash": b"", "msgs": 0,
        "ts": "2026-01-01T00:00:00Z", "parent_id": None, "record": "{}", "fence": None})  # fmt: skip
    assert "entries_id" in append and "Seq Scan on entries" not in append, append
    mgr.close()


def test_the_stored_bytes_are_the_codecs(open_pg: Callable[..., Any], pg_server: PostgresServer, pg_schema: str) -> None:
    mgr = Manager(open_pg())
    sess = mgr.create("assistant", "bytes")
    written = [sess.append_message("user", 'héllo ✓ "quoted" \\ \n'), sess.append_entry(EntryType.METADATA, {"n": [1, 2.5]})]
    with pg_server.connect() as conn:
        stored = [r for (r,) in conn.execute(f'SELECT record FROM "{pg_schema}".entries ORDER BY w')]
    assert stored == [encode_entry(e) for e in written]
    mgr.close()


def test_an_append_retried_after_many_others_is_stored_once(open_pg: Callable[..., Any]) -> None:
    mgr = Manager(open_pg())
    sess = mgr.create("assistant", "far")
    message = {"role": "user", "content": "once"}
    first = sess.append_entry(EntryType.MESSAGE, message, entry_id="e_retried")
    for i in range(300):
        sess.append_entry(EntryType.METADATA, {"i": i})
    other = Manager(open_pg()).get("far")  # another process, which never saw it
    assert other.append_entry(EntryType.MESSAGE, message, entry_id="e_retried") == first
    assert len(sess.get_entries()) == 301
    mgr.close()


def test_deleting_a_long_session_goes_in_batches(open_pg: Callable[..., Any], pg_server: PostgresServer, pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from aixgo.session.postgres import backend as backend_module

    monkeypatch.setattr(backend_module, "_PURGE_BATCH", 50)
    backend = open_pg()
    mgr = Manager(backend)
    sess = mgr.create("assistant", "long")
    for i in range(260):
        sess.append_entry(EntryType.METADATA, {"i": i})
    sess.checkpoint()
    batches: list[int] = []
    real_run = backend.engine._execute

    def run(request: Any) -> Any:
        rows = real_run(request)
        if getattr(request, "sql", b"").lstrip().startswith(b"DELETE FROM") and b"LIMIT" in request.sql:
            batches.append(len(rows))
        return rows

    monkeypatch.setattr(backend.engine, "_execute", run)
    assert mgr.delete("long")
    with pg_server.connect() as conn:
        left = conn.execute(f'SELECT (SELECT count(*) FROM "{pg_schema}".entries), '
                            f'(SELECT count(*) FROM "{pg_schema}".checkpoints), (SELECT count(*) FROM "{pg_schema}".deleted)').fetchone()
    assert left == (0, 0, 0)
    assert batches == [50, 50, 50, 50, 50, 10, 1]  # entries 50 at a time, then the checkpoint
    mgr.close()


def test_rows_a_stopped_deleter_left_are_purged(open_pg: Callable[..., Any], pg_server: PostgresServer, pg_schema: str) -> None:
    backend = open_pg()
    mgr = Manager(backend)
    sess = mgr.create("assistant", "half-deleted")
    for i in range(20):
        sess.append_entry(EntryType.METADATA, {"i": i})
    with pg_server.connect() as conn:  # what a process killed between the delete and its purge leaves
        conn.execute(f'WITH gone AS (DELETE FROM "{pg_schema}".sessions WHERE id = %s RETURNING sk) '
                     f'INSERT INTO "{pg_schema}".deleted (sk) SELECT sk FROM gone', ("half-deleted",))
    fresh = mgr.create("assistant", "half-deleted")  # the id is free again, and starts empty
    assert fresh.get_entries() == []
    mgr.create("assistant", "other")
    assert mgr.delete("other")  # the next delete finishes what the stopped one left
    with pg_server.connect() as conn:
        assert conn.execute(f'SELECT count(*) FROM "{pg_schema}".entries').fetchone() == (0,)
        assert conn.execute(f'SELECT count(*) FROM "{pg_schema}".deleted').fetchone() == (0,)
    assert backend.purge_deleted() == 0
    mgr.close()


def test_ttl_sweep_deletes_idle_sessions(open_pg: Callable[..., Any]) -> None:
    backend = open_pg(ttl=timedelta(seconds=0.5), sweep_interval=3600)  # no sweep in the background here
    mgr = Manager(backend)
    mgr.create("assistant", "idle").append_message("user", "x")
    time.sleep(0.7)
    kept = mgr.create("assistant", "busy")
    assert backend.sweep() == ["idle"]
    kept.append_message("user", "still here")
    assert [i.id for i in mgr.list()] == ["busy"]
    mgr.close()


def test_writes_start_the_ttl_sweep(open_pg: Callable[..., Any]) -> None:
    mgr = Manager(open_pg(ttl=timedelta(seconds=0.3), sweep_interval=0.1))
    mgr.create("assistant", "idle")
    time.sleep(0.5)
    writer = mgr.create("assistant", "writer")
    deadline = time.monotonic() + 20
    while "idle" in [i.id for i in mgr.list()]:  # a sweep on a thread of its own, started by the writes
        assert time.monotonic() < deadline, "no sweep deleted the idle session"
        writer.append_message("user", "tick")
        time.sleep(0.05)
    mgr.close()


def test_a_newer_record_format_is_refused_and_listed_as_damage(open_pg: Callable[..., Any], pg_server: PostgresServer, pg_schema: str) -> None:
    mgr = Manager(open_pg())
    mgr.create("assistant", "future")
    mgr.create("assistant", "present")
    with pg_server.connect() as conn:
        conn.execute(f'UPDATE "{pg_schema}".sessions SET header = replace(header, \'"v":1\', \'"v":7\') WHERE id = %s', ("future",))
    with pytest.raises(UnsupportedVersionError, match="format version 7 is newer"):
        mgr.get("future")
    listed = {i.id: i.damage for i in mgr.list()}
    assert listed["present"] is None and "newer" in (listed["future"] or "")
    assert mgr.most_recent() is not None and mgr.most_recent().id == "present"  # type: ignore[union-attr]
    mgr.close()


def test_keyset_pages_cover_every_session_once(open_pg: Callable[..., Any]) -> None:
    mgr = Manager(open_pg())
    for n in range(45):
        mgr.create("assistant", f"k{n:02d}")
    seen: list[str] = []
    before = None
    while True:
        page = mgr.list(limit=10, before=before)
        seen += [i.id for i in page]
        if len(page) < 10:
            break
        before = (page[-1].updated_at, page[-1].id)
    assert seen == [i.id for i in mgr.list()] and len(set(seen)) == 45
    mgr.close()


def test_times_are_utc_whatever_the_servers_timezone(pg_server: PostgresServer) -> None:
    from aixgo.session import PostgresBackend

    database = pg_server.create_database()
    with pg_server.connect() as conn:
        conn.execute(f"ALTER DATABASE \"{database}\" SET timezone = 'America/New_York'")
    mgr = Manager(PostgresBackend(pg_server.url(database)))
    sess = mgr.create("assistant", "tz")
    entry = sess.append_message("user", "x")
    info = sess.info
    assert info.updated_at == entry.timestamp and info.updated_at.utcoffset() == timedelta(0)
    assert mgr.list()[0].updated_at.utcoffset() == timedelta(0)
    mgr.close()


def test_a_read_of_an_unchanged_session_moves_no_entries(open_pg: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    backend = open_pg()
    mgr = Manager(backend)
    sess = mgr.create("assistant", "held")
    for i in range(150):
        sess.append_entry(EntryType.METADATA, {"i": i})
    decoded: list[int] = []
    real = backend._entries
    monkeypatch.setattr(backend, "_entries", lambda joined, count, sid: decoded.append(count) or real(joined, count, sid))
    first = sess.get_entries(limit=100)  # held since this instance wrote them: nothing moves
    assert [e.data["i"] for e in first] == list(range(50, 150)) and decoded == []
    other = Manager(open_pg()).get("held")
    other.append_entry(EntryType.METADATA, {"i": "from another node"})
    fresh = sess.get_entries(limit=2)  # the head moved: read again, never stale
    assert [e.data["i"] for e in fresh] == [149, "from another node"] and decoded == [2]
    assert sess.get_entries(limit=2) == fresh and decoded == [2]
    cold = Manager(open_pg()).get("held")
    assert cold.get_entries(limit=100) == sess.get_entries(limit=100)
    mgr.close()


def test_a_listed_page_knows_titles_and_tokens_as_the_core_summarizes_them(open_pg: Callable[..., Any]) -> None:
    """The page's titles and tokens come with its rows (no history read per session) and are the
    session core's summary of each current history: empty and image-only user messages skipped, text
    that looks like a user message inside another entry ignored, abandoned branches not counted."""
    from aixgo.session.core.summary import summarize

    mgr = Manager(open_pg())
    plain = mgr.create("assistant", "plain")
    plain.append_message("assistant", 'quoting {"role":"user"} here')
    for content in ("   ", [{"type": "image_url", "image_url": {"url": "x"}}], " ", "the  real\ntitle"):
        plain.append_message("user", content)
    plain.append_entry(EntryType.USAGE, {"total_tokens": 7})
    plain.append_entry(EntryType.METADATA, {"note": '"type":"usage"', "total_tokens": 100})
    branched = mgr.create("assistant", "branched")
    branched.append_message("user", "kept")
    branched.append_entry(EntryType.USAGE, {"total_tokens": 3})
    point = branched.checkpoint()
    branched.append_message("user", "abandoned")
    branched.append_entry(EntryType.USAGE, {"total_tokens": 50})
    branched.restore(point.id)
    mgr.create("assistant", "empty")
    listed = {info.id: (info.title, info.tokens) for info in mgr.list(limit=20)}
    expected = {sid: (summary.title, summary.tokens) for sid in listed
                if (summary := summarize(mgr.get(sid).get_entries()))}
    assert listed == expected == {"plain": ("the real title", 7), "branched": ("kept", 3), "empty": (None, 0)}
    mgr.close()
