"""Reaching Redis: addresses, the connection pool, running scripts, and errors that never show a password."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NoReturn
from urllib.parse import urlsplit

from aixgo.errors import MissingDependencyError, StoreClosedError, StoreConnectionError, StoreError
from aixgo.logs import get_logger
from aixgo.redaction import mask_address
from aixgo.session.backend import DEFAULT_CACHE_BYTES
from aixgo.session.redis.scripts import LuaScript

_redis: Any
try:
    import redis
    import redis.backoff
    import redis.cluster
    import redis.exceptions
    import redis.retry

    _redis = redis
    _REDIS_ERRORS: tuple[type[Exception], ...] = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    _redis = None
    _REDIS_ERRORS = ()

log = get_logger("aixgo.session.redis")

DEFAULT_PORT = 6379
_ADDRESS_FORMS = "; use 'host:port', 'redis://[:password@]host:port/db', 'rediss://…' or 'unix:///path.sock'"


@dataclass
class RedisOptions:
    """Settings of :class:`~aixgo.session.RedisBackend`.

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
    allow_eviction: bool = False
    """Accept a server whose ``maxmemory-policy`` may evict keys (refused by default, see
    :meth:`RedisConnection.check_eviction`)."""

    min_replica_acks: int = 0
    """Acknowledge a write only once this many replicas have it (Redis ``WAIT``, up to
    ``replica_ack_timeout`` seconds; fewer is a :class:`~aixgo.errors.StoreError`). 0: as soon as the
    master has it; replication is asynchronous, so a failover may then lose the last acknowledged writes."""
    replica_ack_timeout: float = 2.0
    cache_bytes: int = DEFAULT_CACHE_BYTES
    """Bytes of recent entries kept in memory to answer reads of unchanged sessions without moving
    their entries again (:mod:`aixgo.session.redis.recent`); every read still asks the server whether
    the session changed. 0 keeps nothing."""
    cluster: bool = False
    """The target is a node of a Redis Cluster: connect with ``redis.cluster.RedisCluster`` (every
    session's keys share one hash slot; the other nodes are discovered)."""

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
        if type(self.cache_bytes) is not int or self.cache_bytes < 0:
            raise ValueError(f"cache_bytes must be an integer >= 0, got {self.cache_bytes!r}")
        if self.min_replica_acks < 0 or not self.replica_ack_timeout > 0:
            raise ValueError("min_replica_acks must be >= 0 and replica_ack_timeout > 0 seconds")
        if self.cluster and self.db != 0:
            raise ValueError(f"Redis Cluster has only database 0, got db={self.db!r}")
        if not self.socket_timeout > 0 or not self.connect_timeout > 0:
            raise ValueError("socket_timeout and connect_timeout must be > 0 seconds")



_HOST_NAME = re.compile(r"[A-Za-z0-9._-]+")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+")


def _parse_host_port(target: str) -> tuple[str, int]:
    host, port_text = target, ""
    if target.startswith("["):
        host, bracket, rest = target[1:].partition("]")
        if not bracket or not _IPV6.fullmatch(host) or (rest and not rest.startswith(":")):
            raise ValueError("expected '[ipv6]:port'")
        port_text = rest[1:]
    elif "@" in target or "/" in target:
        raise ValueError("a password or database needs a URL: redis://:password@host:port/db")
    elif target.count(":") == 1:
        host, _, port_text = target.partition(":")
    elif ":" in target:
        raise ValueError("write an IPv6 address in brackets: [::1]:6379")
    if not _HOST_NAME.fullmatch(host) and not target.startswith("["):
        raise ValueError("expected host:port")
    port = _port(port_text) if port_text or target.endswith(":") else DEFAULT_PORT
    return host, port


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ValueError("the port must be a number from 1 to 65535")
    return int(text)


def _url_database(path: str) -> int | None:
    """The database a ``redis://`` URL's path names (``/3``), ``None`` for none; anything else is an error
    (redis-py would silently use 0)."""
    name = path[1:] if path.startswith("/") else path
    if name == "":
        return None
    if not (name.isascii() and name.isdigit()):
        raise ValueError(f"the database in the URL path must be a number such as /0, got {path!r}")
    return int(name)


