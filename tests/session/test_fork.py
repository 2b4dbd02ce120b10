"""Forking a session (``aixgo.session.transfer.fork`` / ``afork``, behind ``aixgo sessions fork`` and
``POST /v1/sessions/{id}/fork``): a copy under a new id, optionally as it was at a checkpoint; the original
unchanged; an unknown checkpoint copies nothing."""

from __future__ import annotations

import asyncio

import pytest

from aixgo.errors import CheckpointNotFoundError
from aixgo.session import Manager, MemoryBackend
from aixgo.session.transfer import afork, fork


def test_fork_and_afork_copy_a_session_at_a_checkpoint() -> None:
    with Manager(MemoryBackend()) as manager:
        original = manager.create("bot", "orig", user_id="ada")
        original.append_message("user", "one")
        checkpoint = original.checkpoint()
        original.append_message("user", "two")
        whole = fork(manager, original, "copy-1")
        assert [e.data["content"] for e in whole.get_entries()] == ["one", "two"] and whole.user_id == "ada"
        at = asyncio.run(afork(manager, original, "copy-2", checkpoint.id))
        assert [e.data["content"] for e in at.get_entries()] == ["one"]
        assert len(at.all_entries()) == 2  # what came after stays, as an abandoned branch
        with pytest.raises(CheckpointNotFoundError):
            fork(manager, original, "copy-3", "cp_nope")
        assert {info.id for info in manager.list()} == {"orig", "copy-1", "copy-2"}
        assert [e.data["content"] for e in manager.get("orig").get_entries()] == ["one", "two"]
