"""The session package's public functions, called as a user calls them (``from aixgo.session import …``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aixgo.errors import InvalidSessionIdError
from aixgo.session import (
    EntryType,
    FileBackend,
    Manager,
    StoreOptions,
    message_text,
    open_manager,
    to_chat_messages,
    trim_messages,
    validate_id,
)


def test_open_manager_opens_the_store_the_options_name(tmp_path: Path) -> None:
    with open_manager(StoreOptions(kind="file", base_dir=tmp_path, fsync="never")) as mgr:
        mgr.create("assistant", "s1").append_message("user", "hi")
        assert isinstance(mgr.backend, FileBackend)
    assert (tmp_path / "assistant" / "s1.jsonl").is_file()
    with open_manager(StoreOptions(kind="memory")) as mgr:
        assert [s.id for s in mgr.list()] == []


def test_message_text_reads_strings_and_text_parts() -> None:
    assert message_text("plain") == "plain"
    parts = [{"type": "text", "text": "one"}, {"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "two"}]
    assert "one" in message_text(parts) and "two" in message_text(parts) and "x" not in message_text(parts)
    assert message_text(None) == "" and message_text(5) == ""


def test_to_chat_messages_repairs_an_interrupted_call(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path, fsync="never")) as mgr:
        s = mgr.create("assistant", "s1")
        s.append_message("user", "add")
        s.append_entry(EntryType.TOOL_CALL, {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "calculator", "arguments": "{}"}}]})
        s.append_entry(EntryType.METADATA, {"note": "not a message"})
        messages = to_chat_messages(s.get_entries())
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]  # the crash's missing result, added
    assert messages[2]["tool_call_id"] == "c1"


def test_trim_messages_keeps_a_result_with_its_call() -> None:
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    messages = [{"role": "user", "content": "a"}, call, {"role": "tool", "tool_call_id": "c1", "content": "1"},
                {"role": "assistant", "content": "done"}]
    assert trim_messages(messages, None) == messages
    assert trim_messages(messages, 1) == messages[3:]
    kept = trim_messages(messages, 2)  # would start at the tool result: moved past it
    assert kept and kept[0]["role"] != "tool"
    assert all(m["role"] != "tool" for m in kept) or call in kept


@pytest.mark.parametrize("bad", ["", "a/b", "..", ".hidden", "nul\x00", "x" * 129, 5])
def test_validate_id_refuses_what_could_escape_a_store(bad: object) -> None:
    with pytest.raises(InvalidSessionIdError):
        validate_id(bad)


def test_validate_id_returns_a_safe_id() -> None:
    assert validate_id("user-123_ok") == "user-123_ok"
    assert validate_id("€" * 42, "agent") == "€" * 42


def test_a_lease_asked_to_go_at_the_turn_end_is_released_by_the_last_write_alone(tmp_path: Path) -> None:
    import asyncio

    from aixgo.errors import SessionBusyError

    with Manager(FileBackend(tmp_path, fsync="never")) as mgr:
        session = mgr.create("assistant", "end-1")
        held = session.lease(ttl=60, wait=0)
        held.release_at_turn_end()
        fenced = held.session

        def write(text: str) -> None:
            fenced.append_message("assistant", text)

        asyncio.run(fenced.run_blocking(write, "a step", write=True))  # not the last write: still held
        with pytest.raises(SessionBusyError):
            session.lease(ttl=60, wait=0)
        asyncio.run(fenced.run_blocking(write, "the answer", write=True, ends_turn=True))
        session.lease(ttl=60, wait=0).release()  # free once the last write returned
        assert [m["content"] for m in session.get_messages()] == ["a step", "the answer"]
        held.release()  # releasing again afterwards is harmless
