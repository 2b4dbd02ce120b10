"""``aixgo sessions restore``, ``delete`` and ``prune`` on the file store."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from aixgo.cli import common as cli_common
from tests.cli.conftest import SeededStore, invoke
from tests.support.aging import age_session

DAY = 86_400


def _ids(runner: CliRunner, store: SeededStore) -> set[str]:
    return {item["id"] for item in json.loads(invoke(runner, store.args("list", "--json")).stdout)}


def _age(store: SeededStore, agent: str, session_id: str, days: float) -> None:
    """Make the session look last updated ``days`` ago (its records' timestamps, not the file's mtime)."""
    with store.manager() as mgr:
        age_session(mgr, session_id, timedelta(days=days))


def test_restore_is_durable(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    result = invoke(sessions_runner, seeded_store.args("restore", "chat-1", seeded_store.cp_answer))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"restored session chat-1 to checkpoint {seeded_store.cp_answer} (seq 6); 1 entry left the history "
        "(still stored: `aixgo sessions export` keeps them); 4 entries of another branch rejoined it\n"
    )
    with seeded_store.manager() as mgr:  # a new process / manager sees the restored history
        assert [e.seq for e in mgr.get("chat-1").get_entries()] == [1, 2, 3, 4, 5, 6]
    back = invoke(sessions_runner, seeded_store.args("restore", "chat-1", seeded_store.cp_question))
    assert "; 4 entries left the history" in back.stdout and "rejoined" not in back.stdout


def test_restore_errors(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    unknown_cp = invoke(sessions_runner, seeded_store.args("restore", "chat-1", "cp_nope"))
    assert unknown_cp.exit_code == 1
    assert unknown_cp.stderr == "error: session 'chat-1' has no checkpoint 'cp_nope'\n"
    other_session = invoke(sessions_runner, seeded_store.args("restore", "chat-2", seeded_store.cp_answer))
    assert other_session.exit_code == 1 and "has no checkpoint" in other_session.stderr
    unknown_session = invoke(sessions_runner, seeded_store.args("restore", "nope", seeded_store.cp_answer))
    assert unknown_session.exit_code == 1 and "session 'nope' not found" in unknown_session.stderr
    bad_cp = invoke(sessions_runner, seeded_store.args("restore", "chat-1", "../cp"))
    assert bad_cp.exit_code == 2 and "Invalid value for 'CHECKPOINT': checkpoint id '../cp'" in bad_cp.stderr
    assert invoke(sessions_runner, seeded_store.args("restore", "chat-1")).exit_code == 2


def test_restore_tampered_checkpoint(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    path = seeded_store.base_dir / "assistant" / "chat-1.jsonl"
    path.write_bytes(path.read_bytes().replace(b"You are helpful.", b"You are harmful."))
    result = invoke(sessions_runner, seeded_store.args("restore", "chat-1", seeded_store.cp_question))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "checksum" in result.stderr.lower()
    assert len(result.stderr.splitlines()) == 1


def test_delete_with_yes(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    result = invoke(sessions_runner, seeded_store.args("delete", "chat-2", "--yes"))
    assert result.exit_code == 0, result.output
    assert result.stdout == "deleted session chat-2\n"
    assert _ids(sessions_runner, seeded_store) == {"chat-1", "code-1"}
    both = invoke(sessions_runner, seeded_store.args("delete", "-y", "chat-1", "code-1", "chat-1"))
    assert both.stdout == "deleted session chat-1\ndeleted session code-1\n"
    assert _ids(sessions_runner, seeded_store) == set()


def test_delete_refuses_without_a_terminal(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    result = invoke(sessions_runner, seeded_store.args("delete", "chat-2"), input="y\n")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: refusing to delete without confirmation: standard input is not a terminal; pass --yes\n"
    )
    assert "chat-2" in _ids(sessions_runner, seeded_store)


@pytest.mark.parametrize(("answer", "deleted"), [("y\n", True), ("n\n", False), ("\n", False)])
def test_delete_asks_on_a_terminal(
    sessions_runner: CliRunner,
    seeded_store: SeededStore,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    deleted: bool,
) -> None:
    monkeypatch.setattr(cli_common, "stdin_is_interactive", lambda: True)
    result = invoke(sessions_runner, seeded_store.args("delete", "chat-1"), input=answer)
    assert (
        "Delete session chat-1 (agent assistant, 3 messages)? This cannot be undone [y/N]:" in result.stderr
    )
    assert ("chat-1" not in _ids(sessions_runner, seeded_store)) is deleted
    if deleted:
        assert result.exit_code == 0 and result.stdout == "deleted session chat-1\n"
    else:
        assert result.exit_code == 1 and result.stderr.endswith("\nnothing deleted\n")  # a choice, not an error
        assert "error" not in result.stderr
    several = invoke(sessions_runner, seeded_store.args("delete", "chat-2", "code-1"), input="n\n")
    assert "Delete 2 sessions (chat-2, code-1)?" in several.stderr


def test_delete_unknown_deletes_nothing(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    result = invoke(sessions_runner, seeded_store.args("delete", "--yes", "chat-2", "nope"))
    assert result.exit_code == 1
    assert result.stderr == f"error: session 'nope' not found in {seeded_store.base_dir}\n"
    assert _ids(sessions_runner, seeded_store) == {"chat-1", "chat-2", "code-1"}
    assert invoke(sessions_runner, seeded_store.args("delete", "--yes")).exit_code == 2
    assert invoke(sessions_runner, seeded_store.args("delete", "--yes", "..")).exit_code == 2


def test_prune(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    _age(seeded_store, "assistant", "chat-1", 40)
    _age(seeded_store, "coder", "code-1", 31)
    _age(seeded_store, "assistant", "chat-2", 29)
    dry = invoke(sessions_runner, seeded_store.args("prune", "--older-than", "30d", "--dry-run"))
    assert dry.exit_code == 0, dry.output
    lines = dry.stdout.splitlines()
    assert lines[0] == "would delete 2 sessions not updated for 30d:"
    assert [line.split()[0] for line in lines[2:]] == ["code-1", "chat-1"]
    assert "31d ago" in lines[2] and "40d ago" in lines[3]
    assert _ids(sessions_runner, seeded_store) == {"chat-1", "chat-2", "code-1"}

    only_coder = invoke(
        sessions_runner, seeded_store.args("prune", "--older-than", "30d", "--agent", "coder", "--yes")
    )
    assert only_coder.stdout == "deleted session code-1\n"
    assert only_coder.stderr == "pruned 1 session of agent 'coder' not updated for 30d\n"
    result = invoke(sessions_runner, seeded_store.args("prune", "-y", "--older-than", "720h"))
    assert result.exit_code == 0 and result.stdout == "deleted session chat-1\n"
    assert result.stderr == "pruned 1 session not updated for 30d\n"
    assert _ids(sessions_runner, seeded_store) == {"chat-2"}
    nothing = invoke(sessions_runner, seeded_store.args("prune", "--older-than", "30d", "--dry-run"))
    assert nothing.stdout == "" and nothing.stderr == "no sessions older than 30d: nothing would be deleted\n"


def test_prune_errors(sessions_runner: CliRunner, seeded_store: SeededStore, tmp_path: Path) -> None:
    for bad in ("30x", "-5d", "soon", ""):
        result = invoke(sessions_runner, seeded_store.args("prune", "--older-than", bad))
        assert result.exit_code == 2, bad
        assert "Invalid value for '--older-than': invalid duration" in result.stderr
    assert (
        "(durations cannot be negative)"
        in invoke(sessions_runner, seeded_store.args("prune", "--older-than", "-5d")).stderr
    )
    missing = invoke(sessions_runner, seeded_store.args("prune"))
    assert missing.exit_code == 2 and "Missing option '--older-than'" in missing.stderr
    assert (
        invoke(sessions_runner, seeded_store.args("prune", "--older-than", "1d", "--agent", "a/b")).exit_code
        == 2
    )
    assert _ids(sessions_runner, seeded_store) == {"chat-1", "chat-2", "code-1"}
    empty = invoke(
        sessions_runner, ["sessions", "prune", "--older-than", "1d", "--base-dir", str(tmp_path / "x")]
    )
    assert empty.exit_code == 0 and "nothing to prune in file store at" in empty.stderr
    assert not (tmp_path / "x").exists()


def test_prune_asks_first_like_delete(
    sessions_runner: CliRunner, seeded_store: SeededStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _age(seeded_store, "assistant", "chat-1", 40)
    refused = invoke(sessions_runner, seeded_store.args("prune", "--older-than", "30d"), input="y\n")
    assert refused.exit_code == 2
    assert refused.stderr == "error: refusing to prune without confirmation: standard input is not a terminal; pass --yes\n"
    assert "chat-1" in _ids(sessions_runner, seeded_store)
    monkeypatch.setattr(cli_common, "stdin_is_interactive", lambda: True)
    declined = invoke(sessions_runner, seeded_store.args("prune", "--older-than", "30d"), input="n\n")
    assert "Delete 1 session not updated for 30d? This cannot be undone [y/N]:" in declined.stderr
    assert declined.exit_code == 1 and declined.stderr.endswith("nothing pruned\n") and "error" not in declined.stderr
    assert "chat-1" in _ids(sessions_runner, seeded_store)
    nothing = invoke(sessions_runner, seeded_store.args("prune", "--older-than", "90d"))
    assert nothing.exit_code == 0 and nothing.stderr == "no sessions older than 90d: nothing deleted\n"
    accepted = invoke(sessions_runner, seeded_store.args("prune", "--older-than", "30d"), input="y\n")
    assert accepted.exit_code == 0 and accepted.stdout == "deleted session chat-1\n"


def test_ctrl_c_at_a_prompt_is_an_interruption(
    sessions_runner: CliRunner, seeded_store: SeededStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_common, "stdin_is_interactive", lambda: True)

    def interrupted(*args: object, **kwargs: object) -> bool:
        raise click.Abort  # what click.confirm raises on Ctrl-C or end of input

    monkeypatch.setattr(cli_common.click, "confirm", interrupted)
    result = invoke(sessions_runner, seeded_store.args("delete", "chat-1"))
    assert result.exit_code == 130 and result.stderr.endswith("interrupted\n") and "Aborted" not in result.stderr
    assert "chat-1" in _ids(sessions_runner, seeded_store)


def test_exit_codes_agree_across_commands(
    sessions_runner: CliRunner, seeded_store: SeededStore, tmp_path: Path
) -> None:
    config = tmp_path / "app.yaml"
    config.write_text(f"session:\n  base_dir: {seeded_store.base_dir}\nllm:\n  provider: scripted\n"
                      "agents:\n  - name: assistant\n    model: demo\n")
    bad_run = invoke(sessions_runner, ["run", str(config), "--session", "../x", "-m", "hi"])
    bad_show = invoke(sessions_runner, seeded_store.args("show", "../x"))
    assert bad_run.exit_code == bad_show.exit_code == 2  # a malformed id is a usage error everywhere
    assert "session id" in bad_run.stderr
    from aixgo.errors import SessionNotFoundError

    with pytest.raises(SessionNotFoundError):  # --debug after the subcommand lets the traceback through
        invoke(sessions_runner, [*seeded_store.args("show", "nope"), "--debug"])
    quiet = invoke(sessions_runner, seeded_store.args("show", "nope"))
    assert quiet.exit_code == 1 and quiet.stderr.startswith("error: ")
