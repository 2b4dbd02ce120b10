"""The file store (embedded default): one append-only JSONL file per session; see :mod:`.store`."""

from __future__ import annotations

from aixgo.session.file.lease import FileLease
from aixgo.session.file.store import FSYNC_POLICIES, FileBackend, FsyncPolicy

__all__ = ["FSYNC_POLICIES", "FileBackend", "FileLease", "FsyncPolicy"]
