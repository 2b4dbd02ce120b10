"""The ReAct agent: history + user message → model → tools → … → final answer, persisted step by step.

Every step is appended to the session as it happens — the user message, each assistant tool-call
message, each tool result, the final answer, then a ``USAGE`` entry with the turn's token counts —
so a turn cut short by a crash leaves a history that :func:`aixgo.session.to_chat_messages` can
still turn into a valid request (a call without its result gets a synthetic "interrupted" result).

(About 600 lines: one class whose steps, native tools, the text format, streaming, fitting and
compacting the context and recording the turn, share one turn's state; the rules they follow live
in :mod:`aixgo.agents.context`, :mod:`aixgo.agents.text_format` and :mod:`aixgo.agents.tools`.)
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from aixgo.agents.context.budget import ContextBudget, ContextSettings, summary_entry_data, window_metadata
from aixgo.agents.context.turns import Conversation, Turn, limit_turns
from aixgo.agents.events import EventSink, StepEvent, TextDeltaEvent, ToolCallEvent, ToolResultEvent
from aixgo.agents.protocol import BaseAgent
from aixgo.agents.result import TurnResult
from aixgo.agents.text_format import (
    OBSERVATION_PREFIX,
    STOP_SEQUENCES,
    TextFinalAnswer,
    TextFormatError,
    action_arguments,
    parse_react_text,
    text_instructions,
)
from aixgo.agents.tools import MAX_RESULT_CHARS, Tool, ToolRegistry, resolve_tools
from aixgo.errors import AgentError, ContextWindowExceededError, MaxStepsExceededError
from aixgo.llm.protocol import (
    ChatModel,
    ModelResponse,
    ModelSettings,
    TextDelta,
    ToolCall,
    Usage,
    stream_response,
    with_unique_ids,
)
from aixgo.logs import get_logger
from aixgo.session import EntryType, Session, use_session

ReactFormat = Literal["native", "text"]
REACT_FORMATS: tuple[str, ...] = ("native", "text")
OnMaxSteps = Literal["answer", "error"]
ON_MAX_STEPS: tuple[str, ...] = ("answer", "error")
FINAL_ANSWER_NUDGE = (
    "You have used every tool step this turn allows. Do not call tools: answer the user now, "
    "from what you have found so far, and say briefly if something is still open."
)

_log = get_logger("aixgo.agents")


@dataclass(frozen=True, slots=True)
class BegunTurn:
    """A turn whose user message is stored (at ``user_seq``): the conversation before it, and the message."""

    agent: ReActAgent
    session: Session
    conversation: Conversation
    user: dict[str, Any]
    user_seq: int

    @property
    def history(self) -> list[dict[str, Any]]:
        """The earlier messages read for this turn (before any fitting to the context window)."""
        return self.conversation.messages()

    async def run(self, on_event: EventSink | None = None) -> TurnResult:
        """Finish the turn (see :meth:`aixgo.agents.AgentTurn.run`)."""
        return await self.agent._run(self, on_event)


@dataclass(slots=True)
class _Compaction:
    """What compaction cost during one turn (added to the turn's usage entry)."""

    usage: Usage = field(default_factory=Usage)
    requests: int = 0

    def record(self, usage: Usage, requests: int) -> None:
        self.usage += usage
        self.requests += requests

    def add_to(self, usage_data: dict[str, Any]) -> None:
        if self.requests:
            usage_data["summary_requests"] = self.requests


def _storable_arguments(raw: str) -> str:
    """``raw`` if it is a JSON object, else a JSON object that carries it.

    Some servers parse the arguments of past calls when rendering their chat template and fail on
    invalid JSON, so the history keeps a valid object and the original text inside it."""
    try:
        if isinstance(json.loads(raw), dict):
            return raw
    except ValueError:
        pass
    return json.dumps({"_invalid_arguments": raw})


class ReActAgent(BaseAgent):
    """An agent that reasons and acts with tools over a durable :class:`~aixgo.session.Session`.

    Args:
        name: the agent's name (logged with every event, recorded in errors).
        model: any :class:`~aixgo.llm.protocol.ChatModel`.
        prompt: the system prompt (sent first with every request, not stored in the session).
        tools: built-in names, ``"module:function"`` references, :class:`Tool` objects, functions,
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

    Raises:
        AgentError: a bad ``max_steps`` or ``react_format``.
        ToolError: a tool cannot be resolved.
    """

    def __init__(
        self,
        name: str,
        model: ChatModel,
        prompt: str = "",
        tools: Iterable[str | Tool | Callable[..., Any]] | ToolRegistry = (),
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
    ) -> None:
        if max_steps < 1:
            raise AgentError(f"max_steps must be at least 1, got {max_steps}", agent=name)
        if react_format not in REACT_FORMATS:
            raise AgentError(f"react_format must be 'native' or 'text', got {react_format!r}", agent=name)
        if max_history_messages is not None and max_history_messages < 0:
            raise AgentError("max_history_messages must be >= 0", agent=name)
        if on_max_steps not in ON_MAX_STEPS:
            raise AgentError(f"on_max_steps must be 'answer' or 'error', got {on_max_steps!r}", agent=name)
        super().__init__(name)
        self.on_max_steps = on_max_steps
        if isinstance(tool_choice, Mapping) and "type" not in tool_choice:
            tool_choice = {"type": "function", "function": {"name": str(tool_choice["name"])}}
        self.model = model
        self.prompt = prompt
        self.tools = resolve_tools(tools)
        self.max_steps = max_steps
        self.max_history_messages = max_history_messages
        self.react_format = react_format
        self.settings = ModelSettings(
            model=model_name,
            temperature=temperature,
            max_tokens=max_tokens,
            stop=(*(STOP_SEQUENCES if react_format == "text" else ()), *stop),
            tool_choice=tool_choice,
            top_p=top_p,
            seed=seed,
            extra_body=extra_body,
        )
        self.max_tool_result_chars = max_tool_result_chars
        self.context = context if context is not None else ContextSettings()
        self.context.check(name)
        self.budget = ContextBudget(
            self.context, model_name=model_name or getattr(model, "model", None), max_tokens=max_tokens
        )

    def __repr__(self) -> str:
        return f"ReActAgent({self.name!r}, tools={self.tools.names!r}, react_format={self.react_format!r})"

    @property
    def system_prompt(self) -> str:
        """The system message sent with each request (text format: with the tool instructions)."""
        if self.react_format == "text":
            return f"{self.prompt}\n{text_instructions(self.tools)}".strip()
        return self.prompt

    def _read(self, session: Session) -> Conversation:
        conversation = self.budget.read(session, self.max_history_messages)
        if self.max_history_messages is not None:
            conversation.turns = limit_turns(conversation.turns, self.max_history_messages, self.budget.counter.message)
            conversation.unread_from = None  # messages beyond the limit are left out on purpose, not folded
        return conversation

    def begin_turn(self, session: Session, user_message: str) -> BegunTurn:
        """The blocking start of a turn: read the history to send and store the user message.

        :meth:`run_turn` calls it on the store's I/O pool; a runtime calls it there in the same trip
        that takes the session's lease."""
        user = {"role": "user", "content": user_message}
        conversation = self._read(session)
        stored = session.append_message("user", user_message)
        return BegunTurn(self, session, conversation, user, stored.seq)

    async def run_turn(
        self, session: Session, user_message: str, *, on_event: EventSink | None = None
    ) -> TurnResult:
        """Answer ``user_message`` in ``session``, persisting every step, and return the answer.

        ``on_event``: receives the turn's events as they happen (:mod:`aixgo.agents.events`); the
        model's answer is then streamed (``text_delta`` events) when the model can stream. What is
        stored does not change: whole messages, as without it.

        Raises:
            MaxStepsExceededError: no final answer within ``max_steps`` (the partial turn is kept).
            LLMError: the model failed (after retries); the turn so far is kept and an ``ERROR``
                entry records the failure.
        """
        return await super().run_turn(session, user_message, on_event=on_event)

    async def aclose(self) -> None:
        """Close the model client (its HTTP connections), when it has something to close."""
        aclose = getattr(self.model, "aclose", None)
        if aclose is not None:
            await aclose()

    async def _run(self, begun: BegunTurn, on_event: EventSink | None) -> TurnResult:
        session = begun.session
        log = _log.bind(agent=self.name, session_id=session.id)
        started = time.perf_counter()
        conversation, user = begun.conversation, begun.user
        turn: list[dict[str, Any]] = [user]
        log.info("agent.turn.start", history_turns=len(conversation.turns), tools=len(self.tools))
        usage, steps, tool_runs, unreported = Usage(), 0, 0, 0
        compaction = _Compaction()
        retried_overflow = False
        estimated = 0  # uncorrected prompt tokens of the requests whose usage the server reported
        streamed = False
        response: ModelResponse | None = None
        answer: str | None = None
        last_chance = False
        schemas = self.tools.schemas() if self.react_format == "native" else []
        try:
            with use_session(session):
                while answer is None:
                    if steps >= self.max_steps:
                        raise MaxStepsExceededError(
                            f"agent {self.name!r} used all {self.max_steps} steps without a final answer "
                            "(the partial turn is saved; raise max_steps or simplify the task)",
                            agent=self.name,
                            steps=steps,
                        )
                    steps += 1
                    last_chance = self.on_max_steps == "answer" and steps == self.max_steps and bool(self.tools)
                    request, counted, conversation = await self._prepare(
                        session, conversation, turn, schemas, begun.user_seq, compaction, log
                    )
                    settings = self.settings
                    if last_chance:  # the tools stay described (past calls refer to them) but may not be called
                        request.append({"role": "system", "content": FINAL_ANSWER_NUDGE})
                        settings = replace(settings, tool_choice="none")
                        log.info("agent.last_step", step=steps, on_max_steps=self.on_max_steps)
                    try:
                        if on_event is None:
                            response = await self.model.complete(request, schemas, settings)
                        else:
                            await on_event(StepEvent(steps))
                            response, streamed = await self._stream(request, schemas, settings, on_event)
                    except ContextWindowExceededError as exc:
                        if retried_overflow:
                            raise
                        retried_overflow = True
                        await self._learn_window(session, exc, counted, log)
                        steps -= 1
                        continue  # the same step again, fitted to the window the server named
                    retried_overflow = False
                    self.budget.observe(session.id, counted, response.usage)
                    estimated += counted if response.usage is not None else 0
                    usage += response.usage or Usage()
                    unreported += response.usage is None
                    log.info(
                        "agent.step",
                        step=steps,
                        finish_reason=response.finish_reason,
                        tool_calls=len(response.tool_calls),
                        total_tokens=response.usage.total_tokens if response.usage else None,
                    )
                    if response.finish_reason == "length":
                        log.warning("agent.truncated", step=steps, hint="raise the agent's max_tokens")
                    step = self._native_step if self.react_format == "native" else self._text_step
                    answer, ran = await step(session, turn, response, log, on_event)
                    tool_runs += ran
                    if answer is not None and on_event is not None and not streamed:
                        await on_event(TextDeltaEvent(answer))  # not streamed (text format, or a model that cannot)
                # One trip stores the final answer and the turn's usage.
                usage += compaction.usage
                usage_data = self._usage_data(usage, steps, unreported)
                compaction.add_to(usage_data)
                if estimated and not compaction.requests:  # a fresh process calibrates its counts from it
                    usage_data["estimated_prompt_tokens"] = estimated
                if last_chance:
                    usage_data["on_max_steps"] = self.on_max_steps  # the answer was asked for, tools withheld
                await session.run_blocking(self._finish_turn, session, turn, answer, usage_data, log, write=True)
        except (Exception, asyncio.CancelledError) as exc:
            # the turn so far stays stored; so do its failure (or cancellation) and the tokens it used,
            # even when the caller is being cancelled (shielded, so the bookkeeping is not cut short)
            await asyncio.shield(
                self._record_end(
                    session, exc, usage + compaction.usage, steps, unreported, begun.user_seq, compaction, log
                )
            )
            raise
        log.info(
            "agent.turn.end",
            steps=steps,
            tool_calls=tool_runs,
            total_tokens=usage.total_tokens,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return TurnResult(
            answer=answer if answer is not None else "",
            steps=steps,
            usage=usage,
            session_id=session.id,
            agent=self.name,
            tool_calls=tool_runs,
            finish_reason=response.finish_reason if response else None,
        )

    async def _stream(
        self,
        request: list[dict[str, Any]],
        schemas: list[dict[str, Any]],
        settings: ModelSettings,
        on_event: EventSink,
    ) -> tuple[ModelResponse, bool]:
        """One model request, its text passed on as it arrives (native format only: the text format's
        Thought/Action text is not the answer). Returns the response and whether text was passed on."""
        forward = self.react_format == "native"
        streamed = False
        async for item in stream_response(self.model, request, schemas, settings):
            if isinstance(item, TextDelta):
                if forward and item.text:
                    streamed = True
                    await on_event(TextDeltaEvent(item.text))
            else:
                return item, streamed
        raise AgentError(f"agent {self.name!r}: the model's stream ended without a response", agent=self.name)

    async def _native_step(
        self,
        session: Session,
        turn: list[dict[str, Any]],
        response: ModelResponse,
        log: Any,
        on_event: EventSink | None = None,
    ) -> tuple[str | None, int]:
        if not response.tool_calls:
            return response.content or "", 0  # stored by _finish_turn
        calls = with_unique_ids([(c.id, c.name or "unnamed_tool", c.arguments) for c in response.tool_calls])
        stored = [ToolCall(c.id, c.name, _storable_arguments(c.arguments)).to_openai() for c in calls]
        await self._persist(
            session, turn, {"role": "assistant", "content": response.content, "tool_calls": stored}
        )
        for call in calls:
            if on_event is not None:
                await on_event(ToolCallEvent(call.id, call.name, call.arguments))
            result = await self.tools.execute(
                call.name,
                call.arguments,
                max_chars=self.max_tool_result_chars,
                log_fields=self._fields(session),
            )
            if on_event is not None:
                await on_event(ToolResultEvent(call.id, call.name, result.content))
            await self._persist(
                session, turn, {"role": "tool", "tool_call_id": call.id, "content": result.content}
            )
        return None, len(calls)

    async def _text_step(
        self,
        session: Session,
        turn: list[dict[str, Any]],
        response: ModelResponse,
        log: Any,
        on_event: EventSink | None = None,
    ) -> tuple[str | None, int]:
        content = response.content or ""
        try:
            parsed = parse_react_text(content)
        except TextFormatError as exc:
            log.warning("agent.text_format_error", problem=str(exc))
            await self._persist(session, turn, {"role": "assistant", "content": content})
            await self._persist(
                session, turn, {"role": "user", "content": f"{OBSERVATION_PREFIX}Error: {exc}"}
            )
            return None, 0
        if isinstance(parsed, TextFinalAnswer):
            return parsed.answer, 0  # stored by _finish_turn
        # Keep what the model wrote up to its action; an invented "Observation:" is not history.
        kept = content.split("\nObservation:", 1)[0].strip()
        await self._persist(session, turn, {"role": "assistant", "content": kept})
        arguments = action_arguments(parsed.tool_input, self.tools.get(parsed.tool))
        call_id = f"text_{secrets.token_hex(6)}"
        if on_event is not None:
            shown = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
            await on_event(ToolCallEvent(call_id, parsed.tool, shown))
        result = await self.tools.execute(
            parsed.tool, arguments, max_chars=self.max_tool_result_chars, log_fields=self._fields(session)
        )
        if on_event is not None:
            await on_event(ToolResultEvent(call_id, parsed.tool, result.content))
        await self._persist(
            session, turn, {"role": "user", "content": f"{OBSERVATION_PREFIX}{result.content}"}
        )
        return None, 1

    async def _prepare(
        self,
        session: Session,
        conversation: Conversation,
        turn: list[dict[str, Any]],
        schemas: list[dict[str, Any]],
        user_seq: int,
        compaction: _Compaction,
        log: Any,
    ) -> tuple[list[dict[str, Any]], int, Conversation]:
        """The request for the next step, fitted to the context window (trimming or compacting the
        history when it no longer fits); also its uncorrected token count and the conversation now."""
        system = self.system_prompt
        budget = self.budget
        request, counted, dropped = budget.fit(session.id, system, conversation, turn, schemas, agent=self.name)
        if not dropped and conversation.unread_from is None:
            return request, counted, conversation
        if self.context.strategy == "trim":
            log.info("agent.context.trimmed", dropped_turns=len(dropped), kept_turns=len(conversation.turns) - len(dropped))
            kept = conversation.turns[len(dropped):]
            return request, counted, replace(conversation, turns=kept, unread_from=None)
        conversation = await self._compact(session, conversation, turn, schemas, user_seq, compaction, log)
        request, counted, dropped = budget.fit(session.id, system, conversation, turn, schemas, agent=self.name)
        if dropped:  # the summary came out longer than asked: send what fits
            log.warning("agent.context.still_too_long", dropped_turns=len(dropped))
        return request, counted, conversation

    async def _compact(
        self,
        session: Session,
        conversation: Conversation,
        turn: list[dict[str, Any]],
        schemas: list[dict[str, Any]],
        user_seq: int,
        compaction: _Compaction,
        log: Any,
    ) -> Conversation:
        """Fold the oldest turns (and the previous summary) into a new ``summary`` entry; returns the
        conversation it leaves: the summary and the newest turns."""
        budget = self.budget
        window = budget.window(session.id, conversation)
        if window is None:
            return conversation
        keep = budget.compaction_split(session.id, self.system_prompt, conversation, turn, schemas)
        turns = conversation.turns
        kept = turns[len(turns) - keep :] if keep else []
        folded: list[Turn] = list(turns[: len(turns) - keep])
        boundary = kept[0].first_seq if kept else user_seq
        if conversation.unread_from is not None:
            first_read = turns[0].first_seq if turns else user_seq
            older = await session.run_blocking(budget.fold_range, session, conversation.unread_from, first_read)
            folded = older + folded
        if not folded:
            return replace(conversation, unread_from=None)
        started = time.perf_counter()
        previous = conversation.summary
        text, used, requests = await budget.summarize(
            session.id, self.model, self.settings, conversation.summary_text, folded, window
        )
        earlier = int(previous.data.get("turns", 0)) if previous is not None else 0
        data = summary_entry_data(
            text,
            boundary - 1,
            window=budget.learned(session.id, conversation),
            model=self.context.summarizer or self.settings.model,
            turns=earlier + len(folded),
            requests=requests,
        )
        entry = await session.aappend_entry(EntryType.SUMMARY, data)
        compaction.record(used, requests)
        log.info(
            "agent.context.compacted",
            folded_turns=len(folded),
            kept_turns=len(kept),
            to_seq=boundary - 1,
            requests=requests,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return Conversation(entry, list(kept), None, conversation.window)

    async def _learn_window(
        self, session: Session, exc: ContextWindowExceededError, counted: int, log: Any
    ) -> None:
        """After a "context length exceeded" refusal: learn the window and correct the token count (a
        window the session did not know is stored in it, so a fresh process starts from it)."""
        learned = self.budget.learn(session.id, exc, counted)
        window = self.budget.window(session.id)
        log.warning("agent.context.overflow", window=window, counted=counted, server_limit=exc.limit)
        if learned is not None:
            kind, data = window_metadata(learned)
            await self._append_quietly(session, kind, data, log)

    def _fields(self, session: Session) -> dict[str, str]:
        return {"agent": self.name, "session_id": session.id}

    @staticmethod
    async def _persist(session: Session, turn: list[dict[str, Any]], message: dict[str, Any]) -> None:
        """Append ``message`` to the session (on the store's own I/O pool, shielded) and to the turn."""
        role, content = message["role"], message.get("content")
        extra = {k: v for k, v in message.items() if k not in ("role", "content")}
        await session.aappend_message(role, content, **extra)
        turn.append(message)

    @staticmethod
    def _finish_turn(
        session: Session, turn: list[dict[str, Any]], answer: str, usage: dict[str, Any], log: Any
    ) -> None:
        """Store the final answer (errors propagate), then the usage (errors are only logged)."""
        session.append_message("assistant", answer)
        turn.append({"role": "assistant", "content": answer})
        try:
            session.append_entry(EntryType.USAGE, usage)
        except Exception as exc:
            log.error("agent.record_failed", entry_type=EntryType.USAGE.value, error_type=type(exc).__name__)

    @staticmethod
    def _usage_data(usage: Usage, steps: int, unreported: int) -> dict[str, Any]:
        data: dict[str, Any] = {**usage.to_dict(), "requests": steps}
        if unreported:
            data["unreported_requests"] = unreported
        return data

    async def _record_end(
        self,
        session: Session,
        exc: BaseException,
        usage: Usage,
        steps: int,
        unreported: int,
        user_seq: int,
        compaction: _Compaction,
        log: Any,
    ) -> None:
        await self._record_failure(session, exc, steps, user_seq, log)
        data = self._usage_data(usage, steps, unreported)
        compaction.add_to(data)
        await self._append_quietly(session, EntryType.USAGE, data, log)

    async def _record_failure(
        self, session: Session, exc: BaseException, steps: int, user_seq: int, log: Any
    ) -> None:
        """Record why the turn ended without an answer; ``turn_from_seq`` keeps the turn (its user
        message first) out of later requests, so a failed turn is never sent again."""
        log.error("agent.turn.failed", error_type=type(exc).__name__, steps=steps)
        data = {
            "error": type(exc).__name__,
            "message": str(exc)[:1000],
            "agent": self.name,
            "steps": steps,
            "turn_from_seq": user_seq,
        }
        await self._append_quietly(session, EntryType.ERROR, data, log)

    @staticmethod
    async def _append_quietly(session: Session, kind: EntryType, data: Mapping[str, Any], log: Any) -> None:
        # Bookkeeping must not hide the turn's own outcome (or its original error).
        try:
            await session.aappend_entry(kind, dict(data))
        except Exception as exc:
            log.error("agent.record_failed", entry_type=kind.value, error_type=type(exc).__name__)
