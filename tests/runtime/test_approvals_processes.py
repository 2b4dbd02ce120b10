"""A turn paused in one process is decided in another and finishes there, on the file store and on Redis:
Python and MCP tools alike (the MCP test server records its runs too); two processes deciding one call at
the same moment never both decide it, and the call runs at most once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agents.mcp.conftest import SERVER
from tests.session.redis_server import RedisServer, require_redis_server
from tests.support.approval_tools import runs
from tests.support.openai_server import OpenAIServer, call, text, tool_calls

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def upstream() -> Iterator[OpenAIServer]:
    with OpenAIServer() as started:
        yield started


@pytest.fixture(params=["file", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "file":
        yield f"session: {{base_dir: {tmp_path / 'store'}}}"
        return
    require_redis_server()
    with RedisServer() as redis:
        yield f"session: {{store: redis, redis: {{url: '{redis.url}'}}}}"


def write_config(tmp_path: Path, upstream: OpenAIServer, store: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(f"""\
{store}
llm: {{base_url: '{upstream.base_url}', api_key: sk-test, max_retries: 0}}
mcp_servers:
  - name: remote
    transport: stdio
    command: {sys.executable}
    args: [{SERVER}, --runs, {tmp_path / 'mcp-runs.txt'}]
    require_approval: [record]
agents:
  - name: bot
    model: test-model
    tools: [tests.support.approval_tools:record, remote/record]
    tool_prefix: {{remote: remote_}}
    require_approval: [record]
""")
    return path


def env(tmp_path: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AIXGO_"))}
    return {**keep, "AIXGO_TEST_RUNS": str(tmp_path / "runs.txt"), "PYTHONPATH": str(ROOT)}


def pause(config: Path, tmp_path: Path, message: str) -> None:
    """``aixgo run -m`` in a process of its own, without a terminal: the turn pauses, the process exits."""
    done = subprocess.run([sys.executable, "-m", "aixgo", "run", str(config), "--session", "s1", "-m", message],
                          capture_output=True, text=True, env=env(tmp_path), cwd=ROOT, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 3, done.stderr


def worker(config: Path, tmp_path: Path, call_id: str, decision: str, gate: Path | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "tests.runtime.approval_worker", str(config), "s1", call_id, decision]
    return subprocess.Popen([*args, *([str(gate)] if gate else [])], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env(tmp_path), cwd=ROOT)


def outcome(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def mcp_runs(tmp_path: Path) -> list[str]:
    path = tmp_path / "mcp-runs.txt"
    return path.read_text().split() if path.exists() else []


def test_a_turn_paused_in_one_process_is_approved_in_another_and_finishes_there(
    tmp_path: Path, upstream: OpenAIServer, store: str
) -> None:
    config = write_config(tmp_path, upstream, store)
    upstream.enqueue(tool_calls(call("record", {"label": "py"}, id="call_py"),
                                call("remote_record", {"label": "mcp"}, id="call_mcp")))
    pause(config, tmp_path, "record both")
    assert runs(tmp_path / "runs.txt") == [] and mcp_runs(tmp_path) == []

    first = outcome(worker(config, tmp_path, "call_mcp", "approve"))
    assert first == {"pending": ["call_py", "call_mcp"], "answer": "", "outcome": "pending_approval"}
    assert mcp_runs(tmp_path) == []  # the step waits for its other call
    upstream.enqueue(text("Both recorded."))
    decider = worker(config, tmp_path, "call_py", "approve")
    second = outcome(decider)
    assert second == {"pending": ["call_py"], "answer": "Both recorded.", "outcome": "answered"}
    assert runs(tmp_path / "runs.txt") == ["record py"] and mcp_runs(tmp_path)[0] == "record:mcp"
    assert (tmp_path / "runs.txt").read_text().split()[-1] == str(decider.pid)  # it ran in the deciding process
    sent = upstream.chat_requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert [m["content"] for m in sent[2:]] == ["recorded py", "recorded mcp"]


def test_a_denial_from_another_process_never_runs_the_call(
    tmp_path: Path, upstream: OpenAIServer, store: str
) -> None:
    config = write_config(tmp_path, upstream, store)
    upstream.enqueue(tool_calls(call("remote_record", {"label": "mcp"}, id="call_mcp")), text("Not recorded."))
    pause(config, tmp_path, "record it")
    assert outcome(worker(config, tmp_path, "call_mcp", "deny"))["answer"] == "Not recorded."
    assert mcp_runs(tmp_path) == [] and "deny from pid" in upstream.chat_requests[-1]["messages"][-1]["content"]


def test_two_processes_deciding_one_call_at_once_decide_it_once(
    tmp_path: Path, upstream: OpenAIServer, store: str
) -> None:
    config = write_config(tmp_path, upstream, store)
    upstream.enqueue(tool_calls(call("record", {"label": "once"}, id="call_once")), text("Done."))
    pause(config, tmp_path, "record once")
    gate = tmp_path / "go"
    workers = {decision: worker(config, tmp_path, "call_once", decision, gate) for decision in ("approve", "deny")}
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{d}").exists() for d in workers) and time.monotonic() < deadline:
        assert all(w.poll() is None for w in workers.values()), "a worker ended before the gate opened"
        time.sleep(0.01)
    gate.touch()
    results = {decision: outcome(process) for decision, process in workers.items()}
    won = [d for d, r in results.items() if "answer" in r]
    lost = [r for r in results.values() if "error" in r]
    assert len(won) == 1 and len(lost) == 1, results
    assert lost[0]["error"] in ("ApprovalDecidedError", "ApprovalNotFoundError")
    assert runs(tmp_path / "runs.txt") == (["record once"] if won == ["approve"] else [])
    assert len(upstream.chat_requests) == 2  # the turn went on once
