"""The multi-node session store: Redis (``pip install -e '.[redis]'``).

(One long class: each method of the store protocol is a short compare-and-set or one
script call, and keeping them together keeps the key layout below next to every use of it;
connections, leases, scripts, head bookkeeping and the recent entries live in their own modules.)

Key layout, with ``P`` the key prefix (default ``aixgo:sessions:``) and ``{S}`` the session id in
a hash tag (``%``, ``{`` and ``}`` in the id are written ``%25``, ``%7B``, ``%7D``, so the tag is
never empty or cut short and every key of one session lands in the same Cluster slot)::

    P{S}:meta    hash   v (format version), id, agent, uid (user id, JSON), md (metadata, JSON),
                        ca / ua (created / updated: the records' own timestamps, µs since the epoch),
                        nonce, len (history length), head (head entry id), hh (head chain hash, hex),
                        msgs (chat entries in the history), w (entries ever written), ncp
    P{S}:hist    list   canonical JSON of the entries of the current history; index i holds seq i+1
    P{S}:ent     hash   entry id -> "<w> <seq> <msgs> <chain hash> <parent id>", for every entry
    P{S}:gone    hash   entry id -> canonical JSON, for entries on abandoned branches
    P{S}:cps     hash   "r:<checkpoint id>" -> canonical checkpoint record,
                        "e:<checkpoint id>" -> "<order> <seq> <entry id>"
    P{S}:lease   string the turn lease's token (SET NX PX; see :mod:`aixgo.session.redis.lease`)
    Pagents      set    the agent names that have sessions
    Pagent:<A>   zset   ids of agent A's sessions (score: creation time); read by list_sessions

Every entry is stored once, as the exact bytes of :func:`aixgo.session.core.codec.encode_entry`: in
``hist`` while it is part of the history, in ``gone`` once a restore abandoned it.

The rules come from :mod:`aixgo.session.core`: the client builds each entry for the head it last
saw (:func:`~aixgo.session.core.next_entry`: ``seq``, parent, chain hash, message count) and each
checkpoint (:func:`~aixgo.session.core.checkpoint_at`), decodes records with the core's validation,
validates imports with :func:`~aixgo.session.core.plan_import` and turns a read's ``limit`` and
cursors into an index range (:mod:`aixgo.session.core.slicing`). The Lua scripts
(:mod:`aixgo.session.redis.scripts`) only store and move records atomically: an append is a
compare-and-set on the head (stored only if ``len`` and ``hh`` still match, else the script replies
with the current head and the client builds the entry again); an entry id already stored returns
the stored entry, so a retried append never writes twice.

The agent indexes (``Pagents``, ``Pagent:<A>``) are the only cross-slot keys. They are written
with separate commands (pipelined with create; after delete), never inside a script; their members
are hints that ``list_sessions`` checks against ``meta``, dropping the ones whose session was deleted
or expired.

Checksums: restore recomputes the SHA-256 chain over the stored bytes of every entry from the root
to the checkpoint, unless this instance computed that hash itself from bytes it wrote or verified
earlier (the trust model of the file store), starting from the nearest such anchor.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

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
    FORMAT_VERSION,
    ROOT_HEX,
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
from aixgo.session.core.transfer import ImportPlan, verify_read
from aixgo.session.leases import lease_lost
from aixgo.session.redis.connection import RedisConnection, RedisOptions, raw, status, text
from aixgo.session.redis.known import Known, head_from_meta
from aixgo.session.redis.lease import RedisLease, try_acquire
from aixgo.session.redis.recent import RecentEntries
from aixgo.session.redis.scripts import SCRIPTS, LuaScript, checkpoint_info, entry_info, write_order
from aixgo.session.types import Checkpoint, Entry, EntryType, SessionInfo, Verification

log = get_logger("aixgo.session.redis")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_META_FIELDS = ("v", "id", "agent", "uid", "md", "ca", "ua", "msgs", "len", "hh", "head")
_MAX_KNOWN_SESSIONS = 1024
_MAX_CAS_ATTEMPTS = 10_000
_WRITES = frozenset({"create", "import", "append", "checkpoint", "restore", "delete"})
"""Scripts after which ``min_replica_acks`` waits for the replicas."""
_LIST_BATCH = 200


def _us(ts: datetime) -> int:
    return (ts.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


def _from_us(value: Any) -> datetime:
    return _EPOCH + timedelta(microseconds=int(value))


def _joined(raws: Sequence[Any]) -> bytes:
    """The records joined by commas (replies are bytes; anything else is converted first)."""
    try:
        return b",".join(raws)
    except TypeError:
        return b",".join(raw(r) for r in raws)


def _escape(session_id: str) -> str:
    return session_id.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


class RedisBackend:
    """Sessions in Redis, shared by every process and node that uses the same server and prefix.

    ``target`` is ``"host:port"`` (``"host"`` means port 6379, ``"[::1]:6380"`` for IPv6), a
    ``redis://[[user]:password@]host[:port][/db]``, ``rediss://…`` (TLS) or ``unix:///path.sock``
    URL, or an existing ``redis.Redis`` client (which :meth:`close` then leaves open). Connection
    settings in ``options`` do not apply to an injected client.
    """

    def __init__(self, target: str | Any, options: RedisOptions | None = None) -> None:
        self.options = options if options is not None else RedisOptions()
        self._conn = RedisConnection(target, self.options)
        self.address = self._conn.address
        self._lock = threading.Lock()
        self._known: OrderedDict[str, Known] = OrderedDict()
        self._recent = RecentEntries(self.options.cache_bytes)
        self._max_version = str(FORMAT_VERSION)
        ttl = self.options.ttl
        self._ttl_ms = str(int(ttl.total_seconds() * 1000)) if ttl is not None else "0"
        prefix = self.options.key_prefix
        self._agents_key = prefix + "agents"
        self._index_prefix = prefix + "agent:"

    def __repr__(self) -> str:
        return f"RedisBackend({self.address!r}, key_prefix={self.options.key_prefix!r})"

    @property
    def client(self) -> Any:
        """The ``redis`` client in use (yours, if you passed one in)."""
        return self._conn.client

    # -- keys, caches, replies -----------------------------------------------------------------

    def keys_of(self, session_id: str) -> list[str]:
        """The keys of one session: meta, hist, ent, gone, cps, lease (see the module docstring)."""
        base = f"{self.options.key_prefix}{{{_escape(session_id)}}}:"
        return [base + "meta", base + "hist", base + "ent", base + "gone", base + "cps", base + "lease"]

    def _index_key(self, agent: str) -> str:
        return self._index_prefix + agent

    def _known_for(self, session_id: str) -> Known:
        with self._lock:
            known = self._known.get(session_id)
            if known is None:
                known = self._known[session_id] = Known()
                while len(self._known) > _MAX_KNOWN_SESSIONS:
                    self._known.popitem(last=False)
            else:
                self._known.move_to_end(session_id)
            return known

    def _forget(self, session_id: str) -> None:
        with self._lock:
            self._known.pop(session_id, None)
        self._recent.drop(session_id)

    def _script(self, script: LuaScript, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        reply = self._conn.script(script, keys, args)
        if self.options.min_replica_acks and script.name in _WRITES and keys:
            self._conn.wait_for_replicas(keys[0])
        return reply

    def _args(self, *args: str | int) -> list[str | int]:
        return [self._max_version, self._ttl_ms, *args]

    def _not_found(self, session_id: str) -> SessionNotFoundError:
        self._forget(session_id)
        return SessionNotFoundError(
            f"session {session_id!r} not found in Redis at {self.address}", session_id=session_id
        )

    def _corrupt(self, session_id: str, message: str, key: int = 0) -> SessionCorruptedError:
        return SessionCorruptedError(message, session_id=session_id, path=self.keys_of(session_id)[key])

    def _check_reply(self, reply: Any, session_id: str) -> str:
        """The reply's status; raises for the statuses every session script may answer."""
        state = status(reply)
        if state == "missing":
            raise self._not_found(session_id)
        if state == "version":
            raise UnsupportedVersionError(
                str(NewerVersionError(text(reply[1]))),
                session_id=session_id,
                path=self.keys_of(session_id)[0],
            )
        if state == "corrupt":
            raise self._corrupt(session_id, text(reply[1]))
        if state == "fenced":
            raise lease_lost(session_id)
        return state

    def _decode_entries(self, raws: Sequence[Any], session_id: str) -> list[Entry]:
        return self._decode_joined(_joined(raws), len(raws), session_id)

    def _decode_read(self, reply: Any, session_id: str) -> tuple[list[Entry], int]:
        """The entries of a history reply (joined, or one per entry past 512) and their stored bytes."""
        joined = _joined(reply[1]) if isinstance(reply[1], list) else raw(reply[1])
        return self._decode_joined(joined, int(reply[2]), session_id), len(joined)

    def _decode_joined(self, joined: Any, count: int, session_id: str) -> list[Entry]:
        """Decode ``count`` canonical entries joined by commas (one ``json.loads`` for all)."""
        if not count:
            return []
        try:
            records = loads(b"[" + raw(joined) + b"]")
            if len(records) != count:
                raise ValueError(f"{count} records expected, {len(records)} found")
            return [entry_from_record(rec) for rec in records]
        except ValueError as exc:  # RecordError included
            raise self._corrupt(session_id, f"damaged entry record ({exc})", 1) from None

    def _decode_checkpoint(self, value: Any, session_id: str) -> Checkpoint:
        try:
            return checkpoint_from_record(loads(value), session_id)
        except ValueError as exc:
            raise self._corrupt(session_id, f"damaged checkpoint record ({exc})", 4) from None

    def _info_from_meta(self, session_id: str, values: Sequence[Any]) -> SessionInfo | None:
        """A summary from the ``_META_FIELDS`` of meta; None if the session does not exist."""
        if values[0] is None:
            return None
        try:
            record = header_record(
                session_id,
                text(values[2]),
                loads(values[3]) if values[3] is not None else None,
                _from_us(values[5]),
                loads(values[4]) if values[4] is not None else {},
            )
            record["v"] = int(text(values[0])) if text(values[0]).isdigit() else text(values[0])  # checked next
            header = header_from_record(record)
            return SessionInfo(
                id=session_id,
                agent=header.agent,
                user_id=header.user_id,
                created_at=header.created_at,
                updated_at=_from_us(values[6]),
                message_count=int(values[7]),
                metadata=header.metadata,
            )
        except NewerVersionError as exc:
            raise UnsupportedVersionError(
                str(exc), session_id=session_id, path=self.keys_of(session_id)[0]
            ) from None
        except (ValueError, TypeError) as exc:
            raise self._corrupt(session_id, f"damaged session record ({exc})") from None

    # -- Backend -------------------------------------------------------------------------------

    def create_session(self, header: Header) -> SessionInfo:
        """Create an empty session. Raises ``SessionExistsError`` if the id exists (for any agent)."""
        nonce = secrets.token_hex(8)
        args = self._args(
            FORMAT_VERSION, header.id, header.agent, dumps(header.user_id), dumps(header.metadata), nonce,
            _us(header.created_at),
        )  # fmt: skip
        self._create_indexed(SCRIPTS["create"], header.agent, header.id, args)
        known = self._known_for(header.id)
        with self._lock:
            known.clear()
            known.set_head(Head(), verified=True)
        self._recent.started(header.id, ROOT_HEX)
        return SessionInfo(
            id=header.id,
            agent=header.agent,
            user_id=header.user_id,
            created_at=_from_us(_us(header.created_at)),
            updated_at=_from_us(_us(header.created_at)),
            message_count=0,
            metadata=dict(header.metadata),
        )

    def _create_indexed(
        self, script: LuaScript, agent: str, session_id: str, args: Sequence[str | int]
    ) -> Any:
        """Run a creating script pipelined after the agent index updates (one round trip).

        Raises ``SessionExistsError`` (and takes the index entry back if the id is another agent's)."""
        index = self._index_key(agent)
        commands = [("sadd", (self._agents_key, agent)), ("zadd", (index, {session_id: repr(time.time())}))]
        reply = self._conn.pipeline_script_after(commands, script, self.keys_of(session_id)[:5], args)
        if status(reply) == "corrupt":  # the rest of a session of this id whose header is gone
            raise self._corrupt(session_id, f"cannot create session {session_id!r}: {text(reply[1])}")
        if self.options.min_replica_acks and status(reply) != "exists":
            self._conn.wait_for_replicas(self.keys_of(session_id)[0])
        if status(reply) == "exists":
            owner = text(reply[1])
            if owner != agent:
                self._conn.command("zrem", index, session_id)
            raise SessionExistsError(
                f"session {session_id!r} already exists" + (f" (agent {owner!r})" if owner != agent else ""),
                session_id=session_id,
            )
        return reply

    def import_session(self, plan: ImportPlan, *, replace: bool = False) -> SessionInfo:
        """Store a session validated by the core (see :meth:`Backend.import_session`) in one Lua script,
        which with ``replace`` also deletes the same agent's stored session of that id."""
        header, state = plan.header, plan.state
        session_id = header.id
        order = {entry_id: w for w, entry_id in enumerate(state.entries, start=1)}
        ent: list[str] = []
        for entry in state.entries.values():
            head = state.heads[entry.id]
            ent += [
                entry.id,
                entry_info(order[entry.id], entry.seq, head.message_count, head.hash.hex(), entry.parent_id),
            ]
        cps: list[str] = []
        for number, cp in enumerate(state.checkpoints.values(), start=1):
            cps += [
                f"r:{cp.id}",
                dumps(checkpoint_record(cp)),
                f"e:{cp.id}",
                checkpoint_info(number, cp.seq, cp.entry_id),
            ]
        on_history = {entry.id for entry in state.history}
        gone = [
            x
            for entry in state.entries.values()
            if entry.id not in on_history
            for x in (entry.id, encode_entry(entry))
        ]
        head = state.head
        meta: list[str | int] = [
            "v", FORMAT_VERSION, "id", session_id, "agent", header.agent, "uid", dumps(header.user_id),
            "md", dumps(header.metadata), "ca", _us(header.created_at), "ua", _us(plan.updated),
            "len", head.seq, "hh", head.hash.hex(), "head", head.entry_id or "", "msgs", head.message_count,
            "w", len(state.entries), "ncp", len(state.checkpoints),
        ]  # fmt: skip
        args = self._args(
            secrets.token_hex(8),
            header.agent if replace else "",
            len(meta) // 2, *meta,
            len(state.history), *(encode_entry(e) for e in state.history),
            len(gone) // 2, *gone,
            len(ent) // 2, *ent,
            len(cps) // 2, *cps,
        )  # fmt: skip
        self._create_indexed(SCRIPTS["import"], header.agent, session_id, args)
        self._recent.drop(session_id)
        known = self._known_for(session_id)
        with self._lock:
            known.clear()
            for cp in state.checkpoints.values():
                if cp.entry_id is not None:
                    known.remember(cp.entry_id, cp.checksum, sticky=True)
            known.set_head(head, verified=True)
        return self.get_info(session_id)

    def get_info(self, session_id: str) -> SessionInfo:
        """The session's summary (one script that checks every key of the session, as reads do).
        Raises ``SessionNotFoundError``, or ``SessionCorruptedError`` for a partly evicted session."""
        reply = self._script(SCRIPTS["summary"], self.keys_of(session_id)[:5], self._args())
        return self._summary(session_id, reply)

    def _summary(self, session_id: str, reply: Any) -> SessionInfo:
        """The summary a ``summary`` script replied (raising for the statuses every script may answer)."""
        self._check_reply(reply, session_id)
        values = reply[1]
        info = self._info_from_meta(session_id, values)
        if info is None:
            raise self._not_found(session_id)
        self._notehead_from_meta(session_id, values[8], values[9], values[10], values[7])
        return info

    def _notehead_from_meta(self, session_id: str, length: Any, hh: Any, head: Any, msgs: Any) -> None:
        if length is None or hh is None:
            return
        try:
            seen = head_from_meta(length, hh, head, msgs)
        except ValueError:
            return
        known = self._known_for(session_id)
        with self._lock:
            known.set_head(seen, verified=False)

    def list_sessions(self, agent: str | None = None) -> Iterator[SessionInfo]:
        """Summaries of every session (of ``agent`` if given), read from the agent indexes with the same
        check of every key as any read (pipelined: one round trip per 200 sessions and node); a session
        that cannot be read is listed with its damage. Index members whose session was deleted or
        expired are dropped on the way — unless keys may be evicted and do not expire (``allow_eviction``
        without a ``ttl``): then a session none of whose keys is left was evicted whole, and is listed
        as damaged until it is deleted."""
        self._conn.check_open()
        for name in [agent] if agent is not None else self._agents():
            index = self._index_key(name)
            members = self._conn.zscan(index)
            ids = sorted(members)
            for start in range(0, len(ids), _LIST_BATCH):
                batch = ids[start : start + _LIST_BATCH]
                calls = [(self.keys_of(sid)[:5], self._args()) for sid in batch]
                replies = self._conn.pipeline_scripts(SCRIPTS["summary"], calls)
                for session_id, reply in zip(batch, replies, strict=True):
                    if status(reply) == "missing" and self._evicted_whole_is_damage():
                        yield _damaged(session_id, name, f"{_EVICTED_WHOLE} (delete it to forget it)")
                        continue
                    try:
                        info = self._summary(session_id, reply)
                    except SessionNotFoundError:
                        info = None
                    except SessionCorruptedError as exc:  # damaged, or written by a newer aixgo
                        log.warning("session.list.damaged", session_id=session_id, error=str(exc))
                        yield _damaged(session_id, name, str(exc))
                        continue
                    if info is None or info.agent != name:
                        self._script(SCRIPTS["index_forget"], [index], [session_id, members[session_id]])
                        continue
                    yield info

    def _agents(self) -> list[str]:
        return sorted(text(a) for a in self._conn.command("smembers", self._agents_key))

    def _evicted_whole_is_damage(self) -> bool:
        """Whether a session with no key left, still in an agent's index, was lost rather than deleted or
        expired: its keys may be evicted and never expire."""
        return self.options.allow_eviction and self.options.ttl is None

    def delete_session(self, session_id: str, *, unchanged_since: datetime | None = None) -> bool:
        """Delete every key of the session (its lease included), if not updated after ``unchanged_since``."""
        since = "" if unchanged_since is None else str(_us(unchanged_since))
        reply = self._script(SCRIPTS["delete"], self.keys_of(session_id), [since])
        state, agent = status(reply), text(reply[1]) if len(reply) > 1 else ""
        if state == "missing" and since == "" and self._evicted_whole_is_damage():
            self._forget_everywhere(session_id)  # a session evicted whole: forget its place in the index
        if state != "ok":
            return False
        self._forget(session_id)
        if agent:
            self._conn.command("zrem", self._index_key(agent), session_id)
        else:  # its header was gone: its agent is unknown
            self._forget_everywhere(session_id)
        return True

    def _forget_everywhere(self, session_id: str) -> None:
        for name in self._agents():
            self._conn.command("zrem", self._index_key(name), session_id)

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
        """Append one entry after the head (compare-and-set in one Lua script; see the module docstring),
        fenced by ``fence`` inside that script."""
        keys = self.keys_of(session_id)
        known = self._known_for(session_id)
        for attempt in range(_MAX_CAS_ATTEMPTS):
            with self._lock:
                head, verified = known.head, known.verified
            if head is not None:
                pending = next_entry(head, entry_id, entry_type, data, timestamp)
                args = self._args(
                    entry_id, pending.encoded, head.seq, head.hash.hex(), pending.head.hash.hex(),
                    pending.head.message_count, _us(timestamp), fence or "",
                )  # fmt: skip
            else:
                args = self._args(entry_id, "", -1, "", "", 0, 0, fence or "")
            reply = self._script(SCRIPTS["append"], keys, args)
            state = self._check_reply(reply, session_id)
            if state == "ok":
                assert head is not None
                with self._lock:
                    if known.head == head:
                        known.set_head(pending.head, verified)
                self._recent.appended(
                    session_id, head.seq, str(args[5]), pending.entry, len(pending.encoded), str(args[6])
                )
                return pending.entry
            if state == "dup":
                return self._decode_entries([reply[1]], session_id)[0]
            self._stale(known, reply, attempt)
        raise StoreError(f"append to session {session_id!r} kept losing the race for the head; giving up")

    def _stale(self, known: Known, reply: Any, attempt: int) -> None:
        """Another writer moved the head: remember the head the script reported, and back off a little."""
        with self._lock:
            known.set_head(head_from_meta(reply[1], reply[2], reply[3], reply[4]), verified=False)
        if attempt >= 2:
            time.sleep(random.uniform(0, min(0.0002 * attempt, 0.01)))

    def history(self, session_id: str, rng: HistoryRange) -> list[Entry]:
        """The entries ``rng`` selects (one ``LRANGE``, applied mechanically by the script).

        If this instance holds them (:mod:`aixgo.session.redis.recent`), the script is asked to
        answer ``same`` instead when the stored head is still the one they were held at."""
        window = "" if rng.window is None else rng.window
        held = self._recent.lookup(session_id, rng)
        seen: tuple[str | int, str] = ("", "") if held is None else (held[0], held[1])
        reply = self._script(
            SCRIPTS["history"], self.keys_of(session_id)[:5], self._args(window, rng.start, rng.stop, *seen)
        )
        if self._check_reply(reply, session_id) == "same" and held is not None:
            return held[2]
        entries, size = self._decode_read(reply, session_id)
        self._recent.read(session_id, int(reply[3]), text(reply[4]), int(reply[5]), entries, size)
        return entries

    def all_entries(self, session_id: str) -> list[Entry]:
        """Every stored entry, abandoned branches included, in the order they were written."""
        reply = self._script(SCRIPTS["all_entries"], self.keys_of(session_id)[:5], self._args())
        self._check_reply(reply, session_id)
        return self._in_write_order(session_id, reply[1], reply[2], reply[3])

    def _in_write_order(self, session_id: str, hist: Any, gone: Any, records: Any) -> list[Entry]:
        entries = self._decode_entries(hist, session_id)
        if not gone:
            return entries
        entries += self._decode_entries(gone[1::2], session_id)
        order = {
            text(k): write_order(raw(v)) for k, v in zip(records[::2], records[1::2], strict=True)
        }
        return sorted(entries, key=lambda e: order.get(e.id, 0))

    def snapshot(self, session_id: str) -> Snapshot:
        """Everything of the session, read in one atomic script."""
        reply = self._script(SCRIPTS["snapshot"], self.keys_of(session_id)[:5], self._args())
        self._check_reply(reply, session_id)
        values = reply[1]
        info = self._info_from_meta(session_id, values)
        if info is None:
            raise self._not_found(session_id)
        header = Header(info.id, info.agent, info.user_id, info.created_at, info.metadata)
        entries = self._in_write_order(session_id, reply[2], reply[3], reply[4])
        checkpoints = self._ordered_checkpoints(session_id, reply[5])
        try:
            head = head_from_meta(values[8], values[9], values[10], values[7])
        except ValueError as exc:
            raise self._corrupt(session_id, f"damaged session record ({exc})") from None
        return Snapshot(header, entries, checkpoints, head, info.updated_at)

    def create_checkpoint(
        self,
        session_id: str,
        checkpoint_id: str,
        metadata: dict[str, Any],
        timestamp: datetime,
        *,
        fence: str | None = None,
    ) -> Checkpoint:
        """Record a checkpoint at the head with the head's chain hash as checksum. O(1). Fenced by ``fence``."""
        keys = self.keys_of(session_id)
        known = self._known_for(session_id)
        for attempt in range(_MAX_CAS_ATTEMPTS):
            with self._lock:
                head, verified = known.head, known.verified
            cp = checkpoint_at(head or Head(), session_id, checkpoint_id, metadata, timestamp)
            length = -1 if head is None else head.seq
            args = self._args(
                checkpoint_id, dumps(checkpoint_record(cp)), length, cp.checksum, _us(timestamp), fence or ""
            )
            reply = self._script(SCRIPTS["checkpoint"], keys, args)
            state = self._check_reply(reply, session_id)
            if state == "ok":
                if verified:
                    with self._lock:
                        if cp.entry_id is not None:
                            known.remember(cp.entry_id, cp.checksum, sticky=True)
                        known.made_checkpoint(cp, str(args[3]))
                return cp
            if state == "dup":
                return self._decode_checkpoint(reply[1], session_id)
            self._stale(known, reply, attempt)
        raise StoreError(f"checkpoint of session {session_id!r} kept losing the race for the head; giving up")

    def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """The session's checkpoints, oldest first."""
        reply = self._script(SCRIPTS["list_checkpoints"], self.keys_of(session_id)[:5], self._args())
        self._check_reply(reply, session_id)
        return self._ordered_checkpoints(session_id, reply[1])

    def _ordered_checkpoints(self, session_id: str, fields: Any) -> list[Checkpoint]:
        records: dict[str, Any] = {}
        order: dict[str, int] = {}
        for name, value in zip(fields[::2], fields[1::2], strict=True):
            key = text(name)
            if key.startswith("r:"):
                records[key[2:]] = value
            elif key.startswith("e:"):
                order[key[2:]] = write_order(raw(value))
        ordered = sorted(records, key=lambda cp_id: order.get(cp_id, 0))
        return [self._decode_checkpoint(records[cp_id], session_id) for cp_id in ordered]

    def restore(
        self, session_id: str, checkpoint_id: str, timestamp: datetime, *, fence: str | None = None
    ) -> Checkpoint:
        """Verify the checkpoint against the stored bytes, then durably move the head to it (one Lua script,
        fenced by ``fence``).

        A checkpoint this instance made at a head it verified is restored in one round trip: the
        script checks that its stored record is still the one written and that its entry's stored
        chain hash is still the checksum. Any other is read and its chain re-hashed first."""
        keys = self.keys_of(session_id)
        known = self._known_for(session_id)
        with self._lock:
            own = known.own_checkpoint(checkpoint_id)
        if own is not None:
            cp, record = own
            args = self._args(checkpoint_id, cp.checksum, _us(timestamp), record, fence or "")
            reply = self._script(SCRIPTS["restore"], keys, args)
            if self._check_reply(reply, session_id) != "changed":
                return self._restored(session_id, cp, reply, known)
        reply = self._script(SCRIPTS["checkpoint_info"], keys, self._args(checkpoint_id))
        found = (
            None
            if self._check_reply(reply, session_id) == "nocp"
            else self._decode_checkpoint(reply[1], session_id)
        )
        if found is None:
            check_restore(session_id, checkpoint_id, None, None)
        assert found is not None
        actual = self._chain_hash(session_id, found, known)
        cp = check_restore(session_id, checkpoint_id, found, actual, where=keys[1])
        reply = self._script(
            SCRIPTS["restore"], keys, self._args(checkpoint_id, cp.checksum, _us(timestamp), "", fence or "")
        )
        self._check_reply(reply, session_id)
        return self._restored(session_id, cp, reply, known)

    def _restored(self, session_id: str, cp: Checkpoint, reply: Any, known: Known) -> Checkpoint:
        """Finish a restore script's run: raise for a missing checkpoint or a mismatch, else note the new head."""
        self._recent.drop(session_id)  # not needed for correctness (the head changed); frees the memory
        state = status(reply)
        if state == "nocp":
            check_restore(session_id, cp.id, None, None)
        if state == "mismatch":
            where = self.keys_of(session_id)[1]
            check_restore(session_id, cp.id, cp, bytes.fromhex(text(reply[1])), where=where)
        with self._lock:
            if cp.entry_id is not None:
                known.remember(cp.entry_id, cp.checksum, sticky=True)
            known.set_head(
                Head(cp.entry_id, cp.seq, bytes.fromhex(cp.checksum), int(reply[1])), verified=True
            )
        return cp

    def _chain_hash(self, session_id: str, cp: Checkpoint, known: Known) -> bytes | None:
        """The chain hash of the checkpoint's entry: recomputed over the stored bytes from the nearest
        entry on its chain that this instance hashed itself (else from the root); trusted as is when
        this instance computed exactly it."""
        if cp.entry_id is None:
            return bytes.fromhex(ROOT_HEX)
        with self._lock:
            if known.trusts(cp):
                return bytes.fromhex(cp.checksum)
            anchors = known.anchors()
        keys = self.keys_of(session_id)[:5]
        reply = self._script(SCRIPTS["chain"], keys, self._args(cp.entry_id, cp.seq, *anchors))
        self._check_reply(reply, session_id)
        anchor, anchor_hash = text(reply[1]), text(reply[2])
        if anchor and anchors.get(anchor) != anchor_hash:  # not the bytes we hashed (re-created session)
            reply = self._script(SCRIPTS["chain"], keys, self._args(cp.entry_id, cp.seq))
            self._check_reply(reply, session_id)
            anchor_hash = ROOT_HEX
        digest = bytes.fromhex(anchor_hash)
        for item in reply[4]:
            digest = chain_hash(digest, raw(item))
        log.debug("redis.restore.rehashed", session_id=session_id, checkpoint=cp.id, entries=len(reply[4]))
        if int(reply[3]) + len(reply[4]) != cp.seq:
            return None
        return digest

    def verify(self, session_id: str) -> Verification:
        """Check the session as :meth:`Backend.verify` says: every key against the counts in its header (the
        check every script makes), every record decoded, and the whole session against the core's rules
        (:func:`~aixgo.session.core.transfer.verify_read`), all read in one script."""
        return verify_read(session_id, lambda: self.snapshot(session_id), self.keys_of(session_id)[0])

    def try_lease(self, session_id: str, ttl: float) -> RedisLease | None:
        """The session's turn lease (``SET NX PX``) if free, else None."""
        keys = self.keys_of(session_id)
        return try_acquire(self._script, keys[0], keys[5], session_id, ttl)

    def close(self) -> None:
        """Close the connection pool (unless the client was injected). Later calls raise
        ``StoreClosedError``; closing twice is harmless."""
        with self._lock:
            self._known.clear()
        self._recent.clear()
        self._conn.close()


_EVICTED_WHOLE = "no key of this session is left in Redis: it was evicted whole (allow_eviction is on)"


def _damaged(session_id: str, agent: str, reason: str) -> SessionInfo:
    never = _EPOCH
    return SessionInfo(
        id=session_id,
        agent=agent,
        user_id=None,
        created_at=never,
        updated_at=never,
        message_count=0,
        damage=reason,
    )


if TYPE_CHECKING:  # mypy proves RedisBackend implements the Backend protocol exactly

    def _conforms(backend: RedisBackend, lease: RedisLease) -> tuple[Backend, Lease]:
        return backend, lease


__all__ = ["RedisBackend", "RedisOptions"]
