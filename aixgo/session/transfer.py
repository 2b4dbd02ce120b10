"""Export a session to JSONL and import it into any backend, keeping ids, branches and checkpoints.

The export format is the file store's record format, independent of the backend::

    {"k":"s","v":1,"id":…,"agent":…,"user_id":…,"created_at":…,"metadata":{…}}   header
    {"k":"e",…}   every entry, abandoned branches included, parents first (canonical form)
    {"k":"c",…}   every checkpoint
    {"k":"h","entry_id":…}   the head: where the history ends

Because entries keep their canonical bytes, checkpoint checksums still verify after an import.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from aixgo.errors import SessionCorruptedError, UnsupportedVersionError
from aixgo.session.codec import (
    FORMAT_VERSION,
    checkpoint_from_record,
    checkpoint_to_record,
    dumps,
    encode_entry,
    entry_from_record,
    header_record,
    parse_ts,
)
from aixgo.session.manager import Manager, Session
from aixgo.session.types import Checkpoint, Entry, SessionInfo


def export_lines(session: Session) -> Iterator[str]:
    """The session as JSONL lines (without newlines), in the format described above."""
    info = session.info
    yield dumps(header_record(info.id, info.agent, info.user_id, info.created_at, info.metadata))
    for entry in session.all_entries():
        yield encode_entry(entry)
    for cp in session.checkpoints():
        yield dumps(checkpoint_to_record(cp))
    last = session.get_entries(limit=1)
    yield dumps({"k": "h", "entry_id": last[0].id if last else None})


def import_lines(manager: Manager, lines: Iterable[str], source: str = "<input>") -> Session:
    """Create the exported session in ``manager``'s store. Errors name ``source`` and the line."""
    header: dict[str, Any] | None = None
    entries: list[Entry] = []
    checkpoints: list[dict[str, Any]] = []
    head: str | None = None
    head_seen = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            kind = rec.get("k") if isinstance(rec, dict) else None
            if header is None:
                if kind != "s":
                    raise ValueError('the first line must be the session header ({"k":"s",…})')
                if not isinstance(rec.get("v"), int) or rec["v"] > FORMAT_VERSION:
                    raise UnsupportedVersionError(
                        f"export format version {rec.get('v')!r} is newer than this aixgo supports",
                        None,
                        source,
                        number,
                    )
                parse_ts(rec["created_at"])
                header = rec
            elif kind == "e":
                entries.append(entry_from_record(rec))
            elif kind == "c":
                checkpoints.append(rec)
            elif kind == "h":
                head, head_seen = rec["entry_id"], True
            else:
                raise ValueError(f"unknown record kind {kind!r}")
        except UnsupportedVersionError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SessionCorruptedError(f"not a valid session export: {exc}", None, source, number) from None
    if header is None:
        raise SessionCorruptedError("empty export: no session header", None, source)
    if not head_seen:
        head = entries[-1].id if entries else None
    session_id = str(header["id"])
    info = SessionInfo(
        id=session_id,
        agent=str(header["agent"]),
        user_id=header.get("user_id"),
        created_at=parse_ts(header["created_at"]),
        updated_at=parse_ts(header["created_at"]),
        message_count=0,
        metadata=dict(header.get("metadata") or {}),
    )
    cps: list[Checkpoint] = [checkpoint_from_record(rec, session_id) for rec in checkpoints]
    return manager.import_session(info, entries, cps, head)
