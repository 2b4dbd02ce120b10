"""The file store's summary index: one SQLite file beside the sessions (``base_dir/.aixgo-index.sqlite3``)
with a row per session (agent, user, created, updated, messages, tokens, title, damage) and the words of
its messages (FTS5), so a page of ``Manager.list`` — filtered, searched, at any depth — reads only that
page, however many sessions there are.

The index is derived data: the session files stay the truth, and the index can always be rebuilt from
them. Each row remembers the file state it summarises (inode, size, modification time):

* every write of this store brings its session's row up to date before it returns, while it still holds
  the session's write lock (so rows follow a session's writes in order, across processes); it reads the
  bytes the row has not seen and folds their entries with the session core's rules
  (:mod:`aixgo.session.core.summary`), or summarises the session again after a restore or an import;
* every row a listing returns is checked against its file (one ``stat`` per row) and summarised again
  if the file changed behind the index (a writer that crashed before updating it, another tool);
* the index is made by the first listing (a store nobody lists pays nothing for it), and the first
  listing of each process reconciles the whole index with the folders (a ``stat`` per file,
  reading only files that changed), so sessions copied in or written by an older aixgo are listed.

When the index cannot be used (a read-only store, a damaged or newer index file), the store lists by
reading every file, as before, and says why in the log: listing never fails because of the index.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aixgo.errors import AixgoError, SessionNotFoundError
from aixgo.logs import get_logger
from aixgo.session.core.codec import dumps, format_ts, kind_of, loads, parse_ts
from aixgo.session.core.records import entry_from_record
from aixgo.session.core.state import SessionState
from aixgo.session.core.summary import Summary, matches, searchable_text, summarize, words
from aixgo.session.file.lines import unframe
from aixgo.session.types import CHAT_ENTRY_TYPES, SessionInfo

log = get_logger("aixgo.session.file")

INDEX_NAME = ".aixgo-index.sqlite3"
INDEX_VERSION = "3"
WORD_ROWS = 1 << 20
"""Rows of words one session may have in the index (one per message; later messages are not indexed)."""
BUSY_SECONDS = 10.0
BATCH = 500
"""Sessions summarised per transaction while reconciling."""
SHORT_WORD = 3
"""Searched words shorter than this begin too many words to be worth counting: they never drive a search."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    user_id TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    messages INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    title TEXT,
    metadata TEXT NOT NULL,
    damage TEXT,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    words INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_updated ON sessions (updated DESC, id DESC);
CREATE INDEX IF NOT EXISTS sessions_agent ON sessions (agent, updated DESC, id DESC);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id, updated DESC, id DESC);
CREATE VIRTUAL TABLE IF NOT EXISTS words USING fts5 (text, tokenize = 'unicode61 remove_diacritics 0', detail = none);
CREATE VIRTUAL TABLE IF NOT EXISTS words_vocab USING fts5vocab (words, 'row');
"""
_COLUMNS = "rowid, id, agent, user_id, created, updated, messages, tokens, title, metadata, damage, ino, size, mtime, words"


@dataclass(slots=True)
class Row:
    """One session's row: its summary, the file state it reflects, and how many rows of words it has."""

    rowid: int | None
    id: str
    agent: str
    user_id: str | None
    created: str
    updated: str
    messages: int
    tokens: int
    title: str | None
    metadata: str
    damage: str | None
    ino: int
    size: int
    mtime: int
    words: int

    def info(self) -> SessionInfo:
        """The row as a listing's summary."""
        return SessionInfo(
            id=self.id, agent=self.agent, user_id=self.user_id, created_at=parse_ts(self.created),
            updated_at=parse_ts(self.updated), message_count=self.messages, metadata=loads(self.metadata),
            damage=self.damage, title=self.title, tokens=None if self.damage is not None else self.tokens,
        )

    def reflects(self, st: os.stat_result) -> bool:
        """Whether the row summarises the file as ``st`` describes it."""
        return (self.ino, self.size, self.mtime) == (st.st_ino, st.st_size, st.st_mtime_ns)


Summarizer = Callable[[str, Path], tuple[SessionInfo, SessionState | None]]
"""The store's reading of one session: its summary (with ``damage`` when it cannot be read) and, when it
can, its whole state (history and every entry)."""


