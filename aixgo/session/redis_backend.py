"""The multi-node session store: Redis (``pip install 'aixgo[redis]'``).

Key layout, with ``P`` the key prefix (default ``aixgo:sessions:``) and ``{S}`` the session id in
a hash tag (``%``, ``{`` and ``}`` in the id are written ``%25``, ``%7B``, ``%7D``, so the tag is
never empty or cut short and every key of one session lands in the same Cluster slot)::

    P{S}:meta    hash   v (format version), id, agent, uid (user id, JSON), md (metadata, JSON),
                        ca / ua (created / updated, µs since the epoch, server clock), nonce,
                        len (history length), head (head entry id), hh (head chain hash, hex),
                        msgs (chat entries in the history), w (entries ever written), ncp
    P{S}:hist    list   canonical JSON of the entries of the current history; index i holds seq i+1
    P{S}:ent     hash   entry id -> "<w> <seq> <msgs> <chain hash> <parent id>", for every entry
    P{S}:gone    hash   entry id -> canonical JSON, for entries on abandoned branches
    P{S}:cps     hash   "r:<checkpoint id>" -> canonical checkpoint record,
                        "e:<checkpoint id>" -> "<order> <seq> <entry id>"
    P{S}:lease   string the turn lease's token (SET NX PX; see :mod:`aixgo.session.redis_lease`)
    Pagents      set    the agent names that have sessions
    Pagent:<A>   zset   ids of agent A's sessions (score: creation time); read by list_sessions

Every entry is stored once, as the exact bytes of :func:`aixgo.session.codec.encode_entry`: in
``hist`` while it is part of the history, in ``gone`` once a restore abandoned it. ``all_entries``
merges both in write order (``w``).

Atomicity: every operation on a session is one Lua script (``EVALSHA``, falling back to ``EVAL``
when the server lost its script cache) over that session's keys only, which also refreshes the
TTL of every data key of the session (or removes it when no TTL is configured). An append is a
compare-and-set on the head: the client encodes the entry for the head it last saw, with its
SHA-256 chain hash, and the script stores it only if ``len`` and ``hh`` still match, else replies
with the current head and the client re-encodes and retries. The script first looks the entry id
up in ``ent``: an id already stored returns the stored entry, so a retried append (say, after a
timeout whose reply was lost) never writes twice.

The agent indexes (``Pagents``, ``Pagent:<A>``) are the only cross-slot keys. They are written
with separate commands (pipelined with create; after delete), never inside a script, so the
layout stays valid on Redis Cluster; their members are hints that ``list_sessions`` checks against
``meta``, dropping the ones whose session was deleted or expired.

Checksums: each entry's chain hash is stored in ``ent``. Restore recomputes the SHA-256 chain over
the stored bytes of every entry from the root to the checkpoint (O(n): one ``LRANGE`` and n hashes),
unless this backend instance computed that checkpoint's hash itself from bytes it wrote or
verified earlier (then O(1)) — the trust model of the file store, which hashes each record once
when it writes or first reads it. The Lua restore script then checks, atomically with the head
move, that the stored chain hash of the checkpoint's entry equals the checksum.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from aixgo.errors import (
    CheckpointNotFoundError,
    ChecksumMismatchError,
    MissingDependencyError,
    SessionCorruptedError,
    SessionExistsError,
    SessionNotFoundError,
    StoreClosedError,
    StoreConnectionError,
    StoreError,
    UnsupportedVersionError,
)
from aixgo.logs import get_logger
from aixgo.session.backend import Backend, Lease
from aixgo.session.codec import (
    FORMAT_VERSION,
    chain_hash,
    checkpoint_from_record,
    checkpoint_to_record,
    dumps,
    encode_entry,
    entry_from_record,
    utcnow,
)
from aixgo.session.ids import validate_id
from aixgo.session.redis_lease import RedisLease, acquire
from aixgo.session.redis_scripts import ROOT_HEX, SCRIPTS, LuaScript
from aixgo.session.types import CHAT_ENTRY_TYPES, Checkpoint, Entry, EntryType, SessionInfo

_redis: Any
try:
    import redis
    import redis.backoff
    import redis.exceptions
    import redis.retry

    _redis = redis
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    _redis = None

log = get_logger("aixgo.session.redis")

DEFAULT_PORT = 6379
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_META_FIELDS = ("v", "id", "agent", "uid", "md", "ca", "ua", "msgs", "len", "hh", "head")
_MAX_KNOWN_SESSIONS = 1024
_MAX_RECENT_VERIFIED = 16  # recent heads this instance hashed (per session)
_MAX_STICKY_VERIFIED = 256  # checkpoints and every _STICKY_EVERY-th entry (per session)
_STICKY_EVERY = 256
_MAX_CAS_ATTEMPTS = 10_000
_LIST_BATCH = 200
_ADDRESS_FORMS = "; use 'host:port', 'redis://[:password@]host:port/db', 'rediss://…' or 'unix:///path.sock'"


@dataclass
class RedisOptions:
    """Settings of :class:`RedisBackend`.

    ``password`` and ``db`` apply unless the URL names its own. ``ttl``: a session not written for
    this long expires (every write refreshes it); ``None`` keeps sessions forever. ``pool_size``
    bounds the connections (threads wait for a free one). ``socket_timeout`` / ``connect_timeout``
    are seconds; ``retries`` is how often redis-py retries a command after a connection error or
    timeout (with jittered exponential backoff) before the call raises
    :class:`~aixgo.errors.StoreConnectionError`.
    """

    password: str | None = field(default=None, repr=False)
    db: int = 0
    key_prefix: str = "aixgo:sessions:"
    ttl: timedelta | None = None
    pool_size: int = 50
    socket_timeout: float = 5.0
    connect_timeout: float = 5.0
    retries: int = 3

    def __post_init__(self) -> None:
        if "{" in self.key_prefix or "}" in self.key_prefix:
            raise ValueError(
                f"key_prefix must not contain '{{' or '}}' (they form Cluster hash tags): {self.key_prefix!r}"
            )
        if self.ttl is not None and self.ttl.total_seconds() * 1000 < 1:
            raise ValueError(f"ttl must be at least 1 ms (or None for no expiry), got {self.ttl!r}")
        if self.pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {self.pool_size!r}")
        if self.db < 0:
            raise ValueError(f"db must be >= 0, got {self.db!r}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries!r}")
        if not self.socket_timeout > 0 or not self.connect_timeout > 0:
            raise ValueError("socket_timeout and connect_timeout must be > 0 seconds")


class _Known:
    """What this instance last saw of one session's head, and which chain hashes it computed itself.

    A hash is *verified* when this instance computed it from the stored bytes of every entry on its
    chain (writing them, or re-hashing them in a restore). Verified hashes are kept for the last few
    heads and, as anchors for later verifications, for checkpoints and every 256th entry, so that a
    restore never re-hashes more than ~256 entries this instance has seen."""

    __slots__ = ("head", "hh", "length", "recent", "sticky", "verified")

    def __init__(self) -> None:
        self.length = -1  # unknown: the first compare-and-set fails and tells us the head
        self.hh = ""
        self.head: str | None = None
        self.verified = False  # hh is a verified hash
        self.recent: OrderedDict[str, str] = OrderedDict()
        self.sticky: OrderedDict[str, str] = OrderedDict()

    def snapshot(self) -> tuple[int, str, str | None, bool]:
        return self.length, self.hh, self.head, self.verified

    def verified_hash(self, entry_id: str) -> str | None:
        return self.sticky.get(entry_id) or self.recent.get(entry_id)

    def anchors(self) -> dict[str, str]:
        return {**self.recent, **self.sticky}

    def set_head(self, length: int, hh: str, head: str | None, verified: bool) -> None:
        self.length, self.hh, self.head = length, hh, head if length > 0 else None
        self.verified = verified or length == 0 or (head is not None and self.verified_hash(head) == hh)
        if self.verified and self.head is not None:
            self.remember(self.head, hh, sticky=length % _STICKY_EVERY == 0)

    def remember(self, entry_id: str, hh: str, sticky: bool = False) -> None:
        cache, limit = (self.sticky, _MAX_STICKY_VERIFIED) if sticky else (self.recent, _MAX_RECENT_VERIFIED)
        cache[entry_id] = hh
        cache.move_to_end(entry_id)
        while len(cache) > limit:
            cache.popitem(last=False)

    def clear(self) -> None:
        self.recent.clear()
        self.sticky.clear()
        self.set_head(-1, "", None, verified=False)


_ENTRY_TYPES = {t.value: t for t in EntryType}
_parse_iso = datetime.fromisoformat


def _entry(rec: dict[str, Any]) -> Entry:
    """:func:`~aixgo.session.codec.entry_from_record` with the same checks, faster for many entries."""
    data, seq, entry_id, parent = rec["data"], rec["seq"], rec["id"], rec["parent_id"]
    kind = _ENTRY_TYPES.get(rec["type"])
    if (
        type(seq) is not int
        or seq < 1
        or type(data) is not dict
        or type(entry_id) is not str
        or not (parent is None or type(parent) is str)
        or kind is None
    ):
        return entry_from_record(rec)  # raises the codec's own error for whatever is wrong
    return Entry(entry_id, parent, seq, _parse_iso(rec["ts"]), kind, data)


def _escape(session_id: str) -> str:
    return session_id.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def _raw(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _status(reply: Any) -> str:
    return _text(reply[0])


def _from_us(value: Any) -> datetime:
    return _EPOCH + timedelta(microseconds=int(value))


def _redact(target: str) -> str:
    """``target`` with any password in a URL's user part replaced by ``***``."""
    scheme, sep, rest = target.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return target
    userinfo, _, hostpart = rest.partition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{hostpart}" if ":" in userinfo else f"{scheme}://***@{hostpart}"


