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

from aixgo.config.build import build_session_manager
from aixgo.config.durations import format_duration, parse_duration
from aixgo.config.interpolate import InterpolationError, interpolate
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
