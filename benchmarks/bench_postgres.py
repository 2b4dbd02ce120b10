"""PostgreSQL store benchmarks (issue 24).

Starts its own PostgreSQL (``initdb`` + ``pg_ctl``, durable as in production: ``fsync`` and
``synchronous_commit`` on) on a free loopback port and measures, through the ``Session`` /
``Manager`` API over TCP, the workloads the issue names. Each has a floor measured in the same run
on the same server: the same statement (the store's own ``.sql``) through a bare psycopg connection
with its parameters ready, and for reads the ``json.loads`` of what it returns. The store's share is
the rest: building the record with the session core, decoding and validating what it reads, the
pool. Target: each row at most 1.5x its floor. Run alone with ``python -m benchmarks.bench_postgres``
or as part of ``python -m benchmarks``; also prints the tables' sizes per 10,000 entries next to the
file store's JSONL.
"""

from __future__ import annotations

import json
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from aixgo.session import EntryType, FileBackend, Manager
from aixgo.session.core.codec import ROOT_HASH, checkpoint_record, dumps, header_record, utcnow
from aixgo.session.core.state import Head, checkpoint_at, next_entry
from benchmarks.harness import header, measure, note, report

MESSAGE = {"role": "user", "content": "Remind me what we decided about the launch date, please."}
BIG, HUGE, SESSIONS = 10_000, 1_000_000, 100_000
RATIO = 1.5