def _parse_host_port(target: str) -> tuple[str, int]:
    host, port = target, DEFAULT_PORT
    if target.startswith("["):
        host, bracket, rest = target[1:].partition("]")
        if not bracket:
            raise ValueError("unclosed '['")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif target.count(":") == 1:
        host, _, text = target.partition(":")
        port = int(text)
    if not host or not 0 < port < 65536:
        raise ValueError("bad host:port")
    return host, port


class RedisBackend:
    """Sessions in Redis, shared by every process and node that uses the same server and prefix.

    ``target`` is ``"host:port"`` (``"host"`` means port 6379, ``"[::1]:6380"`` for IPv6), a
    ``redis://[[user]:password@]host[:port][/db]``, ``rediss://…`` (TLS) or ``unix:///path.sock``
    URL, or an existing ``redis.Redis`` client (which :meth:`close` then leaves open). Connection
    settings in ``options`` do not apply to an injected client.
    """

    def __init__(self, target: str | Any, options: RedisOptions | None = None) -> None:
        if _redis is None:
            raise MissingDependencyError("the Redis session store (RedisBackend)", "redis")
        self.options = options if options is not None else RedisOptions()
        self._lock = threading.Lock()
        self._closed = False
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._max_version = str(FORMAT_VERSION)
        ttl = self.options.ttl
        self._ttl_ms = str(int(ttl.total_seconds() * 1000)) if ttl is not None else "0"
        prefix = self.options.key_prefix
        self._agents_key = prefix + "agents"
        self._index_prefix = prefix + "agent:"
        self._pool: Any = None
        if isinstance(target, str):
            self._owns_client = True
            try:
                self.address = self._describe_target(target)
            except ValueError:
                raise ValueError(f"not a Redis address: {_redact(target)!r}{_ADDRESS_FORMS}") from None
            self._client: Any = self._connect(target)
        else:
            if not callable(getattr(target, "evalsha", None)):
                raise TypeError(
                    f"target must be 'host:port', a redis:// URL or a redis.Redis client, got {target!r}"
                )
            self._owns_client = False
            self._client = target
            self.address = self._describe_client(target)
        self._password = self._find_password()

    def __repr__(self) -> str:
        return f"RedisBackend({self.address!r}, key_prefix={self.options.key_prefix!r})"

    # -- connections ---------------------------------------------------------------------------

    @staticmethod
    def _describe_target(target: str) -> str:
        if "://" not in target:
            host, port = _parse_host_port(target)
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        parts = urlsplit(target)
        if parts.scheme == "unix":
            return f"unix://{parts.path}"
        host = parts.hostname or "localhost"
        netloc = f"[{host}]" if ":" in host else host
        port = parts.port or DEFAULT_PORT
        path = parts.path if parts.path not in ("", "/") else ""
        return f"{parts.scheme}://{netloc}:{port}{path}"

    @staticmethod
    def _describe_client(client: Any) -> str:
        kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None) or {}
        if kwargs.get("path"):
            return f"unix://{kwargs['path']}"
        host = kwargs.get("host", "localhost")
        return f"{host}:{kwargs.get('port', DEFAULT_PORT)}" if kwargs else repr(client)

    def _find_password(self) -> str | None:
        kwargs = getattr(getattr(self._client, "connection_pool", None), "connection_kwargs", None) or {}
        password = kwargs.get("password") or self.options.password
        return str(password) if password else None

    def _connect(self, target: str) -> Any:
        opts = self.options
        backoff = _redis.backoff.EqualJitterBackoff(cap=0.5, base=0.01)
        kwargs: dict[str, Any] = {
            "password": opts.password,
            "db": opts.db,
            "socket_timeout": opts.socket_timeout,
            "socket_connect_timeout": opts.connect_timeout,
            "retry": _redis.retry.Retry(backoff, opts.retries),
            "retry_on_error": [_redis.exceptions.ConnectionError, _redis.exceptions.TimeoutError],
            "max_connections": opts.pool_size,
            "timeout": opts.connect_timeout + opts.socket_timeout,  # waiting for a free pooled connection
        }
        pool_class = _redis.BlockingConnectionPool
        try:
            if "://" in target:
                if not target.startswith(("redis://", "rediss://", "unix://")):
                    raise ValueError("bad scheme")
                self._pool = pool_class.from_url(target, **kwargs)
            else:
                host, port = _parse_host_port(target)
                self._pool = pool_class(host=host, port=port, **kwargs)
        except ValueError:
            raise ValueError(f"not a Redis address: {self.address!r}{_ADDRESS_FORMS}") from None
        return _redis.Redis(connection_pool=self._pool)

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def _fail(self, exc: Exception) -> NoReturn:
        """Re-raise a redis-py error as aixgo's, naming the address and never the password."""
        errors = _redis.exceptions
        detail = self._scrub(str(exc)) or type(exc).__name__
        log.warning("redis.error", address=self.address, error=type(exc).__name__)
        if isinstance(exc, errors.AuthenticationError) or "NOAUTH" in detail or "WRONGPASS" in detail:
            raise StoreConnectionError(
                f"Redis at {self.address} refused to authenticate ({detail}); check the password in "
                "RedisOptions.password or the URL",
                self.address,
            ) from None
        if isinstance(exc, (errors.ConnectionError, errors.TimeoutError)):
            raise StoreConnectionError(
                f"cannot reach Redis at {self.address}: {detail}", self.address
            ) from None
        raise StoreError(f"Redis at {self.address} failed: {detail}") from None

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"the Redis store at {self.address} is closed")

    def _script(self, script: LuaScript, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        """Run ``script``: ``EVALSHA``, or ``EVAL`` when the server does not know it (yet)."""
        self._check_open()
        try:
            try:
                return self._client.evalsha(script.sha, len(keys), *keys, *args)
            except _redis.exceptions.NoScriptError:
                return self._client.eval(script.source, len(keys), *keys, *args)
        except _redis.exceptions.RedisError as exc:
            self._fail(exc)

    def _command(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._check_open()
        try:
            return getattr(self._client, name)(*args, **kwargs)
        except _redis.exceptions.RedisError as exc:
            self._fail(exc)

    # -- keys and caches -----------------------------------------------------------------------

    def keys_of(self, session_id: str) -> list[str]:
        """The keys of one session: meta, hist, ent, gone, cps, lease (see the module docstring)."""
        base = f"{self.options.key_prefix}{{{_escape(session_id)}}}:"
        return [base + "meta", base + "hist", base + "ent", base + "gone", base + "cps", base + "lease"]

    def _index_key(self, agent: str) -> str:
        return self._index_prefix + agent

    def _known_for(self, session_id: str) -> _Known:
        with self._lock:
            known = self._known.get(session_id)
            if known is None:
                known = self._known[session_id] = _Known()
                while len(self._known) > _MAX_KNOWN_SESSIONS:
                    self._known.popitem(last=False)
            else:
                self._known.move_to_end(session_id)
            return known

    def _forget(self, session_id: str) -> None:
        with self._lock:
            self._known.pop(session_id, None)

    def _args(self, *args: str | int) -> list[str | int]:
        return [self._max_version, self._ttl_ms, *args]

    def _check_reply(self, reply: Any, session_id: str) -> str:
        """The reply's status; raises for the statuses every session script may answer."""
        status = _status(reply)
        if status == "missing":
            self._forget(session_id)
            raise SessionNotFoundError(
                f"session {session_id!r} not found in Redis at {self.address}", session_id
            )
        if status == "version":
            raise UnsupportedVersionError(
                f"format version {_text(reply[1])} is newer than this aixgo supports ({FORMAT_VERSION}); upgrade aixgo",
                session_id,
                self.keys_of(session_id)[0],
            )
        if status == "corrupt":
            raise SessionCorruptedError(_text(reply[1]), session_id, self.keys_of(session_id)[0])
        return status

    def _decode_entries(self, raws: Sequence[Any], session_id: str) -> list[Entry]:
        return self._decode_joined(b",".join(_raw(r) for r in raws), len(raws), session_id)

    def _decode_joined(self, joined: Any, count: int, session_id: str) -> list[Entry]:
        """Decode ``count`` canonical entries joined by commas (one ``json.loads`` for all)."""
        if not count:
            return []
        try:
            records = json.loads(b"[" + _raw(joined) + b"]")
            if len(records) != count:
                raise ValueError(f"{count} records expected, {len(records)} found")
            return [_entry(rec) for rec in records]
        except (ValueError, KeyError, TypeError) as exc:
            raise SessionCorruptedError(
                f"damaged entry record ({exc})", session_id, self.keys_of(session_id)[1]
            ) from None

    def _info_from_meta(self, session_id: str, values: Sequence[Any]) -> SessionInfo | None:
        """A summary from the ``_META_FIELDS`` of meta; None if the session does not exist."""
        if values[0] is None:
            return None
        version = _text(values[0])
        key = self.keys_of(session_id)[0]
        if not version.isdigit():
            raise SessionCorruptedError(
                f"damaged session record (format version {version!r})", session_id, key
            )
        if int(version) > FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"format version {version!r} is newer than this aixgo supports ({FORMAT_VERSION}); upgrade aixgo",
                session_id,
                key,
            )
        try:
            metadata = json.loads(values[4]) if values[4] is not None else {}
            return SessionInfo(
                id=session_id,
                agent=_text(values[2]),
                user_id=json.loads(values[3]) if values[3] is not None else None,
                created_at=_from_us(values[5]),
                updated_at=_from_us(values[6]),
                message_count=int(values[7]),
                metadata=dict(metadata),
            )
        except (ValueError, TypeError) as exc:
            raise SessionCorruptedError(f"damaged session record ({exc})", session_id, key) from None

    # -- Backend -------------------------------------------------------------------------------

    def create_session(
        self, agent: str, session_id: str, user_id: str | None, metadata: dict[str, Any]
    ) -> SessionInfo:
        """Create an empty session. Raises ``SessionExistsError`` if the id exists (for any agent)."""
        self._check_open()
        validate_id(agent, "agent name")
        validate_id(session_id)
        nonce = secrets.token_hex(8)
        args = self._args(FORMAT_VERSION, session_id, agent, dumps(user_id), dumps(metadata), nonce)
        reply = self._create_indexed(SCRIPTS["create"], agent, session_id, args)
        created = _from_us(reply[1])
        known = self._known_for(session_id)
        with self._lock:
            known.clear()
            known.set_head(0, ROOT_HEX, None, verified=True)
        return SessionInfo(
            id=session_id,
            agent=agent,
            user_id=user_id,
            created_at=created,
            updated_at=created,
            message_count=0,
            metadata=dict(metadata),
        )

    def _create_indexed(
        self, script: LuaScript, agent: str, session_id: str, args: Sequence[str | int]
    ) -> Any:
        """Run a creating script pipelined after the agent index updates (one round trip).

        Raises ``SessionExistsError`` (and takes the index entry back if the id is another agent's)."""
        self._check_open()
        keys = self.keys_of(session_id)[:5]
        index = self._index_key(agent)
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.sadd(self._agents_key, agent)
            pipe.zadd(index, {session_id: repr(time.time())})
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            reply = pipe.execute(raise_on_error=False)[-1]
        except _redis.exceptions.RedisError as exc:
            self._fail(exc)
        if isinstance(reply, Exception):
            if not isinstance(reply, _redis.exceptions.NoScriptError):
                self._fail(reply)
            reply = self._script(script, keys, args)
        if _status(reply) == "exists":
            owner = _text(reply[1])
            if owner != agent:
                self._command("zrem", index, session_id)
            raise SessionExistsError(
                f"session {session_id!r} already exists" + (f" (agent {owner!r})" if owner != agent else ""),
                session_id,
            )
        return reply

    def import_session(
        self, info: SessionInfo, entries: list[Entry], checkpoints: list[Checkpoint], head: str | None
    ) -> SessionInfo:
        """Create a session from exported data (see :meth:`Backend.import_session`) in one Lua script.

        Everything is validated first (parents, ``seq``, every checkpoint's checksum recomputed over the
        entries' canonical bytes); invalid data raises ``SessionCorruptedError`` and stores nothing."""
        self._check_open()
        validate_id(info.agent, "agent name")
        session_id = validate_id(info.id)

        def bad(problem: str) -> NoReturn:
            raise SessionCorruptedError(f"cannot import: {problem}", session_id)

        stored: dict[str, tuple[Entry, str, str, int]] = {}  # id -> entry, bytes, chain hash, msgs
        ent: list[str] = []
        for w, entry in enumerate(entries, start=1):
            if entry.id in stored:
                bad(f"entry id {entry.id!r} appears twice")
            parent_hash, parent_msgs, parent_seq = ROOT_HEX, 0, 0
            if entry.parent_id is not None:
                if entry.parent_id not in stored:
                    bad(
                        f"entry {entry.id!r} comes before its parent {entry.parent_id!r} (or the parent is missing)"
                    )
                parent, _, parent_hash, parent_msgs = stored[entry.parent_id]
                parent_seq = parent.seq
            if entry.seq != parent_seq + 1:
                bad(f"entry {entry.id!r} has seq {entry.seq}, its parent seq {parent_seq}")
            raw = encode_entry(entry)
            digest = chain_hash(bytes.fromhex(parent_hash), raw).hex()
            msgs = parent_msgs + (entry.type in CHAT_ENTRY_TYPES)
            stored[entry.id] = (entry, raw, digest, msgs)
            ent += [entry.id, f"{w} {entry.seq} {msgs} {digest} {entry.parent_id or ''}"]
        cps: list[str] = []
        seen_checkpoints: set[str] = set()
        for order, cp in enumerate(checkpoints, start=1):
            if cp.id in seen_checkpoints:
                bad(f"checkpoint id {cp.id!r} appears twice")
            seen_checkpoints.add(cp.id)
            expected = (0, ROOT_HEX)
            if cp.entry_id is not None:
                if cp.entry_id not in stored:
                    bad(f"checkpoint {cp.id!r} names unknown entry {cp.entry_id!r}")
                expected = (stored[cp.entry_id][0].seq, stored[cp.entry_id][2])
            if cp.seq != expected[0]:
                bad(f"checkpoint {cp.id!r} has seq {cp.seq}, its entry seq {expected[0]}")
            if cp.checksum != expected[1]:
                raise ChecksumMismatchError(
                    f"cannot import: checkpoint {cp.id!r} does not match its entries", session_id
                )
            cps += [
                f"r:{cp.id}",
                dumps(checkpoint_to_record(cp)),
                f"e:{cp.id}",
                f"{order} {cp.seq} {cp.entry_id or ''}",
            ]
        if head is not None and head not in stored:
            bad(f"the head names unknown entry {head!r}")
        chain: list[str] = []
        cursor = head
        while cursor is not None:
            chain.append(cursor)
            cursor = stored[cursor][0].parent_id
        chain.reverse()
        on_history = set(chain)
        gone = [x for e in entries if e.id not in on_history for x in (e.id, stored[e.id][1])]
        length, hh, msgs = 0, ROOT_HEX, 0
        if head is not None:
            length, hh, msgs = stored[head][0].seq, stored[head][2], stored[head][3]
        created_us = (info.created_at.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)
        meta: list[str | int] = [
            "v", FORMAT_VERSION, "id", session_id, "agent", info.agent, "uid", dumps(info.user_id),
            "md", dumps(info.metadata), "ca", created_us, "len", length, "hh", hh, "head", head or "",
            "msgs", msgs, "w", len(entries), "ncp", len(checkpoints),
        ]  # fmt: skip
        args = self._args(
            secrets.token_hex(8),
            len(meta) // 2, *meta,
            len(chain), *(stored[e][1] for e in chain),
            len(gone) // 2, *gone,
            len(ent) // 2, *ent,
            len(cps) // 2, *cps,
        )  # fmt: skip
        self._create_indexed(SCRIPTS["import"], info.agent, session_id, args)
        known = self._known_for(session_id)
        with self._lock:
            known.clear()
            for cp in checkpoints:
                if cp.entry_id is not None:
                    known.remember(cp.entry_id, cp.checksum, sticky=True)
            known.set_head(length, hh, head, verified=True)
        return self.get_info(session_id)

    def get_info(self, session_id: str) -> SessionInfo:
        """The session's summary. Raises ``SessionNotFoundError``."""
        values = self._command("hmget", self.keys_of(session_id)[0], _META_FIELDS)
        info = self._info_from_meta(session_id, values)
        if info is None:
            self._forget(session_id)
            raise SessionNotFoundError(
                f"session {session_id!r} not found in Redis at {self.address}", session_id
            )
        if values[8] is not None and values[9] is not None:
            known = self._known_for(session_id)
            with self._lock:
                known.set_head(int(values[8]), _text(values[9]), _text(values[10]), verified=False)
        return info

    def list_sessions(self, agent: str | None = None) -> Iterator[SessionInfo]:
        """Summaries of every session (of ``agent`` if given), read from the agent indexes.

        Index members whose session was deleted or expired are dropped on the way."""
        self._check_open()
        if agent is not None:
            agents = [agent]
        else:
            agents = sorted(_text(a) for a in self._command("smembers", self._agents_key))
        for name in agents:
            index = self._index_key(name)
            members = self._index_members(index)
            ids = sorted(members)
            for start in range(0, len(ids), _LIST_BATCH):
                batch = ids[start : start + _LIST_BATCH]
                try:
                    pipe = self._client.pipeline(transaction=False)
                    for session_id in batch:
                        pipe.hmget(self.keys_of(session_id)[0], _META_FIELDS)
                    rows = pipe.execute()
                except _redis.exceptions.RedisError as exc:
                    self._fail(exc)
                for session_id, values in zip(batch, rows, strict=True):
                    try:
                        info = self._info_from_meta(session_id, values)
                    except SessionCorruptedError as exc:
                        # as on the file store: one unreadable session (damaged, or written by a newer
                        # aixgo during a rolling upgrade) must not hide the others; opening it still raises
                        log.warning("session.list.skipped_unreadable", session_id=session_id, error=str(exc))
                        continue
                    if info is None or info.agent != name:
                        self._script(SCRIPTS["index_forget"], [index], [session_id, members[session_id]])
                        continue
                    yield info

    def _index_members(self, index: str) -> dict[str, str]:
        """Session id -> score (as Redis wrote it) of one agent index."""
        self._check_open()
        try:
            return {
                _text(member): _text(score)
                for member, score in self._client.zscan_iter(index, count=1000, score_cast_func=_text)
            }
        except _redis.exceptions.RedisError as exc:
            self._fail(exc)

    def delete_session(self, session_id: str) -> bool:
        """Delete every key of the session (its lease included). Returns False if it did not exist."""
        reply = self._script(SCRIPTS["delete"], self.keys_of(session_id), [])
        self._forget(session_id)
        if _status(reply) != "ok":
            return False
        self._command("zrem", self._index_key(_text(reply[1])), session_id)
        return True

    def append(
        self, session_id: str, entry_id: str, entry_type: EntryType, data: dict[str, Any], timestamp: datetime
    ) -> Entry:
        """Append one entry after the head in one Lua script (see the module docstring).

        Idempotent on ``entry_id``: an id already stored returns the stored entry."""
        keys = self.keys_of(session_id)[:5]
        is_chat = 1 if entry_type in CHAT_ENTRY_TYPES else 0
        known = self._known_for(session_id)
        for attempt in range(_MAX_CAS_ATTEMPTS):
            with self._lock:
                length, hh, head, verified = known.snapshot()
            if length >= 0:
                entry = Entry(
                    id=entry_id,
                    parent_id=head,
                    seq=length + 1,
                    timestamp=timestamp,
                    type=entry_type,
                    data=data,
                )
                encoded = encode_entry(entry)
                new_hash = chain_hash(bytes.fromhex(hh), encoded).hex()
            else:
                encoded, new_hash = "", ""
            reply = self._script(
                SCRIPTS["append"], keys, self._args(entry_id, encoded, length, hh, new_hash, is_chat)
            )
            status = self._check_reply(reply, session_id)
            if status == "ok":
                with self._lock:
                    if known.length == length and known.hh == hh:
                        known.set_head(length + 1, new_hash, entry_id, verified)
                return entry
            if status == "dup":
                return self._decode_entries([reply[1]], session_id)[0]
            # stale: another writer moved the head; encode again for the head the script reported
            with self._lock:
                known.set_head(int(reply[1]), _text(reply[2]), _text(reply[3]), verified=False)
            if attempt and attempt % 50 == 0:
                log.debug("redis.append.contended", session_id=session_id, attempts=attempt)
            if attempt >= 2:
                time.sleep(random.uniform(0, min(0.0002 * attempt, 0.01)))
        raise StoreError(f"append to session {session_id!r} kept losing the race for the head; giving up")

    def history(
        self, session_id: str, limit: int | None = None, before: int | None = None, after: int | None = None
    ) -> list[Entry]:
        """Entries of the current history (cursor rules of :meth:`Backend.history`), one ``LRANGE``."""
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        args = self._args(*("" if v is None else int(v) for v in (limit, before, after)))
        reply = self._script(SCRIPTS["history"], self.keys_of(session_id)[:2], args)
        self._check_reply(reply, session_id)
        if isinstance(reply[1], list):
            return self._decode_entries(reply[1], session_id)
        return self._decode_joined(reply[1], int(reply[2]), session_id)

    def all_entries(self, session_id: str) -> list[Entry]:
        """Every stored entry, abandoned branches included, in the order they were written."""
        reply = self._script(SCRIPTS["all_entries"], self.keys_of(session_id)[:5], self._args())
        self._check_reply(reply, session_id)
        entries = self._decode_entries(reply[1], session_id)
        if not reply[2]:
            return entries
        entries += self._decode_entries(reply[2][1::2], session_id)
        records = reply[3]
        order = {
            _text(k): int(_raw(v).split(b" ", 1)[0]) for k, v in zip(records[::2], records[1::2], strict=True)
        }
        return sorted(entries, key=lambda e: order.get(e.id, 0))

    def create_checkpoint(self, session_id: str, checkpoint_id: str, metadata: dict[str, Any]) -> Checkpoint:
        """Record a checkpoint at the head with the head's stored chain hash as checksum. O(1)."""
        keys = self.keys_of(session_id)[:5]
        known = self._known_for(session_id)
        for attempt in range(_MAX_CAS_ATTEMPTS):
            with self._lock:
                length, hh, head, verified = known.snapshot()
            cp = Checkpoint(
                id=checkpoint_id,
                session_id=session_id,
                entry_id=head if length > 0 else None,
                seq=max(length, 0),
                timestamp=utcnow(),
                checksum=hh,
                metadata=metadata,
            )
            record = dumps(checkpoint_to_record(cp))
            reply = self._script(SCRIPTS["checkpoint"], keys, self._args(checkpoint_id, record, length, hh))
            status = self._check_reply(reply, session_id)
            if status == "ok":
                if verified and head is not None:
                    with self._lock:
                        known.remember(head, hh, sticky=True)
                return cp
            if status == "dup":
                return self._decode_checkpoint(reply[1], session_id)
            with self._lock:
                known.set_head(int(reply[1]), _text(reply[2]), _text(reply[3]), verified=False)
            if attempt >= 2:
                time.sleep(random.uniform(0, min(0.0002 * attempt, 0.01)))
        raise StoreError(f"checkpoint of session {session_id!r} kept losing the race for the head; giving up")

    def _decode_checkpoint(self, raw: Any, session_id: str) -> Checkpoint:
        try:
            return checkpoint_from_record(json.loads(raw), session_id)
        except (ValueError, KeyError, TypeError) as exc:
            raise SessionCorruptedError(
                f"damaged checkpoint record ({exc})", session_id, self.keys_of(session_id)[4]
            ) from None

    def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """The session's checkpoints, oldest first."""
        reply = self._script(SCRIPTS["list_checkpoints"], self.keys_of(session_id)[:5], self._args())
        self._check_reply(reply, session_id)
        fields = reply[1]
        records: dict[str, Any] = {}
        order: dict[str, int] = {}
        for name, value in zip(fields[::2], fields[1::2], strict=True):
            text = _text(name)
            if text.startswith("r:"):
                records[text[2:]] = value
            elif text.startswith("e:"):
                order[text[2:]] = int(_raw(value).split(b" ", 1)[0])
        ordered = sorted(records, key=lambda cp_id: order.get(cp_id, 0))
        return [self._decode_checkpoint(records[cp_id], session_id) for cp_id in ordered]

    def restore(self, session_id: str, checkpoint_id: str) -> Checkpoint:
        """Verify the checkpoint's checksum, then durably move the head to it (one Lua script).

        See the module docstring for what is verified and what it costs."""
        keys = self.keys_of(session_id)[:5]
        reply = self._script(SCRIPTS["checkpoint_info"], keys, self._args(checkpoint_id))
        if self._check_reply(reply, session_id) == "nocp":
            self._no_checkpoint(session_id, checkpoint_id)
        cp = self._decode_checkpoint(reply[1], session_id)
        known = self._known_for(session_id)
        if cp.entry_id is None:
            verified = cp.checksum == ROOT_HEX
        else:
            with self._lock:
                verified = known.verified_hash(cp.entry_id) == cp.checksum
        if not verified:
            self._verify_chain(session_id, cp, known)
        reply = self._script(SCRIPTS["restore"], keys, self._args(checkpoint_id, cp.checksum))
        status = self._check_reply(reply, session_id)
        if status == "nocp":
            self._no_checkpoint(session_id, checkpoint_id)
        if status == "mismatch":
            self._mismatch(session_id, cp, _text(reply[1]), "the stored chain hash of its entry")
        with self._lock:
            if cp.entry_id is not None:
                known.remember(cp.entry_id, cp.checksum, sticky=True)
            known.set_head(cp.seq, cp.checksum, cp.entry_id, verified=True)
        return cp

    def _verify_chain(self, session_id: str, cp: Checkpoint, known: _Known) -> None:
        """Recompute the SHA-256 chain over the stored bytes up to the checkpoint's entry, starting
        from the nearest entry on its chain that this instance hashed itself (else from the root)."""
        if cp.entry_id is None:
            self._mismatch(session_id, cp, ROOT_HEX, "the empty history")
        with self._lock:
            anchors = known.anchors()
        keys = self.keys_of(session_id)[:5]
        reply = self._script(SCRIPTS["chain"], keys, self._args(cp.entry_id, cp.seq, *anchors))
        self._check_reply(reply, session_id)
        anchor, anchor_hash = _text(reply[1]), _text(reply[2])
        if anchor and anchors.get(anchor) != anchor_hash:  # not the bytes we hashed (re-created session)
            reply = self._script(SCRIPTS["chain"], keys, self._args(cp.entry_id, cp.seq))
            self._check_reply(reply, session_id)
            anchor, anchor_hash = "", ROOT_HEX
        digest = bytes.fromhex(anchor_hash)
        for raw in reply[4]:
            digest = chain_hash(digest, raw)
        log.debug(
            "redis.restore.rehashed",
            session_id=session_id,
            checkpoint=cp.id,
            anchor_seq=int(reply[3]),
            entries=len(reply[4]),
        )
        if int(reply[3]) + len(reply[4]) != cp.seq or digest.hex() != cp.checksum:
            self._mismatch(session_id, cp, digest.hex(), f"the {cp.seq} entries of its history")

    def _mismatch(self, session_id: str, cp: Checkpoint, actual: str, what: str) -> NoReturn:
        raise ChecksumMismatchError(
            f"checkpoint {cp.id!r} does not match {what} (checksum {cp.checksum[:12]}…, found {actual[:12]}…):"
            f" entries up to seq {cp.seq} were modified",
            session_id,
            self.keys_of(session_id)[1],
        )

    def _no_checkpoint(self, session_id: str, checkpoint_id: str) -> NoReturn:
        raise CheckpointNotFoundError(
            f"session {session_id!r} has no checkpoint {checkpoint_id!r}", session_id, checkpoint_id
        )

    def acquire_lease(self, session_id: str, ttl: float, wait: float | None) -> RedisLease:
        """Take the session's turn lease (``SET NX PX``), waiting up to ``wait`` seconds (None: forever).

        Raises ``SessionBusyError`` when it cannot be had in time."""
        keys = self.keys_of(session_id)
        return acquire(self._script, keys[0], keys[5], session_id, ttl, wait)

    def close(self) -> None:
        """Close the connection pool (unless the client was injected). Later calls raise
        ``StoreClosedError``; closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._known.clear()
        if self._owns_client:
            self._client.close()
            if self._pool is not None:
                self._pool.disconnect()


if TYPE_CHECKING:  # mypy proves RedisBackend implements the Backend protocol exactly

    def _conforms(backend: RedisBackend, lease: RedisLease) -> tuple[Backend, Lease]:
        return backend, lease


__all__ = ["RedisBackend", "RedisOptions"]
