"""Typed, immutable config objects: what :func:`aixgo.config.load_config` returns.

Defaults here match the defaults documented in the JSON Schema and ``docs/config.md``. Secrets
(``api_key``, ``password``) are left out of ``repr()`` so a logged config never shows them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from aixgo.config.mcp import MCPServerConfig, ToolFilterConfig
from aixgo.config.problems import JsonPath, json_path, mask_secrets
from aixgo.config.source import Marks
from aixgo.errors import AgentNotFoundError
from aixgo.observability.settings import DEFAULT_SERVICE_NAME, ExporterName, OtlpProtocol
from aixgo.session.file import FsyncPolicy
from aixgo.session.stores import (
    DEFAULT_BASE_DIR,
    DEFAULT_FSYNC,
    DEFAULT_POSTGRES,
    DEFAULT_REDIS,
    DurableStoreKind,
)

if TYPE_CHECKING:  # owned by the agents and LLM layers, whose import loads the openai client: see __getattr__
    from aixgo.agents.context.budget import Strategy as ContextStrategy
    from aixgo.agents.spec import OnMaxSteps, ReactFormat
    from aixgo.llm.factory import Provider
    from aixgo.llm.protocol import ToolChoiceMode

# Every enumeration is defined once, by the code that gives it meaning; the config's types are those, and
# tests/test_one_source.py checks the JSON Schema's enumerations against them.
StoreKind = DurableStoreKind
AgentRole = Literal["react"]
SessionMode = Literal["enabled", "lightweight", "disabled"]
"""How an agent remembers (see :data:`aixgo.runtime.SESSION_MODES`)."""
_ELSEWHERE = {
    "ContextStrategy": ("aixgo.agents.context.budget", "Strategy"),
    "OnMaxSteps": ("aixgo.agents.spec", "OnMaxSteps"),
    "ReactFormat": ("aixgo.agents.spec", "ReactFormat"),
    "Provider": ("aixgo.llm.factory", "Provider"),
    "ToolChoiceMode": ("aixgo.llm.protocol", "ToolChoiceMode"),
}


def __getattr__(name: str) -> Any:
    """The enumerations of the agents and LLM layers, imported on first use (loading a config stays light)."""
    if name in _ELSEWHERE:
        module, attribute = _ELSEWHERE[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DEFAULT_KEY_PREFIX = "aixgo:sessions:"
DEFAULT_MAX_STEPS = 10


@dataclass(frozen=True, slots=True)
class CheckpointConfig:
    """``session.checkpoint``: automatic checkpoints after completed turns."""

    auto_save: bool = False
    interval: timedelta | None = None


@dataclass(frozen=True, slots=True, repr=False)
class RedisConfig:
    """``session.redis``: how to reach Redis. Exactly one of ``addr`` / ``url`` is set.

    Timeouts are in seconds; ``None`` means the backend's default. ``repr()`` masks the password
    and any credentials in the URL.
    """

    addr: str | None = DEFAULT_REDIS
    url: str | None = None
    password: str | None = None
    db: int | None = None
    key_prefix: str = DEFAULT_KEY_PREFIX
    pool_size: int | None = None
    socket_timeout: float | None = None
    connect_timeout: float | None = None
    retries: int | None = None
    allow_eviction: bool = False
    cluster: bool = False
    min_replica_acks: int = 0
    replica_ack_timeout: float | None = None

    @property
    def target(self) -> str:
        """What to connect to: the URL if one is set, else ``host:port``."""
        return self.url if self.url is not None else (self.addr or DEFAULT_REDIS)

    @property
    def safe_target(self) -> str:
        """:attr:`target` with any password in the URL replaced by ``***`` (safe to print or log)."""
        return mask_secrets(self.target)

    def __repr__(self) -> str:
        shown = []
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "url" and value is not None:
                value = mask_secrets(value)
            if item.name == "password" and value is not None:
                value = "***"
            shown.append(f"{item.name}={value!r}")
        return f"RedisConfig({', '.join(shown)})"


@dataclass(frozen=True, slots=True, repr=False)
class PostgresConfig:
    """``session.postgres``: how to reach PostgreSQL. Durations are in seconds; ``None`` means the
    store's default. ``repr()`` masks any password in the URL."""

    url: str = DEFAULT_POSTGRES
    schema: str | None = None
    pool_size: int | None = None
    pool_max: int | None = None
    pool_timeout: float | None = None
    connect_timeout: float | None = None
    statement_timeout: float | None = None
    retries: int | None = None
    prepared_statements: bool | None = None
    auto_migrate: bool | None = None

    @property
    def safe_url(self) -> str:
        """:attr:`url` with any password replaced by ``***`` (safe to print or log)."""
        return mask_secrets(self.url)

    def __repr__(self) -> str:
        shown = [
            f"{item.name}={mask_secrets(value) if item.name == 'url' else value!r}"
            for item in fields(self)
            if (value := getattr(self, item.name)) is not None
        ]
        return f"PostgresConfig({', '.join(shown)})"


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """``session:``: the session store."""

    enabled: bool = True
    store: StoreKind = "file"
    base_dir: Path = field(default_factory=lambda: Path(DEFAULT_BASE_DIR).expanduser())
    fsync: FsyncPolicy = DEFAULT_FSYNC
    lock_timeout: timedelta | None = None
    cache_mb: int | None = None
    ttl: timedelta | None = None
    redis: RedisConfig | None = None
    postgres: PostgresConfig | None = None
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)


