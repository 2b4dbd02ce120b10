"""The session rules, written once and pure (no I/O): see :mod:`aixgo.session.core.state`.

* :mod:`~aixgo.session.core.codec` — the canonical JSON of records (written, and read by the stores'
  fast paths without decoding), timestamps, the checksum chain;
* :mod:`~aixgo.session.core.records` — what a valid record is, field by field;
* :mod:`~aixgo.session.core.state` — the head/branch tree (``branch_swap``), ``seq``, checkpoints, restore,
  "updated";
* :mod:`~aixgo.session.core.slicing` — which entries a read with ``limit``/``before``/``after`` returns;
* :mod:`~aixgo.session.core.transfer` — the export format and import validation.

Stores (:mod:`aixgo.session.file`, :mod:`aixgo.session.redis`, :mod:`aixgo.session.memory`) are
adapters that store and fetch records atomically and call these functions for every rule.
"""

from __future__ import annotations

from aixgo.session.core.codec import FORMAT_VERSION, ROOT_HASH, ROOT_HEX, chain_hash, encode_entry
from aixgo.session.core.records import Header, HeadMove, NewerVersionError, RecordError
from aixgo.session.core.slicing import HistoryRange, apply_range, history_range
from aixgo.session.core.state import (
    EMPTY_HEAD,
    Head,
    PendingEntry,
    SessionState,
    Snapshot,
    checkpoint_at,
    checksum_problem,
    next_entry,
)
from aixgo.session.core.transfer import ImportPlan, export_records, parse_export, plan_import, snapshot_damage

__all__ = [
    "EMPTY_HEAD",
    "FORMAT_VERSION",
    "ROOT_HASH",
    "ROOT_HEX",
    "Head",
    "HeadMove",
    "Header",
    "HistoryRange",
    "ImportPlan",
    "NewerVersionError",
    "PendingEntry",
    "RecordError",
    "SessionState",
    "Snapshot",
    "apply_range",
    "chain_hash",
    "checkpoint_at",
    "checksum_problem",
    "encode_entry",
    "export_records",
    "history_range",
    "next_entry",
    "parse_export",
    "plan_import",
    "snapshot_damage",
]
