"""Running the PostgreSQL store's operations: one implementation, driven sync or async.

Every operation of the store is written once, as a generator that yields what it needs from the
server (a :class:`Query`, a :class:`Transaction`, a :class:`Pause`) and receives the rows back. The
:class:`Engine` drives it on a pooled sync connection (``psycopg_pool.ConnectionPool``, for the sync
API and the manager's I/O threads) or, awaited, on an async one (``AsyncConnectionPool``, one per
event loop): the async twins never hop to a thread.

The engine also owns what is common to every statement: a lost connection (server restarted,
connection dropped) is replaced and the request retried with jittered backoff (every write is
idempotent: entry, checkpoint and lease ids are unique, and a create or import carries its own
nonce); errors become aixgo's (:class:`~aixgo.errors.StoreConnectionError` naming the server, never
a password; a ``statement_timeout``; an exhausted pool), and first use checks the schema version.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
import psycopg.errors
import psycopg_pool

from aixgo.errors import StoreClosedError, StoreConnectionError, StoreError
from aixgo.logs import get_logger
from aixgo.session.postgres import migrate
from aixgo.session.postgres.options import PostgresOptions, describe_url
from aixgo.session.postgres.statements import Statements

log = get_logger("aixgo.session.postgres")

T = TypeVar("T")
Rows = list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Query:
    """One statement in autocommit (one round trip); its rows come back. In a :class:`Transaction`,
    ``expect_row`` abandons the transaction (:class:`RowMissing`) when the statement returns no row."""

    sql: bytes
    params: Mapping[str, Any] = field(default_factory=dict)
    expect_row: bool = False


class RowMissing(StoreError):
    """A transaction was abandoned because a statement that had to return a row returned none (what it
    stood on changed since it was read): nothing was written."""


@dataclass(frozen=True, slots=True)
class Copy:
    """``COPY … FROM STDIN`` of ``rows`` (inside a :class:`Transaction`); no rows come back."""

    sql: bytes
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True, slots=True)
class Transaction:
    """Statements in one transaction (pipelined in one round trip when there is no COPY); the rows of
    each come back, in order. ``begin`` is the ``BEGIN`` statement (isolation, read only)."""

    steps: tuple[Query | Copy, ...]
    begin: bytes = b"BEGIN"


@dataclass(frozen=True, slots=True)
class Pause:
    """Sleep (on the event loop, for the async driver) before the next request."""

    seconds: float


Request = Query | Transaction | Pause
Op = Generator[Request, Any, T]
"""An operation: yields requests, receives each one's rows, returns its result."""

_READY: set[tuple[str, str]] = set()
"""(URL, schema) pairs whose schema this process found up to date: later stores skip the check."""


def _lost(exc: BaseException, conn: Any) -> bool:
    """Whether ``exc`` means the connection (not the statement) failed: worth retrying elsewhere."""
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return False
    if conn is None:
        return True
    return bool(conn.closed or conn.broken) or isinstance(
        exc, (psycopg.errors.AdminShutdown, psycopg.errors.CannotConnectNow, psycopg.errors.CrashShutdown)
    )


