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

from aixgo.session.core.transfer import ImportPlan, export_records, parse_export, renamed
from aixgo.session.ids import validate_id
from aixgo.session.manager import Manager, Session


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


def _plan(lines: Iterable[str | bytes], source: str, session_id: str | None) -> ImportPlan:
    plan = parse_export(lines, source)
    if session_id is not None:
        validate_id(session_id)
        plan = renamed(plan, session_id)
    return plan


__all__ = ["aexport_lines", "aimport_lines", "export_lines", "import_lines"]
