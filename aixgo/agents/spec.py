"""What every turn of one ReAct agent follows, checked once when the agent is built: :class:`ReActSpec`.

:class:`~aixgo.agents.ReActAgent` is a spec that can begin turns; each
:class:`~aixgo.agents.turn.ReActTurn` reads its spec and never changes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from aixgo.agents.context.budget import ContextBudget, ContextSettings
from aixgo.agents.observe import TurnObserver
from aixgo.agents.text_format import STOP_SEQUENCES, text_instructions
from aixgo.agents.tools import MAX_RESULT_CHARS, ToolRegistry, resolve_tools
from aixgo.agents.tools.resolve import ToolSpec
from aixgo.errors import AgentError
from aixgo.llm.protocol import ChatModel, ModelSettings

ReactFormat = Literal["native", "text"]
REACT_FORMATS: tuple[str, ...] = ("native", "text")
OnMaxSteps = Literal["answer", "error"]
ON_MAX_STEPS: tuple[str, ...] = ("answer", "error")


class ReActSpec:
    """The model, its settings, the tools and their format, the step limit and the context budget of
    one ReAct agent (the arguments are those of :class:`~aixgo.agents.ReActAgent`).

    Raises:
        AgentError: a bad ``max_steps``, ``react_format``, ``on_max_steps``, ``max_history_messages``
            or ``context``.
        ToolError: a tool cannot be resolved.
    """

    def __init__(
        self,
        name: str,
        model: ChatModel,
        prompt: str = "",
        tools: Iterable[ToolSpec] | ToolRegistry = (),
        max_steps: int = 10,
        temperature: float | None = None,
        max_history_messages: int | None = None,
        react_format: ReactFormat | str = "native",
        model_name: str | None = None,
        *,
        max_tokens: int | None = None,
        max_tool_result_chars: int = MAX_RESULT_CHARS,
        on_max_steps: OnMaxSteps | str = "answer",
        top_p: float | None = None,
        stop: Sequence[str] = (),
        seed: int | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        context: ContextSettings | None = None,
        observers: Iterable[TurnObserver] = (),
    ) -> None:
        _check(name, max_steps, react_format, max_history_messages, on_max_steps)
        self.name = name
        self.model = model
        self.prompt = prompt
        self.tools = resolve_tools(tools)
        self.max_steps = max_steps
        self.max_history_messages = max_history_messages
        self.react_format = react_format
        self.on_max_steps = on_max_steps
        self.settings = ModelSettings(
            model=model_name,
            temperature=temperature,
            max_tokens=max_tokens,
            stop=(*(STOP_SEQUENCES if react_format == "text" else ()), *stop),
            tool_choice=_tool_choice(tool_choice),
            top_p=top_p,
            seed=seed,
            extra_body=extra_body,
        )
        self.max_tool_result_chars = max_tool_result_chars
        self.context = context if context is not None else ContextSettings()
        self.context.check(name)
        default_model = getattr(model, "model", None)  # a client's default model names the tokenizer
        self.model_name: str | None = model_name or (default_model if isinstance(default_model, str) else None)
        """The model requests ask for: ``model_name``, else the client's default (None: unknown)."""
        self.budget = ContextBudget(self.context, model_name=self.model_name, max_tokens=max_tokens)
        self.observers = tuple(observers)

    @property
    def system_prompt(self) -> str:
        """The system message sent with each request (text format: with the tool instructions)."""
        if self.react_format == "text":
            return f"{self.prompt}\n{text_instructions(self.tools)}".strip()
        return self.prompt


def _check(
    name: str, max_steps: int, react_format: str, max_history_messages: int | None, on_max_steps: str
) -> None:
    if max_steps < 1:
        raise AgentError(f"max_steps must be at least 1, got {max_steps}", agent=name)
    if react_format not in REACT_FORMATS:
        raise AgentError(f"react_format must be 'native' or 'text', got {react_format!r}", agent=name)
    if max_history_messages is not None and max_history_messages < 0:
        raise AgentError("max_history_messages must be >= 0", agent=name)
    if on_max_steps not in ON_MAX_STEPS:
        raise AgentError(f"on_max_steps must be 'answer' or 'error', got {on_max_steps!r}", agent=name)


def _tool_choice(choice: str | Mapping[str, Any] | None) -> str | Mapping[str, Any] | None:
    """``{"name": TOOL}`` in the API's shape; other values as they are."""
    if isinstance(choice, Mapping) and "type" not in choice:
        return {"type": "function", "function": {"name": str(choice["name"])}}
    return choice


__all__ = ["ON_MAX_STEPS", "REACT_FORMATS", "OnMaxSteps", "ReActSpec", "ReactFormat"]
