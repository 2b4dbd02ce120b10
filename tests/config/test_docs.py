"""docs/config.md: its YAML examples load, and it documents every key of the schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aixgo.config import load_schema, parse_config

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
YAML_BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC, flags=re.DOTALL)


def test_the_doc_has_examples() -> None:
    assert len(YAML_BLOCKS) >= 8


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=[f"block{i}" for i in range(len(YAML_BLOCKS))])
def test_doc_examples_load(block: str, tmp_path: Path) -> None:
    config = parse_config(block, path="docs/config.md", base_dir=tmp_path, env={"OPENAI_API_KEY": "sk-test"})
    assert config.session.base_dir.is_absolute()
    assert list(tmp_path.iterdir()) == []  # loading created nothing


def _keys(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        found.update(node.get("properties", {}))
        for value in node.values():
            found |= _keys(value)
    elif isinstance(node, list):
        for value in node:
            found |= _keys(value)
    return found


def test_every_schema_key_is_documented() -> None:
    keys = _keys(load_schema())
    assert {"ttl", "key_prefix", "react_format", "script"} <= keys
    missing = sorted(key for key in keys if f"`{key}`" not in DOC)
    assert missing == []


def test_documented_error_output_is_what_aixgo_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aixgo.config import load_config
    from aixgo.errors import ConfigError

    match = re.search(r"```yaml configs/app\.yaml\n(.*?)```.*?```text\n(.*?)```", DOC, flags=re.DOTALL)
    assert match is not None
    source, expected = match.groups()
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "app.yaml").write_text(source)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("configs/app.yaml")
    assert str(info.value) + "\n" == expected
