"""aixgo's session store beside other libraries' on the same workloads, in one run (``make bench-peers``).

Runs in its own virtual environment (``.venv-peers``) with ``openai-agents`` (its ``SQLiteSession``,
and ``SQLAlchemySession`` on asyncpg), ``langgraph-checkpoint-sqlite`` (``SqliteSaver``) and
``langgraph-checkpoint-postgres`` (``PostgresSaver``) installed; never part of ``make test``. The
PostgreSQL rows run every library against one PostgreSQL server started for the run (``initdb`` +
``pg_ctl``, durable: ``fsync`` and ``synchronous_commit`` on), each in a database of its own. Each
row names its workload; the ratio column is the peer's median over aixgo's for the same workload.
Floors (a bare ``os.write`` + ``os.fdatasync`` of the bytes of one message, and the read from an
indexed SQLite table) are measured in the same run.

Durability differs by design and is said beside each row: aixgo's ``fsync=always`` flushes every
append to disk before returning; ``SQLiteSession`` runs SQLite in WAL mode with SQLite's default
``synchronous=FULL`` (the WAL is synced on every commit); ``fsync=never`` leaves flushing to the OS.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aixgo.session import EntryType, FileBackend, Manager
from benchmarks.harness import Row, header, measure, note, report

COUNT = 10_000
MESSAGE = {"role": "user", "content": "Remind me what we decided about the launch date, please."}


def _ratio(peer: Row, ours: Row) -> None:
    note(f"{peer.name.split(':')[0]}: {peer.median / ours.median:.2f}x aixgo's median ({ours.name})")


def _aixgo(root: Path) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for policy in ("always", "never"):
        with Manager(FileBackend(root / f"append-{policy}", fsync=policy)) as mgr:
            sess = mgr.create("bench", "append")
            rows[f"append-{policy}"] = report(
                f"aixgo: append one message (fsync={policy})",
                measure(
                    lambda s=sess: s.append_entry(EntryType.MESSAGE, MESSAGE),
                    400 if policy == "always" else 3000,
                ),  # type: ignore[misc]
            )
    base = root / "long"
    with Manager(FileBackend(base, fsync="never")) as mgr:
        sess = mgr.create("bench", "long")
        for _ in range(COUNT):
            sess.append_entry(EntryType.MESSAGE, MESSAGE)
    with Manager(FileBackend(base)) as mgr:
        warm = mgr.get("long")
        warm.get_entries(limit=100)
        rows["warm"] = report(
            f"aixgo: last 100 of {COUNT:,}, warm", measure(lambda: warm.get_entries(limit=100), 3000)
        )
        rows["all"] = report(f"aixgo: all {COUNT:,} entries", measure(warm.get_entries, 100))

    def cold() -> None:
        with Manager(FileBackend(base)) as fresh:
            fresh.get("long").get_entries(limit=100)

    rows["cold"] = report(
        f"aixgo: last 100 of {COUNT:,}, cold (new store object)", measure(cold, 300, warmup=5)
    )
    return rows


def _floors(root: Path) -> None:
    payload = (json.dumps(MESSAGE) + "\n").encode()
    fd = os.open(root / "floor.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write_sync() -> None:
        os.write(fd, payload)
        os.fdatasync(fd)

    report("floor: os.write + os.fdatasync of one message", measure(write_sync, 400))
    os.close(fd)
    db_path = root / "floor.db"
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE m (session_id TEXT, seq INTEGER, data TEXT, PRIMARY KEY (session_id, seq))")
    db.executemany("INSERT INTO m VALUES ('s', ?, ?)", ((i, json.dumps(MESSAGE)) for i in range(COUNT)))
    db.commit()
    db.close()

    def read() -> None:
        conn = sqlite3.connect(db_path)
        rows = conn.execute(
            "SELECT data FROM m WHERE session_id = 's' ORDER BY seq DESC LIMIT 100"
        ).fetchall()
        [json.loads(data) for (data,) in rows]
        conn.close()

    report(
        f"floor: indexed SQLite table, new connection, last 100 of {COUNT:,}", measure(read, 300, warmup=5)
    )


def _openai_agents(root: Path, ours: dict[str, Row]) -> None:
    from agents.memory import SQLiteSession

    loop = asyncio.new_event_loop()
    run: Callable[[Any], Any] = loop.run_until_complete
    db = root / "agents.db"
    session = SQLiteSession("append", db)
    _ratio(
        report(
            "OpenAI Agents SQLiteSession: add_items (one message)",
            measure(lambda: run(session.add_items([MESSAGE])), 400),
        ),
        ours["append-always"],
    )
    session.close()
    long = SQLiteSession("long", db)
    for _start in range(0, COUNT, 500):
        run(long.add_items([MESSAGE] * 500))
    run(long.get_items(limit=100))
    _ratio(
        report(
            f"OpenAI Agents SQLiteSession: last 100 of {COUNT:,}, warm",
            measure(lambda: run(long.get_items(limit=100)), 3000),
        ),
        ours["warm"],
    )
    _ratio(
        report(
            f"OpenAI Agents SQLiteSession: all {COUNT:,} items", measure(lambda: run(long.get_items()), 100)
        ),
        ours["all"],
    )
    long.close()

    def cold() -> None:
        fresh = SQLiteSession("long", db)
        run(fresh.get_items(limit=100))
        fresh.close()

    _ratio(
        report(
            f"OpenAI Agents SQLiteSession: last 100 of {COUNT:,}, cold (new object)",
            measure(cold, 300, warmup=5),
        ),
        ours["cold"],
    )
    loop.close()


def _langgraph(root: Path, ours: dict[str, Row]) -> None:
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(root / "langgraph.db", check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()
    config: dict[str, Any] = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    messages: list[dict[str, Any]] = [MESSAGE] * 100

    def put() -> None:
        checkpoint = empty_checkpoint()
        checkpoint["id"] = str(uuid.uuid1())
        checkpoint["channel_values"] = {"messages": messages}
        saver.put(config, checkpoint, {"source": "loop", "step": 1}, {})

    note("LangGraph stores whole state snapshots, not items: a turn saves a checkpoint holding the messages")
    _ratio(
        report("LangGraph SqliteSaver: put a checkpoint of 100 messages", measure(put, 400)),
        ours["append-always"],
    )
    _ratio(
        report(
            "LangGraph SqliteSaver: get the latest checkpoint (100 messages)",
            measure(lambda: saver.get_tuple(config), 2000),
        ),
        ours["warm"],
    )
    conn.close()


def _postgres() -> None:
    """aixgo's PostgreSQL store beside OpenAI Agents' SQLAlchemySession (asyncpg) and LangGraph's
    PostgresSaver, on one server; each peer row is sampled alternately with aixgo's (this machine is
    shared: a slow spell then slows both alike)."""
    header("Peers on PostgreSQL: the same workloads, one server (loopback TCP, fsync + synchronous_commit on)")
    try:
        from tests.session.postgres_server import BINDIR, PostgresServer
    except ImportError:
        note("skipped: run from the checkout")
        return
    if BINDIR is None:
        note("skipped: PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)")
        return
    from aixgo.session import PostgresBackend

    with PostgresServer(settings={"fsync": "on", "synchronous_commit": "on"}) as server:
        loop = asyncio.new_event_loop()
        run: Callable[[Any], Any] = loop.run_until_complete
        mgr = Manager(PostgresBackend(server.url(server.create_database())))
        sess = mgr.create("bench", "append")
        long = mgr.create("bench", "long")
        for _ in range(COUNT):
            long.append_entry(EntryType.MESSAGE, MESSAGE)
        counter = iter(range(10**9))
        ours: dict[str, tuple[str, Callable[[], object]]] = {
            "append": ("append one message", lambda: sess.append_entry(EntryType.MESSAGE, MESSAGE)),
            "aappend": ("append one message, async", lambda: run(sess.aappend_entry(EntryType.MESSAGE, MESSAGE))),
            "last": (f"last 100 of {COUNT:,}", lambda: long.get_entries(limit=100)),
            "alast": (f"last 100 of {COUNT:,}, async", lambda: run(long.aget_entries(limit=100))),
            "all": (f"all {COUNT:,} entries", long.get_entries),
            "create": ("create a session and append its first message",
                       lambda: mgr.create("bench", f"c{next(counter)}").append_entry(EntryType.MESSAGE, MESSAGE)),
        }
        try:
            _sqlalchemy_session(server, ours, run)
            _postgres_saver(server.url(server.create_database()), ours)
        finally:
            mgr.close()
            loop.close()


def _versus(peer: str, peer_fn: Callable[[], object], ours: tuple[str, Callable[[], object]], n: int, warmup: int = 5) -> None:
    """A peer's row and aixgo's, sampled alternately, and the ratio of their medians."""
    from benchmarks.bench_postgres import paired

    mine, theirs = paired(ours[1], peer_fn, n, warmup=warmup)
    ours_row = report(f"aixgo PostgreSQL: {ours[0]}", mine)
    _ratio(report(peer, theirs), ours_row)


def _sqlalchemy_session(server: Any, ours: dict[str, tuple[str, Callable[[], object]]], run: Callable[[Any], Any]) -> None:
    from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession

    url = server.url(server.create_database()).replace("postgresql://", "postgresql+asyncpg://")
    session = SQLAlchemySession.from_url("append", url=url, create_tables=True)
    run(session.add_items([MESSAGE]))
    _versus("OpenAI Agents SQLAlchemySession (asyncpg): add_items (one message)",
            lambda: run(session.add_items([MESSAGE])), ours["aappend"], 500)
    long = SQLAlchemySession("long", engine=session._engine, create_tables=False)
    for _start in range(0, COUNT, 500):
        run(long.add_items([MESSAGE] * 500))
    _versus(f"OpenAI Agents SQLAlchemySession: last 100 of {COUNT:,}", lambda: run(long.get_items(limit=100)),
            ours["alast"], 1000)
    _versus(f"OpenAI Agents SQLAlchemySession: all {COUNT:,} items", lambda: run(long.get_items()), ours["all"], 30, 3)
    counter = iter(range(10**9))
    _versus("OpenAI Agents SQLAlchemySession: a new session's first add_items",
            lambda: run(SQLAlchemySession(f"c{next(counter)}", engine=session._engine).add_items([MESSAGE])),
            ours["create"], 300)
    run(session._engine.dispose())


def _postgres_saver(url: str, ours: dict[str, tuple[str, Callable[[], object]]]) -> None:
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.postgres import PostgresSaver

    config: dict[str, Any] = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    messages: list[dict[str, Any]] = [MESSAGE] * 100
    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()

        def put() -> None:
            checkpoint = empty_checkpoint()
            checkpoint["id"] = str(uuid.uuid1())
            checkpoint["channel_values"] = {"messages": messages}
            saver.put(config, checkpoint, {"source": "loop", "step": 1}, {})

        note("LangGraph stores whole state snapshots, not items: a turn saves a checkpoint holding the messages")
        _versus("LangGraph PostgresSaver: put a checkpoint of 100 messages", put, ours["append"], 500)
        _versus("LangGraph PostgresSaver: get the latest checkpoint (100 messages)", lambda: saver.get_tuple(config),
                ours["last"], 1000)


def main() -> int:
    header("Peers: the same workloads on aixgo and on other libraries' session stores")
    note(
        f"Python {sys.version.split()[0]}; SQLite {sqlite3.sqlite_version}; one message = {json.dumps(MESSAGE)}"
    )
    with tempfile.TemporaryDirectory(prefix="aixgo-bench-peers-") as tmp:
        root = Path(tmp)
        _floors(root)
        ours = _aixgo(root)
        _openai_agents(root, ours)
        _langgraph(root, ours)
    note(
        "durability: aixgo fsync=always flushes every append before returning; SQLite runs with synchronous=FULL (default)"
    )
    _postgres()
    return 0


if __name__ == "__main__":
    sys.exit(main())
