"""How aixgo behaves as a library and as a command (issue "The command line and the docs", items 4
and 21): it prints no log records on its own, and commands load only what they use."""

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


def test_commands_that_need_no_model_do_not_load_the_model_client() -> None:
    """``aixgo --help``, ``sessions``, ``validate`` and ``schema`` must not import ``openai`` (0.3 s of a
    0.5 s start in the first version; issue "The command line", item 21)."""
    repo = Path(__file__).resolve().parents[1]
    probe = (
        "import sys\nfrom aixgo.cli import run_cli\ncode = run_cli(sys.argv[1:])\n"
        "print('openai' in sys.modules, 'jsonschema' in sys.modules, file=sys.stderr)\n"
    )
    for args, jsonschema_expected in (
        (["--help"], False),
        (["sessions", "--help"], False),
        (["schema"], False),
        (["validate", str(repo / "configs" / "offline.yaml")], True),
    ):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60, check=False
        )
        loaded = done.stderr.strip().splitlines()[-1].split()
        assert loaded[0] == "False", (args, done.stderr)
        assert loaded[1] == str(jsonschema_expected), (args, done.stderr)


def test_the_lazy_command_list_matches_the_commands() -> None:
    """`aixgo --help` lists the commands without importing them; their lines must be the real ones."""
    import importlib

    import click

    from aixgo.cli import COMMANDS

    for name, (module, attribute, line) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command) and command.name == name
        assert command.get_short_help_str(10**6) == line, name


def test_help_starts_fast_and_loads_no_command_module() -> None:
    code = (
        "import sys, time; started = time.perf_counter()\n"
        "from aixgo.cli import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('aixgo.cli.', 'aixgo.session', 'openai'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "['aixgo.cli.app']"