def run() -> None:
    header("PostgreSQL store (own server on loopback TCP, fsync + synchronous_commit on, psycopg 3)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        note("skipped: psycopg is not installed (pip install -e '.[postgres]')")
        return
    from tests.session.postgres_server import BINDIR, PostgresServer

    if BINDIR is None:
        note("skipped: PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)")
        return
    with PostgresServer(settings={"fsync": "on", "synchronous_commit": "on"}) as server:
        bench = _Bench(server.url())
        try:
            bench.all()
        finally:
            bench.close()


def paired(
    ours: Callable[[], object],
    floor: Callable[[], object],
    n: int,
    setup_ours: Callable[[], object] | None = None,
    setup_floor: Callable[[], object] | None = None,
    warmup: int = 5,
) -> tuple[list[float], list[float]]:
    """Samples of ``ours`` and ``floor`` taken alternately (this machine's disk and CPUs are shared:
    a slow spell then slows both alike, instead of whichever ran in it)."""
    ours_samples: list[float] = []
    floor_samples: list[float] = []
    for i in range(n + warmup):
        for fn, setup, samples in ((ours, setup_ours, ours_samples), (floor, setup_floor, floor_samples)):
            if setup:
                setup()
            started = time.perf_counter()
            fn()
            if i >= warmup:
                samples.append(time.perf_counter() - started)
    return ours_samples, floor_samples


def _ratio(name: str, row: float, floor: float) -> None:
    verdict = "ok" if row <= RATIO * floor else "MISS"
    note(f"{name}: {row / floor:.2f}x its floor (target <= {RATIO}x) {verdict}")


class _Bench:
    def __init__(self, url: str) -> None:
        import psycopg

        from aixgo.session import PostgresBackend, PostgresOptions

        self.url = url
        self.backend = PostgresBackend(url, PostgresOptions(pool_size=2))
        self.mgr = Manager(self.backend)
        self.mgr.list(limit=1)  # creates the schema
        self.sql = self.backend.engine.statements
        self.raw = psycopg.connect(url, autocommit=True, prepare_threshold=5)

    def close(self) -> None:
        self.raw.close()
        self.mgr.close()

    def all(self) -> None:
        self.appends()
        self.creates()
        self.big_session()
        self.huge_session()
        self.listing()
        self.sizes()

    def _one(self, statement: bytes, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self.raw.execute(statement, params).fetchall()

    # -- append ------------------------------------------------------------------------------------

    def appends(self) -> None:
        sess = self.mgr.create("bench", "append")
        floor_sess = self.mgr.create("bench", "append-floor")
        head = [Head()]
        params: list[dict[str, Any]] = []

        def prepare() -> None:
            pending = next_entry(head[0], "e_" + secrets.token_hex(8), EntryType.MESSAGE, MESSAGE, utcnow())
            params[:] = [{
                "sid": floor_sess.id, "entry_id": pending.entry.id, "prev_seq": head[0].seq, "prev_hash": head[0].hash,
                "seq": pending.entry.seq, "hash": pending.head.hash, "msgs": pending.head.message_count,
                "ts": pending.entry.timestamp, "parent_id": pending.entry.parent_id, "record": pending.encoded, "fence": None,
            }]  # fmt: skip
            head[0] = pending.head

        ours, raw = paired(lambda: sess.append_entry(EntryType.MESSAGE, MESSAGE),
                           lambda: self._one(self.sql["append"], params[0]), 2000, setup_floor=prepare)
        row = report("append (one statement: idempotency check, CAS on the head, insert)", ours)
        floor = report("floor: the same append statement through psycopg (parameters ready)", raw)
        _ratio("append", row.median, floor.median)

    # -- create ------------------------------------------------------------------------------------

    def creates(self) -> None:
        counter = iter(range(10**9))
        params: list[dict[str, Any]] = []

        def prepare() -> None:
            sid, now = f"f{next(counter)}", utcnow()
            params[:] = [{"sid": sid, "agent": "bench", "user_id": None, "header": dumps(header_record(sid, "bench", None, now, {})),
                          "nonce": secrets.token_hex(8), "created": now, "root": ROOT_HASH}]

        ours, raw = paired(lambda: self.mgr.create("bench", f"c{next(counter)}"),
                           lambda: self._one(self.sql["create"], params[0]), 2000, setup_floor=prepare)
        row = report("create session (one INSERT … ON CONFLICT)", ours)
        floor = report("floor: the same INSERT through psycopg", raw)
        _ratio("create", row.median, floor.median)

    # -- a 10,000-entry session --------------------------------------------------------------------

    def _history_floor(self, sid: str, limit: int | None) -> Callable[[], object]:
        params = {"sid": sid, "window": None, "start": 0 if limit is None else -limit, "stop": -1, "held": None}

        def read() -> object:
            ((records, _count, *_),) = self._one(self.sql["history"], params)
            return json.loads("[" + records + "]")

        return read

    def big_session(self) -> None:
        sess = self.mgr.create("bench", "big")
        for i in range(BIG):
            sess.append_message("user" if i % 2 == 0 else "assistant", f"message {i} " + "x" * 80)
        from aixgo.session import PostgresBackend, PostgresOptions

        cold = Manager(PostgresBackend(self.url, PostgresOptions(cache_bytes=0))).get(sess.id)
        ours, raw = paired(lambda: sess.get_entries(limit=100), self._history_floor(sess.id, 100), 2000)
        floor = report("floor: the last-100 statement through psycopg + json.loads (10,000 entries)", raw)
        row = report("last 100 entries of a 10,000-entry session (this instance holds them: the server says 'same')", ours)
        _ratio("last 100 of 10,000", row.median, floor.median)
        ours, raw = paired(lambda: cold.get_entries(limit=100), self._history_floor(sess.id, 100), 2000)
        row = report("  the same, read by an instance that holds none (cache_bytes=0: decoded, validated)", ours)
        _ratio("last 100 of 10,000, nothing held", row.median, statistics.median(raw))
        ours, raw = paired(sess.get_entries, self._history_floor(sess.id, None), 50, warmup=3)
        floor = report("floor: the all-entries statement through psycopg + json.loads (10,000 entries)", raw)
        row = report("all 10,000 entries (held)", ours)
        _ratio("all 10,000", row.median, floor.median)
        ours, raw = paired(cold.get_entries, self._history_floor(sess.id, None), 50, warmup=3)
        row = report("  all 10,000, read by an instance that holds none (decoded, validated)", ours)
        _ratio("all 10,000, nothing held", row.median, statistics.median(raw))

        info = self.backend.get_info(sess.id)
        head = self.backend._known(sess.id) or Head()
        params: list[dict[str, Any]] = []

        def prepare_checkpoint() -> None:
            cp = checkpoint_at(head, sess.id, "cp_" + secrets.token_hex(6), {}, utcnow())
            params[:] = [{"sid": sess.id, "cp_id": cp.id, "seq": head.seq, "checksum": bytes.fromhex(cp.checksum),
                          "entry_id": cp.entry_id, "ts": cp.timestamp, "record": dumps(checkpoint_record(cp)), "fence": None}]

        ours, raw = paired(sess.checkpoint, lambda: self._one(self.sql["checkpoint"], params[0]), 1000,
                           setup_floor=prepare_checkpoint)
        row = report("checkpoint, 10,000-entry session (one statement: CAS on the head, insert)", ours)
        floor = report("floor: the same checkpoint statement through psycopg", raw)
        _ratio("checkpoint", row.median, floor.median)
        assert info.message_count == BIG

        cp = sess.checkpoint()
        record = dumps(checkpoint_record(cp))
        restore_params = {"sid": sess.id, "cp_id": cp.id, "record": record, "ts": utcnow(), "root": ROOT_HASH, "fence": None}

        def restore_floor() -> None:
            with self.raw.pipeline():
                self.raw.execute(b"BEGIN")
                self.raw.execute(self.sql["restore_lock"], restore_params)
                cur = self.raw.execute(self.sql["restore"], restore_params)
                self.raw.execute(b"COMMIT")
            cur.fetchall()

        abandon = lambda: sess.append_message("user", "abandoned")  # noqa: E731
        ours, raw = paired(lambda: sess.restore(cp.id), restore_floor, 1000, setup_ours=abandon, setup_floor=abandon)
        row = report("restore, 10,000-entry session (undo one turn: verify + durable head move, one transaction)", ours)
        floor = report("floor: the same restore transaction through psycopg (pipelined)", raw)
        _ratio("restore", row.median, floor.median)

    # -- a 1,000,000-entry session -----------------------------------------------------------------

    def huge_session(self) -> None:
        sess = self.mgr.create("bench", "huge")
        ((sk,),) = self._one(b'SELECT sk FROM "aixgo".sessions WHERE id = %(sid)s', {"sid": sess.id})
        head = Head()
        start = utcnow()

        def rows() -> Iterator[tuple[Any, ...]]:
            nonlocal head
            for i in range(HUGE):
                role = "user" if i % 2 == 0 else "assistant"
                pending = next_entry(head, f"e_{i:012d}", EntryType.MESSAGE,
                                     {"role": role, "content": f"message {i} " + "x" * 80}, start + timedelta(microseconds=i))
                yield (sk, i + 1, pending.entry.id, pending.entry.parent_id, pending.entry.seq, pending.entry.seq,
                       pending.head.message_count, pending.head.hash, pending.encoded)
                head = pending.head

        with self.raw.cursor().copy(self.sql["import_entries"]) as copy:
            for row in rows():
                copy.write_row(row)
        self.raw.execute(b'UPDATE "aixgo".sessions SET head_id = %(id)s, head_seq = %(seq)s, head_hash = %(hash)s, '
                  b"head_msgs = %(msgs)s, written = %(seq)s WHERE sk = %(sk)s",
                  {"id": head.entry_id, "seq": head.seq, "hash": head.hash, "msgs": head.message_count, "sk": sk})
        self.raw.execute(b'ANALYZE "aixgo".entries')
        note(f"(a {HUGE:,}-entry session: the entries the core built for it, copied in)")
        from aixgo.session import PostgresBackend, PostgresOptions

        cold = Manager(PostgresBackend(self.url, PostgresOptions(cache_bytes=0))).get(sess.id)
        ours, raw = paired(lambda: cold.get_entries(limit=100), self._history_floor(sess.id, 100), 2000)
        floor = report("floor: the last-100 statement through psycopg + json.loads (1,000,000 entries)", raw)
        row = report("last 100 entries of a 1,000,000-entry session (nothing held: decoded, validated)", ours)
        _ratio("last 100 of 1,000,000", row.median, floor.median)
        sess.append_message("user", "one more")
        assert [e.seq for e in sess.get_entries(limit=2)] == [HUGE, HUGE + 1]

    # -- listing 20 of 100,000 sessions ------------------------------------------------------------

    def listing(self) -> None:
        now = utcnow()
        with self.raw.cursor().copy(b'COPY "aixgo".sessions (id, agent, user_id, header, nonce, created_at, updated_at, '
                                    b"head_hash) FROM STDIN") as copy:
            for i in range(SESSIONS):
                sid, at = f"list-{i:06d}", now - timedelta(seconds=i)
                copy.write_row((sid, "lister", None, dumps(header_record(sid, "lister", None, at, {})),
                                "bench", at, at, ROOT_HASH))
        self.raw.execute(b'ANALYZE "aixgo".sessions')
        note(f"({SESSIONS:,} more sessions of agent 'lister')")
        params = {"agent": None, "user_id": None, "limit": 20, "offset": 0, "before_ts": "infinity", "before_id": ""}
        ours, raw = paired(lambda: self.mgr.list(limit=20), lambda: self._one(self.sql["list_page"], params), 2000)
        floor = report("floor: the list-page statement through psycopg (20 rows)", raw)
        row = report(f"list 20 most recent of {SESSIONS:,} sessions (keyset on an index)", ours, 10e-3)
        _ratio("list 20", row.median, floor.median)
        page = self.mgr.list(agent="lister", limit=20)
        deep = (page[-1].updated_at, page[-1].id)
        report("next page of 20 (before= the previous page's last, agent 'lister')",
               measure(lambda: self.mgr.list(agent="lister", limit=20, before=deep), 2000), 10e-3)

    # -- sizes -------------------------------------------------------------------------------------

    def sizes(self) -> None:
        """Table and index bytes of the 10,000-entry session's rows, next to the file store's JSONL."""
        ((entries, total),) = self._one(
            b"SELECT pg_relation_size('\"aixgo\".entries') + pg_relation_size(reltoastrelid), "
            b"pg_total_relation_size('\"aixgo\".entries') FROM pg_class WHERE oid = '\"aixgo\".entries'::regclass", {})
        ((count,),) = self._one(b'SELECT count(*) FROM "aixgo".entries', {})
        indexes = {
            name: size for name, size in self._one(
                b"SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
                b"WHERE schemaname = 'aixgo' AND relname = 'entries' ORDER BY 1", {})
        }
        per = BIG / count
        with tempfile.TemporaryDirectory() as folder:
            files = Manager(FileBackend(folder, fsync="never"))
            sess = files.create("bench", "sized")
            for i in range(BIG):
                sess.append_message("user" if i % 2 == 0 else "assistant", f"message {i} " + "x" * 80)
            files.close()
            jsonl = sum(p.stat().st_size for p in Path(folder).rglob("*.jsonl"))
        note(f"sizes per {BIG:,} entries (~150-byte messages; averaged over the {count:,} stored): "
             f"table {entries * per / 1e6:.2f} MB, indexes {(total - entries) * per / 1e6:.2f} MB "
             + "(" + ", ".join(f"{name} {size * per / 1e6:.2f}" for name, size in indexes.items()) + "), "
             f"JSONL file {jsonl / 1e6:.2f} MB")


if __name__ == "__main__":
    run()
