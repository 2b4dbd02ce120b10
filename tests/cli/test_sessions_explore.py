"""``show --all``, ``search`` and ``fork``: abandoned branches, finding a conversation, copying one."""

from __future__ import annotations

import json

from click.testing import CliRunner

from aixgo.session import EntryType
from tests.cli.conftest import SeededStore, invoke


def test_show_all_includes_abandoned_branches_marked(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    plain = invoke(sessions_runner, seeded_store.args("show", "chat-1")).stdout
    assert "get_weather" not in plain and "show --all chat-1" in plain
    out = invoke(sessions_runner, seeded_store.args("show", "chat-1", "--all")).stdout
    assert "get_weather" in out and "It is 21 °C in Zürich." in out
    assert out.count("(abandoned branch)") == 4  # tool call, result, answer, usage
    assert "Let me ask differently." in out
    lines = out.splitlines()
    current = lines[lines.index("    Let me ask differently.") - 1]
    assert current.startswith("[3] assistant") and "abandoned" not in current
    assert "on abandoned branches" not in out  # every checkpoint is shown


def test_search_finds_messages_across_sessions(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    found = invoke(sessions_runner, seeded_store.args("search", "ZÜRICH"))
    assert found.exit_code == 0, found.output
    assert found.stdout.startswith("chat-1  [2] user: Wie ist das Wetter in Zürich?")
    as_json = json.loads(invoke(sessions_runner, seeded_store.args("search", "zürich", "--json")).stdout)
    assert [(m["session_id"], m["seq"]) for m in as_json] == [("chat-1", 2)]  # current history only
    none = invoke(sessions_runner, seeded_store.args("search", "no such words"))
    assert none.exit_code == 0 and none.stdout == "" and "no messages contain" in none.stderr
    assert invoke(sessions_runner, seeded_store.args("search", " ")).exit_code == 2


def test_fork_copies_a_session_optionally_at_a_checkpoint(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    whole = invoke(sessions_runner, seeded_store.args("fork", "chat-1", "--id", "chat-1-copy"))
    assert whole.exit_code == 0, whole.output
    assert whole.stdout == "chat-1-copy\n"
    at = invoke(sessions_runner, seeded_store.args("fork", "chat-1", "--at", seeded_store.cp_answer))
    assert at.exit_code == 0, at.output
    fork_id = at.stdout.strip()
    with seeded_store.manager() as mgr:
        original = mgr.get("chat-1")
        copy = mgr.get("chat-1-copy")
        assert [e.data for e in copy.get_entries()] == [e.data for e in original.get_entries()]
        assert len(copy.checkpoints()) == 2
        at_answer = [e for e in mgr.get(fork_id).get_entries() if e.type is EntryType.MESSAGE]
        assert at_answer[-1].data["content"] == "It is 21 °C in Zürich."  # history as at the checkpoint
        assert original.get_entries()[-1].data["content"] == "Let me ask differently."  # unchanged
    taken = invoke(sessions_runner, seeded_store.args("fork", "chat-1", "--id", "chat-2"))
    assert taken.exit_code == 1 and "already exists" in taken.stderr
