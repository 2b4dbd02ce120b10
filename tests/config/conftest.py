"""Helpers for the config tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from aixgo.config import Config, parse_config
from aixgo.errors import ConfigError

# The seed's example config, which must load unchanged.
SEED = """\
session:
  enabled: true
  store: file  # or redis
  base_dir: ~/.aixgo/sessions
agents:
  - name: assistant
    role: react
    model: gpt-4-turbo
    prompt: "You are a helpful assistant with memory."
"""

VALID = """\
session:
  store: file
agents:
  - name: assistant
    model: gpt-4-turbo
"""


def config_problems(text: str, env: Mapping[str, str] | None = None) -> list[str]:
    """The problems of YAML ``text`` (dedented), named ``cfg.yaml``; fails if it loads."""
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), path="cfg.yaml", env=env or {})
    assert info.value.path == "cfg.yaml"
    return info.value.problems


def load_text(text: str, env: Mapping[str, str] | None = None, base_dir: Path | None = None) -> Config:
    """Load YAML ``text`` (dedented) as ``cfg.yaml``."""
    return parse_config(textwrap.dedent(text), path="cfg.yaml", env=env or {}, base_dir=base_dir)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a config file under tmp_path and return its path."""

    def write(text: str, name: str = "aixgo.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
