"""Hooks around a store's operations, as seen by a :class:`~aixgo.session.Manager`: :class:`StoreObserver`.

``Manager(backend, observers=[...])`` wraps the operations that may take time — waiting for a turn
lease, reading history, appending, checkpointing, restoring — in each observer's
:meth:`StoreObserver.observe`, a context manager around the operation (the same shape as
:class:`aixgo.agents.TurnObserver`). The wrapping lives here and in the manager, once, never in a
store: every store is observed alike. Observers run on the thread that does the work (an ``a``-method
runs it on the manager's I/O pool, in the caller's context) and must be quick.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

T = TypeVar("T")

StoreOperation = Literal["lease", "read", "append", "checkpoint", "restore"]
"""``lease``: taking a session's turn lease, waiting included; ``read``: a read of history;
``append``: one entry written; ``checkpoint`` / ``restore``."""


@dataclass(slots=True)
class StoreStep:
    """One store operation as observers see it. ``store``: the kind of store (``file``, ``redis``,
    ``memory``, ``postgres``). ``details``: what it came to (``read``: ``entries``; ``lease``:
    ``waited``, whether the lease was busy at first). ``error``: what it raised, if it did."""

    operation: StoreOperation
    store: str
    session_id: str
    details: dict[str, object] = field(default_factory=dict)
    error: BaseException | None = None


class StoreObserver:
    """Hooks around store operations; override :meth:`observe`. The default observes nothing."""

    def observe(self, step: StoreStep) -> AbstractContextManager[None]:
        """A context manager around ``step``: entered when it starts, left when it ends."""
        return nullcontext()


def store_kind(backend: object) -> str:
    """``file``, ``redis``, ``memory``, ``postgres``…: a store's kind, from its class name."""
    return type(backend).__name__.removesuffix("Backend").lower() or "store"


class _Step(Protocol):
    error: BaseException | None


StepT = TypeVar("StepT", bound=_Step)
StepT_contra = TypeVar("StepT_contra", contravariant=True)


class _Observer(Protocol[StepT_contra]):
    def observe(self, step: StepT_contra, /) -> AbstractContextManager[None]: ...


class observed(Generic[StepT]):
    """Run the ``with`` body as ``step`` (a store operation here, a turn's step in
    :mod:`aixgo.agents.observe`), wrapped in each of ``observers``, the first outermost.

    An exception of the body is recorded as ``step.error`` and raised again even when an observer
    swallowed it: hooks never change an outcome. (A class, not a generator: it runs several times
    per turn, around every store operation.)"""

    __slots__ = ("_inner", "_step")

    def __init__(self, observers: Sequence[_Observer[StepT]], step: StepT) -> None:
        self._step = step
        self._inner = observers[0].observe(step) if len(observers) == 1 else _each(observers, step)

    def __enter__(self) -> StepT:
        self._inner.__enter__()
        return self._step

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> Literal[False]:
        if error is not None:
            self._step.error = error
        self._inner.__exit__(kind, error, trace)
        return False  # the body's exception goes on, whatever an observer said


@contextmanager
def _each(observers: Sequence[_Observer[StepT]], step: StepT) -> Iterator[None]:
    with ExitStack() as stack:
        for observer in observers:
            stack.enter_context(observer.observe(step))
        yield


def run_observed(
    observers: Sequence[StoreObserver], operation: StoreOperation, store: str, session_id: str, fn: Callable[[], T],
    details: dict[str, object] | None = None,
) -> T:
    """``fn()`` observed as one ``operation`` (called directly when nobody observes); ``details``, when
    given, is the step's (``fn`` may fill it in as it goes)."""
    if not observers:
        return fn()
    with observed(observers, StoreStep(operation, store, session_id, {} if details is None else details)):
        return fn()


__all__ = ["StoreObserver", "StoreOperation", "StoreStep", "observed", "run_observed", "store_kind"]
