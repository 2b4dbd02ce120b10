"""An agent's ``context:`` block is checked by one rule (the budget's), reported with file:line by
``aixgo validate``, ``aixgo run`` and ``aixgo serve`` alike (``validate`` accepted ``{window: 100,
reserve: 80}``, which ``run`` then refused without saying where)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = "llm: {{provider: scripted, script: [hi]}}\nagents:\n  - name: a\n    model: m\n    context:\n{block}"


@pytest.mark.parametrize(("block", "key", "said"), [
    ("      window: 100\n      reserve: 80\n", "reserve", "less than half of context.window (100)"),
    ("      window: 100\n      reserve: 50\n", "reserve", "less than half of context.window (100)"),
])
@pytest.mark.parametrize("command", [["validate"], ["run", "-m", "hello"], ["serve", "--port", "0"]],
                         ids=lambda c: c[0])
def test_context_settings_are_reported_with_file_and_line_by_every_command(
    tmp_path: Path, command: list[str], block: str, key: str, said: str
) -> None:
    config = tmp_path / "app.yaml"
    config.write_text(CONFIG.format(block=block))
    args = [command[0], str(config), *command[1:]]
    done = subprocess.run([sys.executable, "-m", "aixgo", *args], capture_output=True, text=True, timeout=60,
                          check=False, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"{config}:7:16: agents[0].context.{key}: " in done.stderr and said in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_valid_context_block_passes(tmp_path: Path) -> None:
    config = tmp_path / "app.yaml"
    config.write_text(CONFIG.format(block="      window: 1000\n      reserve: 100\n      strategy: trim\n"))
    done = subprocess.run([sys.executable, "-m", "aixgo", "validate", str(config)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
