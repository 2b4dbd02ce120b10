"""One turn of a ReAct agent: :class:`ReActTurn`, its state and its steps.

:meth:`ReActAgent.begin_turn <aixgo.agents.ReActAgent.begin_turn>` reads the conversation and
stores the user message, then returns a ``ReActTurn``; :meth:`ReActTurn.run` does the rest:

.. code-block:: text

    run ─┬─ step ─┬─ prepare   the request, fitted to the context budget (trim, or compact: a summary)
         │        ├─ ask       the model: complete, or stream when someone listens; a context overflow
         │        │            teaches the window and the same step runs again, once
         │        ├─ account   tokens, the budget's calibration
         │        └─ act       native tool calls or the text format: run_tool for each call, or answer;
         │                     or pause: a call needs a person's approval, nothing of the step runs
         │   (until the outcome is known, at most max_steps requests)
         ├─ finish             the answer and the turn's usage, in one trip to the store (or, paused,
         │                     the approval request and the usage)
         └─ record_end         on failure or cancellation: why, and the tokens used (shielded)

A paused turn is continued by :meth:`ReActAgent.resume_turn <aixgo.agents.ReActAgent.resume_turn>`
(in any process, once every call is decided): ``run`` then first settles the paused step (runs the
approved calls and those that needed no approval, in order, and tells the model of each denial), then
steps on as before; its counts go on from where the pause left them.

Every step is stored as it happens, so a turn cut short (a crash, a cancellation) leaves a history
that :func:`aixgo.session.to_chat_messages` still turns into a valid request. Each step is one
method, and the turn, each model request, each tool call and each compaction are observed by the
spec's :class:`~aixgo.agents.observe.TurnObserver` hooks: a new concern (an approval before a tool
runs, a span around a step, a tool from another source) is a method or a hook here, not a parameter.

(Longer than most modules: one class whose steps share one turn's state; the rules they follow live
in :mod:`aixgo.agents.context`, :mod:`aixgo.agents.text_format` and :mod:`aixgo.agents.tools`.)
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from aixgo.agents.context.budget import summary_entry_data, window_metadata
from aixgo.agents.context.turns import Conversation, Turn
from aixgo.agents.events import (
    ApprovalRequiredEvent,
    EventSink,
    StepEvent,
    TextDeltaEvent,
    ToolCallEvent,
    ToolResultEvent,
)
from aixgo.agents.observe import StepKind, TurnOutcome, TurnStep, observed
from aixgo.agents.overrides import overridden
from aixgo.agents.result import TurnResult
from aixgo.agents.spec import ReActSpec
from aixgo.agents.text_format import (
    OBSERVATION_PREFIX,
    TextFinalAnswer,
    TextFormatError,
    action_arguments,
    parse_react_text,
)
from aixgo.agents.tools import BaseTool, ToolResult
from aixgo.errors import AgentError, ContextWindowExceededError, MaxStepsExceededError
from aixgo.llm.protocol import (
    ModelResponse,
    ModelSettings,
    TextDelta,
    ToolCall,
    Usage,
    stream_response,
    with_unique_ids,
)
from aixgo.logs import get_logger
from aixgo.session import Entry, EntryType, Session, use_session
from aixgo.session.core.approvals import Approval, ApprovalRequest, open_request, request_data

Message = dict[str, Any]

FINAL_ANSWER_NUDGE = (
    "You have used every tool step this turn allows. Do not call tools: answer the user now, "
    "from what you have found so far, and say briefly if something is still open."
)

_log = get_logger("aixgo.agents")


@dataclass(slots=True)
class _Compaction:
    """What compaction cost during one turn (added to the turn's usage entry)."""

    usage: Usage = field(default_factory=Usage)
    requests: int = 0


class ReActTurn:
    """One begun turn of a ReAct agent (its user message is stored at ``user_seq``): its state, and its
    steps as methods.

    State: the ``conversation`` before the turn as the next request sends it (fitted, compacted),
    this turn's ``messages`` so far (the user's first), the counts (``steps``, ``tool_runs``,
    ``usage``, ...), the last ``response`` and, once known, the ``answer`` and the ``outcome``.
    """

    def __init__(
        self, spec: ReActSpec, session: Session, conversation: Conversation, user_message: str, user_seq: int
    ) -> None:
        self.spec = spec
        self.session = session
        self.conversation = conversation
        self.messages: list[Message] = [{"role": "user", "content": user_message}]
        self.user_seq = user_seq
        self.schemas: list[dict[str, Any]] = []  # the tools as offered, set when the turn runs
        self.log: structlog.stdlib.BoundLogger = _log.bind(agent=spec.name, session_id=session.id)
        self.on_event: EventSink | None = None
        self.steps = 0  # model requests
        self.tool_runs = 0
        self.usage = Usage()  # of the turn's own requests (compaction's is in `compaction`)
        self.unreported = 0  # requests whose usage the server did not report
        self.estimated = 0  # uncorrected prompt tokens of the requests whose usage the server reported
        self.compaction = _Compaction()
        self.overflow_retried = False
        self.last_chance = False  # the last step allowed: tools withheld, an answer asked for
        self.streamed = False  # the last response's text was passed on as it arrived
        self.response: ModelResponse | None = None
        self.answer: str | None = None
        self.outcome: TurnOutcome | None = None
        self.resumed: ApprovalRequest | None = None  # the paused step this run settles first
        self.earlier = Usage()  # the tokens of the turn's runs before its latest pause
        self.steps_before = 0  # model requests of those runs
        self.pause: dict[str, Any] | None = None  # the approval request's data, once the turn pauses
        self.paused: ApprovalRequest | None = None  # the stored request

    @classmethod
    def resume(
        cls, spec: ReActSpec, session: Session, conversation: Conversation, messages: list[Message],
        request: ApprovalRequest,
    ) -> ReActTurn:
        """The turn that paused at ``request`` (every call decided), to continue: ``messages`` are the
        turn's stored messages, its user message first; ``conversation`` the history before it."""
        turn = cls(spec, session, conversation, str(messages[0].get("content") or ""), request.turn_from_seq)
        turn.messages = messages
        turn.resumed = request
        turn.steps = turn.steps_before = request.steps
        turn.tool_runs = request.tool_runs
        turn.earlier = Usage(**{key: int(request.usage.get(key) or 0) for key in Usage().to_dict()})
        return turn

    # -- the turn --------------------------------------------------------------------------------

    async def run(self, on_event: EventSink | None = None) -> TurnResult:
        """Finish the turn (see :meth:`aixgo.agents.AgentTurn.run`): steps until the outcome is known.

        ``on_event`` also streams the model's answer (``text_delta`` events) when the model can
        stream; what is stored does not change (whole messages).

        Raises:
            MaxStepsExceededError: no final answer within ``max_steps`` (the partial turn is kept).
            LLMError: the model failed (after retries); the turn so far is kept and an ``ERROR``
                entry records the failure.
        """
        self.on_event = on_event
        started = time.perf_counter()
        with self._observed("turn", self.spec.name) as step:
            await self.spec.tools.aprepare()  # connects the MCP servers not connected yet (no I/O once they are)
            self.schemas = self.spec.tools.schemas() if self.spec.react_format == "native" else []
            self.log.info("agent.turn.start", history_turns=len(self.conversation.turns), tools=len(self.spec.tools))
            try:
                with use_session(self.session):
                    if self.resumed is not None:
                        await self.settle(self.resumed)
                    while self.outcome is None:
                        await self.step()
                    await self.finish()
            except (Exception, asyncio.CancelledError) as exc:
                # the turn so far stays stored; so do its failure (or cancellation) and the tokens it
                # used, even when the caller is being cancelled (shielded, so it is not cut short)
                await asyncio.shield(self.record_end(exc))
                raise
            finally:
                totals = self._totals()
                step.details.update(totals, **self._token_details())
            self.log.info("agent.turn.end", **totals, duration_ms=round((time.perf_counter() - started) * 1000, 1))
        return self.result()

    async def step(self) -> None:
        """One step: the next model request, within the budget, then what its response asks for."""
        self._count_step()
        request, counted, settings = await self.prepare()
        response = await self.ask(request, counted, settings)
        if response is None:
            return  # the server named a smaller window: the same step again, fitted to it
        self.account(response, counted)
        await self.act(response)

    def _count_step(self) -> None:
        spec = self.spec
        if self.steps >= spec.max_steps:
            raise MaxStepsExceededError(
                f"agent {spec.name!r} used all {spec.max_steps} steps without a final answer "
                "(the partial turn is saved; raise max_steps or simplify the task)",
                agent=spec.name,
                steps=self.steps,
            )
        self.steps += 1
        self.last_chance = spec.on_max_steps == "answer" and self.steps == spec.max_steps and bool(spec.tools)

    # -- prepare: the request within the context budget -------------------------------------------

    async def prepare(self) -> tuple[list[Message], int, ModelSettings]:
        """The next request: its messages fitted to the context window, their uncorrected token count,
        and its settings (on the last allowed step: tools withheld, an answer asked for)."""
        request, counted = await self._fit()
        settings = overridden(self.spec.settings)
        if self.last_chance:  # the tools stay described (past calls refer to them) but may not be called
            request.append({"role": "system", "content": FINAL_ANSWER_NUDGE})
            settings = replace(settings, tool_choice="none")
            self.log.info("agent.last_step", step=self.steps, on_max_steps=self.spec.on_max_steps)
        return request, counted, settings

    async def _fit(self) -> tuple[list[Message], int]:
        """The messages that fit, trimming or compacting the history when it no longer fits."""
        spec, conversation = self.spec, self.conversation
        fit = spec.budget.fit
        request, counted, dropped = fit(self.session.id, spec.system_prompt, conversation, self.messages,
                                        self.schemas, agent=spec.name)
        if not dropped and conversation.unread_from is None:
            return request, counted
        if spec.context.strategy == "trim":
            kept = conversation.turns[len(dropped):]
            self.log.info("agent.context.trimmed", dropped_turns=len(dropped), kept_turns=len(kept))
            self.conversation = replace(conversation, turns=kept, unread_from=None)
            return request, counted
        await self.compact()
        request, counted, dropped = fit(self.session.id, spec.system_prompt, self.conversation, self.messages,
                                        self.schemas, agent=spec.name)
        if dropped:  # the summary came out longer than asked: send what fits
            self.log.warning("agent.context.still_too_long", dropped_turns=len(dropped))
        return request, counted

    async def compact(self) -> None:
        """Fold the oldest turns (and the previous summary) into a new ``summary`` entry; the
        conversation is then the summary and the newest turns."""
        conversation = self.conversation
        window = self.spec.budget.window(self.session.id, conversation)
        if window is None:
            return
        kept, folded = await self._fold_split()
        if not folded:
            self.conversation = replace(conversation, unread_from=None)
            return
        boundary = kept[0].first_seq if kept else self.user_seq
        started = time.perf_counter()
        used_before = self.compaction.usage
        with self._observed("compact", "summary") as step:
            summary, requests = await self._summarize(folded, boundary - 1, window)
            used = self.compaction.usage
            step.details.update(folded_turns=len(folded), requests=requests,
                                input_tokens=used.prompt_tokens - used_before.prompt_tokens,
                                output_tokens=used.completion_tokens - used_before.completion_tokens)
        self.log.info(
            "agent.context.compacted",
            folded_turns=len(folded),
            kept_turns=len(kept),
            to_seq=boundary - 1,
            requests=requests,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        self.conversation = Conversation(summary, kept, None, conversation.window)

    async def _fold_split(self) -> tuple[list[Turn], list[Turn]]:
        """The newest turns to keep, and the turns to fold (with those never read, oldest first)."""
        spec, conversation = self.spec, self.conversation
        keep = spec.budget.compaction_split(self.session.id, spec.system_prompt, conversation, self.messages,
                                            self.schemas)
        turns = conversation.turns
        kept = list(turns[len(turns) - keep:]) if keep else []
        folded = list(turns[: len(turns) - keep])
        if conversation.unread_from is not None:
            first_read = turns[0].first_seq if turns else self.user_seq
            fold_range = spec.budget.fold_range
            folded = await self.session.run_blocking(fold_range, self.session, conversation.unread_from,
                                                     first_read) + folded
        return kept, folded

    async def _summarize(self, folded: list[Turn], to_seq: int, window: int) -> tuple[Entry, int]:
        """Ask for the summary of ``folded`` (after the previous one) and store it; returns the entry
        and the requests it took."""
        spec, conversation, session_id = self.spec, self.conversation, self.session.id
        text, used, requests = await spec.budget.summarize(session_id, spec.model, spec.settings,
                                                           conversation.summary_text, folded, window)
        previous = conversation.summary
        earlier = int(previous.data.get("turns", 0)) if previous is not None else 0
        data = summary_entry_data(
            text,
            to_seq,
            window=spec.budget.learned(session_id, conversation),
            model=spec.context.summarizer or spec.settings.model,
            turns=earlier + len(folded),
            requests=requests,
        )
        entry = await self.session.aappend_entry(EntryType.SUMMARY, data)
        self.compaction.usage += used
        self.compaction.requests += requests
        return entry, requests

    # -- ask: one model request -------------------------------------------------------------------

    async def ask(self, request: list[Message], counted: int, settings: ModelSettings) -> ModelResponse | None:
        """Ask the model: complete, or stream when someone listens. A "context length exceeded" refusal
        teaches the window and returns None (once in a row; a second one is raised)."""
        with self._observed("model", settings.model or self.spec.model_name or "") as step:
            step.payload.update(messages=request, settings=settings)
            try:
                if self.on_event is None:
                    response = await self.spec.model.complete(request, self.schemas, settings)
                else:
                    await self.on_event(StepEvent(self.steps))
                    response = await self.stream(request, settings, self.on_event)
            except ContextWindowExceededError as exc:
                if self.overflow_retried:
                    raise
                step.error = exc  # refused; the step runs again
                self.overflow_retried = True
                await self.learn_window(exc, counted)
                self.steps -= 1
                return None
            step.details.update(_response_details(response))
            step.payload["response"] = response
        self.overflow_retried = False
        return response

    async def stream(self, request: list[Message], settings: ModelSettings, on_event: EventSink) -> ModelResponse:
        """One model request, its text passed on as it arrives (native format only: the text format's
        Thought/Action text is not the answer)."""
        forward = self.spec.react_format == "native"
        self.streamed = False
        async for item in stream_response(self.spec.model, request, self.schemas, settings):
            if not isinstance(item, TextDelta):
                return item
            if forward and item.text:
                self.streamed = True
                await on_event(TextDeltaEvent(item.text))
        raise AgentError(f"agent {self.spec.name!r}: the model's stream ended without a response",
                         agent=self.spec.name)

    async def learn_window(self, exc: ContextWindowExceededError, counted: int) -> None:
        """After a "context length exceeded" refusal: learn the window and correct the token count (a
        window the session did not know is stored in it, so a fresh process starts from it)."""
        budget = self.spec.budget
        learned = budget.learn(self.session.id, exc, counted)
        window = budget.window(self.session.id)
        self.log.warning("agent.context.overflow", window=window, counted=counted, server_limit=exc.limit)
        if learned is not None:
            await self._append_quietly(*window_metadata(learned))

    def account(self, response: ModelResponse, counted: int) -> None:
        """Count the response's tokens, and let the budget calibrate its estimate from them."""
        usage = response.usage
        self.spec.budget.observe(self.session.id, counted, usage)
        self.estimated += counted if usage is not None else 0
        self.usage += usage or Usage()
        self.unreported += usage is None
        self.response = response
        self.log.info(
            "agent.step",
            step=self.steps,
            finish_reason=response.finish_reason,
            tool_calls=len(response.tool_calls),
            total_tokens=usage.total_tokens if usage else None,
        )
        if response.finish_reason == "length":
            self.log.warning("agent.truncated", step=self.steps, hint="raise the agent's max_tokens")

    # -- act: tools, or the answer ----------------------------------------------------------------

    async def act(self, response: ModelResponse) -> None:
        """Do what the response asks for: run its tools, or take its answer."""
        native = self.spec.react_format == "native"
        answer = await (self._native_calls(response) if native else self._text_action(response))
        if answer is None:
            return
        self.answer, self.outcome = answer, "answered"
        if self.on_event is not None and not self.streamed:
            await self.on_event(TextDeltaEvent(answer))  # not streamed (text format, or a model that cannot)

    async def _native_calls(self, response: ModelResponse) -> str | None:
        """Run the response's tool calls in order (storing the call, then each result); without
        calls, its content is the answer."""
        if not response.tool_calls:
            return response.content or ""  # stored by finish()
        calls = with_unique_ids([(c.id, c.name or "unnamed_tool", c.arguments) for c in response.tool_calls])
        stored = [ToolCall(c.id, c.name, _storable_arguments(c.arguments)).to_openai() for c in calls]
        await self.persist({"role": "assistant", "content": response.content, "tool_calls": stored})
        if self.wait_for_approval([(c.id, c.name, c.arguments) for c in calls], response.content):
            return None
        for call in calls:
            await self.record_result(call.id, await self.run_tool(call.id, call.name, call.arguments), native=True)
        return None

    async def record_result(self, call_id: str, result: ToolResult, *, native: bool) -> None:
        """Store a call's result: a tool message (native format), or an observation (text format)."""
        if native:
            await self.persist({"role": "tool", "tool_call_id": call_id, "content": result.content,
                                **result.message_fields()})
        else:
            await self.persist({"role": "user", "content": f"{OBSERVATION_PREFIX}{result.content}"})

    async def _text_action(self, response: ModelResponse) -> str | None:
        """The text format: a ``Final Answer``, or an action whose observation is stored as a user message."""
        content = response.content or ""
        try:
            parsed = parse_react_text(content)
        except TextFormatError as exc:
            self.log.warning("agent.text_format_error", problem=str(exc))
            await self.persist({"role": "assistant", "content": content})
            await self.persist({"role": "user", "content": f"{OBSERVATION_PREFIX}Error: {exc}"})
            return None
        if isinstance(parsed, TextFinalAnswer):
            return parsed.answer  # stored by finish()
        # Keep what the model wrote up to its action; an invented "Observation:" is not history.
        await self.persist({"role": "assistant", "content": content.split("\nObservation:", 1)[0].strip()})
        arguments = action_arguments(parsed.tool_input, self.spec.tools.get(parsed.tool))
        call_id = f"text_{secrets.token_hex(6)}"
        shown = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        if self.wait_for_approval([(call_id, parsed.tool, shown)], None):
            return None
        await self.record_result(call_id, await self.run_tool(call_id, parsed.tool, arguments), native=False)
        return None

    # -- approvals: a call that waits for a person ----------------------------------------------------

    def wait_for_approval(self, calls: list[tuple[str, str, str]], content: str | None) -> bool:
        """Pause the turn if a call of this step needs a person's approval (and could run: a call whose
        arguments do not fit is answered at once, as always). Nothing of the step runs then; the request
        is stored by :meth:`finish`."""
        tools = self.spec.tools
        needed = [tools.requires_approval(name) and not isinstance(tools.check(name, arguments), ToolResult)
                  for _, name, arguments in calls]
        if not any(needed):
            return False
        self.pause = request_data(
            [(call_id, name, arguments, need) for (call_id, name, arguments), need in zip(calls, needed, strict=True)],
            turn_from_seq=self.user_seq, steps=self.steps, tool_calls=self.tool_runs,
            react_format=self.spec.react_format, content=content, usage=(self.earlier + self.total_usage).to_dict(),
        )
        self.answer, self.outcome = content or "", "pending_approval"
        self.log.info("agent.turn.paused", step=self.steps, waiting=[c[1] for c, n in zip(calls, needed, strict=True) if n])
        return True

    async def settle(self, request: ApprovalRequest) -> None:
        """Finish the paused step once every call is decided: run each call in order (approved, or
        needing no approval), and give the model each denial as that call's result."""
        decided = {approval.call_id: approval for approval in request.approvals}
        native = request.react_format != "text"
        for call in request.calls:
            result = await self.run_tool(call.id, call.name, call.arguments, approval=decided.get(call.id))
            await self.record_result(call.id, result, native=native)

    async def run_tool(
        self, call_id: str, name: str, arguments: str | Mapping[str, Any], approval: Approval | None = None
    ) -> ToolResult:
        """Run one tool call, with its events; never raises for the tool's own failures. A call a
        person denied (``approval``) does not run: its result tells the model so."""
        if self.on_event is not None:
            shown = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
            await self.on_event(ToolCallEvent(call_id, name, shown))
        with self._observed("tool", name) as step:
            step.details.update(call_id=call_id, source=_tool_source(self.spec.tools.get(name)))
            step.payload["arguments"] = arguments
            if approval is not None:
                step.details["approval"] = approval.status
            if approval is not None and approval.status == "denied":
                result = denied(name, approval)
                self.log.info("tool.denied", tool=name, call_id=call_id)
            else:
                result = await self.spec.tools.execute(
                    name, arguments, max_chars=self.spec.max_tool_result_chars,
                    log_fields={"agent": self.spec.name, "session_id": self.session.id},
                )
                self.tool_runs += 1
            step.details["is_error"] = result.is_error
            step.payload["result"] = result.content
        if self.on_event is not None:
            await self.on_event(ToolResultEvent(call_id, name, result.content))
        return result

    async def persist(self, message: Message) -> None:
        """Append ``message`` to the session (on the store's own I/O pool, shielded) and to the turn."""
        role, content = message["role"], message.get("content")
        extra = {k: v for k, v in message.items() if k not in ("role", "content")}
        await self.session.aappend_message(role, content, **extra)
        self.messages.append(message)

    # -- the end: the answer, or why there is none ------------------------------------------------

    async def finish(self) -> None:
        """Store the answer and the turn's usage, in one trip to the store (paused: the approval
        request and the usage so far)."""
        if self.pause is not None:
            usage = {**self._usage_data(), "paused": True}  # the turn goes on later: not a turn of its own
            await self.session.run_blocking(self._store_pause, self.pause, usage, write=True)
            if self.on_event is not None and self.paused is not None:
                await self.on_event(ApprovalRequiredEvent(self.paused.waiting))
            return
        data = self._usage_data()
        if self.estimated and not self.compaction.requests:  # a fresh process calibrates its counts from it
            data["estimated_prompt_tokens"] = self.estimated
        if self.last_chance:
            data["on_max_steps"] = self.spec.on_max_steps  # the answer was asked for, tools withheld
        await self.session.run_blocking(self._store_answer, data, write=True, ends_turn=True)

    def _store_pause(self, request: dict[str, Any], usage: dict[str, Any]) -> None:
        """Blocking: store the approval request (errors propagate), then the usage (errors are only logged)."""
        self.paused = open_request([self.session.append_entry(EntryType.APPROVAL_REQUEST, request)])
        try:
            self.session.append_entry(EntryType.USAGE, usage)
        except Exception as exc:
            self.log.error("agent.record_failed", entry_type=EntryType.USAGE.value, error_type=type(exc).__name__)

    def _store_answer(self, usage: dict[str, Any]) -> None:
        """Blocking: store the final answer (errors propagate), then the usage (errors are only logged)."""
        answer = self.answer if self.answer is not None else ""
        self.session.append_message("assistant", answer)
        self.messages.append({"role": "assistant", "content": answer})
        try:
            self.session.append_entry(EntryType.USAGE, usage)
        except Exception as exc:
            self.log.error("agent.record_failed", entry_type=EntryType.USAGE.value, error_type=type(exc).__name__)

    async def record_end(self, exc: BaseException) -> None:
        """Store why the turn ended without an answer, then the tokens it used. ``turn_from_seq``
        keeps the turn (its user message first) out of later requests, so it is never sent again."""
        self.outcome = "cancelled" if isinstance(exc, asyncio.CancelledError) else "failed"
        self.log.error("agent.turn.failed", error_type=type(exc).__name__, steps=self.steps)
        error = {
            "error": type(exc).__name__,
            "message": str(exc)[:1000],
            "agent": self.spec.name,
            "steps": self.steps,
            "turn_from_seq": self.user_seq,
        }
        await self._append_quietly(EntryType.ERROR, error)
        await self._append_quietly(EntryType.USAGE, self._usage_data())

    async def _append_quietly(self, kind: EntryType, data: Mapping[str, Any]) -> None:
        # Bookkeeping must not hide the turn's own outcome (or its original error).
        try:
            await self.session.aappend_entry(kind, dict(data))
        except Exception as exc:
            self.log.error("agent.record_failed", entry_type=kind.value, error_type=type(exc).__name__)

    # -- what the turn came to ----------------------------------------------------------------------

    @property
    def total_usage(self) -> Usage:
        """The tokens of the turn's requests and of its compaction."""
        return self.usage + self.compaction.usage

    def _usage_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {**self.total_usage.to_dict(), "requests": self.steps - self.steps_before}
        if self.unreported:
            data["unreported_requests"] = self.unreported
        if self.compaction.requests:
            data["summary_requests"] = self.compaction.requests
        return data

    def _token_details(self) -> dict[str, object]:
        used = self.total_usage
        return {"input_tokens": used.prompt_tokens, "output_tokens": used.completion_tokens}

    def _totals(self) -> dict[str, object]:
        return {"outcome": self.outcome, "steps": self.steps, "tool_calls": self.tool_runs,
                "total_tokens": self.total_usage.total_tokens}

    def result(self) -> TurnResult:
        """The :class:`~aixgo.agents.TurnResult` of the answered (or paused) turn."""
        return TurnResult(
            answer=self.answer if self.answer is not None else "",
            steps=self.steps,
            usage=self.earlier + self.total_usage,
            session_id=self.session.id,
            agent=self.spec.name,
            tool_calls=self.tool_runs,
            finish_reason=self.response.finish_reason if self.response else None,
            outcome="pending_approval" if self.paused is not None else "answered",
            approvals=self.paused.waiting if self.paused is not None else (),
        )

    def _observed(self, kind: StepKind, name: str) -> AbstractContextManager[TurnStep]:
        """``kind`` of step wrapped in the spec's observers (none: only the step record)."""
        step = TurnStep(kind, name, self.spec.name, self.session.id, self.steps, user=self.session.user_id)
        return observed(self.spec.observers, step) if self.spec.observers else nullcontext(step)


def _response_details(response: ModelResponse) -> dict[str, object]:
    details: dict[str, object] = {"finish_reason": response.finish_reason, "tool_calls": len(response.tool_calls)}
    if response.usage is not None:
        details.update(input_tokens=response.usage.prompt_tokens, output_tokens=response.usage.completion_tokens)
    if response.model is not None:
        details["response_model"] = response.model
    return details


def _tool_source(tool: BaseTool | None) -> str:
    """Where a tool comes from (``built-in``, ``python``, ``mcp``; ``unknown`` for a name the model made up)."""
    return tool.source if tool is not None else "unknown"


def denied(name: str, approval: Approval) -> ToolResult:
    """What the model reads for a call a person denied (it did not run); the decision is stored with it."""
    reason = f" The reason given: {approval.reason}" if approval.reason else ""
    details: dict[str, Any] = {"decision": "deny"}
    if approval.reason:
        details["reason"] = approval.reason
    if approval.decided_by:
        details["by"] = approval.decided_by
    return ToolResult(f"Error: a person denied this call of {name}; it did not run.{reason}", True,
                      {"approval": details})


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


__all__ = ["FINAL_ANSWER_NUDGE", "ReActTurn"]
