"""The ReAct agent: history + user message → model → tools → … → final answer, persisted step by step.

Every step is appended to the session as it happens — the user message, each assistant tool-call
message, each tool result, the final answer, then a ``USAGE`` entry with the turn's token counts —
so a turn cut short by a crash leaves a history that :func:`aixgo.session.to_chat_messages` can
still turn into a valid request (a call without its result gets a synthetic "interrupted" result).

The agent is its :class:`~aixgo.agents.spec.ReActSpec` (what every turn follows) plus
:meth:`ReActAgent.begin_turn`; one turn's state and steps live in :class:`~aixgo.agents.turn.ReActTurn`.
"""

from __future__ import annotations

from dataclasses import replace

from aixgo.agents.context.turns import Conversation, limit_turns
from aixgo.agents.protocol import BaseAgent
from aixgo.agents.spec import REACT_FORMATS, ReactFormat, ReActSpec
from aixgo.agents.turn import ReActTurn
from aixgo.errors import AgentError, ApprovalPendingError
from aixgo.session import Session
from aixgo.session.core.approvals import ApprovalRequest
from aixgo.session.types import CHAT_ENTRY_TYPES


class ReActAgent(ReActSpec, BaseAgent):
    """An agent that reasons and acts with tools over a durable :class:`~aixgo.session.Session`.

    Args:
        name: the agent's name (logged with every event, recorded in errors).
        model: any :class:`~aixgo.llm.protocol.ChatModel`.
        prompt: the system prompt (sent first with every request, not stored in the session).
        tools: built-in names, ``"module:function"`` references, :class:`Tool` objects, functions, MCP
            servers (:class:`~aixgo.agents.tools.mcp.MCPToolset`),
            or a :class:`ToolRegistry`.
        max_steps: model requests allowed per turn before :class:`MaxStepsExceededError`.
        temperature: sampling temperature (None: the server's default).
        max_history_messages: how many earlier messages to send (None: all); the current turn is
            always sent whole, and a tool call is never separated from its result.
        react_format: ``"native"`` (the API's tool calling) or ``"text"`` (Thought/Action/Observation
            text, for models without tool calling).
        model_name: the model to request (None: the model client's default).
        max_tokens: the completion limit per request (None: the server's default).
        max_tool_result_chars: longer tool results are truncated before the model sees them.
        top_p, stop, seed, tool_choice, extra_body: request settings (see
            :class:`~aixgo.llm.ModelSettings`); ``tool_choice`` ``{"name": TOOL}`` forces one tool.
        on_max_steps: ``"answer"`` (default): the last allowed step withholds the tools
            (``tool_choice: "none"``) and asks the model for a final answer from what it has;
            ``"error"``: a turn that is still calling tools then fails with
            :class:`~aixgo.errors.MaxStepsExceededError`.
        context: the context budget (:class:`~aixgo.agents.ContextSettings`): the model's window,
            the tokens reserved for the answer, and what to do with history that no longer fits
            (``summarize`` into a durable summary, the default, or ``trim``). Without a window, the
            window is learned from the first "context length exceeded" refusal, and that step is
            compacted and retried once.
        observers: :class:`~aixgo.agents.observe.TurnObserver` hooks around each turn and each of
            its steps (model requests, tool calls, compactions).

    Raises:
        AgentError: a bad ``max_steps``, ``react_format``, ``on_max_steps`` or ``context``.
        ToolError: a tool cannot be resolved.
    """

    def __repr__(self) -> str:
        return f"ReActAgent({self.name!r}, tools={self.tools.names!r}, react_format={self.react_format!r})"

    def begin_turn(self, session: Session, user_message: str) -> ReActTurn:
        """The blocking start of a turn: read the history to send and store the user message.

        :meth:`run_turn` calls it on the store's I/O pool; a runtime calls it there in the same trip
        that takes the session's lease. :meth:`ReActTurn.run` does the rest.

        Raises:
            ApprovalPendingError: the session's last turn waits for approval of tool calls (nothing is
                stored: decide them first, which continues that turn)."""
        conversation = self._read(session)
        waiting = session.pending_approval()
        if waiting is not None and waiting.waiting:
            calls = waiting.waiting
            names = ", ".join(sorted({approval.name for approval in calls}))
            raise ApprovalPendingError(
                f"session {session.id!r} waits for approval of {names} ({', '.join(a.call_id for a in calls)}): "
                "approve or deny each call first, which continues that turn (aixgo run --session asks; "
                f"over HTTP: POST /v1/sessions/{session.id}/approvals/CALL_ID)",
                session_id=session.id, call_ids=tuple(a.call_id for a in calls),
            )
        stored = session.append_message("user", user_message)
        return ReActTurn(self, session, conversation, user_message, stored.seq)

    def resume_turn(self, session: Session, request: ApprovalRequest) -> ReActTurn:
        """The blocking start of a paused turn's continuation, once every call of ``request`` is
        decided: read the history before the turn and the turn's own messages (with the session's lease
        held, on the store's I/O pool, like :meth:`begin_turn`). :meth:`ReActTurn.run` settles the paused
        step, then goes on.

        Raises:
            AgentError: the turn's messages are no longer in the history."""
        conversation = self._read(session)
        conversation = replace(conversation, turns=[t for t in conversation.turns if t.first_seq < request.turn_from_seq])
        entries = session.get_entries(after=request.turn_from_seq - 1)
        messages = [dict(entry.data) for entry in entries if entry.type in CHAT_ENTRY_TYPES]
        if not entries or entries[0].seq != request.turn_from_seq or messages[:1] == [] or messages[0].get("role") != "user":
            raise AgentError(f"agent {self.name!r}: session {session.id!r} no longer holds the turn that paused at "
                             f"seq {request.seq}", agent=self.name)
        return ReActTurn.resume(self, session, conversation, messages, request)

    def _read(self, session: Session) -> Conversation:
        conversation = self.budget.read(session, self.max_history_messages)
        if self.max_history_messages is not None:
            conversation.turns = limit_turns(conversation.turns, self.max_history_messages, self.budget.counter.message)
            conversation.unread_from = None  # messages beyond the limit are left out on purpose, not folded
        return conversation

    async def aclose(self) -> None:
        """Close the model client (its HTTP connections), when it has something to close."""
        aclose = getattr(self.model, "aclose", None)
        if aclose is not None:
            await aclose()


__all__ = ["REACT_FORMATS", "ReActAgent", "ReactFormat"]