class Engine:
    """Pools, drivers and error mapping of one :class:`~aixgo.session.PostgresBackend`."""

    def __init__(self, url: str, options: PostgresOptions) -> None:
        self.url = url
        self.options = options
        self.address = describe_url(url)
        self.statements = Statements(options.schema)
        self._password = _password_of(url)
        self._lock = threading.Lock()
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._apools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncConnections] = (
            weakref.WeakKeyDictionary()
        )
        self._ready = False
        self.closed = False
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "prepare_threshold": 5 if options.prepared_statements else None,
            "connect_timeout": max(2, math.ceil(options.connect_timeout)),
            "application_name": options.application_name,
        }
        if options.statement_timeout is not None:
            kwargs["options"] = f"-c statement_timeout={max(1, round(options.statement_timeout * 1000))}"
        self.connect_kwargs = kwargs

    # -- errors --------------------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """``text`` without the password."""
        return text.replace(self._password, "***") if self._password else text

    def _detail(self, exc: BaseException) -> str:
        return self.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)

    def unreachable(self, exc: BaseException) -> StoreConnectionError:
        """The error for a server that cannot be reached or refused us."""
        detail = self._detail(exc)
        if "password" in detail or "authentication" in detail:
            return StoreConnectionError(
                f"PostgreSQL at {self.address} refused to authenticate ({detail}); check the password in the URL, "
                "PGPASSWORD or ~/.pgpass",
                address=self.address,
            )
        return StoreConnectionError(f"cannot reach PostgreSQL at {self.address}: {detail}", address=self.address)

    def failed(self, exc: BaseException) -> StoreError:
        """The error for a statement the server refused."""
        if isinstance(exc, psycopg.errors.QueryCanceled):
            limit = self.options.statement_timeout
            said = f" ({limit:g}s, statement_timeout)" if limit is not None else ""
            return StoreError(
                f"PostgreSQL at {self.address} cancelled a statement that ran longer than allowed{said}: "
                f"{self._detail(exc)}; raise statement_timeout, or check the server's load and locks"
            )
        return StoreError(f"PostgreSQL at {self.address} failed: {self._detail(exc)}")

    def _exhausted(self, pool: Any, waited: float) -> StoreError | None:
        """The error for a pool whose every connection stayed busy; None when the pool is short of
        connections because it could not make them (the server was down)."""
        stats = pool.get_stats()
        if stats.get("pool_size", 0) >= self.options.pool_max and not stats.get("pool_available", 0):
            return StoreError(
                f"all {self.options.pool_max} connections of the pool to PostgreSQL at {self.address} stayed busy "
                f"for {waited:g}s (pool_timeout): raise pool_max, or find what holds them"
            )
        return None

    def _run_direct(self, request: Query | Transaction) -> Any:
        """Run ``request`` on a connection of its own, when the pool could not make one in time (it
        retries a server that was down with a backoff of seconds): work resumes as soon as the server
        is back, or fails with the server's own words."""
        with psycopg.connect(self.url, **self.connect_kwargs) as conn:
            return _run_sync(conn, request)

    def direct(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``fn(connection)`` on a connection of its own (not pooled), with aixgo's errors: for
        maintenance (migrations) that must not trigger the first-use schema check."""
        self.check_open()
        try:
            with psycopg.connect(self.url, **self.connect_kwargs) as conn:
                return fn(conn)
        except psycopg.OperationalError as exc:
            raise self.unreachable(exc) from None
        except psycopg.Error as exc:
            raise self.failed(exc) from None

    def check_open(self) -> None:
        """Raise :class:`StoreClosedError` once closed."""
        if self.closed:
            raise StoreClosedError(f"the PostgreSQL store at {self.address} is closed")

    # -- the sync driver -----------------------------------------------------------------------------

    def _sync_pool(self) -> psycopg_pool.ConnectionPool[Any]:
        pool = self._pool
        if pool is not None:
            return pool
        with self._lock:
            self.check_open()
            if self._pool is None:
                self._prepare_schema()
                self._pool = psycopg_pool.ConnectionPool(
                    self.url,
                    kwargs=self.connect_kwargs,
                    min_size=self.options.pool_size,
                    max_size=self.options.pool_max,
                    timeout=self.options.pool_timeout,
                    name=f"aixgo-{self.options.schema}",
                    open=True,
                )
            return self._pool

    def _prepare_schema(self) -> None:
        """First use: check (and, with auto_migrate, bring up to date) the schema, on a connection of
        its own, so a wrong URL or password fails at once with the server's words."""
        if self._ready or (self.url, self.options.schema) in _READY:
            self._ready = True
            return
        self.direct(lambda conn: migrate.ensure(conn, self.options, self.address))
        self._ready = True
        _READY.add((self.url, self.options.schema))

    def run(self, op: Op[T]) -> T:
        """Drive ``op`` to its result on the sync pool."""
        self.check_open()
        step = _advance(op, None, None)
        while isinstance(step, _Next):
            request = step.request
            if isinstance(request, Pause):
                time.sleep(request.seconds)
                step = _advance(op, None, None)
                continue
            try:
                reply = self._execute(request)
            except (StoreError, psycopg.errors.IntegrityError) as exc:
                step = _advance(op, None, exc)
            else:
                step = _advance(op, reply, None)
        value: T = step.value
        return value

    def _execute(self, request: Query | Transaction) -> Any:
        pool = self._sync_pool()
        delay = 0.05
        for attempt in range(self.options.retries + 1):
            conn = None
            started = time.monotonic()
            try:
                if attempt:  # the connection was lost: a restart broke the pooled ones, try a fresh one
                    return self._run_direct(request)
                with pool.connection() as conn:
                    return _run_sync(conn, request)
            except psycopg_pool.PoolTimeout:
                self.check_open()
                exhausted = self._exhausted(pool, round(time.monotonic() - started, 1))
                if exhausted is not None:
                    raise exhausted from None
                try:
                    return self._run_direct(request)
                except psycopg.errors.IntegrityError:
                    raise
                except psycopg.Error as exc:
                    if not _lost(exc, None):
                        raise self.failed(exc) from None
                    error: psycopg.Error = exc
            except psycopg_pool.PoolClosed:
                raise StoreClosedError(f"the PostgreSQL store at {self.address} is closed") from None
            except psycopg.errors.IntegrityError:
                raise
            except psycopg.Error as exc:
                if not _lost(exc, conn):
                    raise self.failed(exc) from None
                error = exc
            self.check_open()
            if attempt == self.options.retries:
                raise self.unreachable(error) from None
            log.warning("postgres.connection_lost", address=self.address, error=type(error).__name__, attempt=attempt + 1)
            with contextlib.suppress(Exception):
                pool.check()  # drop the other connections the same restart broke
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- the async driver ----------------------------------------------------------------------------

    async def _async_pool(self) -> AsyncConnections:
        loop = asyncio.get_running_loop()
        with self._lock:
            self.check_open()
            pool = self._apools.get(loop)
            if pool is None:
                pool = self._apools[loop] = AsyncConnections(self)
        if not self._ready:
            await loop.run_in_executor(None, self._sync_ready)
        return pool

    def _sync_ready(self) -> None:
        with self._lock:
            self._prepare_schema()

    async def arun(self, op: Op[T]) -> T:
        """Drive ``op`` to its result on this event loop's async pool."""
        self.check_open()
        step = _advance(op, None, None)
        while isinstance(step, _Next):
            request = step.request
            if isinstance(request, Pause):
                await asyncio.sleep(request.seconds)
                step = _advance(op, None, None)
                continue
            try:
                reply = await self._aexecute(request)
            except (StoreError, psycopg.errors.IntegrityError) as exc:
                step = _advance(op, None, exc)
            else:
                step = _advance(op, reply, None)
        value: T = step.value
        return value

    async def _aexecute(self, request: Query | Transaction) -> Any:
        pool = await self._async_pool()
        delay = 0.05
        for attempt in range(self.options.retries + 1):
            conn = None
            try:
                conn = await pool.get()
                try:
                    return await _run_async(conn, request)
                finally:
                    pool.put(conn)
            except psycopg.errors.IntegrityError:
                raise
            except psycopg.Error as exc:
                if not _lost(exc, conn):
                    raise self.failed(exc) from None
                self.check_open()
                if attempt == self.options.retries:
                    raise self.unreachable(exc) from None
                log.warning("postgres.connection_lost", address=self.address, error=type(exc).__name__, attempt=attempt + 1)
                pool.drop_idle()  # the other connections the same restart broke
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- lifecycle -----------------------------------------------------------------------------------

    def connection(self) -> Any:
        """A pooled sync connection (a context manager), for maintenance work such as migrations."""
        return self._sync_pool().connection()

    def close(self) -> None:
        """Close every pool; later calls raise :class:`StoreClosedError`. Twice is harmless."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            pool, self._pool = self._pool, None
            apools = list(self._apools.items())
            self._apools.clear()
        if pool is not None:
            pool.close(timeout=5)
        for _, connections in apools:
            connections.close()


@dataclass(frozen=True, slots=True)
class _Next:
    request: Request


@dataclass(frozen=True, slots=True)
class _Done:
    value: Any


def _advance(op: Op[Any], reply: Any, error: BaseException | None) -> _Next | _Done:
    """Send ``op`` the reply to its last request (or throw ``error`` into it): its next request, or its result."""
    try:
        return _Next(op.throw(error) if error is not None else op.send(reply))
    except StopIteration as done:
        return _Done(done.value)


class AsyncConnections:
    """The async connections of one event loop: idle ones are reused, at most ``pool_max`` are open.

    Unlike ``psycopg_pool.AsyncConnectionPool``, nothing runs in the background (connections are made
    when a caller needs one), so a loop that ends (``asyncio.run`` returning) leaves no task of ours
    pending, and the store may be used from several loops (a runtime's own and its caller's) at once."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._idle: deque[psycopg.AsyncConnection[Any]] = deque()
        self._slots: asyncio.Semaphore | None = None  # made on the loop that uses it
        self._closed = False

    async def get(self) -> psycopg.AsyncConnection[Any]:
        """An idle connection, or a new one; waits up to ``pool_timeout`` for a free slot."""
        engine = self._engine
        if self._slots is None:
            self._slots = asyncio.Semaphore(engine.options.pool_max)
        started = time.monotonic()
        try:
            async with asyncio.timeout(engine.options.pool_timeout):
                await self._slots.acquire()
        except TimeoutError:
            engine.check_open()
            waited = round(time.monotonic() - started, 1)
            raise StoreError(
                f"all {engine.options.pool_max} connections to PostgreSQL at {engine.address} of this event loop "
                f"stayed busy for {waited:g}s (pool_timeout): raise pool_max, or find what holds them"
            ) from None
        try:
            while self._idle:
                conn = self._idle.pop()
                if not (conn.closed or conn.broken):
                    return conn
            return await psycopg.AsyncConnection.connect(engine.url, **engine.connect_kwargs)
        except BaseException:
            self._slots.release()
            raise

    def put(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Give ``conn`` back: kept for reuse when it is healthy and idle, else closed."""
        assert self._slots is not None
        self._slots.release()
        healthy = not (conn.closed or conn.broken) and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if healthy and not self._closed:
            self._idle.append(conn)
        else:
            _finish(conn)

    def drop_idle(self) -> None:
        """Close every idle connection (after one was found broken: a restart broke them all)."""
        while self._idle:
            _finish(self._idle.pop())

    def close(self) -> None:
        """Close the idle connections (from any thread); those in use close when given back."""
        self._closed = True
        self.drop_idle()


def _finish(conn: psycopg.AsyncConnection[Any]) -> None:
    """Close an async connection without awaiting (its socket is just closed, from any thread)."""
    with contextlib.suppress(Exception):
        conn.pgconn.finish()


def _run_sync(conn: psycopg.Connection[Any], request: Query | Transaction) -> Any:
    if isinstance(request, Query):
        cur = conn.execute(request.sql, request.params)
        return cur.fetchall() if cur.description is not None else []
    try:
        if any(isinstance(step, Copy) or step.expect_row for step in request.steps):
            conn.execute(request.begin)
            results = [_step_sync(conn, step) for step in request.steps]
            conn.execute(b"COMMIT")
            return results
        with conn.pipeline():
            conn.execute(request.begin)
            cursors = [conn.execute(step.sql, step.params) for step in request.steps if isinstance(step, Query)]
            conn.execute(b"COMMIT")
        return [cur.fetchall() if cur.description is not None else [] for cur in cursors]
    except BaseException:
        if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                conn.execute(b"ROLLBACK")
        raise


def _step_sync(conn: psycopg.Connection[Any], step: Query | Copy) -> Rows:
    if isinstance(step, Copy):
        with conn.cursor().copy(step.sql) as copy:
            for row in step.rows:
                copy.write_row(row)
        return []
    cur = conn.execute(step.sql, step.params)
    return _expected(step, cur.fetchall() if cur.description is not None else [])


def _expected(step: Query, rows: Rows) -> Rows:
    if step.expect_row and not rows:
        raise RowMissing("a statement of the transaction found nothing to change; nothing was written")
    return rows


async def _run_async(conn: psycopg.AsyncConnection[Any], request: Query | Transaction) -> Any:
    if isinstance(request, Query):
        cur = await conn.execute(request.sql, request.params)
        return await cur.fetchall() if cur.description is not None else []
    try:
        if any(isinstance(step, Copy) or step.expect_row for step in request.steps):
            await conn.execute(request.begin)
            results = [await _step_async(conn, step) for step in request.steps]
            await conn.execute(b"COMMIT")
            return results
        async with conn.pipeline():
            await conn.execute(request.begin)
            cursors = [await conn.execute(step.sql, step.params) for step in request.steps if isinstance(step, Query)]
            await conn.execute(b"COMMIT")
        return [await cur.fetchall() if cur.description is not None else [] for cur in cursors]
    except BaseException:
        if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                await conn.execute(b"ROLLBACK")
        raise


async def _step_async(conn: psycopg.AsyncConnection[Any], step: Query | Copy) -> Rows:
    if isinstance(step, Copy):
        async with conn.cursor().copy(step.sql) as copy:
            for row in step.rows:
                await copy.write_row(row)
        return []
    cur = await conn.execute(step.sql, step.params)
    return _expected(step, await cur.fetchall() if cur.description is not None else [])


def _password_of(url: str) -> str | None:
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

    with contextlib.suppress(Exception):
        password = conninfo_to_dict(url).get("password")
        return str(password) if password else None
    return None


__all__ = ["Copy", "Engine", "Op", "Pause", "Query", "RowMissing", "Rows", "Transaction"]
