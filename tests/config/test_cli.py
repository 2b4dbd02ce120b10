"""``aixgo validate`` and ``aixgo schema``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from aixgo.cli import cli
from aixgo.cli.app import run_cli
from aixgo.cli.validate import COMMANDS, schema, validate

ROOT = Path(__file__).resolve().parents[2]
WritePath = Callable[..., Path]
GOOD = "session: {store: file}\nagents: [{name: a, model: m}, {name: b, model: m}]\n"
BAD = "session:\n  store: redus\nagents:\n  - name: a\n    max_step: 3\n"


def test_commands_are_registered() -> None:
    assert [validate, schema] == COMMANDS
    assert cli.get_command(None, "validate") is validate  # type: ignore[arg-type]
    assert cli.get_command(None, "schema") is schema  # type: ignore[arg-type]


def test_validate_ok(write_config: WritePath) -> None:
    path = write_config(GOOD)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: ok: 2 agents (a, b), file store at ~/.aixgo/sessions (fsync always)\n"
    assert result.stderr == ""


def test_validate_reports_every_problem_and_exits_2(write_config: WritePath) -> None:
    path = write_config(BAD)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{path}:2:10: session.store: expected one of 'file', 'redis'" in result.stderr
    assert f"{path}:4:5: agents[0].model: missing required key 'model'" in result.stderr
    assert f"{path}:5:5: agents[0].max_step: unknown key 'max_step'" in result.stderr
    assert "hint: did you mean 'max_steps'?" in result.stderr
    assert result.stderr.rstrip().endswith(f"3 problems in {path}")
    assert "Traceback" not in result.output


def test_validate_several_files(write_config: WritePath, tmp_path: Path) -> None:
    good, bad = write_config(GOOD, "good.yaml"), write_config(BAD, "bad.yaml")
    missing = tmp_path / "missing.yaml"
    result = CliRunner().invoke(cli, ["validate", str(good), str(bad), str(missing)])
    assert result.exit_code == 2
    assert result.stdout.startswith(f"{good}: ok: ")
    assert f"{missing}: cannot read the config file: No such file or directory" in result.stderr
    assert result.stderr.rstrip().endswith("2 of 3 config files are invalid")


def test_validate_quiet(write_config: WritePath) -> None:
    result = CliRunner().invoke(cli, ["validate", "-q", str(write_config(GOOD))])
    assert (result.exit_code, result.output) == (0, "")


def test_validate_summary_for_redis_hides_credentials(write_config: WritePath) -> None:
    path = write_config("session: {store: redis, ttl: 1h30m, redis: {url: 'rediss://u:pw@h:6380/1'}}\n")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0
    assert result.stdout == f"{path}: ok: 0 agents, redis store at rediss://***@h:6380/1 (ttl 1h30m)\n"


def test_validate_summary_for_disabled_sessions(write_config: WritePath) -> None:
    path = write_config("session: {enabled: false}\nagents: [{name: a, model: m}]\n")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.stdout == f"{path}: ok: 1 agent (a), sessions disabled\n"


def test_validate_needs_a_file() -> None:
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 2
    assert "Missing argument 'CONFIGS...'" in result.output


def test_run_cli_maps_exit_codes(write_config: WritePath, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["validate", str(write_config(GOOD, "good.yaml"))]) == 0
    assert run_cli(["validate", str(write_config(BAD, "bad.yaml"))]) == 2
    captured = capsys.readouterr()
    assert "ok: 2 agents" in captured.out
    assert "unknown key 'max_step'" in captured.err
    assert "Traceback" not in captured.err


def test_schema_prints_the_schema() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == (ROOT / "schemas" / "aixgo.schema.json").read_text()
    assert json.loads(result.stdout)["title"] == "aixgo config"


def test_schema_to_file(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    result = CliRunner().invoke(cli, ["schema", "-o", str(out)])
    assert result.exit_code == 0
    assert out.read_bytes() == (ROOT / "schemas" / "aixgo.schema.json").read_bytes()


def test_console_entry_point(write_config: WritePath) -> None:
    bad = write_config(BAD)
    proc = subprocess.run(
        [sys.executable, "-m", "aixgo", "validate", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "session.store" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "aixgo", "validate", str(ROOT / "configs" / "assistant.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("ok: 1 agent (assistant), file store at ~/.aixgo/sessions (fsync always)\n")
