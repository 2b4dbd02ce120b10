"""The session-react example (the README's main job) runs offline and remembers across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.openai_server import OpenAIServer, call, tool_calls

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "session-react" / "main.py"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env=env,
    )


def test_demo_second_process_answers_from_first_processes_history() -> None:
    done = run("--demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    first, second = out.split("── process 2")
    assert "assistant> 17 * 23 = 391" in first and "1 tool call(s)" in first
    pids = [line.split("pid ")[1].rstrip(")") for line in out.splitlines() if "(pid " in line]
    assert len(set(pids)) == 2  # really two processes
    assert "assistant> Your name is Ada." in second
    assert "our launch is on Friday" in second
    assert "tool_result tool      391" in out  # the stored history shows the tool step


def test_the_demo_reuses_one_folder_and_starts_afresh() -> None:
    """Each run used to leave a new /tmp/aixgo-demo-* folder; now one folder, and a fresh conversation."""
    first, second = run("--demo"), run("--demo")
    assert first.returncode == second.returncode == 0, second.stderr
    folder = Path(os.environ["HOME"]) / ".aixgo" / "demo-sessions"
    assert str(folder) in second.stdout and "aixgo-demo-" not in second.stdout
    assert list(folder.glob("*/*.jsonl")) == [folder / "assistant" / "demo-session.jsonl"]
    history = [line for line in second.stdout.splitlines() if line.startswith("  #")]
    assert history == [line for line in first.stdout.splitlines() if line.startswith("  #")]  # not grown


def test_single_run_into_a_given_folder(tmp_path: Path) -> None:
    done = run("--base-dir", str(tmp_path), "--session", "mine")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "assistant" / "mine.jsonl").exists()
    assert "Your name is Ada." in done.stdout


def test_talks_to_a_real_endpoint_when_configured(tmp_path: Path) -> None:
    """With OPENAI_BASE_URL set, the example drives the real openai client (here: a local server)."""
    with OpenAIServer() as server:
        server.enqueue(
            "Hello Ada!",
            "Noted: Friday.",
            tool_calls(call("calculator", {"expression": "17 * 23"}, id="c1")),
            "It is 391.",
            "You are Ada.",
            "The launch is on Friday.",
        )
        env = {
            **os.environ,
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "sk-test",
            "AIXGO_MODEL": "m1",
        }
        done = run("--base-dir", str(tmp_path), env=env)
        requests = server.chat_requests
    assert done.returncode == 0, done.stderr
    assert "assistant> It is 391." in done.stdout and "assistant> You are Ada." in done.stdout
    assert len(requests) == 6 and {r["model"] for r in requests} == {"m1"}
    assert any(m["role"] == "tool" and m["content"] == "391" for m in requests[3]["messages"])
    last = requests[-1]["messages"]
    assert [m["content"] for m in last if m["role"] == "user"][:2] == [
        "Hi! My name is Ada.",
        "Remember that our launch is on Friday.",
    ]


def test_the_readme_example_commands_run_as_written() -> None:
    """README's example lines name the venv's python (a bare `python` lacks aixgo: ModuleNotFoundError)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = [line for line in readme.splitlines() if line.startswith("- `") and "examples/" in line]
    assert len(commands) >= 2
    for line in commands:
        command = line.split("`")[1].replace(" [--demo]", "").split()
        assert command[0] == ".venv/bin/python", line
        done = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True, timeout=120,
                              check=False, cwd=REPO)
        assert done.returncode == 0, f"{line}\n{done.stderr[-1500:]}"
