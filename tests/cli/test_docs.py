"""docs/cli.md documents every ``aixgo sessions`` subcommand, and only those."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from aixgo.cli.sessions import sessions
from tests.cli.conftest import SeededStore, invoke

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_every_subcommand_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    headings = set(re.findall(r"^## `([a-z]+)", text, re.MULTILINE))
    headings |= set(re.findall(r"^## `[a-z]+ ID` and `([a-z]+)", text, re.MULTILINE))
    assert headings == set(sessions.commands)


def test_export_dash_means_stdout(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    dash = invoke(sessions_runner, seeded_store.args("export", "chat-2", "-o", "-"))
    plain = invoke(sessions_runner, seeded_store.args("export", "chat-2"))
    assert dash.exit_code == 0 and dash.stdout_bytes == plain.stdout_bytes and dash.stderr == ""


def test_the_list_example_has_the_columns_list_prints(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    text = DOC.read_text(encoding="utf-8")
    shown = text.split("$ aixgo sessions list\n", 1)[1].splitlines()[0].split()
    printed = invoke(sessions_runner, seeded_store.args("list")).stdout.splitlines()[0].split()
    assert shown == printed == ["ID", "AGENT", "USER", "MESSAGES", "UPDATED", "TITLE"]
    assert "$ aixgo sessions list -q ada" in text and "## `show [ID]`" in text


def test_the_chat_page_is_linked_with_its_commands() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert all(command in text for command in ("/undo", "/retry", "/edit", "/fork", "(run.md#interactive-chat)"))
