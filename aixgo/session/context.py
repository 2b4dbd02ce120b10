"""Carrying the current session implicitly, through threads' and asyncio tasks' contexts.

Built on :mod:`contextvars`: a task created with ``asyncio.create_task`` inherits the session that
was current when it was created, and setting a session in one task never leaks into another.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from aixgo.session.manager import Session

_current: contextvars.ContextVar[Session | None] = contextvars.ContextVar("aixgo_session", default=None)


def context_with_session(sess: Session) -> contextvars.Context:
    """A copy of the current context in which ``sess`` is the current session.

    Run code in it with ``ctx.run(fn, ...)`` or ``asyncio.create_task(coro, context=ctx)``."""
    ctx = contextvars.copy_context()
    ctx.run(_current.set, sess)
    return ctx


def session_from_context() -> Session | None:
    """The current session, or None if none is set."""
    return _current.get()


@contextmanager
def use_session(sess: Session) -> Iterator[Session]:
    """Make ``sess`` the current session inside the ``with`` block (restored afterwards)."""
    token = _current.set(sess)
    try:
        yield sess
    finally:
        _current.reset(token)
