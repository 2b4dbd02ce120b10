"""``aixgo sessions list``, ``show`` and ``checkpoints`` on the file store."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from aixgo.cli import cli
from tests.cli.conftest import SeededStore, invoke


def test_list_table_most_recent_first(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    result = invoke(sessions_runner, seeded_store.args("list"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "AGENT", "USER", "MESSAGES", "UPDATED", "TITLE"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"chat-1", "chat-2", "code-1"}
    assert rows["chat-1"][1:4] == ["assistant", "alice", "3"]  # chat entries of the current branch only
    assert rows["code-1"][1:4] == ["coder", "-", "0"]
    assert lines[1].split()[0] == "code-1"  # created last
    assert "just now (" in lines[1] and lines[1].rstrip().endswith("Z)  -")  # no user message: no title
    assert lines[-1].endswith("Z)  Wie ist das Wetter in Zürich? 🌦 And in Rome?")
    assert result.stderr == ""


def test_sessions_without_subcommand_lists(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    result = invoke(sessions_runner, ["sessions", "--base-dir", str(seeded_store.base_dir)])
    assert result.exit_code == 0
    assert result.stdout == invoke(sessions_runner, seeded_store.args("list")).stdout


def test_list_filters_and_paging(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    def ids(*args: str) -> list[str]:
        result = invoke(sessions_runner, seeded_store.args("list", "--json", *args))
        assert result.exit_code == 0, result.output
        return [item["id"] for item in json.loads(result.stdout)]

    assert ids("--agent", "assistant") == ["chat-2", "chat-1"]
    assert ids("--agent", "coder") == ["code-1"]
    assert ids("--user", "alice") == ["chat-1"]
    assert ids("--agent", "assistant", "--user", "bob") == ["chat-2"]
    assert ids("--limit", "1") == ["code-1"]
    assert ids("--limit", "1", "--offset", "1") == ["chat-2"]
    assert ids("--offset", "2") == ["chat-1"]
    assert ids("--offset", "9") == []
    assert ids("--agent", "nobody") == []


def test_list_json_fields(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    result = invoke(sessions_runner, seeded_store.args("list", "--json", "--user", "alice"))
    (item,) = json.loads(result.stdout)
    assert item["id"] == "chat-1" and item["agent"] == "assistant" and item["user_id"] == "alice"
    assert item["message_count"] == 3 and item["metadata"] == {"title": "weather"}
    assert item["created_at"].endswith("Z") and item["updated_at"] >= item["created_at"]


def test_list_empty_and_missing_store(sessions_runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    result = invoke(sessions_runner, ["sessions", "list", "--base-dir", str(missing)])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no sessions in file store at" in result.stderr and "does not exist" in result.stderr
    assert not missing.exists()  # a read-only command creates nothing
    as_json = invoke(sessions_runner, ["sessions", "list", "--json", "--base-dir", str(missing)])
    assert json.loads(as_json.stdout) == []
    filtered = invoke(
        sessions_runner, ["sessions", "list", "--agent", "x", "--user", "y", "--base-dir", str(tmp_path)]
    )
    assert "no sessions of agent 'x' and user 'y' in file store at" in filtered.stderr


def test_list_rejects_bad_options(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    assert invoke(sessions_runner, seeded_store.args("list", "--limit", "-1")).exit_code == 2
    assert invoke(sessions_runner, seeded_store.args("list", "--offset", "x")).exit_code == 2
    bad_agent = invoke(sessions_runner, seeded_store.args("list", "--agent", "../etc"))
    assert bad_agent.exit_code == 2
    assert "agent name '../etc' is not allowed" in bad_agent.stderr


def test_show_transcript(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    result = invoke(sessions_runner, seeded_store.args("show", "chat-1"))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("session      chat-1\nagent        assistant\nuser         alice\n")
    assert "messages     3" in out and "checkpoints  2" in out and "metadata     title=weather" in out
    assert "[1] system" in out and "    You are helpful." in out
    assert "[2] user" in out and "    Wie ist das Wetter in Zürich? 🌦\n    And in Rome?" in out
    assert f"--- checkpoint {seeded_store.cp_question} (seq 2): reason=before tools ---" in out
    assert "[3] assistant" in out and "Let me ask differently." in out
    assert "get_weather" not in out  # the tool call is on the abandoned branch
    assert "(1 checkpoint is on abandoned branches: aixgo sessions show --all chat-1)" in out
    assert out.index("[2] user") < out.index("--- checkpoint") < out.index("[3] assistant")


def test_show_tool_calls_and_results(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    with seeded_store.manager() as mgr:
        mgr.get("chat-1").restore(seeded_store.cp_answer)
    out = invoke(sessions_runner, seeded_store.args("show", "chat-1")).stdout
    assert "[3] assistant" in out and '    -> get_weather({"city":"Zürich"})  [call_1]' in out
    assert "[4] tool get_weather [call_1]" in out and '    {"temp_c": 21}' in out
    assert "[5] assistant" in out and "It is 21 °C in Zürich." in out
    assert "[6] usage" in out and "prompt_tokens=12 completion_tokens=7 total_tokens=19" in out
    assert "tokens       19 (12 prompt, 7 completion, 1 turn)" in out
    assert f"--- checkpoint {seeded_store.cp_answer} (seq 6): reason=answered ---" in out
    assert "abandoned" not in out


def test_show_limit(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    out = invoke(sessions_runner, seeded_store.args("show", "chat-1", "--limit", "1")).stdout
    assert "(2 earlier entries not shown; drop --limit to see all)" in out
    assert "[3] assistant" in out and "[2] user" not in out and "--- checkpoint" not in out
    two = invoke(sessions_runner, seeded_store.args("show", "chat-1", "--limit", "2")).stdout
    assert "(1 earlier entry not shown" in two and "--- checkpoint" in two
    assert invoke(sessions_runner, seeded_store.args("show", "chat-1", "--limit", "0")).exit_code == 2


def test_show_json(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    result = invoke(sessions_runner, seeded_store.args("show", "chat-1", "--json"))
    payload = json.loads(result.stdout)
    assert payload["session"]["id"] == "chat-1" and payload["session"]["message_count"] == 3
    assert [e["seq"] for e in payload["entries"]] == [1, 2, 3]
    assert payload["entries"][1]["data"]["content"].startswith("Wie ist das Wetter")
    assert payload["entries"][0]["type"] == "message" and payload["entries"][0]["parent_id"] is None
    branches = {cp["id"]: cp["branch"] for cp in payload["checkpoints"]}
    assert branches == {seeded_store.cp_question: "current", seeded_store.cp_answer: "abandoned"}
    assert all(len(cp["checksum"]) == 64 for cp in payload["checkpoints"])


def test_show_empty_session(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    out = invoke(sessions_runner, seeded_store.args("show", "code-1")).stdout
    assert "user         -" in out and "(no entries yet)" in out


def test_show_unknown_and_bad_ids(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    unknown = invoke(sessions_runner, seeded_store.args("show", "nope"))
    assert unknown.exit_code == 1
    assert unknown.stderr == f"error: session 'nope' not found in {seeded_store.base_dir}\n"
    assert unknown.stdout == ""
    bad = invoke(sessions_runner, seeded_store.args("show", "../chat-1"))
    assert bad.exit_code == 2
    assert (
        "Invalid value for 'ID': session id '../chat-1' is not allowed: it contains a path separator"
        in bad.stderr
    )
    too_long = invoke(sessions_runner, seeded_store.args("show", "x" * 200))
    assert too_long.exit_code == 2 and "the limit is 128" in too_long.stderr
    missing_dir = invoke(
        sessions_runner, ["sessions", "show", "s", "--base-dir", str(seeded_store.base_dir / "no")]
    )
    assert missing_dir.exit_code == 1
    assert "not found in" in missing_dir.stderr and "(the directory does not exist)" in missing_dir.stderr
    assert not (seeded_store.base_dir / "no").exists()


def test_checkpoints_table_and_json(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    result = invoke(sessions_runner, seeded_store.args("checkpoints", "chat-1"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "SEQ", "CREATED", "BRANCH", "METADATA"]
    assert lines[1].startswith(seeded_store.cp_question) and " current " in lines[1]
    assert lines[1].endswith("reason=before tools")
    assert lines[2].startswith(seeded_store.cp_answer) and " abandoned " in lines[2] and " 6 " in lines[2]
    payload = json.loads(invoke(sessions_runner, seeded_store.args("checkpoints", "chat-1", "--json")).stdout)
    assert [(cp["id"], cp["seq"], cp["branch"]) for cp in payload] == [
        (seeded_store.cp_question, 2, "current"),
        (seeded_store.cp_answer, 6, "abandoned"),
    ]
    assert payload[0]["metadata"] == {"reason": "before tools"} and payload[0]["session_id"] == "chat-1"


def test_checkpoints_head_and_none(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    with seeded_store.manager() as mgr:
        mgr.get("chat-2").checkpoint()
    table = invoke(sessions_runner, seeded_store.args("checkpoints", "chat-2")).stdout
    assert "current (head)" in table and table.rstrip().endswith("-")
    none = invoke(sessions_runner, seeded_store.args("checkpoints", "code-1"))
    assert none.exit_code == 0 and none.stdout == ""
    assert none.stderr == "session code-1 has no checkpoints\n"
    assert (
        json.loads(invoke(sessions_runner, seeded_store.args("checkpoints", "code-1", "--json")).stdout) == []
    )
    assert invoke(sessions_runner, seeded_store.args("checkpoints", "zzz")).exit_code == 1


def test_corrupted_file_is_one_error_line(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    path = seeded_store.base_dir / "assistant" / "chat-1.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b"{this is not json\n"
    path.write_bytes(b"".join(lines))
    for command in ("show", "export", "checkpoints"):
        result = invoke(sessions_runner, seeded_store.args(command, "chat-1"))
        assert result.exit_code == 1, (command, result.output)
        assert result.stderr.startswith(f"error: {path}:3: ")
        assert "Traceback" not in result.output and len(result.stderr.splitlines()) == 1


def test_debug_shows_the_traceback(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    result = sessions_runner.invoke(cli, ["--debug", *seeded_store.args("show", "nope")])
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "SessionNotFoundError"


def test_list_names_a_damaged_session_and_lists_the_others(tmp_path: Path) -> None:
    """One damaged session (here a header whose user_id is an object) never breaks ``list``."""
    import subprocess
    import sys

    from aixgo.session import FileBackend, Manager

    with Manager(FileBackend(tmp_path)) as mgr:
        mgr.create("assistant", "good-1").append_message("user", "hi")
        mgr.create("assistant", "good-2")
    (tmp_path / "assistant" / "broken.jsonl").write_text(
        '{"k":"s","v":1,"id":"broken","agent":"assistant","user_id":{"a":1},'
        '"created_at":"2026-01-01T00:00:00.000000Z","metadata":{}}\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "aixgo", "sessions", "--base-dir", str(tmp_path), "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "good-1" in done.stdout and "good-2" in done.stdout
    assert "broken" in done.stdout and "DAMAGED" in done.stdout
    assert "warning: session broken cannot be read:" in done.stderr
    assert "broken.jsonl" in done.stderr and "user id" in done.stderr
    assert "Traceback" not in done.stderr
    as_json = subprocess.run(
        [sys.executable, "-m", "aixgo", "sessions", "--base-dir", str(tmp_path), "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert as_json.returncode == 0
    damaged = [item for item in json.loads(as_json.stdout) if "damage" in item]
    assert [item["id"] for item in damaged] == ["broken"]


def test_list_with_tokens(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    out = invoke(sessions_runner, seeded_store.args("list", "--tokens")).stdout
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "AGENT", "USER", "MESSAGES", "TOKENS", "UPDATED", "TITLE"]
    chat = next(row for row in rows if row.startswith("chat-1"))
    assert chat.split()[4] == "0"  # its usage entry is on the abandoned branch
    data = json.loads(invoke(sessions_runner, seeded_store.args("list", "--tokens", "--json")).stdout)
    assert all("tokens" in item for item in data)
    assert "TOKENS" not in invoke(sessions_runner, seeded_store.args("list")).stdout