class SummaryIndex:
    """See the module docstring. Thread-safe; one per :class:`~aixgo.session.file.FileBackend`."""

    def __init__(self, base_dir: Path, summarize_file: Summarizer, agent_dirs: Callable[[], list[str]]) -> None:
        self.base_dir = base_dir
        self.path = base_dir / INDEX_NAME
        self._summarize_file = summarize_file
        self._agent_dirs = agent_dirs
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._failed: str | None = None
        self._reconciled = False

    # -- opening ---------------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """Whether listings can be answered from the index (else the store reads every file)."""
        return self._connection() is not None

    def _connection(self, *, create: bool = True) -> sqlite3.Connection | None:
        """The open index; with ``create`` False (a write), None while no listing has created it yet: a
        store nobody lists pays nothing for the index."""
        if self._db is None and self._failed is None:
            if not create and not os.path.lexists(self.path):
                return None
            try:
                self._db = self._open()
            except (OSError, sqlite3.Error, AixgoError) as exc:
                self._fail(f"cannot open {self.path}: {exc}")
        return self._db

    def _open(self) -> sqlite3.Connection:
        try:  # a private file, created here (SQLite gives its journal files the same mode); never a link
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise OSError(f"{exc.strerror or exc}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError("not a regular file")
        finally:
            os.close(fd)
        db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # derived data: rebuilt from the files if ever lost
            version = _meta(db, "version")
            if version is None:
                db.executescript(_SCHEMA)
                db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (INDEX_VERSION,))
            elif version != INDEX_VERSION:
                raise OSError(f"the index has version {version}, this aixgo reads version {INDEX_VERSION}")
        except BaseException:
            db.close()
            raise
        return db

    def _fail(self, reason: str) -> None:
        if self._failed is None:
            log.warning("session.index.unusable", path=str(self.path), reason=reason)
        self._failed = reason
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    def close(self) -> None:
        """Close the index file."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._failed = self._failed or "closed"

    # -- keeping rows current ----------------------------------------------------------------------

    def written(self, session_id: str, path: Path, fd: int) -> None:
        """Bring the row of a session this process just wrote up to date (the caller holds the session's
        write lock; ``fd`` is its open file). Never raises: a failure is logged and the index left to
        the next reconciliation."""
        try:
            with self._lock:
                db = self._connection(create=False)
                if db is None:
                    return
                st = os.fstat(fd)
                row = _row(db, "id = ?", (session_id,))
                if row is not None and row.ino == st.st_ino and row.damage is None and row.size <= st.st_size:
                    data = os.pread(fd, st.st_size - row.size, row.size)
                    if self._fold(db, row, data, st):
                        return
            self.refresh(session_id, path, create=False)
        except (OSError, sqlite3.Error, AixgoError, ValueError) as exc:
            log.warning("session.index.update_failed", session_id=session_id, error=str(exc))
            self._reconciled = False

    def _fold(self, db: sqlite3.Connection, row: Row, data: bytes, st: os.stat_result) -> bool:
        """Apply the complete lines of ``data`` (what the file gained since the row) to ``row``; False when
        they hold what only a full summary can tell (a restore, a head move, an unreadable line)."""
        end = data.rfind(b"\n") + 1
        if end != len(data):
            return False  # a torn tail: let the full summary decide
        summary = Summary(row.title, row.tokens)
        texts: list[str] = []
        for line in data[:end].split(b"\n")[:-1]:
            try:
                record = loads(unframe(line, checksummed=True)[0])
            except ValueError:
                return False
            if not isinstance(record, dict):
                return False
            kind = kind_of(record)
            if kind == "c":
                row.updated = str(record.get("ts") or row.updated)
                continue
            if kind != "e":
                return False
            try:
                entry = entry_from_record(record)
            except ValueError:
                return False
            summary = summary.after(entry.type, entry.data)
            row.messages += entry.type in CHAT_ENTRY_TYPES
            row.updated = format_ts(entry.timestamp)
            text = searchable_text(entry.type, entry.data)
            if text.strip():
                texts.append(text)
        row.title, row.tokens = summary.title, summary.tokens
        row.ino, row.size, row.mtime = st.st_ino, st.st_size, st.st_mtime_ns
        with _transaction(db):
            first = row.words
            row.words = _add_words(db, row, texts)
            db.execute(
                "UPDATE sessions SET updated = ?, messages = ?, tokens = ?, title = ?, ino = ?, size = ?, mtime = ?, "
                "words = ? WHERE rowid = ? AND words = ?",
                (row.updated, row.messages, row.tokens, row.title, row.ino, row.size, row.mtime, row.words,
                 row.rowid, first),
            )
        return True

    def refresh(self, session_id: str, path: Path, *, create: bool = True) -> SessionInfo | None:
        """Summarise one session file again and store its row (None, and no row, once it is gone)."""
        if not create and self._connection(create=False) is None:
            return None
        summarized = self._summarize(session_id, path)
        with self._lock:
            db = self._connection()
            if db is None:
                return None if summarized is None else summarized[0].info()
            with _transaction(db):
                if summarized is None:
                    _delete(db, session_id)
                else:
                    _store(db, *summarized)
        return None if summarized is None else summarized[0].info()

    def _summarize(self, session_id: str, path: Path) -> tuple[Row, list[str]] | None:
        """A session file's row and the texts of its words; None once the file is gone."""
        try:
            st = os.lstat(path)
            info, state = self._summarize_file(session_id, path)
        except (FileNotFoundError, SessionNotFoundError):
            return None
        summary = summarize(state.history) if state is not None else Summary()
        texts = [" ".join((info.id, info.agent, info.user_id or ""))]
        if state is not None:
            texts += [text for e in state.entries.values() if (text := searchable_text(e.type, e.data)).strip()]
        row = Row(None, info.id, info.agent, info.user_id, format_ts(info.created_at), format_ts(info.updated_at),
                  info.message_count, summary.tokens, summary.title, dumps(info.metadata), info.damage,
                  st.st_ino, st.st_size, st.st_mtime_ns, 0)
        return row, texts

    def forget(self, session_id: str) -> None:
        """Drop a deleted session's row."""
        with self._lock:
            db = self._connection(create=False)
            if db is None:
                return
            with _transaction(db):
                _delete(db, session_id)

    def reconcile(self) -> None:
        """Make every row reflect its file: rows of changed files summarised again, rows of files gone
        dropped, files without a row added (a ``stat`` per file; only changed files are read)."""
        with self._lock:
            db = self._connection()
            if db is None:
                return
            known = {r[0]: (r[1], r[2], r[3], r[4]) for r in db.execute("SELECT id, agent, ino, size, mtime FROM sessions")}
        seen: set[str] = set()
        changed: list[tuple[str, Path]] = []
        for agent in self._agent_dirs():
            folder = self.base_dir / agent
            try:
                items = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for item in items:
                if not item.name.endswith(".jsonl") or item.name.startswith("."):
                    continue
                session_id = item.name[: -len(".jsonl")]
                seen.add(session_id)
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                was = known.get(session_id)
                if was is None or was[0] != agent or (was[1], was[2], was[3]) != (st.st_ino, st.st_size, st.st_mtime_ns):
                    changed.append((session_id, Path(item.path)))
        gone = list(known.keys() - seen)
        for start in range(0, max(len(changed), len(gone)), BATCH):  # a transaction per batch, not per session
            summaries = [(sid, self._summarize(sid, path)) for sid, path in changed[start:start + BATCH]]
            with self._lock:
                db = self._connection()
                if db is None:
                    return
                with _transaction(db):
                    for sid, summarized in summaries:
                        if summarized is None:
                            _delete(db, sid)
                        else:
                            _store(db, *summarized)
                    for sid in gone[start:start + BATCH]:
                        _delete(db, sid)
        if changed or gone:
            log.info("session.index.reconciled", path=str(self.path), summarised=len(changed), dropped=len(gone))
        self._reconciled = True

    # -- listing -----------------------------------------------------------------------------------

    def page(
        self,
        agent: str | None,
        user_id: str | None,
        limit: int | None,
        offset: int,
        before: tuple[Any, str] | None,
        search: str | None = None,
    ) -> list[SessionInfo] | None:
        """One page of summaries, most recently updated first (ties: greater id first); None when the
        index cannot answer (the caller reads the files)."""
        if not self._reconciled:
            self.reconcile()
        for _ in range(3):  # a row found stale is summarised again, which may move it: ask once more
            with self._lock:
                db = self._connection()
                if db is None:
                    return None
                rows = self._query(db, agent, user_id, limit, offset, before, search)
            stale = [row for row in rows if not self._current(row)]
            if not stale:
                return [row.info() for row in rows]
            for row in stale:
                self.refresh(row.id, self.base_dir / row.agent / f"{row.id}.jsonl")
        return [row.info() for row in rows]

    def _current(self, row: Row) -> bool:
        try:
            st = os.lstat(self.base_dir / row.agent / f"{row.id}.jsonl")
        except FileNotFoundError:
            return False
        return row.reflects(st)

    @staticmethod
    def _query(
        db: sqlite3.Connection,
        agent: str | None,
        user_id: str | None,
        limit: int | None,
        offset: int,
        before: tuple[Any, str] | None,
        search: str | None,
    ) -> list[Row]:
        where: list[str] = []
        args: list[Any] = []
        if agent is not None:
            where.append("agent = ?")
            args.append(agent)
        if user_id is not None:
            where.append("user_id = ?")
            args.append(user_id)
        if before is not None:
            where.append("(updated < ? OR (updated = ? AND id < ?))")
            when = format_ts(before[0])
            args += [when, when, before[1]]
        wanted = list(dict.fromkeys(words(search or "")))
        others: list[str] = []
        if wanted:  # the rarest word finds the candidates; the session's other words are checked in turn
            driver = min(wanted, key=lambda word: (_frequency(db, word), -len(word)))
            others = [word for word in wanted if word != driver]
            where.append(f"rowid IN (SELECT rowid / {WORD_ROWS} FROM words WHERE words MATCH ?)")  # noqa: S608
            args.append(_prefix(driver))
        sql = f"SELECT {_COLUMNS} FROM sessions"  # noqa: S608 - constants, and ? for every value
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY updated DESC, id DESC"
        if not others:
            sql += " LIMIT ? OFFSET ?"
            return [Row(*r) for r in db.execute(sql, [*args, -1 if limit is None else limit, offset])]
        rows: list[Row] = []
        skipped = 0
        for found in db.execute(sql, args).fetchall():
            row = Row(*found)
            texts = [text for (text,) in db.execute("SELECT c0 FROM words_content WHERE id BETWEEN ? AND ?",
                                                    _word_range(row))]
            if not matches(" ".join(others), texts):
                continue
            if skipped < offset:
                skipped += 1
                continue
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
        return rows


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    try:
        found = db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
    except sqlite3.OperationalError:  # no such table: a new index
        return None
    return None if found is None else str(found[0])


