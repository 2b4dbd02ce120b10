"""Listing the file store: a summary of every session file, read cheaply, damage reported.

A session file is summarised from its header and its end (the last head-moving line carries the
message count; the last line's timestamp is the session's "updated" time, as the core defines it),
without reading the rest. A file without checksums (and so without head metadata) with no
restore or head-move records is summarised from its header, a byte count of its chat-message
records and its last record; any other one is replayed in full. A file that cannot be read is listed with
:attr:`~aixgo.session.types.SessionInfo.damage` saying why and where — never skipped, and never
allowed to hide the other sessions. So is an entry named like a session file that is not a regular
file (a symbolic link, a folder, a FIFO, a socket, a device): it is named, and never opened.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from aixgo.errors import AixgoError, SessionCorruptedError, SessionNotFoundError
from aixgo.logs import get_logger
from aixgo.session.core.codec import entry_type_prefix, kind_prefix, loads, parse_ts
from aixgo.session.core.records import RecordError, header_from_record
from aixgo.session.core.state import SessionState
from aixgo.session.file.dirs import not_regular, open_regular
from aixgo.session.file.lines import unframe
from aixgo.session.file.log import OPEN_READ, SessionLog
from aixgo.session.file.lru import LruDict
from aixgo.session.file.replay import Replay
from aixgo.session.types import CHAT_ENTRY_TYPES, SessionInfo

log = get_logger("aixgo.session.file")

SUFFIX = ".jsonl"
MAX_CACHED_SUMMARIES = 20_000
_MESSAGE_PREFIXES = tuple(b"\n" + entry_type_prefix(t) for t in CHAT_ENTRY_TYPES)
_HEAD_MOVES = (b"\n" + kind_prefix("r"), b"\n" + kind_prefix("h"))


class Summaries:
    """Cheap summaries of the files under ``base_dir``; ``get_info`` replays one session in full."""

    def __init__(self, base_dir: Path, get_info: Callable[[str], SessionInfo]) -> None:
        self.base_dir = base_dir
        self._get_info = get_info
        self._cache: LruDict[str, tuple[int, int, SessionInfo]] = LruDict(MAX_CACHED_SUMMARIES)

    def agent_dirs(self) -> list[str]:
        """The agent folders, sorted (symlinks are not followed)."""
        try:
            return sorted(d.name for d in os.scandir(self.base_dir) if d.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return []

    @staticmethod
    def has_header(path: Path) -> bool:
        """Whether the file holds a complete first line (a session, not a crashed create). Raises
        :class:`~aixgo.errors.StoreError` for an entry that is not a regular file (never opened)."""
        try:
            fd = open_regular(path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        with open(fd, "rb") as f:
            return f.readline().endswith(b"\n")

    def scan(self, agent: str | None) -> Iterator[SessionInfo]:
        """A summary of each session file (of ``agent``)."""
        for name in [agent] if agent is not None else self.agent_dirs():
            try:
                files = list(os.scandir(self.base_dir / name))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for item in files:
                if not item.name.endswith(SUFFIX) or item.name.startswith("."):
                    continue
                session_id = item.name[: -len(SUFFIX)]
                try:
                    if not item.is_file(follow_symlinks=False):  # from the folder listing: nothing opened
                        raise not_regular(item.path, item.stat(follow_symlinks=False).st_mode)
                    info = self._summary(item.path, session_id)
                except AixgoError as exc:
                    log.warning("session.list.damaged", path=item.path, error=str(exc))
                    info = _damaged(Path(item.path), session_id, name, str(exc))
                if info is not None:
                    yield info

    def _summary(self, path: str, session_id: str) -> SessionInfo | None:
        try:
            st = os.stat(path, follow_symlinks=False)
            cached = self._cache.get(path)
            if cached is not None and cached[:2] == (st.st_mtime_ns, st.st_size):
                return cached[2]
            fd = open_regular(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            first = os.pread(fd, min(st.st_size, OPEN_READ), 0)
            if b"\t" in first.split(b"\n", 1)[0]:  # read from the header and the end
                session_log = SessionLog(path, session_id, fd)
                # the size stat'ed above, unless the read came up short (the file was replaced since)
                size = st.st_size if len(first) == min(st.st_size, OPEN_READ) else None
                info = session_log.info() if session_log.open(first, size) else None
            else:  # a file without checksums
                info = self._legacy(os.pread(fd, os.fstat(fd).st_size, 0), Path(path), session_id)
        finally:
            os.close(fd)
        if info is not None:
            self._cache.put(path, (st.st_mtime_ns, st.st_size, info))
        return info

    def _legacy(self, data: bytes, path: Path, session_id: str) -> SessionInfo | None:
        end = data.rfind(b"\n")
        first = data.find(b"\n")
        if first < 0:
            return None  # no complete header: a create that crashed
        data = data[: end + 1]
        info = self._cheap(data, first, end, path, session_id)
        if info is None:
            try:
                info = self._get_info(session_id)
            except SessionNotFoundError:
                return None
        return info

    @staticmethod
    def _cheap(data: bytes, first: int, end: int, path: Path, session_id: str) -> SessionInfo | None:
        """The summary from the header and the last record, or None if the file needs a full replay."""
        if any(marker in data for marker in _HEAD_MOVES):
            return None
        try:
            header = header_from_record(loads(_body(data[:first])))
            last = loads(_body(data[data.rfind(b"\n", 0, end) + 1 : end])) if end > first else None
            updated = parse_ts(last["ts"]) if isinstance(last, dict) and "ts" in last else header.created_at
        except (RecordError, ValueError, TypeError) as exc:
            raise SessionCorruptedError(f"damaged record ({exc})", session_id=session_id, path=path) from None
        if header.id != session_id:
            return None  # replay reports it
        return SessionInfo(
            id=session_id,
            agent=header.agent,
            user_id=header.user_id,
            created_at=header.created_at,
            updated_at=updated,
            message_count=sum(data.count(prefix) for prefix in _MESSAGE_PREFIXES),
            metadata=dict(header.metadata),
        )


def summarize_file(session_id: str, path: Path) -> tuple[SessionInfo, SessionState | None]:
    """One session file read whole (for the summary index): its summary and state, or, for a file that
    cannot be read, a summary saying why (``damage``) and None. Raises ``SessionNotFoundError`` when the
    file is gone or holds no complete header (a create that crashed)."""
    try:
        fd = open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        raise SessionNotFoundError(f"session {session_id!r} not found", session_id=session_id) from None
    except AixgoError as exc:  # not a regular file
        return _damaged(path, session_id, path.parent.name, str(exc)), None
    try:
        data = os.pread(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)
    replay = Replay(path, session_id)
    try:
        replay.apply_lines(data)
        header = replay.state.header
        if header is None:
            raise SessionNotFoundError(f"session {session_id!r} not found", session_id=session_id)
        if header.id != session_id:
            raise SessionCorruptedError(f"damaged record: the header names session {header.id!r}, not "
                                        f"{session_id!r}", session_id=session_id, path=path, line=1)
    except SessionNotFoundError:
        raise
    except AixgoError as exc:
        return _damaged(path, session_id, path.parent.name, str(exc)), None
    return replay.state.info(), replay.state


def _body(line: bytes) -> bytes:
    """A line's JSON, in a file without checksums."""
    return unframe(line, checksummed=False)[0]


def _damaged(path: Path, session_id: str, agent: str, reason: str) -> SessionInfo:
    try:
        when = datetime.fromtimestamp(path.lstat().st_mtime, UTC)
    except OSError:
        when = datetime.fromtimestamp(0, UTC)
    return SessionInfo(
        id=session_id, agent=agent, user_id=None, created_at=when, updated_at=when, message_count=0, damage=reason
    )
