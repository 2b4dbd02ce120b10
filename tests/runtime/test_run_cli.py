"""``aixgo run``: one-shot and interactive chats, resuming, errors — over the real openai client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aixgo.cli import cli
from tests.support.openai_server import OpenAIServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def offline(tmp_path: Path) -> Path:
    config = tmp_path / "offline.yaml"
    config.write_text(
        f"""
session: {{store: file, base_dir: {tmp_path / "store"}}}
llm: {{provider: scripted}}
agents:
  - {{name: helper, role: react, model: scripted, tools: [calculator]}}
"""
    )
    return config


def test_one_shot_prints_only_the_answer(runner: CliRunner, offline: Path) -> None:
    result = runner.invoke(
        cli, ["--log-level", "debug", "run", str(offline), "--session", "s1", "-m", "What is 6*7?"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "6*7 = 42\n"
    assert "runtime.turn" in result.stderr  # logs go to stderr, never into the answer


def test_json_output_and_continue(runner: CliRunner, offline: Path) -> None:
    first = runner.invoke(cli, ["run", str(offline), "-m", "My name is Lin.", "--json"])
    payload = json.loads(first.stdout)
    assert payload["agent"] == "helper" and payload["usage"]["total_tokens"] > 0
    again = runner.invoke(cli, ["run", str(offline), "-c", "-m", "What is my name?", "--json"])
    resumed = json.loads(again.stdout)
    assert resumed["session_id"] == payload["session_id"]
    assert "Lin" in resumed["answer"]


def test_continue_without_history_is_an_error(runner: CliRunner, offline: Path) -> None:
    result = runner.invoke(cli, ["run", str(offline), "-c", "-m", "hi"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no earlier conversation of agent 'helper' to continue"


def test_several_agents_need_agent_option(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "two.yaml"
    config.write_text(
        f"""
session: {{base_dir: {tmp_path / "store"}}}
llm: {{provider: scripted}}
agents:
  - {{name: one, role: react, model: scripted}}
  - {{name: two, role: react, model: scripted}}
"""
    )
    result = runner.invoke(cli, ["run", str(config), "-m", "hi"])
    assert result.exit_code == 2
    assert "several agents (one, two): choose one with --agent" in result.stderr
    assert runner.invoke(cli, ["run", str(config), "--agent", "two", "-m", "hi"]).exit_code == 0
    missing = runner.invoke(cli, ["run", str(config), "--agent", "three", "-m", "hi"])
    assert missing.exit_code == 2 and "no agent named 'three'" in missing.stderr


def test_interactive_commands(runner: CliRunner, offline: Path) -> None:
    script = "\n".join(
        [
            "My name is Ada.",
            "/checkpoint named",
            "What is 2+3?",
            "/checkpoints",
            "/history",
            "/restore nope",
            "/bogus",
            "/exit",
        ]
    )
    result = runner.invoke(cli, ["run", str(offline), "--session", "chat"], input=script + "\n")
    assert result.exit_code == 2, result.output  # piped, and /bogus was not a command
    out = result.stdout
    assert "\nNice to meet you, Ada!" in "\n" + out  # piped: the answers alone, no "helper> "
    assert "\n2+3 = 5" in out
    assert "checkpoint cp_" in out and "named" in out
    assert "-> calculator" in out and "tool calculator" in out
    assert "resume with: " in result.stderr and f"run {offline} --session chat" in result.stderr
    assert "has no checkpoint 'nope'" in result.stderr
    assert "unknown command /bogus" in result.stderr


def test_interactive_restore_and_new(runner: CliRunner, offline: Path) -> None:
    runner.invoke(cli, ["run", str(offline), "--session", "r", "-m", "My name is Bo."])
    from aixgo.config import build_session_manager, load_config

    with build_session_manager(load_config(offline)) as mgr:
        cp = mgr.get("r").checkpoint()
        mgr.get("r").append_message("user", "My name is Zed.")
    result = runner.invoke(
        cli,
        ["run", str(offline), "--session", "r"],
        input=f"/restore {cp.id}\nWhat is my name?\n/new\n/exit\n",
    )
    assert f"restored {cp.id}" in result.stdout
    assert "Your name is Bo." in result.stdout
    assert result.stderr.count("aixgo · agent helper · session") == 2


def test_missing_api_key_is_one_clear_line(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["run", str(REPO / "configs" / "assistant.yaml"), "-m", "hi"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no API key")
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_bad_config_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("agents:\n  - name: a\n    role: react\n    modle: x\n")
    result = runner.invoke(cli, ["run", str(config), "-m", "hi"])
    assert result.exit_code == 2
    assert "modle" in result.stderr and "Traceback" not in result.stderr


def test_assistant_config_against_an_openai_compatible_server(
    runner: CliRunner, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's "done": hold a conversation, exit, continue it with the model seeing earlier turns."""
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    config = str(REPO / "configs" / "assistant.yaml")
    openai_server.enqueue("Hello Kim!", "Noted: blue.", "Your name is Kim and you like blue.")
    chat = runner.invoke(cli, ["run", config], input="I am Kim.\nI like blue.\n")
    assert chat.exit_code == 0, chat.output
    assert chat.stdout == "Hello Kim!\nNoted: blue.\n"
    resumed = runner.invoke(cli, ["run", config, "-c", "-m", "What do you know about me?"])
    assert resumed.stdout == "Your name is Kim and you like blue.\n"
    last = openai_server.chat_requests[-1]
    assert last["model"] == "gpt-4-turbo"
    assert [(m["role"], m["content"]) for m in last["messages"]] == [
        ("system", "You are a helpful assistant with memory."),
        ("user", "I am Kim."),
        ("assistant", "Hello Kim!"),
        ("user", "I like blue."),
        ("assistant", "Noted: blue."),
        ("user", "What do you know about me?"),
    ]


