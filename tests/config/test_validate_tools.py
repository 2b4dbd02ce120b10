"""``aixgo validate`` refuses what ``aixgo run`` would refuse, and warns about YAML's octal numbers.
Run as a user runs it: a subprocess on real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aixgo.agents.tools import BUILTIN_TOOLS
from aixgo.config import load_config
from aixgo.config.convert import BUILTIN_TOOL_NAMES


def validate(path: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aixgo", "validate", str(path)], capture_output=True,
                          text=True, timeout=60, check=False, cwd=cwd)


def write(tmp_path: Path, agent_lines: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text("agents:\n  - name: a\n    model: m\n" + agent_lines)
    return path


def test_the_builtin_names_are_the_agents_own() -> None:
    assert set(BUILTIN_TOOL_NAMES) == set(BUILTIN_TOOLS)


def test_an_unknown_tool_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    done = validate(write(tmp_path, "    tools: [calculater]\n"))
    assert done.returncode == 2
    assert "app.yaml:4:" in done.stderr and "agents[0].tools[0]" in done.stderr
    assert "unknown tool 'calculater'" in done.stderr and "did you mean 'calculator'?" in done.stderr


def test_an_unimportable_tool_reference_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mytools.py").write_text("def search(q: str) -> str:\n    return q\n")
    good = validate(write(tmp_path, "    tools: ['mytools:search']\n"), cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    missing = validate(write(tmp_path, "    tools: ['mytools:serch', 'nomodule:f']\n"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "agents[0].tools[0]" in missing.stderr and "no attribute 'serch'" in missing.stderr
    assert "agents[0].tools[1]" in missing.stderr and "cannot import module 'nomodule'" in missing.stderr


def test_yaml_octal_numbers_are_warned_about(tmp_path: Path) -> None:
    path = write(tmp_path, "    max_steps: 010\n")
    assert load_config(path).agents[0].max_steps == 8  # what YAML 1.1 reads
    done = validate(path)
    assert done.returncode == 0
    assert "warning:" in done.stderr and "app.yaml:4:16" in done.stderr
    assert "010 is read as the octal number 8, not 10" in done.stderr
    quoted = validate(write(tmp_path, "    max_steps: 10\n    prompt: '010'\n"))
    assert "warning" not in quoted.stderr
