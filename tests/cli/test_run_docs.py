"""docs/run.md as a reader uses it: every ``console`` block runs as shown (each ``$`` line in bash, from the
repository's folder, offline, in a home of its own; the lines under it are its whole stdout), and the chat
commands it lists are those ``aixgo run`` knows (``/help``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from aixgo.cli.run import HELP

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "run.md"
BLOCK = re.compile(r"^```console\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _steps(text: str) -> list[tuple[str, str]]:
    """Each ``$ command`` of the page's console blocks with the stdout shown under it."""
    steps: list[tuple[str, list[str]]] = []
    for block in BLOCK.findall(text):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
    return [(command, "".join(f"{line}\n" for line in shown)) for command, shown in steps]


def test_the_console_blocks_run_as_shown(tmp_path: Path) -> None:
    steps = _steps(DOC.read_text(encoding="utf-8"))
    assert len(steps) >= 5
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIXGO_", "OPENAI_", "EDITOR", "VISUAL"))}
    env.update(HOME=str(tmp_path), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    for command, shown in steps:
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert (done.stdout, done.returncode in (0, 1)) == (shown, True), f"$ {command}\n{done.stderr}"


def test_the_chat_commands_listed_are_the_commands_of_aixgo_run() -> None:
    table = set(re.findall(r"^\| `(/[a-z]+)[ `]", DOC.read_text(encoding="utf-8"), re.MULTILINE))
    table |= set(re.findall(r"^\| `/[a-z]+`, `(/[a-z]+)`", DOC.read_text(encoding="utf-8"), re.MULTILINE))
    known = set(re.findall(r"^  (/[a-z]+)", HELP, re.MULTILINE)) | {"/quit"}
    assert table == known
