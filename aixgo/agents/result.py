"""What one turn returns: :class:`TurnResult`."""

from __future__ import annotations

from dataclasses import dataclass

from aixgo.llm.protocol import Usage


@dataclass(frozen=True, slots=True)
class TurnResult:
    """The outcome of one turn (:meth:`aixgo.agents.AgentTurn.run`).

    ``steps`` counts model requests; ``tool_calls`` counts tools run; ``finish_reason`` is the last
    response's (``"length"`` means the answer was cut off by ``max_tokens``).
    """

    answer: str
    steps: int
    usage: Usage
    session_id: str
    agent: str
    tool_calls: int = 0
    finish_reason: str | None = None


__all__ = ["TurnResult"]
