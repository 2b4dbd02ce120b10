"""What ``aixgo run`` shows on a terminal while a turn waits: a rate-limited model's retries and a busy
session's lease, on the status line (:class:`~aixgo.cli.status.Status`) where the spinner shows tool calls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aixgo.cli.status import Status
from aixgo.llm.watch import RequestWatcher, watching
from aixgo.session.leases import hearing_lease_waits


class _Retries(RequestWatcher):
    """Each retry of a model request, on the status line."""

    def __init__(self, status: Status) -> None:
        self.status = status

    def retrying(self, attempt: int, wait: float | None, status_code: int | None, error: str) -> None:
        why = f"answered {status_code}" if status_code is not None else f"failed ({error})"
        after = f" in {wait:.1f}s" if wait is not None else ""
        self.status.show(f"the model server {why}: retry {attempt}{after} …")


@contextmanager
def waits_shown(status: Status) -> Iterator[Status]:
    """Show, on ``status``, the waits of the turns run inside the ``with`` block (nothing without a terminal:
    the status line is off then)."""
    if not status.enabled:
        yield status
        return

    def busy(session_id: str) -> None:
        status.show(f"waiting for session {session_id}: another turn is running in it …")

    with watching(_Retries(status)), hearing_lease_waits(busy):
        yield status
