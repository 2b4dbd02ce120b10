"""``aixgo run`` and ``aixgo sessions`` as a chat user runs them (issue 27): each command a subprocess,
on a real pseudo-terminal where the terminal matters, with the offline scripted model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.terminal import Terminal

REPO = Path(__file__).resolve().parents[2]


class Aixgo:
    """``python -m aixgo …`` run as a user runs it, in a home of its own, with an offline config."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.store = tmp_path / "store"
        self.config = tmp_path / "chat.yaml"
        self.config.write_text(
            f"session: {{store: file, base_dir: {self.store}}}\n"
            "llm: {provider: scripted}\n"
            "agents:\n  - {name: offline, role: react, model: scripted, tools: [calculator]}\n"
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIXGO_", "OPENAI_"))}
        self.env.update(HOME=str(self.home), PYTHONPATH=str(REPO), COLUMNS="200", TERM="xterm")

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``aixgo ARGS`` without a terminal: ``stdin`` piped in (nothing: an empty stdin)."""
        return subprocess.run([sys.executable, "-m", "aixgo", *args], input=stdin or "", capture_output=True,
                              text=True, env=self.env, cwd=self.home, timeout=120, check=False)

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """``aixgo run CONFIG ARGS``."""
        return self("run", str(self.config), *args, stdin=stdin)

    def terminal(self, *args: str) -> Terminal:
        """``aixgo ARGS`` on a pseudo-terminal."""
        return Terminal([sys.executable, "-m", "aixgo", *args], env=self.env, cwd=self.home)

    def sessions(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self("sessions", *args, "--base-dir", str(self.store))


@pytest.fixture
def aixgo(tmp_path: Path) -> Aixgo:
    return Aixgo(tmp_path)


def test_a_chat_left_without_a_word_stores_nothing_and_continue_finds_the_conversation(aixgo: Aixgo) -> None:
    """Item 1: a chat opened and closed with Ctrl-D made an empty session that ``-c`` then continued."""
    said = aixgo.run("-m", "My name is Ada.")
    assert said.returncode == 0, said.stderr
    with aixgo.terminal("run", str(aixgo.config)) as term:
        term.expect("you> ")
        os.write(term.master, b"\x04")  # Ctrl-D at the prompt
        assert term.finish() == 0
    assert aixgo.run(stdin="").returncode == 0  # a piped chat with nothing in it
    listed = aixgo.sessions("list", "--json")
    assert listed.stdout.count('"id"') == 1, listed.stdout
    from aixgo.session import FileBackend, Manager

    with Manager(FileBackend(aixgo.store)) as mgr:  # an empty session, as the Python API or an older aixgo made
        mgr.create("offline", "made-empty")
    again = aixgo.run("-c", "-m", "What is my name?")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Your name is Ada.\n"


def stored_user_messages(aixgo: Aixgo, session_id: str) -> list[str]:
    from aixgo.session import FileBackend, Manager

    with Manager(FileBackend(aixgo.store)) as mgr:
        return [m["content"] for m in mgr.get(session_id).get_messages() if m["role"] == "user"]


def test_piped_text_comes_before_the_message_and_stdout_holds_only_answers(aixgo: Aixgo) -> None:
    """Item 3: stdin was ignored with ``-m``; a piped chat wrote ``offline> `` before each answer."""
    both = aixgo.run("--session", "notes", "-m", "What is 6*7?", stdin="My notes:\n- buy milk\n")
    assert both.returncode == 0, both.stderr
    assert stored_user_messages(aixgo, "notes") == ["My notes:\n- buy milk\n\nWhat is 6*7?"]
    assert both.stdout == "6*7 = 42\n"
    piped = aixgo.run("--session", "piped", stdin="What is 6*7?\nWhat is 2+3?\n")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == "6*7 = 42\n2+3 = 5\n"
    whole = aixgo.run("--session", "piped-whole", "--no-stream", stdin="What is 6*7?\n")
    assert whole.stdout == "6*7 = 42\n"


def one_line_usage_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    return done.stderr


def test_usage_mistakes_are_one_line_and_exit_2(aixgo: Aixgo) -> None:
    """Item 5: a mistyped --session prefix started a new session, an unknown --agent exited 1, --limit 0
    said the store was empty, --debug after ``run`` was refused, usage errors took three lines."""
    said = aixgo.run("-m", "My name is Ada.", "--json")
    assert said.returncode == 0, said.stderr
    import json

    real = json.loads(said.stdout)["session_id"]
    typo = ("0" if real[0] != "0" else "1") + real[1:6]
    assert "no session" in one_line_usage_error(aixgo.run("--session", typo, "-m", "hi"))
    assert aixgo.run("--session", real[:6], "-m", "What is my name?").stdout == "Your name is Ada.\n"
    assert aixgo.run("--session", "my-notes", "-m", "hi").returncode == 0  # an id of one's own: a new session
    assert "no agent named 'nope'" in one_line_usage_error(aixgo.run("--agent", "nope", "-m", "hi"))
    assert "--bogus" in one_line_usage_error(aixgo.run("--bogus"))
    assert "--limit" in one_line_usage_error(aixgo.sessions("list", "--limit", "0"))
    assert "--frobnicate" in one_line_usage_error(aixgo("--frobnicate"))
    debug = aixgo.run("-c", "--user", "nobody", "-m", "hi", "--debug")
    assert debug.returncode != 0 and "Traceback" in debug.stderr  # --debug after run, as after sessions


def test_the_continue_note_comes_only_when_a_turn_stored_something(aixgo: Aixgo, tmp_path: Path) -> None:
    """Item 8: "note: session X keeps what the turn stored; continue it with …" came when no turn ran."""
    down = tmp_path / "down.yaml"
    down.write_text('session: {store: redis, redis: {addr: "127.0.0.1:1"}}\nllm: {provider: scripted}\n'
                    "agents:\n  - {name: offline, model: m}\n")
    unreachable = aixgo("run", str(down), "-m", "hi")
    assert unreachable.returncode == 1 and "cannot reach Redis" in unreachable.stderr
    assert "note:" not in unreachable.stderr
    two = tmp_path / "two.yaml"
    two.write_text(aixgo.config.read_text() + "  - {name: other, role: react, model: scripted}\n")
    assert aixgo("run", str(two), "--agent", "offline", "--session", "mine", "-m", "hi").returncode == 0
    wrong = aixgo("run", str(two), "--agent", "other", "--session", "mine", "-m", "hi")
    assert wrong.returncode == 1 and "belongs to agent 'offline'" in wrong.stderr
    assert "note:" not in wrong.stderr
    path = next(aixgo.store.rglob("mine.jsonl"))
    lines = path.read_text().splitlines(keepends=True)
    lines[-2] = lines[-2].replace("Hello", "Jello")  # the answer's record no longer matches its checksum
    path.write_text("".join(lines))
    damaged = aixgo.run("--session", "mine", "-m", "hi")
    assert damaged.returncode == 1, damaged.stderr
    assert "keeps what the turn stored" not in damaged.stderr
    assert "aixgo sessions repair mine" in damaged.stderr


def test_a_shared_folder_as_store_suggests_a_folder_inside_it(aixgo: Aixgo, tmp_path: Path) -> None:
    """Item 9: ``--base-dir /tmp`` told the user to ``chmod 700 /tmp``, which would break the machine."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp is
    refused = aixgo("sessions", "list", "--base-dir", str(shared))
    assert refused.returncode == 1
    assert "chmod" not in refused.stderr, refused.stderr
    suggested = shared / "aixgo-sessions"
    assert str(suggested) in refused.stderr
    followed = tmp_path / "followed.yaml"
    followed.write_text(aixgo.config.read_text().replace(str(aixgo.store), str(suggested)))
    assert aixgo("run", str(followed), "-m", "hi").returncode == 0  # the advice works
    own = tmp_path / "own"
    own.mkdir()
    own.chmod(0o777)  # the user's own folder: tightening it is the fix
    assert f"chmod 700 {own}" in aixgo("sessions", "list", "--base-dir", str(own)).stderr


def test_sessions_with_a_config_read_only_its_session_section(aixgo: Aixgo, tmp_path: Path) -> None:
    """Item 6: ``sessions --config app.yaml`` failed on an unset ``${OPENAI_API_KEY}`` in ``llm:``/``agents:``."""
    assert aixgo.run("--session", "kept", "-m", "My name is Ada.").returncode == 0
    app = tmp_path / "app.yaml"
    app.write_text(f"session: {{store: file, base_dir: {aixgo.store}}}\n"
                   "llm:\n  base_url: http://127.0.0.1:9/v1\n  api_key: ${OPENAI_API_KEY}\n"
                   "agents:\n  - name: offline\n    model: gpt-4o\n    prompt: ${AIXGO_UNSET_PROMPT}\n")
    listed = aixgo("sessions", "--config", str(app), "list")
    assert listed.returncode == 0, listed.stderr
    assert "kept" in listed.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("session:\n  store: file\n  base_dir: ${AIXGO_UNSET_DIR}\nagents: []\n")
    refused = aixgo("sessions", "--config", str(broken), "list")
    assert refused.returncode == 2 and "AIXGO_UNSET_DIR" in refused.stderr  # the session section still counts


def test_sessions_list_shows_titles_and_searches(aixgo: Aixgo) -> None:
    """Item 2: ``sessions list`` showed ids only; conversations could not be told apart or searched."""
    long = "Please remember that my favourite colour is teal and " + "that I like long walks " * 8
    for message in ("My name is Ada.", "What is 6*7?", long):
        assert aixgo.run("-m", message).returncode == 0
    listed = aixgo.sessions("list")
    assert listed.returncode == 0, listed.stderr
    assert "TITLE" in listed.stdout.splitlines()[0]
    assert "My name is Ada." in listed.stdout and "What is 6*7?" in listed.stdout
    aixgo.env["COLUMNS"] = "120"
    narrow = aixgo.sessions("list").stdout.splitlines()
    assert all(len(line) <= 120 for line in narrow), narrow
    assert any(line.endswith("…") and "Please remember" in line for line in narrow), narrow
    found = aixgo.sessions("list", "-q", "ada")
    assert found.returncode == 0 and "My name is Ada." in found.stdout and "6*7" not in found.stdout
    assert "Please remember" in aixgo.sessions("list", "--search", "teal walks").stdout
    nothing = aixgo.sessions("list", "-q", "zebra")
    assert nothing.returncode == 0 and nothing.stdout == "" and "zebra" in nothing.stderr


def test_undo_retry_edit_fork_in_a_chat_and_show_the_latest(aixgo: Aixgo, tmp_path: Path) -> None:
    """Item 4: no way to undo or retry in a chat; ``sessions show`` needed an id."""
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/Ada/Bob/' \"$1\"\n")
    editor.chmod(0o755)
    aixgo.env["EDITOR"] = str(editor)
    script = ["My name is Ada.", "What is 6*7?", "/undo", "/retry", "/edit", "What is my name?", "/fork",
              "What is 2+3?"]
    chat = aixgo.run("--session", "talk", stdin="\n".join(script) + "\n")
    assert chat.returncode == 0, chat.stderr
    answers = [line.split("!")[0] for line in chat.stdout.splitlines()]
    assert answers == ["Nice to meet you, Ada", "6*7 = 42", "Nice to meet you, Ada", "Nice to meet you, Bob",
                       "Your name is Bob.", "2+3 = 5"]
    assert "undone" in chat.stderr and "forked session talk into " in chat.stderr
    fork_id = chat.stderr.split("forked session talk into ")[1].split()[0].rstrip(";:,")
    assert stored_user_messages(aixgo, "talk") == ["My name is Bob.", "What is my name?"]
    assert stored_user_messages(aixgo, fork_id) == ["My name is Bob.", "What is my name?", "What is 2+3?"]
    latest = aixgo.sessions("show")
    assert latest.returncode == 0, latest.stderr
    assert f"session      {fork_id}" in latest.stdout and "What is 2+3?" in latest.stdout
    every = aixgo.sessions("show", "--all", "talk").stdout
    assert "What is 6*7?" in every and "(abandoned branch)" in every  # undone turns stay stored


def test_waits_show_on_a_terminal(aixgo: Aixgo, tmp_path: Path) -> None:
    """Item 12: retries of a rate-limited model and waits for a busy session showed nothing on a terminal."""
    from aixgo.session import FileBackend, Manager
    from tests.support.openai_server import OpenAIServer, error, text

    with OpenAIServer() as server:
        config = tmp_path / "limited.yaml"
        config.write_text(f"session: {{store: file, base_dir: {aixgo.store}}}\n"
                          f"llm: {{base_url: {server.base_url}, api_key: sk-test}}\n"
                          "agents:\n  - {name: a, model: test-model}\n")
        server.enqueue(error(429, "slow down", headers={"retry-after-ms": "300"}), text("here you are"))
        with aixgo.terminal("run", str(config), "--session", "busy", "-m", "hi") as term:
            shown = term.expect("here you are")
            assert term.finish() == 0
        assert "429" in shown and "retry 1" in shown, shown
        server.enqueue(text("after the wait"))
        with Manager(FileBackend(aixgo.store)) as mgr:
            lease = mgr.get("busy").lease()  # another turn holds the session
            with aixgo.terminal("run", str(config), "--session", "busy", "-m", "again") as term:
                term.expect("waiting for session busy")
                lease.release()
                term.expect("after the wait")
                assert term.finish() == 0
