"""Waiting for a session's turn lease: polled with backoff on the caller's thread or event loop.

Stores only *try* to take a lease (:meth:`~aixgo.session.backend.Backend.try_lease`); the waiting
lives here, once. The async form sleeps on the event loop between attempts, so a hundred turns
queued on one session hold no thread while they wait, and the holder always finds a worker to
finish its turn.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from aixgo.errors import LeaseLostError, SessionBusyError
from aixgo.session.backend import Lease, is_async_lease

FIRST_DELAY = 0.002
MAX_DELAY = 0.05


def _busy(session_id: str, wait: float | None) -> SessionBusyError:
    waited = f" (waited {wait:g}s)" if wait else ""
    return SessionBusyError(
        f"session {session_id!r} is busy: another turn holds its lease{waited}", session_id=session_id
    )


def lease_lost(session_id: str) -> LeaseLostError:
    """The error every store raises for a fenced write whose lease is no longer held."""
    return LeaseLostError(
        f"the turn lease on session {session_id!r} was lost (it expired or was released, and another turn "
        "may hold it now); nothing was written",
        session_id=session_id,
    )


def _check_wait(wait: float | None) -> None:
    if wait is not None and wait < 0:
        raise ValueError(f"wait must be >= 0 or None, got {wait!r}")


_listener: ContextVar[Callable[[str], None] | None] = ContextVar("aixgo_lease_wait_listener", default=None)


@contextmanager
def hearing_lease_waits(listener: Callable[[str], None]) -> Iterator[None]:
    """Let ``listener(session_id)`` hear, in this context (the turns started inside the ``with`` block), each
    wait for a busy session's lease: once per wait, when the lease is found busy and the waiting begins
    (``aixgo run`` shows it on a terminal). Called on the thread or event loop that waits; it must not block."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


class _Backoff:
    """Capped, jittered exponential pauses that never overshoot the deadline."""

    def __init__(self, wait: float | None, session_id: str, on_wait: Callable[[], None] | None) -> None:
        self.deadline = None if wait is None else time.monotonic() + wait
        self.delay = FIRST_DELAY
        self.session_id = session_id
        self.on_wait = on_wait
        self.told = False

    def next_pause(self) -> float | None:
        """Seconds to sleep before the next attempt, or None when the deadline has passed."""
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline:
            return None
        if not self.told:
            self.told = True
            if self.on_wait is not None:
                self.on_wait()
            listener = _listener.get()
            if listener is not None:
                listener(self.session_id)
        pause = self.delay * (0.5 + random.random() / 2)
        self.delay = min(self.delay * 2, MAX_DELAY)
        return pause if self.deadline is None else min(pause, self.deadline - now)


_background: set[asyncio.Future[None]] = set()


def _release_if_taken(attempt: asyncio.Future[Lease | None]) -> None:
    if not attempt.cancelled() and attempt.exception() is None:
        lease = attempt.result()
        if lease is not None and is_async_lease(lease):
            _background.add(task := asyncio.ensure_future(lease.arelease()))  # never block the event loop
            task.add_done_callback(_background.discard)
        elif lease is not None:
            lease.release()


def wait_for_lease(
    try_lease: Callable[[], Lease | None], session_id: str, wait: float | None,
    on_wait: Callable[[], None] | None = None,
) -> Lease:
    """Take the lease on this thread, waiting up to ``wait`` seconds (None: forever, 0: not at all).
    ``on_wait()`` is called once if the lease is busy and the waiting begins."""
    _check_wait(wait)
    backoff = _Backoff(wait, session_id, on_wait)
    while True:
        lease = try_lease()
        if lease is not None:
            return lease
        pause = backoff.next_pause()
        if pause is None:
            raise _busy(session_id, wait)
        time.sleep(pause)


async def await_lease(
    try_lease: Callable[[], Awaitable[Lease | None]], session_id: str, wait: float | None,
    on_wait: Callable[[], None] | None = None,
) -> Lease:
    """:func:`wait_for_lease` for the event loop: each attempt is one awaited store call, and the
    pauses are ``asyncio.sleep``, so no thread is held while waiting."""
    _check_wait(wait)
    backoff = _Backoff(wait, session_id, on_wait)
    while True:
        attempt = asyncio.ensure_future(try_lease())
        try:
            lease = await asyncio.shield(attempt)
        except asyncio.CancelledError:
            attempt.add_done_callback(_release_if_taken)  # cancelled while the store was taking it
            raise
        if lease is not None:
            return lease
        pause = backoff.next_pause()
        if pause is None:
            raise _busy(session_id, wait)
        await asyncio.sleep(pause)