def test_server_errors_print_one_line(
    runner: CliRunner, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.openai_server import error

    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    openai_server.enqueue(error(401, "Incorrect API key provided"))
    result = runner.invoke(cli, ["run", str(REPO / "configs" / "assistant.yaml"), "-m", "hi"])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()  # the note naming the session, then the one-line error
    assert len(lines) == 2 and lines[0].startswith("note: session ") and lines[1].startswith("error: ")
    assert "401" in lines[1]
    assert "Traceback" not in result.stderr
    assert "sk-test" not in result.stderr


def test_an_answer_cut_off_at_max_tokens_is_pointed_out(runner: CliRunner, tmp_path: Path) -> None:
    """The first version printed a cut-off answer as if it were whole (issue "Real servers", defect 4)."""
    from tests.support.openai_server import text

    with OpenAIServer() as server:
        config = tmp_path / "cut.yaml"
        config.write_text(
            f"""
session: {{base_dir: {tmp_path / "store"}}}
llm: {{base_url: {server.base_url}, api_key: sk-test}}
agents:
  - {{name: a, model: test-model, max_tokens: 5}}
"""
        )
        server.enqueue(text("The answer is forty", finish_reason="length"))
        result = runner.invoke(cli, ["run", str(config), "-m", "What is 6*7?"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "The answer is forty\n"
    assert "cut off at the model's token limit" in result.stderr and "max_tokens" in result.stderr
    assert server.chat_requests[0]["max_tokens"] == 5


def test_an_empty_one_shot_message_is_refused(runner: CliRunner, offline: Path) -> None:
    """``-m ""`` used to send an empty message to the model (issue "The command line", item 12)."""
    result = runner.invoke(cli, ["run", str(offline), "-m", "  "])
    assert result.exit_code == 2
    assert "empty" in result.stderr
    assert not (offline.parent / "store").exists() or not list((offline.parent / "store").rglob("*.jsonl"))


def test_a_failed_one_shot_names_its_session(runner: CliRunner, tmp_path: Path) -> None:
    """A failed ``-m`` left a session that ``-c`` then resumed, without saying its id (item 12)."""
    with OpenAIServer() as server:
        config = tmp_path / "down.yaml"
        config.write_text(
            f"""
session: {{base_dir: {tmp_path / "store"}}}
llm: {{base_url: {server.base_url}, api_key: sk-test, max_retries: 0}}
agents:
  - {{name: a, model: test-model}}
"""
        )
        from tests.support.openai_server import error

        server.enqueue(error(400, "bad request"))
        result = runner.invoke(cli, ["run", str(config), "--session", "one-shot-1", "-m", "hi"])
    assert result.exit_code == 1
    assert "one-shot-1" in result.stderr and "bad request" in result.stderr


def test_a_piped_chat_exits_non_zero_when_a_turn_failed(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "one.yaml"
    config.write_text(f"session: {{base_dir: {tmp_path / 'store'}}}\nllm: {{provider: scripted, script: [only one]}}\n"
                      "agents:\n  - {name: a, model: m}\n")
    result = runner.invoke(cli, ["run", str(config)], input="first\nsecond\n")
    assert result.exit_code == 1
    assert result.stdout == "only one\n" and "error:" in result.stderr
    fine = runner.invoke(cli, ["run", str(config)], input="/help\n")
    assert fine.exit_code == 0
    failed_command = runner.invoke(cli, ["run", str(config)], input="/restore nope\n")
    assert failed_command.exit_code == 1 and "has no checkpoint" in failed_command.stderr


def test_json_chat_prints_only_json_lines(runner: CliRunner, offline: Path) -> None:
    script = "My name is Ada.\n/checkpoint x\n/checkpoints\n/history\n/usage\n/help\n/new\n"
    result = runner.invoke(cli, ["run", str(offline), "--session", "j", "--json"], input=script)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    parsed = [json.loads(line) for line in lines]  # every line
    assert [next(iter(p)) for p in parsed] == ["answer", "checkpoint", "checkpoints", "history", "usage", "help",
                                             "session_id"]
    assert parsed[4]["usage"]["turns"] == 1 and parsed[4]["usage"]["total_tokens"] > 0


def test_a_block_between_triple_quotes_is_one_message(runner: CliRunner, offline: Path) -> None:
    script = '"""\nMy name is Ada.\n\nAnd this is one message.\n"""\n'
    result = runner.invoke(cli, ["run", str(offline), "--session", "block"], input=script)
    assert result.exit_code == 0, result.output
    from aixgo.config import build_session_manager, load_config

    with build_session_manager(load_config(offline)) as mgr:
        users = [m["content"] for m in mgr.get("block").get_messages() if m["role"] == "user"]
    assert users == ["My name is Ada.\n\nAnd this is one message."]


def test_a_resumed_chat_says_so_with_the_last_exchange(runner: CliRunner, offline: Path) -> None:
    runner.invoke(cli, ["run", str(offline), "--session", "again", "-m", "My name is Bo."])
    result = runner.invoke(cli, ["run", str(offline), "--session", "again"], input="/exit\n")
    assert "resumed session again, 2 messages" in result.stderr
    assert "you> My name is Bo." in result.stderr and "helper> " in result.stderr
    new = runner.invoke(cli, ["run", str(offline), "--session", "fresh"], input="/exit\n")
    assert "resumed session" not in new.stderr


def test_user_is_enforced_when_resuming(runner: CliRunner, offline: Path) -> None:
    runner.invoke(cli, ["run", str(offline), "--session", "alice-1", "--user", "alice", "-m", "hi"])
    other = runner.invoke(cli, ["run", str(offline), "--session", "alice-1", "--user", "bob", "-m", "hi"])
    assert other.exit_code == 1 and "does not belong to user 'bob'" in other.stderr
    same = runner.invoke(cli, ["run", str(offline), "--session", "alice-1", "--user", "alice", "-m", "hi"])
    assert same.exit_code == 0
    nobody = runner.invoke(cli, ["run", str(offline), "-c", "--user", "carol", "-m", "hi"])
    assert nobody.exit_code == 1 and "of user 'carol'" in nobody.stderr
