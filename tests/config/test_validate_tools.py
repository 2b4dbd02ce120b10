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


def test_every_problem_is_reported_at_once_with_its_position(tmp_path: Path) -> None:
    """A schema error, a tool that cannot be imported and an octal number: one run shows all three,
    each at file:line:column, the warning beside the errors (issue 27, item 7)."""
    path = tmp_path / "app.yaml"
    path.write_text(
        "agents:\n"
        "  - name: a\n"
        "    model: m\n"
        "    max_step: 5\n"
        "    tools: [calculator, 'nomodule:f']\n"
        "    context:\n"
        "      window: 010000\n"
    )
    done = validate(path, cwd=tmp_path)
    assert done.returncode == 2
    err = done.stderr
    assert f"{path}:4:5: agents[0].max_step: unknown key 'max_step'" in err
    assert f"{path}:5:25: agents[0].tools[1]: " in err and "cannot import module 'nomodule'" in err
    assert f"warning: {path}:7:15: agents[0].context.window: 010000 is read as the octal number 4096" in err
    assert "2 problems in" in err
    assert "Traceback" not in err


def test_an_unquoted_word_for_a_boolean_is_not_told_to_drop_quotes(tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text("session:\n  enabled: yes please\nagents:\n  - {name: a, model: m}\n")
    done = validate(path)
    assert done.returncode == 2
    assert f"{path}:2:12: session.enabled: expected true or false, found the string 'yes please'" in done.stderr
    assert "quotes" not in done.stderr
    assert "hint: write true or false" in done.stderr
    path.write_text("session:\n  enabled: 'true'\nagents:\n  - {name: a, model: m}\n")
    quoted = validate(path)
    assert quoted.returncode == 2
    assert "hint: remove the quotes around the value" in quoted.stderr
