"""``aixgo run`` and tool calls that need approval, as a person and a script meet them: on a terminal it
asks ``Run record({...})? [y/N]`` (a real pseudo-terminal); without one it refuses to guess, keeps the
turn waiting in the session and exits 3; ``--approve-all`` approves without asking. The model is the
local OpenAI-compatible test server; the tool records each run to a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aixgo.session import FileBackend, Manager
from tests.support.approval_tools import approval_config, runs
from tests.support.openai_server import OpenAIServer, call, text, tool_calls
from tests.support.terminal import Terminal

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as started:
        yield started


@pytest.fixture
def config(tmp_path: Path, server: OpenAIServer) -> Path:
    return approval_config(tmp_path / "app.yaml", server.base_url,
                           f"session: {{base_dir: {tmp_path / 'store'}, fsync: never}}")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AIXGO_"))}
    return {**keep, "AIXGO_TEST_RUNS": str(tmp_path / "runs.txt"), "PYTHONPATH": str(ROOT), "COLUMNS": "200",
            "TERM": "dumb"}


def aixgo(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aixgo", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, check=False)


def waiting(tmp_path: Path, session_id: str) -> list[str]:
    with Manager(FileBackend(tmp_path / "store")) as manager:
        request = manager.get(session_id).pending_approval()
    return [a.call_id for a in request.waiting] if request is not None else []


def test_on_a_terminal_it_asks_and_yes_runs_the_call(
    config: Path, env: dict[str, str], server: OpenAIServer, tmp_path: Path
) -> None:
    server.enqueue(tool_calls(call("record", {"label": "release"}, id="call_r")), text("Recorded it."))
    with Terminal([sys.executable, "-m", "aixgo", "run", str(config), "--session", "s1", "-m", "record release"],
                  env=env, cwd=ROOT) as terminal:
        terminal.expect('Run record({"label": "release"})? [y/N] ')
        assert runs(tmp_path / "runs.txt") == []  # nothing ran while it asked
        terminal.type("y")
        terminal.expect("Recorded it.")
        assert terminal.finish() == 0
    assert runs(tmp_path / "runs.txt") == ["record release"] and waiting(tmp_path, "s1") == []


def test_on_a_terminal_no_denies_with_the_reason_typed(
    config: Path, env: dict[str, str], server: OpenAIServer, tmp_path: Path
) -> None:
    server.enqueue(tool_calls(call("record", {"label": "release"}, id="call_r")), text("I will not, then."))
    with Terminal([sys.executable, "-m", "aixgo", "run", str(config), "--session", "s1", "-m", "record release"],
                  env=env, cwd=ROOT) as terminal:
        terminal.expect("[y/N] ")
        terminal.type("")  # Enter: the default is no
        terminal.expect("reason")
        terminal.type("not before the review")
        terminal.expect("I will not, then.")
        assert terminal.finish() == 0
    assert runs(tmp_path / "runs.txt") == []
    denial = server.chat_requests[-1]["messages"][-1]
    assert denial["role"] == "tool" and "not before the review" in denial["content"]


def test_without_a_terminal_it_refuses_keeps_the_turn_waiting_and_exits_3(
    config: Path, env: dict[str, str], server: OpenAIServer, tmp_path: Path
) -> None:
    server.enqueue(tool_calls(call("record", {"label": "release"}, id="call_r")))
    done = aixgo(env, "run", str(config), "--session", "s1", "-m", "record release")
    assert done.returncode == 3 and done.stdout == ""
    assert "record" in done.stderr and "call_r" in done.stderr and "no terminal" in done.stderr
    assert f"{config} --session s1" in done.stderr and "--approve-all" in done.stderr
    assert "Traceback" not in done.stderr
    assert runs(tmp_path / "runs.txt") == [] and waiting(tmp_path, "s1") == ["call_r"]
    # the same in --json: the waiting calls on stdout, for the script to decide
    server.enqueue(tool_calls(call("record", {"label": "b"}, id="call_b")))
    as_json = aixgo(env, "run", str(config), "--session", "s2", "-m", "record b", "--json")
    assert as_json.returncode == 3
    shown = json.loads(as_json.stdout)
    assert shown["outcome"] == "pending_approval" and shown["session_id"] == "s2"
    assert shown["approvals"] == [{"call_id": "call_b", "name": "record", "arguments": '{"label": "b"}'}]


def test_a_second_process_approves_all_and_the_first_turn_finishes(
    config: Path, env: dict[str, str], server: OpenAIServer, tmp_path: Path
) -> None:
    server.enqueue(tool_calls(call("record", {"label": "release"}, id="call_r")))
    assert aixgo(env, "run", str(config), "--session", "s1", "-m", "record release").returncode == 3
    refused = aixgo(env, "run", str(config), "--session", "s1", "-m", "anything new?")
    assert refused.returncode == 3 and "call_r" in refused.stderr  # the waiting turn comes first
    server.enqueue(text("Recorded, as you asked."), text("Nothing new."))
    done = aixgo(env, "run", str(config), "--session", "s1", "--approve-all", "-m", "anything new?")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Recorded, as you asked.", "Nothing new."]
    assert runs(tmp_path / "runs.txt") == ["record release"]
    requests = server.chat_requests
    assert [m["role"] for m in requests[1]["messages"]][-3:] == ["user", "assistant", "tool"]
    assert requests[2]["messages"][-1] == {"role": "user", "content": "anything new?"}


def test_approve_all_runs_without_asking(config: Path, env: dict[str, str], server: OpenAIServer, tmp_path: Path) -> None:
    server.enqueue(tool_calls(call("record", {"label": "a"}), call("look", {"topic": "b"})), text("Both done."))
    done = aixgo(env, "run", str(config), "--approve-all", "-m", "do both", "--no-stream")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Both done.\n" and runs(tmp_path / "runs.txt") == ["record a", "look b"]


def test_a_chat_resumed_with_a_waiting_call_asks_first(
    config: Path, env: dict[str, str], server: OpenAIServer, tmp_path: Path
) -> None:
    server.enqueue(tool_calls(call("record", {"label": "x"}, id="call_x")))
    assert aixgo(env, "run", str(config), "--session", "s1", "-m", "record x").returncode == 3
    server.enqueue(text("Recorded x."), tool_calls(call("record", {"label": "y"}, id="call_y")), text("And y."))
    with Terminal([sys.executable, "-m", "aixgo", "run", str(config), "--session", "s1"], env=env, cwd=ROOT) as terminal:
        terminal.expect('Run record({"label": "x"})? [y/N] ')
        terminal.type("y")
        terminal.expect("Recorded x.")
        terminal.expect("you> ")
        terminal.type("now y")
        terminal.expect('Run record({"label": "y"})? [y/N] ')
        terminal.type("yes")
        terminal.expect("And y.")
        terminal.expect("you> ")
        terminal.type("/exit")
        assert terminal.finish() == 0
    assert runs(tmp_path / "runs.txt") == ["record x", "record y"]


def test_control_characters_in_arguments_are_shown_escaped(
    config: Path, env: dict[str, str], server: OpenAIServer, tmp_path: Path
) -> None:
    """What a person approves is what runs: a model cannot hide an argument behind terminal escapes."""
    server.enqueue(tool_calls(call("record", {"label": "ok\x1b[2K\rrm -rf ~\u202e"}, id="call_e")), text("Fine."))
    with Terminal([sys.executable, "-m", "aixgo", "run", str(config), "-m", "x"], env=env, cwd=ROOT) as terminal:
        shown = terminal.expect("[y/N] ")
        terminal.type("n")
        terminal.expect("reason")
        terminal.type("")
        assert terminal.finish() == 0
    asked = shown[shown.rindex("Run record("):]
    assert asked == 'Run record({"label": "ok\\u001b[2K\\rrm -rf ~\\u202e"})? [y/N] '

