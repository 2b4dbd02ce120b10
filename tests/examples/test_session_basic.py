"""The session-basic example runs offline in a subprocess and narrates every step of the session API."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aixgo.cli import cli
from tests.session.redis_server import RedisServer, require_redis_server

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "session-basic" / "main.py"


def run_example(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def check_walkthrough(out: str) -> None:
    for number in range(1, 9):
        assert f"\n{number}. " in out
    assert "get_or_create() -> created 'basic-demo'" in out
    assert "[2] message     user      Hi! My name is Ada." in out
    assert "get_entries(limit=2)             -> seq [2, 3]" in out
    assert "get_entries(limit=2, before=2)   -> seq [1]" in out
    assert "appended a tool call and its result: history has 5 entries" in out
    assert "-> history has 3 entries again" in out
    assert "all_entries() has 5 entries" in out
    assert "reopened 'basic-demo': 3 entries, checkpoints ['cp_" in out
    assert "inside use_session(sess): session_from_context() is sess -> True" in out
    assert out.count("session_from_context() -> None") == 2
    assert "asyncio task: noted 'request from ada' in session basic-demo" in out
    scratch = out.split("create()        -> new session ")[1].split(maxsplit=1)[0]
    assert f"asyncio task: noted 'request from bo' in session {scratch}" in out
    assert f"thread: noted 'from a thread' in session {scratch}" in out
    assert "user> What is my name?   assistant> Your name is Ada." in out
    assert f"delete({scratch}) -> get() now raises SessionNotFoundError" in out
    assert "1 session(s) left: 'basic-demo' with 5 messages" in out


def test_runs_offline_in_a_temporary_folder() -> None:
    out = run_example()
    check_walkthrough(out)
    assert "(temporary)" in out
    tmp = Path(out.split("file store at ")[1].split(" (temporary)")[0])
    assert not tmp.exists()  # cleaned up
    assert out.rstrip().endswith("inspect it with `aixgo sessions`.")


def test_keeps_a_given_store_and_resumes(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = run_example("--base-dir", str(store))
    check_walkthrough(first)
    assert f"Inspect it: aixgo sessions show basic-demo --base-dir {store}" in first
    second = run_example("--base-dir", str(store))
    assert "get_or_create() -> resumed 'basic-demo' from an earlier run (7 entries)" in second
    assert "not appending it again" in second and "Your name is Ada." in second
    shown = CliRunner().invoke(cli, ["sessions", "show", "basic-demo", "--base-dir", str(store)])
    assert shown.exit_code == 0, shown.output
    assert "--- checkpoint cp_" in shown.stdout and "reason=before tool run" in shown.stdout
    assert "delete_all_files" not in shown.stdout  # restored away


@pytest.fixture
def example_redis() -> Iterator[RedisServer]:
    require_redis_server()
    with RedisServer() as server:
        yield server


@pytest.mark.redis
def test_same_walkthrough_on_redis(example_redis: RedisServer) -> None:
    out = run_example("--redis-url", example_redis.address)
    check_walkthrough(out)
    assert f"on the Redis store at {example_redis.address}" in out
