"""A library logs through the standard ``logging`` module and prints nothing on its own (issue "The
command line and the docs", item 4): the first version printed structlog dicts from a plain script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, sys
from pathlib import Path
from aixgo.agents import ReActAgent
from aixgo.errors import AixgoError
from aixgo.runtime import Runtime
from aixgo.session import FileBackend, Manager
from aixgo.testing import ScriptedModel

rt = Runtime(Manager(FileBackend(Path(sys.argv[1]))))
rt.register_agent(ReActAgent("a", ScriptedModel([])))   # no reply scripted: the turn fails
try:
    rt.call_with_session("a", "hello", "s1")
except AixgoError:
    print("failed as expected")
rt.close()
"""


def test_a_plain_script_prints_no_log_records(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "failed as expected\n"
    assert "agent.turn.failed" not in done.stderr and "{'" not in done.stderr, done.stderr


def test_an_application_that_configures_logging_sees_aixgo_events(tmp_path: Path) -> None:
    script = "import logging; logging.basicConfig(level=logging.INFO)\n" + SCRIPT
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert "agent.turn.failed" in done.stderr
