"""The session-react example (the README's main job) runs offline and remembers across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "session-react" / "main.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=120, check=False, cwd=REPO
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


def test_single_run_into_a_given_folder(tmp_path: Path) -> None:
    done = run("--base-dir", str(tmp_path), "--session", "mine")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "assistant" / "mine.jsonl").exists()
    assert "Your name is Ada." in done.stdout