def _row(db: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> Row | None:
    found = db.execute(f"SELECT {_COLUMNS} FROM sessions WHERE {where}", args).fetchone()  # noqa: S608 - constant
    return None if found is None else Row(*found)


def _prefix(word: str) -> str:
    """An FTS5 query for the words that begin with ``word``."""
    return '"' + word.replace('"', '""') + '"*'


def _frequency(db: sqlite3.Connection, word: str) -> float:
    """How many rows of words hold a word beginning with ``word`` (from the index's vocabulary); a word shorter
    than :data:`SHORT_WORD` counts as in every row."""
    if len(word) < SHORT_WORD:
        return float("inf")
    found = db.execute("SELECT total(doc) FROM words_vocab WHERE term >= ? AND term < ?",
                       (word, word + "\U0010ffff")).fetchone()
    return float(found[0] or 0)


def _delete(db: sqlite3.Connection, session_id: str) -> None:
    old = _row(db, "id = ?", (session_id,))
    if old is not None:
        db.execute("DELETE FROM words WHERE rowid BETWEEN ? AND ?", _word_range(old))
        db.execute("DELETE FROM sessions WHERE rowid = ?", (old.rowid,))


def _store(db: sqlite3.Connection, row: Row, texts: list[str]) -> None:
    """Put ``row`` (and its words) in place of the session's row, in the caller's transaction."""
    _delete(db, row.id)
    cursor = db.execute(
        f"INSERT INTO sessions ({_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",  # noqa: S608
        (row.id, row.agent, row.user_id, row.created, row.updated, row.messages, row.tokens, row.title,
         row.metadata, row.damage, row.ino, row.size, row.mtime),
    )
    row.rowid = cursor.lastrowid
    row.words = _add_words(db, row, texts)
    db.execute("UPDATE sessions SET words = ? WHERE rowid = ?", (row.words, row.rowid))


def _word_range(row: Row) -> tuple[int, int]:
    assert row.rowid is not None
    return row.rowid * WORD_ROWS, row.rowid * WORD_ROWS + WORD_ROWS - 1


def _add_words(db: sqlite3.Connection, row: Row, texts: list[str]) -> int:
    """Index ``texts`` as the session's next rows of words; returns how many rows it has now."""
    assert row.rowid is not None
    count = row.words
    for text in texts:
        if count >= WORD_ROWS:
            break
        db.execute("INSERT INTO words (rowid, text) VALUES (?, ?)", (row.rowid * WORD_ROWS + count, text))
        count += 1
    return count


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


__all__ = ["INDEX_NAME", "SummaryIndex"]