def describe_target(target: str) -> str:
    """A printable address for ``target``: ``host:port`` or a URL without its password. Raises
    ``ValueError`` (saying why, never showing a password) for anything that is not a Redis address."""
    if "://" not in target:
        host, port = _parse_host_port(target)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    scheme, _, rest = target.partition("://")
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError("the scheme must be redis://, rediss:// or unix://")
    parts = urlsplit(target)
    if scheme == "unix":
        if not parts.path:
            raise ValueError("expected unix:///path/to/socket")
        return f"unix://{parts.path}"
    netloc = rest.partition("/")[0].partition("?")[0].rpartition("@")[2]
    if not netloc:
        raise ValueError("the URL names no host")
    host, port = _parse_host_port(netloc)
    _url_database(parts.path)
    shown = f"[{host}]" if ":" in host else host
    path = parts.path if parts.path not in ("", "/") else ""
    return f"{scheme}://{shown}:{port}{path}"


POLICY_CHECK_INTERVAL = 30.0
"""Seconds between two checks of the server's eviction policy by one store object (one ``CONFIG GET``):
a policy changed on a running server is refused within this time, as at start."""


class RedisConnection:
    """A client (owned, or injected by the user and then left open) with aixgo's error mapping."""

    policy_check_interval = POLICY_CHECK_INTERVAL

    def __init__(self, target: str | Any, options: RedisOptions) -> None:
        if _redis is None:
            raise MissingDependencyError("the Redis session store (RedisBackend)", "redis")
        self.options = options
        self.closed = False
        self._policy_checked_at: float | None = None  # monotonic time of the last eviction policy check
        self._policy_trusted = options.allow_eviction  # accepted, or the server does not say
        self._password: str | None = options.password
        self._lock = threading.Lock()
        self._pool: Any = None
        if isinstance(target, str):
            self.owns_client = True
            try:
                self.address = describe_target(target)
            except ValueError as exc:
                raise ValueError(f"not a Redis address: {mask_address(target)!r} ({exc}){_ADDRESS_FORMS}") from None
            self.client: Any = self._connect(target)
        else:
            if not callable(getattr(target, "evalsha", None)):
                raise TypeError(
                    f"target must be 'host:port', a redis:// URL or a redis.Redis client, got {type(target).__name__}"
                )
            self.owns_client = False
            self.client = target
            self.address = self._describe_client(target)
        self.cluster = isinstance(self.client, _redis.cluster.RedisCluster)
        kwargs = getattr(getattr(self.client, "connection_pool", None), "connection_kwargs", None) or {}
        if self.cluster:
            nodes = self.client.get_nodes()
            kwargs = getattr(getattr(nodes[0], "redis_connection", None), "connection_pool", None) if nodes else None
            kwargs = getattr(kwargs, "connection_kwargs", None) or {}
        password = kwargs.get("password") or options.password
        self._password = str(password) if password else None

    @staticmethod
    def _describe_client(client: Any) -> str:
        if _redis is not None and isinstance(client, _redis.cluster.RedisCluster):
            nodes = sorted(f"{node.host}:{node.port}" for node in client.get_nodes())
            return "cluster " + ",".join(nodes[:3]) + (f" (+{len(nodes) - 3} nodes)" if len(nodes) > 3 else "")
        kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None) or {}
        if kwargs.get("path"):
            return f"unix://{kwargs['path']}"
        return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', DEFAULT_PORT)}"

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
        if opts.cluster:
            return self._connect_cluster(target, kwargs)
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

    def _connect_cluster(self, target: str, kwargs: dict[str, Any]) -> Any:
        """A ``RedisCluster`` client that starts from ``target`` and discovers the other nodes."""
        options = {k: v for k, v in kwargs.items() if k not in ("db", "timeout", "retry_on_error")}
        try:
            if "://" in target:
                return _redis.cluster.RedisCluster.from_url(target, **options)
            host, port = _parse_host_port(target)
            return _redis.cluster.RedisCluster(host=host, port=port, **options)
        except ValueError:
            raise ValueError(f"not a Redis address: {self.address!r}{_ADDRESS_FORMS}") from None
        except _REDIS_ERRORS as exc:
            self.fail(exc)

    def scrub(self, text: str) -> str:
        """``text`` without the password."""
        return text.replace(self._password, "***") if self._password else text

    def fail(self, exc: Exception) -> NoReturn:
        """Re-raise a redis-py error as aixgo's, naming the address and never the password."""
        errors = _redis.exceptions
        detail = self.scrub(str(exc)) or type(exc).__name__
        log.warning("redis.error", address=self.address, error=type(exc).__name__)
        if isinstance(exc, errors.AuthenticationError) or "NOAUTH" in detail or "WRONGPASS" in detail:
            raise StoreConnectionError(
                f"Redis at {self.address} refused to authenticate ({detail}); check the password in "
                "RedisOptions.password or the URL",
                address=self.address,
            ) from None
        if isinstance(exc, (errors.ConnectionError, errors.TimeoutError, errors.RedisClusterException)):
            raise StoreConnectionError(
                f"cannot reach Redis at {self.address}: {detail}", address=self.address
            ) from None
        raise StoreError(f"Redis at {self.address} failed: {detail}") from None

    def check_open(self) -> None:
        """Raise :class:`StoreClosedError` once closed; on first use, and then every
        ``policy_check_interval`` seconds, check the eviction policy."""
        if self.closed:
            raise StoreClosedError(f"the Redis store at {self.address} is closed")
        if not self._policy_trusted:
            checked = self._policy_checked_at
            if checked is None or time.monotonic() - checked >= self.policy_check_interval:
                self.check_eviction()

    def check_eviction(self) -> None:
        """Refuse a server that may evict session keys (a ``maxmemory`` limit with any policy but
        ``noeviction``): an evicted key silently cuts a session's history or frees a held lease.
        A server that does not allow ``CONFIG GET`` is trusted, with a warning in the log. Until a
        refused policy is fixed, every command checks it again (and is refused)."""
        started = time.monotonic()
        try:
            settings = self.client.config_get("maxmemory*")
        except _redis.exceptions.ResponseError as exc:  # CONFIG renamed or forbidden (managed Redis)
            log.warning("redis.eviction_policy_unknown", address=self.address, error=self.scrub(str(exc)))
            self._policy_trusted = True
            return
        except _REDIS_ERRORS as exc:
            self.fail(exc)
        policy = text(settings.get("maxmemory-policy") or settings.get(b"maxmemory-policy") or "noeviction")
        limit = text(settings.get("maxmemory") or settings.get(b"maxmemory") or "0")
        if policy != "noeviction" and limit not in ("", "0"):
            raise StoreError(
                f"Redis at {self.address} may evict session keys: maxmemory-policy is {policy} with maxmemory "
                f"{limit} bytes, and an evicted key loses part of a session or frees a held lease. Set "
                "maxmemory-policy noeviction (redis.conf, or CONFIG SET maxmemory-policy noeviction), or accept "
                "it with allow_eviction: true (RedisOptions(allow_eviction=True))"
            )
        self._policy_checked_at = started

    def script(self, script: LuaScript, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        """Run ``script``: ``EVALSHA``, or ``EVAL`` when the server does not know it (yet)."""
        self.check_open()
        try:
            try:
                return self.client.evalsha(script.sha, len(keys), *keys, *args)
            except _redis.exceptions.NoScriptError:
                return self.client.eval(script.source, len(keys), *keys, *args)
        except _REDIS_ERRORS as exc:
            self.fail(exc)

    def wait_for_replicas(self, key: str) -> None:
        """Block until ``min_replica_acks`` replicas of the master holding ``key`` have every write
        so far (``WAIT``); raise :class:`StoreError` when fewer confirm in time."""
        wanted = self.options.min_replica_acks
        # WAIT blocks the connection: stay under the socket timeout so a missing replica is reported as
        # such, not as an unreachable server
        timeout_ms = int(min(self.options.replica_ack_timeout, self.options.socket_timeout * 0.8) * 1000)
        try:
            if self.cluster:
                node = self.client.get_node_from_key(key)
                acked = self.client.execute_command("WAIT", wanted, timeout_ms, target_nodes=node)
            else:
                acked = self.client.wait(wanted, timeout_ms)
        except _REDIS_ERRORS as exc:
            self.fail(exc)
        if int(acked) < wanted:
            raise StoreError(
                f"Redis at {self.address}: the write reached {acked} of the {wanted} replicas min_replica_acks asks "
                f"for within {self.options.replica_ack_timeout:g}s; it may not survive a failover (an append "
                "retried with the same entry_id is never stored twice)"
            )

    def command(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run one client command with aixgo's error mapping."""
        self.check_open()
        try:
            return getattr(self.client, name)(*args, **kwargs)
        except _REDIS_ERRORS as exc:
            self.fail(exc)

    def pipeline_script_after(
        self,
        commands: Sequence[tuple[str, tuple[Any, ...]]],
        script: LuaScript,
        keys: Sequence[str],
        args: Sequence[str | int],
    ) -> Any:
        """Run ``commands`` then ``script`` in one round trip (no transaction); the script's reply."""
        self.check_open()
        if self.cluster:  # redis-py refuses scripts in a cluster pipeline: one command at a time
            for name, command_args in commands:
                self.command(name, *command_args)
            return self.script(script, keys, args)
        try:
            pipe = self.client.pipeline(transaction=False)
            for name, command_args in commands:
                getattr(pipe, name)(*command_args)
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            reply = pipe.execute(raise_on_error=False)[-1]
        except _REDIS_ERRORS as exc:
            self.fail(exc)
        if isinstance(reply, Exception):
            if not isinstance(reply, _redis.exceptions.NoScriptError):
                self.fail(reply)
            reply = self.script(script, keys, args)
        return reply

    def pipeline_scripts(self, script: LuaScript, calls: Sequence[tuple[Sequence[str], Sequence[str | int]]]) -> list[Any]:
        """Run ``script`` once per ``(keys, args)`` in ``calls``, pipelined: one round trip per node (on a
        Cluster, the calls are grouped by the node that holds their keys). A call the pipeline could not
        run (the server did not know the script yet, a slot that moved) is run again on its own."""
        self.check_open()
        replies: list[Any] = [None] * len(calls)
        groups: dict[Any, list[int]] = {}
        try:
            for number, (keys, _) in enumerate(calls):
                node = self.client.get_node_from_key(keys[0]).name if self.cluster else None
                groups.setdefault(node, []).append(number)
            for node, numbers in groups.items():
                target = self.client if node is None else self.client.get_redis_connection(self.client.get_node(node_name=node))
                pipe = target.pipeline(transaction=False)
                for number in numbers:
                    keys, args = calls[number]
                    pipe.evalsha(script.sha, len(keys), *keys, *args)
                for number, reply in zip(numbers, pipe.execute(raise_on_error=False), strict=True):
                    replies[number] = reply
        except _REDIS_ERRORS as exc:
            self.fail(exc)
        for number, reply in enumerate(replies):
            if isinstance(reply, Exception):
                if not isinstance(reply, (_redis.exceptions.NoScriptError, _redis.exceptions.ResponseError)):
                    self.fail(reply)
                replies[number] = self.script(script, *calls[number])
        return replies

    def zscan(self, key: str) -> dict[str, str]:
        """Member -> score (as Redis wrote it) of a sorted set."""
        self.check_open()
        try:
            return {
                text(member): text(score)
                for member, score in self.client.zscan_iter(key, count=1000, score_cast_func=text)
            }
        except _REDIS_ERRORS as exc:
            self.fail(exc)

    def close(self) -> None:
        """Close the pool (unless the client was injected); later calls raise ``StoreClosedError``."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        if self.owns_client:
            self.client.close()
            if self._pool is not None:
                self._pool.disconnect()


def text(value: Any) -> str:
    """A reply item as text."""
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def raw(value: Any) -> bytes:
    """A reply item as bytes."""
    return value if isinstance(value, bytes) else str(value).encode()


def status(reply: Any) -> str:
    """A script reply's status."""
    return text(reply[0])
