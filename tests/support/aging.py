"""Make a stored session look older: every timestamp moved back, checksums recomputed (any store)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from aixgo.session import Manager
from aixgo.session.core import SessionState
from aixgo.session.core.transfer import add_in_write_order


def age_session(manager: Manager, session_id: str, by: timedelta) -> None:
    """Rewrite ``session_id`` as if everything in it happened ``by`` earlier ("updated" included)."""
    session = manager.get(session_id)
    info = session.info
    head = session.get_entries(limit=1)
    entries = [dataclasses.replace(e, timestamp=e.timestamp - by) for e in session.all_entries()]
    state = SessionState()
    for entry in entries:
        add_in_write_order(state, entry)
    checkpoints = [
        dataclasses.replace(cp, timestamp=cp.timestamp - by, checksum=state.heads[cp.entry_id].hash.hex())
        for cp in session.checkpoints()
    ]
    manager.delete(session_id)
    aged = dataclasses.replace(info, created_at=info.created_at - by)
    manager.import_session(aged, entries, checkpoints, head[0].id if head else None)
