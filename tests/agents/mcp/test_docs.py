"""docs/tools.md as a user follows it: its config loads, ``aixgo tools`` prints what the page shows,
``aixgo run`` fails as the page shows, and a stored result has the fields the page lists. (Its
Python block runs in tests/test_docs_snippets.py.)"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from aixgo.config import parse_config

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "tools.md").read_text(encoding="utf-8")
CONFIG = re.search(r"```yaml\n(.*?)```", DOC, re.DOTALL).group(1)  # type: ignore[union-attr]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(tmp_path: Path, *args: str, config: str = CONFIG) -> tuple[subprocess.CompletedProcess[str], str]:
    (tmp_path / "tools.yaml").write_text(config)
    url = f"http://127.0.0.1:{closed_port()}/mcp"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "NOTES_MCP_URL": url, "NOTES_TOKEN": "docs-token", "OPENAI_API_KEY": "sk-docs", "COLUMNS": "100"}
    done = subprocess.run([sys.executable, "-m", "aixgo", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    return done, url


def shown(kind: str, after: str) -> str:
    """The first ``kind`` block after the text ``after``."""
    return re.search(re.escape(after) + r".*?```" + kind + r"\n(.*?)```", DOC, re.DOTALL).group(1)  # type: ignore[union-attr]


def test_the_config_loads(tmp_path: Path) -> None:
    config = parse_config(CONFIG, path="tools.yaml", base_dir=tmp_path, env={"NOTES_MCP_URL": "http://h/mcp"})
    assert [server.name for server in config.mcp_servers] == ["time", "notes"]


def test_aixgo_tools_prints_what_the_page_shows(tmp_path: Path) -> None:
    done, url = run(tmp_path, "tools", "tools.yaml")
    lines = shown("console", "## `aixgo tools`").splitlines()[1:]
    assert done.returncode == 1
    assert done.stdout.splitlines() == lines[:-1]
    assert done.stderr.splitlines() == [lines[-1].replace("http://127.0.0.1:8000/mcp", url)]


def test_aixgo_run_fails_as_the_page_shows(tmp_path: Path) -> None:
    bad = CONFIG.replace("Europe/Paris]", "Europe/Pariss]")
    done, url = run(tmp_path, "run", "tools.yaml", "-m", "hi", config=bad)
    expected = shown("text", "`aixgo validate` checks the file")
    assert done.returncode == 1 and done.stdout == ""
    notes = f"tools.yaml:7:5: mcp_servers[1]: MCP server 'notes' at {url} is not reachable: connection refused\n"
    assert done.stderr == expected + notes  # both failing servers, at once


def test_a_stored_result_has_the_fields_the_page_lists(tmp_path: Path) -> None:
    from tests.support.openai_server import OpenAIServer, call, tool_calls

    documented = json.loads(re.sub(r"…[^\"]*\"", '"', shown("json", "## How results are stored")))
    with OpenAIServer() as llm:
        llm.enqueue(tool_calls(call("get_current_time", {"timezone": "Asia/Tokyo"})), "Night.")
        config = (f"session: {{base_dir: {tmp_path / 'store'}}}\n"
                  f"llm: {{base_url: '{llm.base_url}', api_key: sk-test}}\n"
                  + CONFIG[CONFIG.index("mcp_servers:"):CONFIG.index("  - name: notes")]
                  + "agents:\n  - {name: clock, model: m, tools: [time/get_current_time]}\n")
        done, _ = run(tmp_path, "run", "tools.yaml", "--session", "s1", "-m", "Time in Tokyo?", config=config)
        assert done.returncode == 0, done.stderr
    exported, _ = run(tmp_path, "sessions", "--base-dir", str(tmp_path / "store"), "export", "s1", config=config)
    stored = next(json.loads(line)["data"] for line in exported.stdout.splitlines()
                  if json.loads(line).get("type") == "tool_result")
    assert set(stored) == set(documented)
    assert set(stored["output"]) == set(documented["output"])
    assert set(stored["output"]["structured_content"]) == set(documented["output"]["structured_content"])
