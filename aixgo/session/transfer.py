"""Export a session to JSON lines and import it into any store, keeping ids, branches and checkpoints.

>>> lines = list(export_lines(sess))               # doctest: +SKIP
>>> import_lines(other_manager, lines, "backup.jsonl")  # doctest: +SKIP

The format (header, entries, checkpoints, head, and an end record with counts and a SHA-256) is
described in :mod:`aixgo.session.core.transfer`. An export is one consistent snapshot, even while
other processes write to the session; an import validates everything with the session rules and
refuses a cut or edited file with an error naming the line, before anything is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from aixgo.errors import CheckpointNotFoundError
from aixgo.session.core.transfer import ImportPlan, export_records, parse_export, renamed
from aixgo.session.ids import new_session_id, validate_id
from aixgo.session.manager import Manager, Session
from aixgo.session.types import Checkpoint


def export_lines(session: Session) -> Iterator[str]:
    """The session as export lines (without newlines), from one atomic snapshot."""
    return export_records(session.snapshot())


async def aexport_lines(session: Session) -> list[str]:
    """Awaitable :func:`export_lines` (the snapshot is read on the manager's I/O pool)."""
    return list(export_records(await session.asnapshot()))


def import_lines(
    manager: Manager,
    lines: Iterable[str | bytes],
    source: str = "<input>",
    *,
    session_id: str | None = None,
    replace: bool = False,
) -> Session:
    """Create the exported session in ``manager``'s store (under ``session_id`` when given, else its
    own id). Errors name ``source`` and the line.

    With ``replace``, the import takes the place of the same agent's stored session of that id in one
    atomic step: readers see the old session until the new one is whole, and a crash leaves one of
    them (never neither). A session of that id belonging to another agent raises
    ``SessionExistsError``."""
    return manager.import_plan(_plan(lines, source, session_id), replace=replace)


async def aimport_lines(
    manager: Manager,
    lines: Iterable[str | bytes],
    source: str = "<input>",
    *,
    session_id: str | None = None,
    replace: bool = False,
) -> Session:
    """Awaitable :func:`import_lines`."""
    return await manager.aimport_plan(_plan(lines, source, session_id), replace=replace)


def fork(manager: Manager, session: Session, new_id: str | None = None, checkpoint_id: str | None = None) -> Session:
    """Copy ``session`` (branches and checkpoints included) to ``new_id`` (default: a new id) and return the
    copy; with ``checkpoint_id``, the copy is restored to that checkpoint (what came after stays stored in
    it as an abandoned branch). The original is unchanged. Raises ``CheckpointNotFoundError`` (nothing
    copied) or ``SessionExistsError``."""
    snapshot = session.snapshot()
    _check_checkpoint(snapshot.checkpoints, session.id, checkpoint_id)
    copy = manager.import_plan(_plan(export_records(snapshot), f"session {session.id}", new_id or new_session_id()))
    if checkpoint_id is not None:
        copy.restore(checkpoint_id)
    return copy


async def afork(
    manager: Manager, session: Session, new_id: str | None = None, checkpoint_id: str | None = None
) -> Session:
    """Awaitable :func:`fork`."""
    snapshot = await session.asnapshot()
    _check_checkpoint(snapshot.checkpoints, session.id, checkpoint_id)
    plan = _plan(export_records(snapshot), f"session {session.id}", new_id or new_session_id())
    copy = await manager.aimport_plan(plan)
    if checkpoint_id is not None:
        await copy.arestore(checkpoint_id)
    return copy


def _check_checkpoint(checkpoints: Iterable[Checkpoint], session_id: str, checkpoint_id: str | None) -> None:
    if checkpoint_id is not None and all(cp.id != checkpoint_id for cp in checkpoints):
        raise CheckpointNotFoundError(f"session {session_id!r} has no checkpoint {checkpoint_id!r}",
                                      session_id=session_id, checkpoint_id=checkpoint_id)


def _plan(lines: Iterable[str | bytes], source: str, session_id: str | None) -> ImportPlan:
    plan = parse_export(lines, source)
    if session_id is not None:
        validate_id(session_id)
        plan = renamed(plan, session_id)
    return plan


__all__ = ["aexport_lines", "afork", "aimport_lines", "export_lines", "fork", "import_lines"]
