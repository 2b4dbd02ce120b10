"""Config files: YAML loading, ``${ENV}`` interpolation, JSON Schema validation, typed config objects.

>>> from aixgo.config import load_config, build_session_manager
>>> config = load_config("configs/assistant.yaml")          # doctest: +SKIP
>>> config.agent("assistant").model                          # doctest: +SKIP
'gpt-4-turbo'
>>> manager = build_session_manager(config)                  # doctest: +SKIP

Loading never creates files or connects anywhere; :func:`build_session_manager` does. Every problem
of a file is reported at once in one :class:`~aixgo.errors.ConfigError`. The fields are documented
in ``docs/config.md`` and in the JSON Schema (:func:`schema_text`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Imported now: importing the submodule ``aixgo.config.interpolate`` would otherwise set the package's
# attribute of that name to the module rather than the function.
from aixgo.config.interpolate import InterpolationError, interpolate

if TYPE_CHECKING:
    from aixgo.config.build import build_session_manager
    from aixgo.config.durations import format_duration, parse_duration
    from aixgo.config.loader import config_from_dict, load_config, parse_config
    from aixgo.config.model import (
        AgentConfig,
        CheckpointConfig,
        Config,
        LLMConfig,
        PostgresConfig,
        RedisConfig,
        SessionConfig,
    )
    from aixgo.config.schema import load_schema, schema_text

_LAZY = {
    "build_session_manager": "aixgo.config.build",
    "format_duration": "aixgo.config.durations",
    "parse_duration": "aixgo.config.durations",
    "config_from_dict": "aixgo.config.loader",
    "load_config": "aixgo.config.loader",
    "parse_config": "aixgo.config.loader",
    "AgentConfig": "aixgo.config.model",
    "CheckpointConfig": "aixgo.config.model",
    "Config": "aixgo.config.model",
    "LLMConfig": "aixgo.config.model",
    "PostgresConfig": "aixgo.config.model",
    "RedisConfig": "aixgo.config.model",
    "SessionConfig": "aixgo.config.model",
    "load_schema": "aixgo.config.schema",
    "schema_text": "aixgo.config.schema",
}
"""Each public name's module, imported on first use: a command that only needs durations (``sessions
prune``) or no config at all (``sessions list --base-dir``) does not load YAML, the typed config and the
session stores behind it."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aixgo.config' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    return getattr(importlib.import_module(module), name)


__all__ = [
    "AgentConfig",
    "CheckpointConfig",
    "Config",
    "InterpolationError",
    "LLMConfig",
    "PostgresConfig",
    "RedisConfig",
    "SessionConfig",
    "build_session_manager",
    "config_from_dict",
    "format_duration",
    "interpolate",
    "load_config",
    "load_schema",
    "parse_config",
    "parse_duration",
    "schema_text",
]
