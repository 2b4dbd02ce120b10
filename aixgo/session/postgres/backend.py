"""The PostgreSQL session store (``pip install -e '.[postgres]'``): the sessions of every process and
node that uses the same database and schema.

Tables (``sql/migrations/001_initial.sql``): ``sessions`` (one row per session: its canonical
header record, "updated", the head, counters), ``entries`` (each entry's canonical record with its
``seq``, write order ``w``, chain hash, message count and ``pos`` = ``seq`` while it is part of the
current history), ``checkpoints``, ``leases`` and ``deleted`` (sessions whose rows are being removed
in batches). Every record is stored as the exact bytes :mod:`aixgo.session.core.codec` wrote, so a
checkpoint's checksum survives export to and import from any other store.

The rules come from :mod:`aixgo.session.core`, as in the Redis store: the client builds each entry
for the head it last saw (:func:`~aixgo.session.core.next_entry`) and each checkpoint
(:func:`~aixgo.session.core.checkpoint_at`), decodes records with the core's validation, checks
restores with its checksum rule and validates imports with :func:`~aixgo.session.core.plan_import`.
The SQL (:mod:`aixgo.session.postgres.statements`) only stores and moves records atomically: an
append is one statement that stores the entry only if the head is still the one it was built for
(else it replies with the current head, and the client builds it again) and its id is new (a unique
index: a retried append is never stored twice, however many entries came after it).

Each operation is written once, as a generator of requests (:mod:`aixgo.session.postgres.engine`),
and driven by the sync API on a sync pool or, by the ``a``-methods the manager awaits, on an async
pool of the running event loop: no thread hop.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import psycopg.errors

from aixgo.errors import (
    SessionCorruptedError,
    SessionExistsError,
    SessionNotFoundError,
    StoreError,
    UnsupportedVersionError,
)
from aixgo.logs import get_logger
from aixgo.session.backend import Backend, Lease
from aixgo.session.core.codec import (
    ROOT_HASH,
    chain_hash,
    checkpoint_record,
    dumps,
    encode_entry,
    header_record,
    loads,
)
from aixgo.session.core.records import (
    Header,
    NewerVersionError,
    checkpoint_from_record,
    entry_from_record,
    header_from_record,
)
from aixgo.session.core.slicing import HistoryRange
from aixgo.session.core.state import Head, Snapshot, check_restore, checkpoint_at, next_entry
from aixgo.session.core.summary import summarize
from aixgo.session.core.transfer import ImportPlan, verify_read
from aixgo.session.leases import lease_lost
from aixgo.session.postgres import migrate
from aixgo.session.postgres.engine import Copy, Engine, Op, Pause, Query, RowMissing, Transaction
from aixgo.session.postgres.lease import PostgresLease, acquire
from aixgo.session.postgres.migrate import MigrationPlan
from aixgo.session.postgres.options import DEFAULT_URL, PostgresOptions, check_url
from aixgo.session.postgres.recent import RecentEntries
from aixgo.session.postgres.statements import LIST_FILTERS, Migration
from aixgo.session.types import Checkpoint, Entry, EntryType, SessionInfo, Verification

log = get_logger("aixgo.session.postgres")

_MAX_KNOWN = 1024
_MAX_CAS_ATTEMPTS = 10_000
_LIST_BATCH = 500
_PURGE_BATCH = 5000
_TITLE_CANDIDATES = 3
"""User-message candidates ``list_page.sql`` returns per session (``LIMIT 3`` there)."""
_FAR_FUTURE = "infinity"


class PostgresBackend:
    """Sessions in PostgreSQL, shared by every process and node that uses the same database and schema.

    ``url`` is a ``postgresql://[user[:password]@]host[:port]/database[?param=value]`` URL (the
    password may also come from ``PGPASSWORD`` or ``~/.pgpass``, TLS from ``?sslmode=``). Nothing is
    contacted until first use, which checks (and by default creates or upgrades) the schema."""

    def __init__(self, url: str | None = None, options: PostgresOptions | None = None) -> None:
        self.options = options if options is not None else PostgresOptions()
        self.url = check_url(url if url is not None else DEFAULT_URL)
        self._engine = Engine(self.url, self.options)
        self.address = self._engine.address
        self._sql = self._engine.statements
        self._lock = threading.Lock()
        self._heads: OrderedDict[str, Head] = OrderedDict()
        self._recent = RecentEntries(self.options.cache_bytes)
        self._own: OrderedDict[str, dict[str, str]] = OrderedDict()  # session -> checkpoints this instance verified
        self._next_sweep = 0.0
        self._sweeping = False

    def __repr__(self) -> str:
        return f"PostgresBackend({self.address!r}, schema={self.options.schema!r})"

    @property
    def engine(self) -> Engine:
        """The pools and drivers (for maintenance commands and tests)."""
        return self._engine

    # -- what this instance knows ------------------------------------------------------------------

    def _known(self, session_id: str) -> Head | None:
        with self._lock:
            return self._heads.get(session_id)

    def _note(self, session_id: str, head: Head | None, *, replacing: Head | None = None) -> None:
        """Remember ``head`` as the session's (only if it is still ``replacing``, when given)."""
        with self._lock:
            if replacing is not None and self._heads.get(session_id) != replacing:
                return
            if head is None:
                self._heads.pop(session_id, None)
                return
            self._heads[session_id] = head
            self._heads.move_to_end(session_id)
            while len(self._heads) > _MAX_KNOWN:
                self._heads.popitem(last=False)

    def _trust(self, session_id: str, cp_id: str, record: str) -> None:
        with self._lock:
            trusted = self._own.setdefault(session_id, {})
            trusted[cp_id] = record
            self._own.move_to_end(session_id)
            if len(trusted) > _MAX_KNOWN:
                del trusted[next(iter(trusted))]
            while len(self._own) > _MAX_KNOWN:
                self._own.popitem(last=False)

    def _forget(self, session_id: str) -> None:
        self._recent.drop(session_id)
        with self._lock:
            self._heads.pop(session_id, None)
            self._own.pop(session_id, None)

    # -- decoding ----------------------------------------------------------------------------------

    def _where(self, table: str) -> str:
        return f"{self.address} ({self.options.schema}.{table})"

    def _not_found(self, session_id: str) -> SessionNotFoundError:
        self._forget(session_id)
        return SessionNotFoundError(
            f"session {session_id!r} not found in PostgreSQL at {self.address}", session_id=session_id
        )

    def _corrupt(self, session_id: str, message: str, table: str) -> SessionCorruptedError:
        return SessionCorruptedError(message, session_id=session_id, path=self._where(table))

    def _entries(self, joined: str | None, count: int, session_id: str) -> list[Entry]:
        """Decode ``count`` canonical entry records joined by commas (one JSON parse for all)."""
        if not count:
            return []
        try:
            records = loads("[" + (joined or "") + "]")
            if len(records) != count:
                raise ValueError(f"{count} records expected, {len(records)} found")
            return [entry_from_record(rec) for rec in records]
        except ValueError as exc:  # RecordError included
            raise self._corrupt(session_id, f"damaged entry record ({exc})", "entries") from None

    def _checkpoints(self, joined: str | None, count: int, session_id: str) -> list[Checkpoint]:
        if not count:
            return []
        try:
            records = loads("[" + (joined or "") + "]")
            return [checkpoint_from_record(rec, session_id) for rec in records]
        except ValueError as exc:
            raise self._corrupt(session_id, f"damaged checkpoint record ({exc})", "checkpoints") from None

    def _header(self, session_id: str, text: str) -> Header:
        try:
            header = _parsed_header(text)
        except NewerVersionError as exc:
            raise UnsupportedVersionError(str(exc), session_id=session_id, path=self._where("sessions")) from None
        except ValueError as exc:
            raise self._corrupt(session_id, f"damaged session record ({exc})", "sessions") from None
        if header.id != session_id:
            raise self._corrupt(session_id, f"the session record names session {header.id!r}", "sessions")
        return header

    def _info(self, session_id: str, header_text: str, updated: datetime, messages: int, title: str | None = None,
              tokens: int | None = None) -> SessionInfo:
        header = self._header(session_id, header_text)
        return SessionInfo(
            id=session_id,
            agent=header.agent,
            user_id=header.user_id,
            created_at=header.created_at,
            updated_at=updated.astimezone(UTC),  # the server's TimeZone may be any
            message_count=messages,
            metadata=dict(header.metadata),
            title=title,
            tokens=tokens,
        )

    @staticmethod
    def _head(seq: int, hash_: bytes, entry_id: str | None, messages: int) -> Head:
        return Head(entry_id, seq, bytes(hash_), messages)

    # -- create / info / list / delete -------------------------------------------------------------

    def _create(self, header: Header) -> Op[SessionInfo]:
        params = {
            "sid": header.id, "agent": header.agent, "user_id": header.user_id,
            "header": dumps(header_record(header.id, header.agent, header.user_id, header.created_at, header.metadata)),
            "nonce": secrets.token_hex(8), "created": header.created_at, "root": ROOT_HASH,
        }  # fmt: skip
        rows = yield Query(self._sql["create"], params)
        if not rows:  # another session's id (a retry of this very create finds its own nonce)
            raise SessionExistsError(f"session {header.id!r} already exists", session_id=header.id)
        self._forget(header.id)
        self._note(header.id, Head())
        self._recent.started(header.id, ROOT_HASH)
        self._maybe_sweep()
        return SessionInfo(
            id=header.id, agent=header.agent, user_id=header.user_id, created_at=header.created_at,
            updated_at=header.created_at, message_count=0, metadata=dict(header.metadata),
        )  # fmt: skip

    def create_session(self, header: Header) -> SessionInfo:
        """Store a new, empty session. Raises ``SessionExistsError`` if the id exists, for any agent."""
        return self._engine.run(self._create(header))

    async def acreate_session(self, header: Header) -> SessionInfo:
        """Awaitable :meth:`create_session`."""
        return await self._engine.arun(self._create(header))

    def _get_info(self, session_id: str) -> Op[SessionInfo]:
        rows = yield Query(self._sql["info"], {"sid": session_id})
        if not rows:
            raise self._not_found(session_id)
        header, updated, seq, hash_, head_id, messages = rows[0]
        info = self._info(session_id, header, updated, messages)
        self._note(session_id, self._head(seq, hash_, head_id, messages))
        return info

    def get_info(self, session_id: str) -> SessionInfo:
        """The session's summary. Raises ``SessionNotFoundError``."""
        return self._engine.run(self._get_info(session_id))

    async def aget_info(self, session_id: str) -> SessionInfo:
        """Awaitable :meth:`get_info`."""
        return await self._engine.arun(self._get_info(session_id))

    def _listed(self, row: tuple[Any, ...]) -> SessionInfo:
        session_id, agent, header, updated, messages, *summary = row
        try:
            title, tokens = self._summary(session_id, *summary) if summary else (None, None)
            return self._info(session_id, header, updated, messages, title, tokens)
        except SessionCorruptedError as exc:  # damaged, or written by a newer aixgo
            log.warning("session.list.damaged", session_id=session_id, error=str(exc))
            return SessionInfo(
                id=session_id, agent=agent, user_id=None, created_at=updated.astimezone(UTC), updated_at=updated.astimezone(UTC),
                message_count=0, damage=str(exc),
            )  # fmt: skip

    def _summary(self, session_id: str, users: str | None, n_users: int, usages: str | None,
                 n_usages: int) -> tuple[str | None, int | None]:
        """The title and tokens the session core makes of the candidate records ``list_page.sql``
        returned; tokens None (the manager then reads the history) when the few user-message
        candidates held no title and there may be more."""
        title = summarize(self._entries(users, n_users, session_id)).title if n_users else None
        if title is None and n_users >= _TITLE_CANDIDATES:
            return None, None
        return title, summarize(self._entries(usages, n_usages, session_id)).tokens if n_usages else 0

    def _list_batch(self, agent: str | None, after: str) -> Op[list[tuple[Any, ...]]]:
        statement = self._sql.get("list_all", LIST_FILTERS[(agent is not None, False)])
        rows: list[tuple[Any, ...]] = yield Query(statement, {"after": after, "agent": agent, "limit": _LIST_BATCH})
        return rows

    def list_sessions(self, agent: str | None = None) -> Iterator[SessionInfo]:
        """Summaries of every session (of ``agent`` if given), read in batches in id order; a session
        that cannot be read is listed with its damage."""
        self._engine.check_open()
        after = ""
        while True:
            rows = self._engine.run(self._list_batch(agent, after))
            yield from (self._listed(row) for row in rows)
            if len(rows) < _LIST_BATCH:
                return
            after = rows[-1][0]

    def _list_page(
        self, agent: str | None, user_id: str | None, limit: int | None, offset: int, before: tuple[datetime, str] | None
    ) -> Op[list[SessionInfo]]:
        statement = self._sql.get("list_page", LIST_FILTERS[(agent is not None, user_id is not None)])
        params = {
            "agent": agent, "user_id": user_id, "limit": limit, "offset": offset,
            "before_ts": _FAR_FUTURE if before is None else before[0], "before_id": "" if before is None else before[1],
        }  # fmt: skip
        rows = yield Query(statement, params)
        return [self._listed(row) for row in rows]

    def list_page(
        self,
        agent: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        before: tuple[datetime, str] | None = None,
    ) -> list[SessionInfo]:
        """One page of sessions, most recently updated first (ties: greater id first), after the
        ``before`` cursor ``(updated_at, id)`` of the previous page's last session: a keyset read on
        an index, so a page costs the same wherever it starts."""
        return self._engine.run(self._list_page(agent, user_id, limit, offset, before))

    async def alist_page(
        self,
        agent: str | None = None,
        user_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        before: tuple[datetime, str] | None = None,
    ) -> list[SessionInfo]:
        """Awaitable :meth:`list_page`."""
        return await self._engine.arun(self._list_page(agent, user_id, limit, offset, before))

    def _delete(self, session_id: str, unchanged_since: datetime | None) -> Op[bool]:
        rows = yield Query(self._sql["delete"], {"sid": session_id, "since": unchanged_since})
        if not rows:
            return False
        self._forget(session_id)
        yield from self._purge(rows[0][0])
        left = yield Query(self._sql["purge_pending"], {"limit": 10})  # rows a stopped deleter left
        for (sk,) in left:
            yield from self._purge(sk)
        return True

    def _purge(self, sk: int) -> Op[None]:
        """Remove a deleted session's entries and checkpoints, a batch per statement."""
        for name in ("purge_entries", "purge_checkpoints"):
            while True:
                done = yield Query(self._sql[name], {"sk": sk, "batch": _PURGE_BATCH})
                if len(done) < _PURGE_BATCH:
                    break
        yield Query(self._sql["purge_done"], {"sk": sk})

    def delete_session(self, session_id: str, *, unchanged_since: datetime | None = None) -> bool:
        """Delete the session and everything stored for it (if not updated after ``unchanged_since``,
        checked atomically with the delete); its rows are removed in batches."""
        return self._engine.run(self._delete(session_id, unchanged_since))

    async def adelete_session(self, session_id: str, *, unchanged_since: datetime | None = None) -> bool:
        """Awaitable :meth:`delete_session`."""
        return await self._engine.arun(self._delete(session_id, unchanged_since))

    def purge_deleted(self) -> int:
        """Finish removing the rows of sessions whose deletion a stopped process left half done."""
        count = 0
        while True:
            pending = self._engine.run(_one(Query(self._sql["purge_pending"], {"limit": 100})))
            for (sk,) in pending:
                self._engine.run(self._purge(sk))
                count += 1
            if len(pending) < 100:
                return count

    # -- entries -----------------------------------------------------------------------------------

    def _append(
        self,
        session_id: str,
        entry_id: str,
        entry_type: EntryType,
        data: dict[str, Any],
        timestamp: datetime,
        fence: str | None,
    ) -> Op[Entry]:
        head = self._known(session_id)
        for attempt in range(_MAX_CAS_ATTEMPTS):
            if head is None:  # unknown: a compare-and-set that cannot succeed reports the head
                params: dict[str, Any] = {
                    "sid": session_id, "entry_id": entry_id, "prev_seq": -1, "prev_hash": b"", "seq": 0,
                    "hash": b"", "msgs": 0, "ts": timestamp, "parent_id": None, "record": "", "fence": fence,
                }  # fmt: skip
            else:
                pending = next_entry(head, entry_id, entry_type, data, timestamp)
                params = {
                    "sid": session_id, "entry_id": entry_id, "prev_seq": head.seq, "prev_hash": head.hash,
                    "seq": pending.entry.seq, "hash": pending.head.hash, "msgs": pending.head.message_count,
                    "ts": timestamp, "parent_id": pending.entry.parent_id, "record": pending.encoded, "fence": fence,
                }  # fmt: skip
            try:
                rows = yield Query(self._sql["append"], params)
            except psycopg.errors.UniqueViolation:
                continue  # the same entry id stored by a concurrent retry: the next attempt finds it
            if not rows:
                raise self._not_found(session_id)
            status, record, seq, hash_, head_id, messages = rows[0]
            if status == "fenced":
                raise lease_lost(session_id)
            if status == "ok":
                assert head is not None
                self._note(session_id, pending.head, replacing=head)
                self._recent.appended(session_id, head.hash, pending.head.hash, pending.entry, len(pending.encoded))
                self._maybe_sweep()
                return pending.entry
            if status == "dup":
                return self._entries(record, 1, session_id)[0]
            head = self._head(seq, hash_, head_id, messages)
            self._note(session_id, head)
            if attempt >= 2:
                yield Pause(secrets.randbelow(200 * min(attempt, 50)) / 1_000_000)
        raise StoreError(f"append to session {session_id!r} kept losing the race for the head; giving up")

    def append(
        self,
        session_id: str,
        entry_id: str,
        entry_type: EntryType,
        data: dict[str, Any],
        timestamp: datetime,
        *,
        fence: str | None = None,
    ) -> Entry:
        """Append one entry after the head (one statement; see the module docstring). Idempotent on
        ``entry_id``; with ``fence``, written only while that lease is held (checked in the statement)."""
        return self._engine.run(self._append(session_id, entry_id, entry_type, data, timestamp, fence))

    async def aappend(
        self,
        session_id: str,
        entry_id: str,
        entry_type: EntryType,
        data: dict[str, Any],
        timestamp: datetime,
        *,
        fence: str | None = None,
    ) -> Entry:
        """Awaitable :meth:`append`."""
        return await self._engine.arun(self._append(session_id, entry_id, entry_type, data, timestamp, fence))

    def _history(self, session_id: str, rng: HistoryRange) -> Op[list[Entry]]:
        held = self._recent.lookup(session_id, rng)
        params = {
            "sid": session_id, "window": rng.window, "start": rng.start, "stop": rng.stop,
            "held": None if held is None else held[0],
        }  # fmt: skip
        rows = yield Query(self._sql["history"], params)
        if not rows:
            raise self._not_found(session_id)
        records, count, seq, hash_, head_id, messages = rows[0]
        head = self._head(seq, hash_, head_id, messages)
        self._note(session_id, head)
        if held is not None and head.hash == held[0]:
            return held[1]  # the session is unchanged since these were read or written
        entries = self._entries(records, count, session_id)
        self._recent.read(session_id, head.hash, head.seq, rng, entries, len(records or ""))
        return entries

    def history(self, session_id: str, rng: HistoryRange) -> list[Entry]:
        """The entries of the current history that ``rng`` selects (one index range read)."""
        return self._engine.run(self._history(session_id, rng))

    async def ahistory(self, session_id: str, rng: HistoryRange) -> list[Entry]:
        """Awaitable :meth:`history`."""
        return await self._engine.arun(self._history(session_id, rng))

    def _all_entries(self, session_id: str) -> Op[list[Entry]]:
        rows = yield Query(self._sql["all_entries"], {"sid": session_id})
        if not rows:
            raise self._not_found(session_id)
        return self._entries(rows[0][0], rows[0][1], session_id)

    def all_entries(self, session_id: str) -> list[Entry]:
        """Every stored entry, abandoned branches included, in the order they were written."""
        return self._engine.run(self._all_entries(session_id))

    async def aall_entries(self, session_id: str) -> list[Entry]:
        """Awaitable :meth:`all_entries`."""
        return await self._engine.arun(self._all_entries(session_id))

    def _snapshot(self, session_id: str) -> Op[Snapshot]:
        params = {"sid": session_id}
        steps = (
            Query(self._sql["snapshot_session"], params),
            Query(self._sql["snapshot_entries"], params),
            Query(self._sql["snapshot_checkpoints"], params),
        )
        session, entries, checkpoints = yield Transaction(steps, b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if not session:
            raise self._not_found(session_id)
        _, header_text, updated, seq, hash_, head_id, messages = session[0]
        header = self._header(session_id, header_text)
        return Snapshot(
            header,
            self._entries(entries[0][0], entries[0][1], session_id),
            self._checkpoints(checkpoints[0][0], checkpoints[0][1], session_id),
            self._head(seq, hash_, head_id, messages),
            updated.astimezone(UTC),
        )

    def snapshot(self, session_id: str) -> Snapshot:
        """Header, every entry, checkpoints, head and "updated", read in one REPEATABLE READ transaction."""
        return self._engine.run(self._snapshot(session_id))

    async def asnapshot(self, session_id: str) -> Snapshot:
        """Awaitable :meth:`snapshot`."""
        return await self._engine.arun(self._snapshot(session_id))

    def verify(self, session_id: str) -> Verification:
        """Check the session as :meth:`Backend.verify` says: read whole in one transaction, every record
        decoded, and the session against the core's rules (:func:`~aixgo.session.core.transfer.verify_read`)."""
        return verify_read(session_id, lambda: self.snapshot(session_id))

    # -- checkpoints -------------------------------------------------------------------------------

    def _create_checkpoint(
        self, session_id: str, checkpoint_id: str, metadata: dict[str, Any], timestamp: datetime, fence: str | None
    ) -> Op[Checkpoint]:
        head = self._known(session_id)
        for attempt in range(_MAX_CAS_ATTEMPTS):
            cp = checkpoint_at(head or Head(), session_id, checkpoint_id, metadata, timestamp)
            record = dumps(checkpoint_record(cp))
            params = {
                "sid": session_id, "cp_id": checkpoint_id, "seq": -1 if head is None else head.seq,
                "checksum": bytes.fromhex(cp.checksum), "entry_id": cp.entry_id, "ts": timestamp, "record": record,
                "fence": fence,
            }  # fmt: skip
            try:
                rows = yield Query(self._sql["checkpoint"], params)
            except psycopg.errors.UniqueViolation:
                continue
            if not rows:
                raise self._not_found(session_id)
            status, stored, seq, hash_, head_id, messages = rows[0]
            if status == "fenced":
                raise lease_lost(session_id)
            if status == "ok":
                self._trust(session_id, checkpoint_id, record)
                self._maybe_sweep()
                return cp
            if status == "dup":
                return self._checkpoints(stored, 1, session_id)[0]
            head = self._head(seq, hash_, head_id, messages)
            self._note(session_id, head)
            if attempt >= 2:
                yield Pause(secrets.randbelow(200 * min(attempt, 50)) / 1_000_000)
        raise StoreError(f"checkpoint of session {session_id!r} kept losing the race for the head; giving up")

    def create_checkpoint(
        self,
        session_id: str,
        checkpoint_id: str,
        metadata: dict[str, Any],
        timestamp: datetime,
        *,
        fence: str | None = None,
    ) -> Checkpoint:
        """Record a checkpoint of the current head, with the head's chain hash as checksum. O(1).
        Fenced by ``fence``."""
        return self._engine.run(self._create_checkpoint(session_id, checkpoint_id, metadata, timestamp, fence))

    async def acreate_checkpoint(
        self,
        session_id: str,
        checkpoint_id: str,
        metadata: dict[str, Any],
        timestamp: datetime,
        *,
        fence: str | None = None,
    ) -> Checkpoint:
        """Awaitable :meth:`create_checkpoint`."""
        return await self._engine.arun(self._create_checkpoint(session_id, checkpoint_id, metadata, timestamp, fence))

    def _list_checkpoints(self, session_id: str) -> Op[list[Checkpoint]]:
        rows = yield Query(self._sql["checkpoints"], {"sid": session_id})
        if not rows:
            raise self._not_found(session_id)
        return self._checkpoints(rows[0][0], rows[0][1], session_id)

    def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """The session's checkpoints, oldest first."""
        return self._engine.run(self._list_checkpoints(session_id))

    async def alist_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """Awaitable :meth:`list_checkpoints`."""
        return await self._engine.arun(self._list_checkpoints(session_id))

    def _restore(self, session_id: str, checkpoint_id: str, timestamp: datetime, fence: str | None) -> Op[Checkpoint]:
        with self._lock:
            record = self._own.get(session_id, {}).get(checkpoint_id)
        if record is None:  # not one this instance wrote or verified: re-hash the stored bytes first
            record = yield from self._verify(session_id, checkpoint_id)
        cp = self._checkpoints(record, 1, session_id)[0]
        params = {
            "sid": session_id, "cp_id": checkpoint_id, "record": record, "ts": timestamp, "root": ROOT_HASH, "fence": fence,
        }  # fmt: skip
        steps = (Query(self._sql["restore_lock"], params), Query(self._sql["restore"], params))
        locked, moved = yield Transaction(steps)
        if not locked or not moved:
            raise self._not_found(session_id)
        status, messages, stored_hash = moved[0]
        if status == "fenced":
            raise lease_lost(session_id)
        if status == "nocp":
            check_restore(session_id, checkpoint_id, None, None)
        if status == "changed":  # another record under this id since it was verified: verify it again
            self._forget(session_id)
            return (yield from self._restore(session_id, checkpoint_id, timestamp, fence))
        if status == "mismatch":
            actual = None if stored_hash is None else bytes(stored_hash)
            check_restore(session_id, checkpoint_id, cp, actual, where=self._where("entries"))
            raise self._corrupt(session_id, f"checkpoint {checkpoint_id!r} could not be restored", "entries")
        self._note(session_id, Head(cp.entry_id, cp.seq, bytes.fromhex(cp.checksum), messages))
        self._recent.drop(session_id)
        return cp

    def _verify(self, session_id: str, checkpoint_id: str) -> Op[str]:
        """The checkpoint's stored record, once the chain hash of its entry, recomputed over the stored
        bytes of every entry from the root, matches its checksum (``core.check_restore``)."""
        rows = yield Query(self._sql["checkpoint_chain"], {"sid": session_id, "cp_id": checkpoint_id})
        if not rows:
            raise self._not_found(session_id)
        record, chain, count = rows[0]
        if record is None:
            check_restore(session_id, checkpoint_id, None, None)
        cp = self._checkpoints(record, 1, session_id)[0]
        digest = ROOT_HASH
        for raw in (chain.split("\n") if count else []):
            digest = chain_hash(digest, raw)
        actual = digest if count == cp.seq else None
        check_restore(session_id, checkpoint_id, cp, actual, where=self._where("entries"))
        log.debug("postgres.restore.rehashed", session_id=session_id, checkpoint=checkpoint_id, entries=count)
        self._trust(session_id, checkpoint_id, record)
        return str(record)

    def restore(
        self, session_id: str, checkpoint_id: str, timestamp: datetime, *, fence: str | None = None
    ) -> Checkpoint:
        """Durably move the head to the checkpoint if the stored bytes match its checksum (a checkpoint
        this instance wrote or verified: one transaction, one round trip). Fenced by ``fence``."""
        return self._engine.run(self._restore(session_id, checkpoint_id, timestamp, fence))

    async def arestore(
        self, session_id: str, checkpoint_id: str, timestamp: datetime, *, fence: str | None = None
    ) -> Checkpoint:
        """Awaitable :meth:`restore`."""
        return await self._engine.arun(self._restore(session_id, checkpoint_id, timestamp, fence))

    # -- import ------------------------------------------------------------------------------------

    def _import(self, plan: ImportPlan, replace: bool) -> Op[SessionInfo]:
        header = plan.header
        for _ in range(_MAX_CAS_ATTEMPTS):
            stored = (yield Query(self._sql["session_key"], {"sid": header.id})) if replace else []
            if stored and stored[0][1] != header.agent:
                raise SessionExistsError(
                    f"session {header.id!r} already exists (agent {stored[0][1]!r})", session_id=header.id
                )
            if stored:
                sk, first = stored[0][0], Query(self._sql["import_replace"], {}, expect_row=True)
            else:
                ((sk,),) = yield Query(self._sql["next_key"])
                first = Query(self._sql["import_session"])
            nonce = secrets.token_hex(8)
            steps = self._import_steps(plan, sk, nonce, first)
            try:
                yield Transaction(steps)
            except RowMissing:
                continue  # the stored session went (or changed hands) since its key was read: look again
            except psycopg.errors.UniqueViolation:
                rows = yield Query(self._sql["nonce"], {"sid": header.id})
                if rows and rows[0][0] == nonce:  # this import, committed before its reply was lost
                    break
                if replace:
                    continue  # created meanwhile: replace that one
                raise SessionExistsError(f"session {header.id!r} already exists", session_id=header.id) from None
            break
        else:
            raise StoreError(f"import of session {header.id!r} kept racing with other writers; giving up")
        self._forget(header.id)
        self._note(header.id, plan.state.head)
        for cp in plan.state.checkpoints.values():
            self._trust(header.id, cp.id, dumps(checkpoint_record(cp)))
        return plan.state.info()

    def _import_steps(self, plan: ImportPlan, sk: int, nonce: str, first: Query) -> tuple[Query | Copy, ...]:
        """The statements of an import under the internal key ``sk``: ``first`` (the session's row,
        inserted, or replacing a stored one's, whose entries and checkpoints then go), the entries, the
        checkpoints. One transaction: all or nothing."""
        header, state = plan.header, plan.state
        on_history = {entry.id for entry in state.history}
        heads = state.heads
        entries = [
            (sk, w, entry.id, entry.parent_id, entry.seq, entry.seq if entry.id in on_history else None,
             heads[entry.id].message_count, heads[entry.id].hash, encode_entry(entry))
            for w, entry in enumerate(state.entries.values(), start=1)
        ]  # fmt: skip
        checkpoints = [
            (sk, n, cp.id, cp.entry_id, cp.seq, bytes.fromhex(cp.checksum), dumps(checkpoint_record(cp)))
            for n, cp in enumerate(state.checkpoints.values(), start=1)
        ]
        head = state.head
        params = {
            "sk": sk, "sid": header.id, "agent": header.agent, "user_id": header.user_id,
            "header": dumps(header_record(header.id, header.agent, header.user_id, header.created_at, header.metadata)),
            "nonce": nonce, "created": header.created_at, "updated": plan.updated,
            "head_id": head.entry_id, "head_seq": head.seq, "head_hash": head.hash, "head_msgs": head.message_count,
            "written": len(entries), "cps": len(checkpoints),
        }  # fmt: skip
        cleared: tuple[Query, ...] = ()
        if first.expect_row:  # replacing: the stored session's rows go in the same transaction
            cleared = (Query(self._sql["clear_entries"], {"sk": sk}), Query(self._sql["clear_checkpoints"], {"sk": sk}))
        return (
            Query(first.sql, params, expect_row=first.expect_row),
            *cleared,
            Copy(self._sql["import_entries"], entries),
            Copy(self._sql["import_checkpoints"], checkpoints),
        )

    def import_session(self, plan: ImportPlan, *, replace: bool = False) -> SessionInfo:
        """Store a session validated by ``core.plan_import``, all or nothing. Raises ``SessionExistsError``.

        With ``replace``, a stored session of the same id and agent is replaced in one transaction
        (readers see the old session or the new one; its internal key, and so a held lease, stays)."""
        return self._engine.run(self._import(plan, replace))

    async def aimport_session(self, plan: ImportPlan, *, replace: bool = False) -> SessionInfo:
        """Awaitable :meth:`import_session`."""
        return await self._engine.arun(self._import(plan, replace))

    # -- leases ------------------------------------------------------------------------------------

    def try_lease(self, session_id: str, ttl: float) -> PostgresLease | None:
        """The session's turn lease if free, else None at once."""
        return self._engine.run(acquire(self._engine, session_id, ttl))

    async def atry_lease(self, session_id: str, ttl: float) -> PostgresLease | None:
        """Awaitable :meth:`try_lease`."""
        return await self._engine.arun(acquire(self._engine, session_id, ttl))

    # -- retention ---------------------------------------------------------------------------------

    def _maybe_sweep(self) -> None:
        """With a ``ttl``: at most every ``sweep_interval`` seconds, delete expired sessions on a thread."""
        ttl = self.options.ttl
        if ttl is None:
            return
        now = time.monotonic()
        with self._lock:
            if self._sweeping or now < self._next_sweep:
                return
            self._sweeping, self._next_sweep = True, now + self.options.sweep_interval
        threading.Thread(target=self._sweep_quietly, name="aixgo-postgres-sweep", daemon=True).start()

    def _sweep_quietly(self) -> None:
        try:
            self.sweep()
        except Exception as exc:
            log.warning("postgres.sweep_failed", address=self.address, error=str(exc))
        finally:
            with self._lock:
                self._sweeping = False

    def sweep(self) -> list[str]:
        """Delete the sessions not written for longer than ``ttl`` (each re-checked atomically as it is
        deleted, in batches); returns their ids."""
        ttl = self.options.ttl
        if ttl is None:
            return []
        deleted: list[str] = []
        ttl_ms = int(ttl.total_seconds() * 1000)
        while True:
            rows = self._engine.run(_one(Query(self._sql["expired"], {"ttl_ms": ttl_ms, "limit": 100})))
            batch = [sid for sid, updated in rows if self.delete_session(sid, unchanged_since=updated)]
            deleted += batch
            if len(rows) < 100 or not batch:
                break
        if deleted:
            log.info("postgres.swept", address=self.address, deleted=len(deleted))
        return deleted

    # -- schema ------------------------------------------------------------------------------------

    def migration_plan(self) -> MigrationPlan:
        """Where the schema stands and what upgrading it runs (``aixgo sessions migrate --dry-run``);
        changes nothing. Raises ``UnsupportedVersionError`` for a schema newer than this aixgo."""
        return self._engine.direct(lambda conn: migrate.plan(conn, self.options.schema, self.address))

    def migrate(self) -> list[Migration]:
        """Create or upgrade the schema (``aixgo sessions migrate``); returns the migrations applied."""
        return self._engine.direct(lambda conn: migrate.apply(conn, self.options.schema, self.address))

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pools. Later calls raise ``StoreClosedError``; closing twice is harmless."""
        self._engine.close()
        self._recent.clear()
        with self._lock:
            self._heads.clear()
            self._own.clear()

    async def aclose(self) -> None:
        """Awaitable :meth:`close`."""
        self.close()


@lru_cache(maxsize=4096)
def _parsed_header(text: str) -> Header:
    """A stored header record, validated by the core (listing parses the same few again and again;
    a header never changes in place, a replaced session's is another text)."""
    return header_from_record(loads(text))


def _one(request: Query) -> Op[Any]:
    rows = yield request
    return rows


if TYPE_CHECKING:  # mypy proves PostgresBackend implements the Backend protocol exactly

    def _conforms(backend: PostgresBackend, lease: PostgresLease) -> tuple[Backend, Lease]:
        return backend, lease


__all__ = ["PostgresBackend", "PostgresOptions"]
