"""docs/tools.md#approvals as a user follows it: its configs load, ``aixgo run`` on a terminal and without
one prints what the page shows, and ``aixgo serve`` answers the page's requests with the page's JSON (ids
and times aside). (Its Python block runs in tests/test_docs_snippets.py.)"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from aixgo.config import parse_config
from tests.server.serving import Served
from tests.support.terminal import Terminal

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "tools.md").read_text(encoding="utf-8")
SECTION = DOC[DOC.index("## Approvals"):DOC.index("## From Python")]
YAML = re.findall(r"```yaml\n(.*?)```", SECTION, re.DOTALL)
CONSOLE = re.findall(r"```console\n(.*?)```", SECTION, re.DOTALL)
JSON = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", SECTION, re.DOTALL)]
TEXT = re.findall(r"```text\n(.*?)```", SECTION, re.DOTALL)
VOLATILE = {"id", "created", "requested_at"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "approvals.yaml").write_text(YAML[0])
    return tmp_path


def env_for(home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AIXGO_"))}
    return {**keep, "HOME": str(home), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "TERM": "dumb", "COLUMNS": "200"}


def test_the_configs_load(tmp_path: Path) -> None:
    config = parse_config(YAML[0], path="approvals.yaml", base_dir=tmp_path, env={})
    assert config.agents[0].require_approval == ("calculator",)
    server = parse_config(YAML[1] + "agents:\n  - {name: a, model: m, mcp_servers: [git]}\n", path="git.yaml",
                          base_dir=tmp_path, env={})
    assert server.mcp_servers[0].require_approval == ("git_commit", "git_reset", "git_checkout*")


def test_aixgo_run_on_a_terminal_shows_what_the_page_shows(home: Path) -> None:
    command, question, answer = CONSOLE[0].strip().splitlines()
    typed = question.rsplit(" ", 1)[1]
    with Terminal(shlex.split(command.removeprefix("$ ")), env=env_for(home), cwd=home) as terminal:
        terminal.expect(question.removesuffix(typed))
        terminal.type(typed)
        terminal.expect(answer)
        assert terminal.finish() == 0


def test_aixgo_run_without_a_terminal_prints_what_the_page_shows(home: Path) -> None:
    done = subprocess.run(["aixgo", "run", "approvals.yaml", "--session", "demo", "-m", "What is 17 * 23?"],
                          cwd=home, env=env_for(home), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr == TEXT[0]


def without(value: Any) -> Any:
    """``value`` without its ids and times."""
    if isinstance(value, dict):
        return {k: without(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [without(item) for item in value]
    return value


def test_aixgo_serve_answers_the_pages_requests_as_the_page_shows(home: Path) -> None:
    chat_body = json.loads(re.search(r"-d '(.*?)'", CONSOLE[1], re.DOTALL).group(1))  # type: ignore[union-attr]
    decision_body = json.loads(re.search(r"-d '(.*?)'", CONSOLE[2], re.DOTALL).group(1))  # type: ignore[union-attr]
    path = re.search(r"localhost:8080(\S+)", CONSOLE[2]).group(1)  # type: ignore[union-attr]
    with Served(home / "approvals.yaml", env={"HOME": str(home)}) as served:
        paused = httpx.post(f"{served.url}/v1/chat/completions", json=chat_body, headers={"X-Session-Id": "web-1"},
                            timeout=60).json()
        listed = httpx.get(f"{served.url}/v1/sessions/web-1/approvals", timeout=60).json()
        done = httpx.post(f"{served.url}{path}", json=decision_body, timeout=60).json()
    assert without(paused) == without(JSON[0])
    assert without(listed["data"]) == without(JSON[0]["pending_approvals"])
    assert without(done) == without(JSON[1])