@dataclass(frozen=True, slots=True)
class LLMConfig:
    """``llm:`` (top level, or an agent's merged over it): the model server.

    ``timeout`` is in seconds; ``None`` values mean the client's default (``api_key`` and
    ``base_url`` then come from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``).
    """

    provider: Provider = "openai"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float | None = None
    max_retries: int | None = None
    script: list[str] | None = None


@dataclass(frozen=True, slots=True)
class ContextConfig:
    """An agent's ``context:`` block: its context budget (see ``docs/config.md``)."""

    window: int | None = None
    reserve: int | None = None
    strategy: ContextStrategy = "summarize"
    summarizer: str | None = None
    summary_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """One entry of ``agents:``. ``llm`` is already merged with the top-level ``llm:``."""

    name: str
    model: str
    role: AgentRole = "react"
    prompt: str = ""
    tools: list[str] = field(default_factory=list)
    max_steps: int = DEFAULT_MAX_STEPS
    on_max_steps: OnMaxSteps = "answer"
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    tool_choice: ToolChoiceMode | dict[str, Any] | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    temperature: float | None = None
    max_history_messages: int | None = None
    react_format: ReactFormat = "native"
    llm: LLMConfig = field(default_factory=LLMConfig)
    context: ContextConfig = field(default_factory=ContextConfig)
    session_mode: SessionMode = "enabled"
    mcp_servers: list[str] = field(default_factory=list)
    tool_filter: ToolFilterConfig = field(default_factory=ToolFilterConfig)
    tool_prefix: dict[str, str] = field(default_factory=dict)
    """The prefix of each MCP server's tools (a single ``tool_prefix:`` string applies to every one)."""
    require_approval: bool | tuple[str, ...] = False
    """Tool calls that wait for a person's approval: ``True`` (all), or glob patterns of tool names."""


KeyRole = Literal["user", "admin"]
"""What an API key may see: its ``user``'s sessions, or every session (``admin``)."""


@dataclass(frozen=True, slots=True, repr=False)
class ApiKey:
    """One accepted key of ``aixgo serve`` (an entry of ``server.api_keys``): the secret, the user it acts
    as (None: none of its own) and its role. ``repr()`` never shows the key."""

    key: str
    user: str | None = None
    role: KeyRole = "admin"

    def __repr__(self) -> str:
        return f"ApiKey(user={self.user!r}, role={self.role!r})"


