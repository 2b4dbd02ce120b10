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

from aixgo.session.core.transfer import export_records, parse_export
from aixgo.session.manager import Manager, Session


def export_lines(session: Session) -> Iterator[str]:
    """The session as export lines (without newlines), from one atomic snapshot."""
    snapshot = session._backend.snapshot(session.id)
    return export_records(snapshot)


async def aexport_lines(session: Session) -> list[str]:
    """Awaitable :func:`export_lines` (the snapshot is read on the manager's I/O pool)."""
    snapshot = await session._manager._io(session._backend.snapshot, session.id)
    return list(export_records(snapshot))


def import_lines(manager: Manager, lines: Iterable[str | bytes], source: str = "<input>") -> Session:
    """Create the exported session in ``manager``'s store. Errors name ``source`` and the line."""
    return manager.import_plan(parse_export(lines, source))


async def aimport_lines(manager: Manager, lines: Iterable[str | bytes], source: str = "<input>") -> Session:
    """Awaitable :func:`import_lines`."""
    return await manager.aimport_plan(parse_export(lines, source))


__all__ = ["aexport_lines", "aimport_lines", "export_lines", "import_lines"]
