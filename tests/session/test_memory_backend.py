"""The in-memory store runs the same contract suite as every other store.

Several :class:`MemoryBackend` handles opened with :meth:`MemoryBackend.reopen` share one set of
sessions, as two processes share a file store or two nodes a Redis server, so "reopen" and "another
instance" mean the same thing here as everywhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aixgo.errors import StoreClosedError
from aixgo.session import Backend, Manager, MemoryBackend
from aixgo.session.core import SessionState
from aixgo.session.core.codec import encode_entry
from aixgo.session.types import Entry
from tests.session.contract import BackendContract, MakeBackend


class TestMemoryContract(BackendContract):
    @pytest.fixture
    def make_backend(self) -> Iterator[MakeBackend]:
        first = MemoryBackend()
        made: list[MemoryBackend] = [first]

        def make() -> Backend:
            handle = made[0].reopen()
            made.append(handle)
            return handle

        yield make
        for backend in made:
            backend.close()

    def tamper_entry(self, make_backend: MakeBackend, session_id: str, entry_id: str) -> None:
        """Someone changes the stored content of an entry (the memory holds it as decoded entries: the
        state is rebuilt from the changed records, so the chain hashes are those of the new bytes)."""
        backend = make_backend()
        assert isinstance(backend, MemoryBackend)
        old = backend._shared.sessions[session_id]
        new = SessionState()
        new.header = old.header
        for stored in old.entries.values():
            entry = stored
            if stored.id == entry_id:
                entry = Entry(stored.id, stored.parent_id, stored.seq, stored.timestamp, stored.type,
                              {**stored.data, "content": "tampered"})  # fmt: skip
            new.move_head(entry.parent_id)
            new.add_entry(entry, encode_entry(entry))
        for cp in old.checkpoints.values():
            new.add_checkpoint(cp)
        new.move_head(old.head.entry_id)
        new.updated = old.updated
        backend._shared.sessions[session_id] = new
        backend.close()


def test_handles_share_sessions_and_close_alone() -> None:
    first = MemoryBackend()
    second = first.reopen()
    Manager(first).create("assistant", "shared").append_message("user", "hi")
    assert [e.data["content"] for e in Manager(second).get("shared").get_entries()] == ["hi"]
    first.close()
    with pytest.raises(StoreClosedError):
        first.get_info("shared")
    assert second.get_info("shared").message_count == 1  # the other handle keeps working
    second.close()
