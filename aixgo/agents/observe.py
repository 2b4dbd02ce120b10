"""Hooks around a turn and each of its steps: :class:`TurnObserver` and the :class:`TurnStep` it sees.

A :class:`~aixgo.agents.ReActAgent` given ``observers=[...]`` wraps the whole turn and each step of
it in every observer's :meth:`TurnObserver.observe`, a context manager: code before its ``yield``
runs when the step starts, code after it when the step ends, and an exception raised by the step
(a failed model request, a cancellation) is raised at the ``yield``. The step's ``details`` are
filled in while it runs (tokens, finish reason, the turn's outcome), so an observer reads them
when the step ends: a tracer opens a span at the start and sets its attributes at the end.

>>> class Timer(TurnObserver):
...     @contextmanager
...     def observe(self, step: TurnStep) -> Iterator[None]:
...         started = time.perf_counter()
...         yield
...         print(step.kind, step.name, round(time.perf_counter() - started, 3), step.details)

Observers run on the event loop, inside the turn: keep them quick, and let exceptions through.
:func:`observed` wraps a step in several observers; the runtime uses it too, so the ``turn`` step of
a runtime's observers covers the whole turn (finding the session, its lease, the auto-checkpoint),
around the agent's own ``turn`` step.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Literal

from aixgo.session.observe import observed

StepKind = Literal["turn", "model", "tool", "compact"]
"""``turn``: the whole turn; ``model``: one model request; ``tool``: one tool call; ``compact``:
folding older turns into a summary."""

TurnOutcome = Literal["answered", "pending_approval", "failed", "cancelled"]
"""How a turn ended (``details["outcome"]`` of its ``turn`` step): ``pending_approval`` when it paused,
stored, for a person to approve or deny tool calls (a decision continues it)."""


@dataclass(slots=True)
class TurnStep:
    """One step of a turn, as observers see it.

    ``name``: the agent (``turn``), the requested model (``model``: the agent's, else the model
    client's default, else empty), the tool (``tool``) or ``"summary"`` (``compact``). ``number``: the turn's model
    request the step belongs to (0 before the first). ``details``: what the step came to, filled in
    while it runs — ``turn``: ``outcome``, ``steps``, ``tool_calls``, ``total_tokens``; ``model``:
    ``finish_reason``, ``tool_calls``, ``input_tokens``, ``output_tokens`` (when the server reports
    usage), ``response_model``; ``tool``: ``call_id``, ``source`` (``built-in``, ``python``, ``mcp``),
    ``is_error`` (and ``approval``: ``approved`` or ``denied`` for a call that waited for one); ``compact``: ``folded_turns``, ``requests``, ``input_tokens``, ``output_tokens``.
    ``user``: the session's user, when it has one. ``payload``: what the step carried, for observers
    that record content when asked to (never logged) — ``model``: ``messages`` (the request),
    ``settings`` (:class:`~aixgo.llm.ModelSettings`), ``response`` (:class:`~aixgo.llm.ModelResponse`);
    ``tool``: ``arguments``, ``result`` (the text the model sees). ``error``: what the step raised,
    or a refusal it recovered from (a ``model`` step refused for the context window).
    """

    kind: StepKind
    name: str
    agent: str
    session_id: str
    number: int
    details: dict[str, object] = field(default_factory=dict)
    error: BaseException | None = None
    user: str | None = None
    payload: dict[str, object] = field(default_factory=dict)


class TurnObserver:
    """Hooks around a turn and its steps; override :meth:`observe`. The default observes nothing."""

    def observe(self, step: TurnStep) -> AbstractContextManager[None]:
        """A context manager around ``step``: entered when it starts, left when it ends
        (``step.details`` filled in); write it with ``@contextmanager`` and one ``yield``."""
        return nullcontext()


__all__ = ["StepKind", "TurnObserver", "TurnOutcome", "TurnStep", "observed"]
