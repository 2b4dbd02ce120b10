"""What one Redis store instance remembers of a session's head, and which chain hashes it verified itself.

A restore must check a checkpoint against the stored bytes; re-hashing a long history is O(n), so
each instance keeps the hashes it computed from bytes it wrote or verified (recent heads, and as
anchors checkpoints and every 256th entry): a later restore re-hashes only from the nearest anchor.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from aixgo.session.core.codec import ROOT_HEX
from aixgo.session.core.state import Head
from aixgo.session.redis.connection import text
from aixgo.session.types import Checkpoint

_MAX_RECENT_VERIFIED = 16  # recent heads this instance hashed (per session)
_MAX_OWN_CHECKPOINTS = 64  # checkpoints this instance made at a verified head (per session)
_MAX_STICKY_VERIFIED = 256  # checkpoints and every _STICKY_EVERY-th entry (per session)
_STICKY_EVERY = 256


class Known:
    """What this instance last saw of one session's head, and which chain hashes it computed itself.

    A hash is *verified* when this instance computed it from the stored bytes of every entry on its
    chain (writing them, or re-hashing them in a restore). Verified hashes are kept for the last few
    heads and, as anchors for later verifications, for checkpoints and every 256th entry, so that a
    restore never re-hashes more than ~256 entries this instance has seen."""

    __slots__ = ("checkpoints", "head", "recent", "sticky", "verified")

    def __init__(self) -> None:
        self.head: Head | None = None  # unknown: the first compare-and-set fails and tells us the head
        self.verified = False  # the head's hash is a verified hash
        self.recent: OrderedDict[str, str] = OrderedDict()
        self.sticky: OrderedDict[str, str] = OrderedDict()
        self.checkpoints: OrderedDict[str, tuple[Checkpoint, str]] = OrderedDict()

    def made_checkpoint(self, cp: Checkpoint, record: str) -> None:
        """This instance stored ``cp`` as ``record`` at a head whose hash it verified."""
        self.checkpoints[cp.id] = (cp, record)
        self.checkpoints.move_to_end(cp.id)
        while len(self.checkpoints) > _MAX_OWN_CHECKPOINTS:
            self.checkpoints.popitem(last=False)

    def own_checkpoint(self, checkpoint_id: str) -> tuple[Checkpoint, str] | None:
        """``(checkpoint, record)`` if this instance made it and still holds its checksum as verified:
        a restore to it need not read and re-hash anything first."""
        made = self.checkpoints.get(checkpoint_id)
        return made if made is not None and self.trusts(made[0]) else None

    def trusts(self, cp: Checkpoint) -> bool:
        """Whether this instance computed ``cp``'s checksum itself from the bytes it names (the empty
        history's checksum is known), so a restore to it need not re-hash them."""
        if cp.entry_id is None:
            return cp.checksum == ROOT_HEX
        return self.verified_hash(cp.entry_id) == cp.checksum

    def verified_hash(self, entry_id: str) -> str | None:
        return self.sticky.get(entry_id) or self.recent.get(entry_id)

    def anchors(self) -> dict[str, str]:
        return {**self.recent, **self.sticky}

    def set_head(self, head: Head | None, verified: bool) -> None:
        self.head = head
        if head is None:
            self.verified = False
            return
        hh = head.hash.hex()
        self.verified = (
            verified
            or head.seq == 0
            or (head.entry_id is not None and self.verified_hash(head.entry_id) == hh)
        )
        if self.verified and head.entry_id is not None:
            self.remember(head.entry_id, hh, sticky=head.seq % _STICKY_EVERY == 0)

    def remember(self, entry_id: str, hh: str, sticky: bool = False) -> None:
        cache, limit = (self.sticky, _MAX_STICKY_VERIFIED) if sticky else (self.recent, _MAX_RECENT_VERIFIED)
        cache[entry_id] = hh
        cache.move_to_end(entry_id)
        while len(cache) > limit:
            cache.popitem(last=False)

    def clear(self) -> None:
        self.recent.clear()
        self.sticky.clear()
        self.checkpoints.clear()
        self.set_head(None, verified=False)


def head_from_meta(length: Any, hh: Any, head: Any, msgs: Any) -> Head:
    seq = int(length)
    return Head((text(head) or None) if seq else None, seq, bytes.fromhex(text(hh)), int(msgs or 0))
