"""Start-up: a command imports what it uses (issue 27, item 11).

Each command runs as a user runs it, in a fresh interpreter; the test then reads ``sys.modules`` of that
interpreter. It asserts on what was imported, never on time (the times are in ``python -m benchmarks
startup``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: print('MODULES ' + json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
    "from aixgo.cli import main\n"
    "main(sys.argv[1:])\n"
)
HEAVY = ("openai", "httpx", "pydantic", "tenacity", "starlette", "uvicorn", "rich")
"""Modules none of these commands needs: the OpenAI client and what it brings, the server's stack."""


def _loaded(tmp_path: Path, *args: str) -> set[str]:
    env = {**os.environ, "HOME": str(tmp_path), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    line = next(row for row in done.stderr.splitlines() if row.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(name for name in modules if name.split(".")[0] in HEAVY)


@pytest.mark.parametrize(
    "args",
    [
        ("run", str(REPO / "configs" / "offline.yaml"), "-m", "hi"),
        ("sessions", "--base-dir", "store", "list"),
        ("validate", str(REPO / "configs" / "offline.yaml")),
    ],
    ids=["run-offline", "sessions-list-empty", "validate"],
)
def test_a_command_does_not_import_what_it_does_not_use(tmp_path: Path, args: tuple[str, ...]) -> None:
    modules = _loaded(tmp_path, *args)
    assert _heavy(modules) == []


def test_sessions_list_on_an_empty_store_needs_no_agent_or_model(tmp_path: Path) -> None:
    modules = _loaded(tmp_path, "sessions", "--base-dir", "store", "list")
    assert sorted(m for m in modules if m.startswith(("aixgo.agents", "aixgo.llm", "aixgo.runtime", "jsonschema"))) == []
