"""What one turn returns: :class:`TurnResult`."""

from __future__ import annotations

from dataclasses import dataclass

from aixgo.agents.observe import TurnOutcome
from aixgo.llm.protocol import Usage
from aixgo.session.core.approvals import Approval


@dataclass(frozen=True, slots=True)
class TurnResult:
    """The outcome of one turn (:meth:`aixgo.agents.AgentTurn.run`).

    ``steps`` counts model requests; ``tool_calls`` counts tools run; ``finish_reason`` is the last
    response's (``"length"`` means the answer was cut off by ``max_tokens``).

    ``outcome`` is ``answered``, or ``pending_approval``: the turn paused, stored, before tool calls
    that need a person's approval; ``approvals`` lists those still waiting (approve or deny each with
    :meth:`aixgo.Runtime.decide`; the last decision continues the turn), and ``answer`` is what the model
    said with its calls. A continued turn's ``steps``, ``tool_calls`` and ``usage`` count the whole
    turn, before and after its pauses.
    """

    answer: str
    steps: int
    usage: Usage
    session_id: str
    agent: str
    tool_calls: int = 0
    finish_reason: str | None = None
    outcome: TurnOutcome = "answered"
    approvals: tuple[Approval, ...] = ()

    @property
    def paused(self) -> bool:
        """Whether the turn waits for approval of tool calls (:attr:`approvals`)."""
        return self.outcome == "pending_approval"


__all__ = ["TurnResult"]
