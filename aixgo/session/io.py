"""``StoreIO``: one store and the bounded thread pool its blocking calls run on, for the event loop.

A :class:`~aixgo.session.Manager` owns one; its sessions and their leases reach the store only
through it. The awaitable twins (``aget_or_create``, ``aappend_message``, …) run the store's I/O on
this pool (``io_threads`` threads, never the loop's default executor) — unless the store has native
async I/O (:class:`~aixgo.session.backend.AsyncBackend`, e.g. PostgreSQL): then they await its
``a``-methods on the event loop, with no thread hop (:attr:`StoreIO.native`); writes are shielded from
cancellation (a cancelled turn never leaves a write half done: it completes, then the cancellation
is delivered); lease waits happen on the event loop itself (:mod:`aixgo.session.leases`), so no
thread is ever parked on a lock or a lease while other work needs one.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, TypeVarTuple

from aixgo.errors import StoreClosedError
from aixgo.session.backend import AsyncBackend, Backend
from aixgo.session.observe import StoreObserver, StoreOperation, StoreStep, observed, run_observed, store_kind

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class StoreIO:
    """A store, open until :meth:`close`, the pool of ``threads`` threads its I/O runs on (started
    on first use; work runs there in the caller's context), and the observers of its operations."""

    def __init__(self, backend: Backend, threads: int, observers: Iterable[StoreObserver] = ()) -> None:
        if threads < 1:
            raise ValueError(f"io_threads must be >= 1, got {threads!r}")
        self._backend: Backend | None = backend
        self._native: AsyncBackend | None = backend if isinstance(backend, AsyncBackend) else None
        self._threads = threads
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self.observers: tuple[StoreObserver, ...] = tuple(observers)
        """Hooks around the store's operations (:mod:`aixgo.session.observe`)."""
        self.kind = store_kind(backend)
        """``file``, ``redis``, ``memory``…: what observers call this store."""

    def observed(
        self, operation: StoreOperation, session_id: str, fn: Callable[[], T], details: dict[str, object] | None = None
    ) -> T:
        """``fn()`` (blocking store work) as one observed ``operation`` of ``session_id`` (``details``: the
        step's, which ``fn`` may fill in)."""
        return run_observed(self.observers, operation, self.kind, session_id, fn, details)

    async def aobserved(
        self, operation: StoreOperation, session_id: str, work: Awaitable[T], details: dict[str, object] | None = None
    ) -> T:
        """``await work`` (on the event loop: a lease wait, a native async call) as one observed ``operation``."""
        if not self.observers:
            return await work
        with observed(self.observers, StoreStep(operation, self.kind, session_id, {} if details is None else details)):
            return await work

    @property
    def backend(self) -> Backend:
        """The store; raises :class:`~aixgo.errors.StoreClosedError` once closed."""
        backend = self._backend
        if backend is None:
            raise StoreClosedError("the session manager is closed")
        return backend

    @property
    def native(self) -> AsyncBackend | None:
        """The store's native async side, if it has one (else the ``a``-methods use the pool); raises
        :class:`~aixgo.errors.StoreClosedError` once closed."""
        native = self._native
        if native is not None and self._backend is None:
            raise StoreClosedError("the session manager is closed")
        return native

    @staticmethod
    async def shielded(write: Awaitable[T]) -> T:
        """Await a native async write, shielded: cancelling the caller lets the write finish."""
        return await asyncio.shield(write)

    async def read(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """``fn(*args)`` on the pool, in one hop from the event loop."""
        return await self._submit(fn, *args)

    async def write(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """:meth:`read` for a write: shielded, so cancelling the caller lets the write finish."""
        return await asyncio.shield(self._submit(fn, *args))

    def _submit(self, fn: Callable[[*Ts], T], *args: *Ts) -> asyncio.Future[T]:
        # in the caller's context, as asyncio.to_thread does: a tracer's span, structlog's bound values
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        return asyncio.get_running_loop().run_in_executor(self._pool(), call)

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._backend is None:
                raise StoreClosedError("the session manager is closed")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="aixgo-store")
            return self._executor

    def close(self) -> None:
        """Let the pool finish what it runs, then close the store. Safe to call twice."""
        with self._lock:
            backend, self._backend = self._backend, None
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        if backend is not None:
            backend.close()


__all__ = ["StoreIO"]