@dataclass(frozen=True, slots=True, repr=False)
class ServerConfig:
    """``server:``: settings of ``aixgo serve``. ``repr()`` never shows the keys."""

    api_keys: tuple[ApiKey, ...] = ()
    max_request_kb: int = 1024
    header_timeout: float = 10.0
    """Seconds a client has to send a request's headers (from connecting, or from the first byte of the
    next request on a kept-alive connection) before it is answered 408 and closed."""
    max_connections: int = 1000
    """Open client connections at most; a request beyond them is answered 503."""

    def __repr__(self) -> str:
        return (f"ServerConfig(api_keys=<{len(self.api_keys)} keys>, max_request_kb={self.max_request_kb}, "
                f"header_timeout={self.header_timeout}, max_connections={self.max_connections})")


@dataclass(frozen=True, slots=True)
class ObservabilityConfig:
    """``observability:``: tracing and metrics (docs/observability.md); ``OTEL_*`` variables override it.
    ``headers`` (they may carry a collector's key) are left out of ``repr()``."""

    tracing: bool = False
    service_name: str = DEFAULT_SERVICE_NAME
    exporter: ExporterName = "otlp"
    endpoint: str | None = None
    protocol: OtlpProtocol = "http/protobuf"
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    sampling_rate: float = 1.0
    metrics: bool = True
    capture_content: bool = False
    store_span_ms: float = 5.0


@dataclass(frozen=True, slots=True)
class Config:
    """A whole config file. ``path`` is the file it was loaded from (absolute)."""

    path: Path
    session: SessionConfig = field(default_factory=SessionConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    agents: list[AgentConfig] = field(default_factory=list)
    server: ServerConfig = field(default_factory=ServerConfig)
    mcp_servers: list[MCPServerConfig] = field(default_factory=list)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    warnings: tuple[str, ...] = ()
    """Settings that load but have no effect, each formatted as ``file:line:column: path: message``."""
    source: str = ""
    """The file as it was named when loaded (for messages); empty for a config built from a dict."""
    marks: Marks | None = field(default=None, repr=False, compare=False)

    def where(self, path: JsonPath) -> str:
        """``file:line:column: json.path`` of the value at ``path``, for problems found after loading
        (an MCP server's tool that does not exist, two tools of one name)."""
        location = self.marks.value(path) if self.marks is not None else None
        at = f":{location.line}:{location.column}" if location is not None else ""
        return f"{self.source or self.path}{at}: {json_path(path)}"

    def mcp_server(self, name: str) -> MCPServerConfig | None:
        """The ``mcp_servers:`` entry called ``name``, or None."""
        return next((server for server in self.mcp_servers if server.name == name), None)

    @property
    def agent_names(self) -> list[str]:
        """Names of the agents, in file order."""
        return [agent.name for agent in self.agents]

    def agent(self, name: str) -> AgentConfig:
        """The agent called ``name``.

        Raises :class:`~aixgo.errors.AgentNotFoundError` naming the available agents if there is none.
        """
        for agent in self.agents:
            if agent.name == name:
                return agent
        available = ", ".join(self.agent_names) or "none"
        raise AgentNotFoundError(
            f"no agent named {name!r} in {self.path} (available: {available})", agent=name
        )


__all__ = [
    "AgentConfig",
    "AgentRole",
    "ApiKey",
    "CheckpointConfig",
    "Config",
    "ContextConfig",
    "FsyncPolicy",
    "KeyRole",
    "LLMConfig",
    "MCPServerConfig",
    "ObservabilityConfig",
    "PostgresConfig",
    "Provider",
    "ReactFormat",
    "RedisConfig",
    "ServerConfig",
    "SessionConfig",
    "SessionMode",
    "StoreKind",
    "ToolFilterConfig",
]
