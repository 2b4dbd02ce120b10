"""Building a :class:`ReActAgent` from a config object, without depending on the config package.

Any object with the attributes below works (the typed config objects, a dataclass, a namespace).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from aixgo.agents.context.budget import ContextSettings
from aixgo.agents.observe import TurnObserver
from aixgo.agents.react import ReActAgent
from aixgo.agents.tools import ToolRegistry
from aixgo.errors import AgentError
from aixgo.llm.factory import build_model
from aixgo.llm.protocol import ChatModel


class LLMConfigLike(Protocol):
    """The ``llm:`` block of an agent: how to reach its model."""

    @property
    def provider(self) -> str: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def api_key(self) -> str | None: ...
    @property
    def timeout(self) -> float | None: ...
    @property
    def max_retries(self) -> int | None: ...
    @property
    def script(self) -> Sequence[str] | None: ...


class AgentConfigLike(Protocol):
    """One entry of ``agents:``."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def prompt(self) -> str | None: ...
    @property
    def tools(self) -> Sequence[str]: ...
    @property
    def max_steps(self) -> int: ...
    @property
    def on_max_steps(self) -> str: ...
    @property
    def temperature(self) -> float | None: ...
    @property
    def max_history_messages(self) -> int | None: ...
    @property
    def react_format(self) -> str: ...
    @property
    def llm(self) -> LLMConfigLike | None: ...


def model_from_config(llm: LLMConfigLike | None, model_name: str | None) -> ChatModel:
    """The chat model an ``llm:`` block describes (OpenAI-compatible when there is no block)."""
    if llm is None:
        return build_model("openai", model_name=model_name)
    return build_model(
        llm.provider,
        model_name=model_name,
        base_url=llm.base_url,
        api_key=llm.api_key,
        timeout=llm.timeout,
        max_retries=llm.max_retries,
        script=llm.script,
    )


def agent_from_config(
    config: AgentConfigLike,
    *,
    model: ChatModel | None = None,
    tools: ToolRegistry | None = None,
    observers: Iterable[TurnObserver] = (),
) -> ReActAgent:
    """A :class:`ReActAgent` for one agent config; ``model`` replaces the configured one (tests);
    ``tools`` replaces its ``tools:`` (a :class:`~aixgo.agents.tools.toolbox.Toolbox` 's registry, with
    its MCP servers); ``observers`` watch its turns (a tracer).

    Raises:
        AgentError: the role is not ``react``.
        ToolError: a tool in ``tools:`` cannot be resolved.
        LLMConfigError: the model client cannot be configured (e.g. no API key and no base URL).
    """
    if config.role != "react":
        raise AgentError(
            f"agent {config.name!r}: role {config.role!r} is not supported (use 'react')", agent=config.name
        )
    return ReActAgent(
        config.name,
        model if model is not None else model_from_config(config.llm, config.model),
        config.prompt or "",
        tools if tools is not None else list(config.tools),
        max_steps=config.max_steps,
        on_max_steps=config.on_max_steps,
        temperature=config.temperature,
        max_tokens=getattr(config, "max_tokens", None),
        top_p=getattr(config, "top_p", None),
        stop=list(getattr(config, "stop", ()) or ()),
        seed=getattr(config, "seed", None),
        tool_choice=getattr(config, "tool_choice", None),
        extra_body=getattr(config, "extra_body", None) or None,
        max_history_messages=config.max_history_messages,
        react_format=config.react_format,
        model_name=config.model,
        context=_context_settings(getattr(config, "context", None)),
        observers=observers,
    )


def _context_settings(block: object) -> ContextSettings | None:
    """The agent's ``context:`` block (any object with its fields) as :class:`ContextSettings`."""
    if block is None:
        return None
    return ContextSettings(
        window=getattr(block, "window", None),
        reserve=getattr(block, "reserve", None),
        strategy=getattr(block, "strategy", "summarize"),
        summarizer=getattr(block, "summarizer", None),
        summary_tokens=getattr(block, "summary_tokens", None),
    )
