"""The storage contract every session backend implements.

A backend stores sessions as trees of immutable entries with a movable *head*: the history of a
session is the chain of entries from its head back to the root. Appends go after the head;
restoring a checkpoint moves the head back durably, leaving the abandoned branch stored but out
of the history. Backends know nothing of agents or LLMs.

``tests/session/contract.py`` is the executable form of this contract: every backend's test
module subclasses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from aixgo.session.types import Checkpoint, Entry, EntryType, SessionInfo


@runtime_checkable
class Lease(Protocol):
    """A held turn lease on one session. Release it (or leave the ``with`` block) when the turn ends."""

    token: str

    def extend(self, ttl: float | None = None) -> None:
        """Push the expiry out by ``ttl`` seconds (default: the ttl it was taken with).

        Raises :class:`~aixgo.errors.SessionBusyError` if the lease was lost (expired and taken by
        another holder)."""

    def release(self) -> None:
        """Give the lease up. Releasing twice, or after expiry, never frees another holder's lease."""

    def __enter__(self) -> Lease: ...

    def __exit__(self, *exc: object) -> None: ...


class Backend(Protocol):
    """Storage of sessions. Every method is thread-safe; ids are validated by the caller."""

    def create_session(
        self, agent: str, session_id: str, user_id: str | None, metadata: dict[str, Any]
    ) -> SessionInfo:
        """Create an empty session. Raises ``SessionExistsError`` if ``session_id`` exists (for any agent)."""

    def get_info(self, session_id: str) -> SessionInfo:
        """The session's summary. Raises ``SessionNotFoundError``."""

    def list_sessions(self, agent: str | None = None) -> Iterator[SessionInfo]:
        """Summaries of every session (of ``agent`` if given), in no particular order."""

    def delete_session(self, session_id: str) -> bool:
        """Delete the session and everything stored for it. Returns False if it did not exist."""

    def append(
        self, session_id: str, entry_id: str, entry_type: EntryType, data: dict[str, Any], timestamp: datetime
    ) -> Entry:
        """Append one entry after the head, atomically assigning ``seq`` and ``parent_id``.

        Idempotent on ``entry_id``: appending an id that is already stored returns the stored entry
        without writing a second one (so a retried append never duplicates)."""

    def history(
        self, session_id: str, limit: int | None = None, before: int | None = None, after: int | None = None
    ) -> list[Entry]:
        """Entries of the current history in ``seq`` order.

        ``after``/``before`` are exclusive ``seq`` cursors. With ``after``, the *first* ``limit``
        entries after it are returned; otherwise the *last* ``limit`` (before ``before``)."""

    def all_entries(self, session_id: str) -> list[Entry]:
        """Every stored entry, abandoned branches included, in the order they were written."""

    def create_checkpoint(self, session_id: str, checkpoint_id: str, metadata: dict[str, Any]) -> Checkpoint:
        """Record a checkpoint at the current head, with the history's checksum. O(1) in history length."""

    def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """The session's checkpoints, oldest first."""

    def restore(self, session_id: str, checkpoint_id: str) -> Checkpoint:
        """Durably move the head to the checkpoint after verifying its checksum.

        Raises ``CheckpointNotFoundError`` or ``ChecksumMismatchError``."""

    def import_session(
        self, info: SessionInfo, entries: list[Entry], checkpoints: list[Checkpoint], head: str | None
    ) -> SessionInfo:
        """Create a session from exported data, keeping every id, timestamp, ``seq``, branch and checkpoint.

        ``entries`` come parents first (as :meth:`all_entries` returns them); ``head`` is the entry
        the history ends at. Raises ``SessionExistsError``; invalid data raises ``SessionCorruptedError``
        and stores nothing."""

    def acquire_lease(self, session_id: str, ttl: float, wait: float | None) -> Lease:
        """Take the session's turn lease, waiting up to ``wait`` seconds (None: forever).

        Raises ``SessionBusyError`` when it cannot be had in time."""

    def close(self) -> None:
        """Release resources. Later calls raise ``StoreClosedError``. Closing twice is harmless."""
