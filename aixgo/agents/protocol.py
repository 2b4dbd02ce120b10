"""The :class:`Agent` protocol: exactly what the runtime calls on an agent, and :class:`BaseAgent`.

A turn runs in two parts, so that the runtime can start it in the same trip to the store's I/O
pool that takes the session's lease:

1. :meth:`Agent.begin_turn` — blocking, on the store's I/O pool, with the session's lease held:
   read what the turn needs from the session and store the user message. It returns the begun turn.
2. :meth:`AgentTurn.run` — async, on the event loop, with the session in context
   (:func:`aixgo.session.session_from_context`): the rest of the turn, each step stored as it
   happens; it sends the turn's events to ``on_event`` when one is given, and returns a
   :class:`~aixgo.agents.TurnResult`. A cancelled turn lets :class:`asyncio.CancelledError` through.

:meth:`Agent.aclose` releases what the agent holds (model clients) when the runtime closes. An agent
whose turns can pause for approval of tool calls is also a :class:`ResumableAgent`
(``resume_turn``, which the runtime calls when the last call of a paused step is decided).

Any object with these methods can be registered with :meth:`aixgo.Runtime.register_agent`; the
runtime calls nothing else. :class:`BaseAgent` adds :meth:`BaseAgent.run_turn`, to run a turn
without a runtime.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

from aixgo.agents.events import EventSink
from aixgo.agents.result import TurnResult
from aixgo.session import Session
from aixgo.session.core.approvals import ApprovalRequest


class AgentTurn(Protocol):
    """A turn :meth:`Agent.begin_turn` began: its user message is stored."""

    async def run(self, on_event: EventSink | None = None) -> TurnResult:
        """Finish the turn, storing each step as it happens, and return its result.

        ``on_event`` receives the turn's events (:mod:`aixgo.agents.events`) as they happen: at
        least its answer's text as ``text_delta`` events (their concatenation is the answer). The
        runtime adds ``turn_end``. On failure or cancellation the error propagates."""
        ...


class Agent(Protocol):
    """What the runtime calls on an agent: :attr:`name`, :meth:`begin_turn` and :meth:`aclose`."""

    @property
    def name(self) -> str:
        """The agent's name (the runtime registers it under this name by default)."""
        ...

    def begin_turn(self, session: Session, user_message: str) -> AgentTurn:
        """Blocking, on the store's I/O pool, with the session's lease held: read what the turn needs
        and store the user message. Must not wait for anything but the store."""
        ...

    async def aclose(self) -> None:
        """Release what the agent holds (model clients); called once when the runtime closes."""
        ...


class ResumableAgent(Agent, Protocol):
    """An agent whose turns can pause for a person's approval of tool calls, and be continued: what the
    runtime calls when the last call of a paused step is decided (:meth:`aixgo.Runtime.decide`)."""

    def resume_turn(self, session: Session, request: ApprovalRequest) -> AgentTurn:
        """Blocking, on the store's I/O pool, with the session's lease held: read what the paused turn
        needs to continue (every call of ``request`` is decided) and return it; its ``run`` settles the
        paused step, then finishes the turn."""
        ...


class BaseAgent(ABC):
    """A small base for an agent kind: a :attr:`name`, :meth:`begin_turn` to write, :meth:`run_turn`
    to call a turn without a runtime, and a no-op :meth:`aclose` to override when there is something
    to close."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def begin_turn(self, session: Session, user_message: str) -> AgentTurn:
        """See :meth:`Agent.begin_turn`."""

    async def run_turn(
        self, session: Session, user_message: str, *, on_event: EventSink | None = None
    ) -> TurnResult:
        """Answer ``user_message`` in ``session``: :meth:`begin_turn` on the store's I/O pool (one trip,
        shielded from cancellation), then :meth:`AgentTurn.run`.

        It does not take the session's lease: :meth:`aixgo.Runtime.acall_with_session` does, or
        take it yourself (``async with await session.alease(): ...``) when two callers may share a
        session."""
        turn = await session.run_blocking(self.begin_turn, session, user_message, write=True)
        return await turn.run(on_event)

    async def aclose(self) -> None:
        """Nothing to release by default."""
        return None


__all__ = ["Agent", "AgentTurn", "BaseAgent", "ResumableAgent"]
