"""Every config the repository ships (configs/, examples/) validates, and the seed example is unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from aixgo.config import load_config

from .conftest import SEED

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml")) + sorted((ROOT / "configs").glob("*.yml"))
EXAMPLES = sorted((ROOT / "examples").glob("**/*.yaml")) + sorted((ROOT / "examples").glob("**/*.yml"))
HEADER = "# yaml-language-server: $schema=../schemas/aixgo.schema.json\n"


def test_the_shipped_configs_exist() -> None:
    names = {path.name for path in CONFIGS}
    assert {"assistant.yaml", "redis.yaml", "offline.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS + EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_config_validates(path: Path) -> None:
    config = load_config(path, env={})
    assert config.path == path


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_configs_point_editors_at_the_schema(path: Path) -> None:
    assert path.read_text().startswith(HEADER)


def test_assistant_yaml_is_the_seed_example() -> None:
    assert (ROOT / "configs" / "assistant.yaml").read_text() == HEADER + SEED


def test_offline_config_needs_no_network_and_writes_outside_the_repo() -> None:
    config = load_config(ROOT / "configs" / "offline.yaml", env={})
    assert config.session.store == "file"
    assert ROOT not in config.session.base_dir.parents
    assert all(agent.llm.provider == "scripted" for agent in config.agents)
    assert config.agents[0].role == "react"
    assert set(config.agents[0].tools) == {"calculator", "current_time"}


def test_redis_config_defaults_to_localhost() -> None:
    config = load_config(ROOT / "configs" / "redis.yaml", env={})
    assert config.session.store == "redis"
    assert config.session.redis is not None
    assert config.session.redis.target == "redis://localhost:6379/0"
    config = load_config(ROOT / "configs" / "redis.yaml", env={"REDIS_URL": "rediss://h:6380/2"})
    assert config.session.redis is not None
    assert config.session.redis.target == "rediss://h:6380/2"
