"""The runtime: agents plus a session store, and one engine that runs a turn through a durable session.

>>> rt = Runtime.from_config("configs/offline.yaml")                       # doctest: +SKIP
>>> result = rt.call_with_session("offline", "My name is Ada.", "demo-1")  # doctest: +SKIP
>>> result = await rt.acall_with_session("offline", "What is my name?", "demo-1")  # doctest: +SKIP

Every turn:

1. resumes (or creates) the session for the agent;
2. takes the session's turn lease, so two callers — threads, processes or nodes — never interleave
   turns of one session (the second waits, up to ``lease_wait`` seconds); the lease is extended
   every ``lease_ttl / 3`` while the turn runs, so ``lease_ttl`` only bounds how long a *crashed*
   holder blocks others;
3. lets the agent begin the turn (:meth:`~aixgo.agents.Agent.begin_turn`: its history read and the
   user message stored, in the same trip to the store's I/O pool that took the lease), then runs it
   with the session in context (:func:`aixgo.session.session_from_context` works in tools),
   persisting every step as it happens through the lease (:attr:`HeldLease.session`): if the lease is
   lost (it expired while the process stalled, or cannot be renewed), the store refuses the turn's
   writes and the turn ends with :class:`~aixgo.errors.LeaseLostError`;
4. creates a checkpoint when ``checkpoint.auto_save`` is on and ``interval`` has passed since the
   last one;
5. releases the lease, whatever happened.

:meth:`Runtime.call_with_session` runs :meth:`Runtime.acall_with_session` to completion on the
runtime's own event loop (one background thread, started on first use): one engine, not two copies.
The loop lives as long as the runtime, so model clients keep their connection pools between sync
calls, and many threads may call at once. Ctrl-C in a sync call cancels the turn and waits for it to
unwind (releasing the lease) before ``KeyboardInterrupt`` propagates.

(Longer than most modules: one class whose public calls each come as a sync and an async twin,
around the one turn engine; sessions, leases, agents and models live in their own packages.)
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Generator, Iterable
from contextlib import nullcontext, suppress
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast, get_args

import structlog

from aixgo.agents import Agent, AgentTurn, ReActAgent, TurnResult, agent_from_config
from aixgo.agents.events import ApprovalRequiredEvent, EventSink, TurnEndEvent, TurnEvent
from aixgo.agents.observe import TurnObserver, TurnStep, observed
from aixgo.agents.tools.toolbox import Toolbox
from aixgo.config import Config, build_session_manager, load_config
from aixgo.config.model import SessionMode
from aixgo.errors import (
    AgentError,
    AgentNotFoundError,
    AixgoError,
    LeaseLostError,
    SessionBusyError,
    SessionNotFoundError,
    StoreClosedError,
    TurnStoppedError,
)
from aixgo.llm.protocol import Usage
from aixgo.logs import get_logger
from aixgo.observability import Telemetry, resolve_settings, start_telemetry
from aixgo.session import EntryType, Manager, Session, use_session
from aixgo.session.core.approvals import Approval, ApprovalRequest, check_decision, decision_data
from aixgo.session.core.codec import utcnow
from aixgo.session.manager import DEFAULT_LEASE_TTL, HeldLease
from aixgo.session.memory import MemoryBackend
from aixgo.session.types import APPROVAL_DECISIONS, ApprovalDecision

log = get_logger("aixgo.runtime")

T = TypeVar("T")

Result = TurnResult
"""What a turn returns: ``answer``, ``steps``, ``usage``, ``session_id``, ``agent`` (and ``tool_calls``)."""

SESSION_MODES: tuple[str, ...] = get_args(SessionMode)
"""How an agent remembers: ``enabled`` (the runtime's session store), ``lightweight`` (an in-memory
session that lasts as long as the runtime) or ``disabled`` (stateless: each turn sees only itself)."""


_SIGNAL_POLL = 0.05
"""Seconds between checks for Ctrl-C while a synchronous call waits for its turn."""


class _LoopThread:
    """An event loop running in a daemon thread, for synchronous callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="aixgo-runtime-loop", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait; on Ctrl-C, cancel it and wait until it has unwound.

        The wait wakes every :data:`_SIGNAL_POLL` seconds: the kernel may hand a SIGINT to any
        thread of the process, and a main thread blocked on a lock would then never see it. A
        Ctrl-C that lands after the turn was handed to the loop but before the wait began still
        cancels it (``abandoned``), so no turn is ever left running behind the caller's back."""
        started, finished, abandoned = threading.Event(), threading.Event(), threading.Event()
        tasks: list[asyncio.Future[Any]] = []

        async def tracked() -> T:
            task = asyncio.current_task()
            assert task is not None
            tasks.append(task)
            started.set()
            try:
                if abandoned.is_set():
                    raise asyncio.CancelledError
                return await coro
            finally:
                coro.close()  # never started (abandoned, or cancelled at once): no "never awaited" warning
                finished.set()

        try:
            future = asyncio.run_coroutine_threadsafe(tracked(), self.loop)
            while True:
                with suppress(TimeoutError):
                    return future.result(timeout=_SIGNAL_POLL)
        except KeyboardInterrupt:
            abandoned.set()
            if started.is_set():
                self.loop.call_soon_threadsafe(tasks[0].cancel)
                finished.wait(timeout=30)
            else:
                coro.close()
            raise

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class Runtime:
    """Agents and a session manager; runs turns through durable sessions.

    Build it from a YAML file with :meth:`from_config`, or by hand (``SimpleRuntime()`` +
    :meth:`set_session_manager` + :meth:`register_agent`).
    """

    def __init__(
        self,
        manager: Manager | None = None,
        *,
        auto_checkpoint: bool = False,
        checkpoint_interval: timedelta | None = None,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        lease_wait: float | None = None,
        config: Config | None = None,
        observers: Iterable[TurnObserver] = (),
    ) -> None:
        self._manager = manager
        self._toolbox: Toolbox | None = None
        self._agents: dict[str, Agent] = {}
        self._modes: dict[str, str] = {}
        self._in_memory: Manager | None = None
        self._lock = threading.Lock()
        self.auto_checkpoint = auto_checkpoint
        self.checkpoint_interval = checkpoint_interval
        self.lease_ttl = lease_ttl
        self.lease_wait = lease_wait
        self.config = config
        self.observers = tuple(observers)
        """:class:`~aixgo.agents.TurnObserver` hooks whose ``turn`` step covers each whole turn (finding
        the session, its lease, the agent's turn, the auto-checkpoint)."""
        self.telemetry: Telemetry | None = None
        """Tracing and metrics, when the config (or ``OTEL_*``) turned them on (:meth:`from_config`)."""
        self._loop_thread: _LoopThread | None = None
        self._running: dict[str, set[asyncio.Task[Any]]] = {}  # session id -> its turns running here
        self._stopping: set[asyncio.Task[Any]] = set()

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | Config, *, trace_tree: bool = False) -> Runtime:
        """A runtime with the store and agents a config file declares, traced when its
        ``observability:`` block or the ``OTEL_*`` variables say so (docs/observability.md);
        ``trace_tree``: trace, and print each turn's span tree on stderr (``aixgo run --trace``).

        The MCP servers the agents use are started (or reached) here, before any turn.

        Raises :class:`~aixgo.errors.ConfigError` for an invalid file, :class:`~aixgo.errors.ToolServerError`
        for an MCP server that cannot start (with its stderr's last lines),
        :class:`~aixgo.errors.MissingDependencyError` for tracing without the OpenTelemetry SDK, and the
        agent layer's errors (unknown tool, missing API key) for agents that cannot be built."""
        config = path if isinstance(path, Config) else load_config(Path(path))
        settings = resolve_settings(config.observability)
        telemetry = start_telemetry(settings.with_tree() if trace_tree else settings)
        observers = (telemetry.observer,) if telemetry is not None else ()
        runtime = cls(
            auto_checkpoint=config.session.checkpoint.auto_save,
            checkpoint_interval=config.session.checkpoint.interval,
            config=config,
            observers=observers,
        )
        runtime.telemetry = telemetry
        runtime._toolbox = Toolbox.from_config(config)
        try:
            for agent_config in config.agents:
                mode = agent_config.session_mode
                if mode == "enabled" and not config.session.enabled:
                    mode = "disabled"  # session.enabled: false: agents run without memory
                tools = runtime._toolbox.registry(agent_config.name)
                agent = agent_from_config(agent_config, tools=tools, observers=observers)
                runtime.register_agent(agent, session_mode=mode)
            if config.session.enabled and any(m == "enabled" for m in runtime._modes.values()):
                manager = build_session_manager(config)
                if telemetry is not None:
                    manager.observers = (*manager.observers, telemetry.observer.store)
                runtime.set_session_manager(manager)
        except BaseException:
            runtime._toolbox.close()
            raise
        return runtime

    def set_session_manager(self, manager: Manager) -> None:
        """Use ``manager`` for every turn from now on."""
        self._manager = manager

    @property
    def session_manager(self) -> Manager:
        """The session manager; raises if none was set (``session.enabled: false``)."""
        if self._manager is None:
            if self.config is not None and not self.config.session.enabled:
                raise StoreClosedError(
                    f"sessions are disabled in {self.config.path} (session.enabled: false): agents run without "
                    "memory and nothing is stored"
                )
            raise StoreClosedError("this runtime has no session manager: call set_session_manager() first")
        return self._manager

    def register_agent(self, agent: Agent, name: str | None = None, *, session_mode: str = "enabled") -> None:
        """Make ``agent`` callable by ``name`` (default: its own name); ``session_mode`` is one of
        :data:`SESSION_MODES`."""
        if session_mode not in SESSION_MODES:
            raise AixgoError(f"session_mode must be one of {', '.join(SESSION_MODES)}, got {session_mode!r}")
        with self._lock:
            self._agents[name or agent.name] = agent
            self._modes[name or agent.name] = session_mode

    def session_mode(self, agent_name: str) -> str:
        """How ``agent_name`` remembers (see :data:`SESSION_MODES`)."""
        self.agent(agent_name)
        return self._modes.get(agent_name, "enabled")

    def manager_for(self, agent_name: str) -> Manager:
        """The session manager turns of ``agent_name`` use: the store, or this runtime's in-memory one
        (``lightweight`` and ``disabled`` agents)."""
        if self.session_mode(agent_name) == "enabled":
            return self.session_manager
        with self._lock:
            if self._in_memory is None:
                store_observer = self.telemetry.observer.store if self.telemetry is not None else None
                self._in_memory = Manager(MemoryBackend(), observers=(store_observer,) if store_observer else ())
            return self._in_memory

    def agent(self, name: str) -> Agent:
        """The registered agent ``name``; raises :class:`~aixgo.errors.AgentNotFoundError`."""
        try:
            return self._agents[name]
        except KeyError:
            known = ", ".join(sorted(self._agents)) or "none"
            raise AgentNotFoundError(f"no agent named {name!r} (registered: {known})", agent=name) from None

    @property
    def agent_names(self) -> list[str]:
        """Names of the registered agents, in registration order."""
        return list(self._agents)

    # -- turns -----------------------------------------------------------------------------------

    def session_for(
        self, agent_name: str, session_id: str | None = None, *, user_id: str | None = None
    ) -> Session:
        """The session a turn of ``agent_name`` would use: ``session_id`` resumed or created, or a new one."""
        manager = self.manager_for(agent_name)
        if session_id is None or self.session_mode(agent_name) == "disabled":
            return manager.create(agent_name, user_id=user_id)
        return manager.get_or_create(agent_name, session_id, user_id=user_id)

    async def asession_for(
        self, agent_name: str, session_id: str | None = None, *, user_id: str | None = None
    ) -> Session:
        """Awaitable :meth:`session_for`."""
        manager = self.manager_for(agent_name)
        if session_id is None or self.session_mode(agent_name) == "disabled":
            return await manager.acreate(agent_name, user_id=user_id)
        return await manager.aget_or_create(agent_name, session_id, user_id=user_id)

    async def acall_with_session(
        self, agent_name: str, message: str, session_id: str | None = None, *, user_id: str | None = None
    ) -> Result:
        """Run one turn of ``agent_name`` on ``message`` in the session ``session_id`` (created if new;
        a fresh session if None). Returns the answer, steps, token usage and session id.

        Waiting for the session's lease happens on the event loop: any number of turns may queue on
        one session without holding a thread, so the other sessions keep running.

        An agent registered with ``session_mode="disabled"`` sees only this turn: it runs in a fresh
        in-memory session (its id is the result's ``session_id``) that is gone afterwards."""
        return await self._turn(agent_name, message, session_id, user_id, None)

    def astream_with_session(
        self, agent_name: str, message: str, session_id: str | None = None, *, user_id: str | None = None
    ) -> AsyncGenerator[TurnEvent, None]:
        """:meth:`acall_with_session`, yielding the turn's events as they happen: ``step``,
        ``text_delta`` (the answer as the model streams it), ``tool_call``, ``tool_result``,
        ``approval_required`` (the turn paused for approval of tool calls), and last ``turn_end`` with
        the :class:`TurnResult` (see :mod:`aixgo.agents.events`).

        The same engine: what is stored is the same whole messages. A failed turn raises its error
        from the iteration. Leaving the iteration early (``break``, a cancelled task, a client that
        went away) cancels the turn: its partial answer is not stored, and the turn is recorded as
        cancelled and not sent again (see docs/agents.md)."""
        return _streamed(lambda emit: self._turn(agent_name, message, session_id, user_id, emit))

    def stream_with_session(
        self, agent_name: str, message: str, session_id: str | None = None, *, user_id: str | None = None
    ) -> Generator[TurnEvent, None, None]:
        """:meth:`astream_with_session` for synchronous code (events from the runtime's own loop)."""
        loop_thread = self._sync_loop("stream_with_session", "astream_with_session")
        return _iterate(loop_thread, self.astream_with_session(agent_name, message, session_id, user_id=user_id))

    # -- approvals -------------------------------------------------------------------------------

    async def apending_approvals(self, session_id: str) -> list[Approval]:
        """The tool calls of ``session_id`` that wait for a person's approval (in the order the model made
        them; empty when nothing waits). A turn paused for them; :meth:`adecide` each.

        Raises:
            SessionNotFoundError: no such session."""
        _, session = await self._find(session_id)
        request = await session.apending_approval()
        return list(request.waiting) if request is not None else []

    def pending_approvals(self, session_id: str) -> list[Approval]:
        """:meth:`apending_approvals` for synchronous code."""
        loop_thread = self._sync_loop("pending_approvals", "apending_approvals")
        return loop_thread.run(self.apending_approvals(session_id))

    async def adecide(
        self, session_id: str, call_id: str, decision: ApprovalDecision | bool, *, reason: str | None = None,
        by: str | None = None,
    ) -> Result:
        """Approve or deny one tool call that waits (``decision``: ``"approve"``/``True`` or
        ``"deny"``/``False``; ``reason`` goes to the model with a denial; ``by`` is stored with it).

        The decision is stored with the session's lease held, so two deciders, in any processes or
        nodes, never both decide one call. When it was the step's last undecided call, the same turn
        continues here: the approved calls (and those that needed no approval) run in order, each
        denial is the model's result for its call, and the turn goes on to its answer (or pauses again).
        Returns the turn's :class:`TurnResult`: answered, or still ``pending_approval`` with the calls
        that wait.

        Raises:
            ApprovalNotFoundError: nothing of that id waits in the session.
            ApprovalDecidedError: the call was already decided.
            SessionNotFoundError, SessionBusyError: as for a turn; and the continued turn's errors."""
        return await self._decide(session_id, call_id, decision, reason, by, None)

    def decide(
        self, session_id: str, call_id: str, decision: ApprovalDecision | bool, *, reason: str | None = None,
        by: str | None = None,
    ) -> Result:
        """:meth:`adecide` for synchronous code, run on the runtime's own event loop."""
        loop_thread = self._sync_loop("decide", "adecide")
        return loop_thread.run(self.adecide(session_id, call_id, decision, reason=reason, by=by))

    def astream_decide(
        self, session_id: str, call_id: str, decision: ApprovalDecision | bool, *, reason: str | None = None,
        by: str | None = None,
    ) -> AsyncGenerator[TurnEvent, None]:
        """:meth:`adecide`, yielding the continued turn's events as they happen (as
        :meth:`astream_with_session` does); a decision that leaves calls waiting yields
        ``approval_required`` with them, then ``turn_end``."""
        return _streamed(lambda emit: self._decide(session_id, call_id, decision, reason, by, emit))

    def stream_decide(
        self, session_id: str, call_id: str, decision: ApprovalDecision | bool, *, reason: str | None = None,
        by: str | None = None,
    ) -> Generator[TurnEvent, None, None]:
        """:meth:`astream_decide` for synchronous code."""
        loop_thread = self._sync_loop("stream_decide", "astream_decide")
        return _iterate(loop_thread, self.astream_decide(session_id, call_id, decision, reason=reason, by=by))

    async def _find(self, session_id: str) -> tuple[Manager, Session]:
        """The manager that holds ``session_id`` and the session: the store's, else this runtime's
        in-memory one (``lightweight`` and ``disabled`` agents)."""
        managers = [m for m in (self._manager, self._in_memory) if m is not None]
        for number, manager in enumerate(managers):
            try:
                return manager, await manager.aget(session_id)
            except SessionNotFoundError:
                if number == len(managers) - 1:
                    raise
        return self.session_manager, await self.session_manager.aget(session_id)  # no manager: its error

    async def _decide(
        self, session_id: str, call_id: str, decision: ApprovalDecision | bool, reason: str | None, by: str | None,
        on_event: EventSink | None,
    ) -> Result:
        chosen = _decision(decision)
        manager, found = await self._find(session_id)
        agent = self.agent(found.agent)
        step = TurnStep("turn", agent.name, agent.name, found.id, 0, user=found.user_id) if self.observers else None
        with observed(self.observers, step) if step is not None else nullcontext():
            return await self._decided(manager, found, agent, call_id, chosen, reason, by, on_event, step)

    async def _decided(
        self, manager: Manager, found: Session, agent: Agent, call_id: str, chosen: ApprovalDecision,
        reason: str | None, by: str | None, on_event: EventSink | None, step: TurnStep | None,
    ) -> Result:
        """Take the decision with the lease held and, when it settles the step, continue the turn."""
        resume = getattr(agent, "resume_turn", None)

        def begin(session: Session, lease: HeldLease) -> tuple[ApprovalRequest | None, AgentTurn | None]:
            fenced = lease.session
            request = fenced.pending_approval()
            approval = check_decision(request, call_id, session.id)
            assert request is not None
            fenced.append_entry(EntryType.APPROVAL_DECISION,
                                decision_data(request.entry_id, call_id, chosen, reason=reason, by=by))
            log.info("runtime.approval.decided", agent=agent.name, session_id=session.id, call_id=call_id,
                     tool=approval.name, decision=chosen)
            request = fenced.pending_approval()
            if request is None or not request.complete:
                return request, None
            if resume is None:
                raise AgentError(f"agent {agent.name!r} cannot continue a paused turn (it has no resume_turn)",
                                 agent=agent.name)
            return request, resume(fenced, request)

        session, lease, (request, turn) = await self._leased(manager, lambda: found, begin)
        if turn is None:
            await asyncio.shield(lease.arelease())
            waiting = request.waiting if request is not None else ()
            if on_event is not None:
                await on_event(ApprovalRequiredEvent(waiting))
            if step is not None:
                step.details["outcome"] = "pending_approval"
            return TurnResult(answer="", steps=0, usage=Usage(), session_id=session.id, agent=agent.name,
                              outcome="pending_approval", approvals=waiting)
        return await self._run_leased(agent.name, manager, lease, turn, on_event, step)

    async def _turn(
        self,
        agent_name: str,
        message: str,
        session_id: str | None,
        user_id: str | None,
        on_event: EventSink | None,
    ) -> Result:
        step = TurnStep("turn", agent_name, agent_name, session_id or "", 0, user=user_id) if self.observers else None
        with observed(self.observers, step) if step is not None else nullcontext():
            agent = self.agent(agent_name)
            manager = self.manager_for(agent_name)

            def begin(session: Session, lease: HeldLease) -> AgentTurn:
                return agent.begin_turn(lease.session, message)

            find = functools.partial(self.session_for, agent_name, session_id, user_id=user_id)
            _, lease, turn = await self._leased(manager, find, begin)
            return await self._run_leased(agent_name, manager, lease, turn, on_event, step)

    async def _run_leased(
        self, agent_name: str, manager: Manager, lease: HeldLease, turn: AgentTurn, on_event: EventSink | None,
        step: TurnStep | None,
    ) -> Result:
        """Run a begun (or continued) turn with its lease held and kept; release it whatever happens."""
        session = lease.session  # the turn writes through its lease: fenced once the lease is lost
        if step is not None:
            step.session_id = session.id
        bound = log.bind(agent=agent_name, session_id=session.id)
        this_turn = asyncio.current_task()
        assert this_turn is not None
        if not self.auto_checkpoint:  # nothing follows the turn's last write: the lease goes in its trip
            lease.release_at_turn_end()
        keeper = asyncio.create_task(self._keep_lease(lease, bound, this_turn))
        with self._lock:
            self._running.setdefault(session.id, set()).add(this_turn)
        completed = False
        try:
            with use_session(session):
                result = await turn.run(on_event)
            completed = True
        except asyncio.CancelledError:
            lost = _stopped_by(keeper, this_turn)
            if lost is not None:
                raise lost from None
            bound.info("runtime.turn.cancelled")
            with self._lock:
                stopped = this_turn in self._stopping
            if stopped:
                raise TurnStoppedError(f"the turn of session {session.id!r} was stopped", agent=agent_name,
                                       session_id=session.id) from None
            raise
        finally:
            with self._lock:
                running = self._running.get(session.id, set())
                running.discard(this_turn)
                if not running:
                    self._running.pop(session.id, None)
                self._stopping.discard(this_turn)
            keeper.cancel()
            await asyncio.shield(self._aend(session, lease, completed))
            if self._modes.get(agent_name) == "disabled" and not (completed and result.paused):
                await manager.adelete(session.id)  # a paused turn's session lives on until it is decided
        bound.info("runtime.turn", steps=result.steps, tokens=result.usage.total_tokens, outcome=result.outcome)
        return result

    async def _leased(
        self, manager: Manager, find: Callable[[], Session], begin: Callable[[Session, HeldLease], T]
    ) -> tuple[Session, HeldLease, T]:
        """The session ``find`` names (on the store's pool), its lease, and what ``begin`` did with the
        lease held (begin a turn, or take a decision). When the lease is free, one trip to the store's
        I/O pool does it all; when it is busy, the wait happens on the event loop. If ``begin`` fails,
        the lease is released."""

        def first() -> tuple[Session, HeldLease | None, T | None]:
            session = find()
            try:
                lease = session.lease(ttl=self.lease_ttl, wait=0)
            except SessionBusyError:
                if self.lease_wait == 0:
                    raise
                return session, None, None
            return session, lease, _with_lease(begin, session, lease)

        session, lease, begun = await _on_pool(manager, _release_found, first)
        if lease is not None:
            return session, lease, cast(T, begun)  # what begin returned, with the lease
        log.info("runtime.turn.waiting_for_lease", session_id=session.id)
        held = await session.alease(self.lease_ttl, self.lease_wait)
        then = await _on_pool(manager, lambda _: held.arelease(), _with_lease, begin, session, held)
        return session, held, then

    def stop_turns(self, session_id: str) -> int:
        """Stop the turns of ``session_id`` running in this runtime, as ``aixgo run``'s Ctrl-C does: each is
        cancelled, what it stored so far stays, it is recorded as cancelled (and never sent again), and its
        caller gets :class:`~aixgo.errors.TurnStoppedError`. Returns how many were running. Safe from any
        thread; turns of other processes (other nodes) are not reached."""
        with self._lock:
            turns = list(self._running.get(session_id, ()))
            self._stopping.update(turns)
        for task in turns:
            task.get_loop().call_soon_threadsafe(task.cancel)
        if turns:
            log.info("runtime.turn.stop", session_id=session_id, turns=len(turns))
        return len(turns)

    def call_with_session(
        self, agent_name: str, message: str, session_id: str | None = None, *, user_id: str | None = None
    ) -> Result:
        """:meth:`acall_with_session` for synchronous code, run on the runtime's own event loop.

        Safe to call from many threads at once; not from inside a running event loop (await
        :meth:`acall_with_session` there)."""
        loop_thread = self._sync_loop("call_with_session", "acall_with_session")
        return loop_thread.run(self.acall_with_session(agent_name, message, session_id, user_id=user_id))

    def _sync_loop(self, name: str, twin: str) -> _LoopThread:
        """The runtime's own event loop (started on first use), for a synchronous call ``name``."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise AixgoError(f"{name}() was called inside a running event loop: use {twin}()")
        with self._lock:
            if self._loop_thread is None:
                self._loop_thread = _LoopThread()
            return self._loop_thread

    async def _keep_lease(
        self, lease: HeldLease, bound: structlog.stdlib.BoundLogger, turn: asyncio.Task[Any]
    ) -> LeaseLostError:
        """Extend the lease every third of its ttl while a turn runs, so a long turn (a slow model,
        a slow tool) is never overlapped by another node whose wait outlived the ttl.

        When the lease is lost (it expired while the process stalled, and maybe was taken), or cannot be
        renewed before it may have expired (the store unreachable: retried meanwhile), the turn is
        cancelled and ends with the :class:`LeaseLostError` this returns. Its writes are fenced by the
        lease anyway (the store refuses them); this stops a turn that would not write for a while."""
        ttl = self.lease_ttl
        held_until = time.monotonic() + ttl
        pause = ttl / 3
        while True:
            await asyncio.sleep(pause)
            asked = time.monotonic()
            try:
                await lease.aextend(ttl)
            except LeaseLostError as exc:
                if lease.released:  # given up with the turn's last write: the turn is over, not stopped
                    return exc
                lost = exc
            except AixgoError as exc:  # the store cannot be reached: retry while the lease may still be held
                if time.monotonic() < held_until:
                    bound.warning("runtime.lease.extend_failed", error=str(exc))
                    pause = min(ttl / 10, max(0.0, held_until - time.monotonic()))
                    continue
                lost = LeaseLostError(
                    f"the turn lease on session {lease.session.id!r} could not be renewed before it expired "
                    f"({exc}); the turn was stopped",
                    session_id=lease.session.id,
                )
            else:
                held_until, pause = asked + ttl, ttl / 3
                continue
            bound.error("runtime.lease.lost", error=str(lost))
            turn.cancel()
            return lost

    async def _aend(self, session: Session, lease: HeldLease, completed: bool) -> None:
        """Auto-checkpoint a completed turn, then release the lease whatever happened. A release that
        fails (the store unreachable) is logged, not raised over the turn's own outcome: the lease then
        expires after its ttl."""
        try:
            if completed:
                await self._maybe_checkpoint(session)
        finally:
            try:
                await lease.arelease()
            except AixgoError as exc:
                log.warning("runtime.lease.release_failed", session_id=session.id, error=str(exc))

    async def _maybe_checkpoint(self, session: Session) -> None:
        if not self.auto_checkpoint:
            return
        if self.checkpoint_interval is not None:
            checkpoints = await session.acheckpoints()
            if checkpoints and utcnow() - checkpoints[-1].timestamp < self.checkpoint_interval:
                return
        await session.acheckpoint(metadata={"auto": True})

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the runtime's event loop and close the session manager. Safe to call twice."""
        with self._lock:
            loop_thread, self._loop_thread = self._loop_thread, None
        if loop_thread is not None:
            loop_thread.run(self._close_agents())  # their models' HTTP pools live on this loop
            loop_thread.close()
        if self._manager is not None:
            self._manager.close()
        if self._in_memory is not None:
            self._in_memory.close()
        if self._toolbox is not None:
            self._toolbox.close()  # the MCP servers stop when nothing else in the process uses them
            self._toolbox = None

    async def _close_agents(self) -> None:
        for agent in self._agents.values():
            try:
                await agent.aclose()
            except Exception as exc:  # closing must not mask the caller's own outcome
                log.warning("runtime.close.agent_failed", agent=agent.name, error=str(exc))

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


SimpleRuntime = Runtime
"""The seed's name: ``SimpleRuntime()`` then ``set_session_manager(mgr)`` and ``register_agent(agent)``."""

__all__ = ["SESSION_MODES", "Agent", "ReActAgent", "Result", "Runtime", "SimpleRuntime"]


def _with_lease(begin: Callable[[Session, HeldLease], T], session: Session, lease: HeldLease) -> T:
    """On the store's pool, with the lease held: ``begin`` (a turn, a decision); release the lease if it
    fails."""
    try:
        return begin(session, lease)
    except BaseException:
        lease.release()
        raise


def _decision(decision: ApprovalDecision | bool) -> ApprovalDecision:
    if isinstance(decision, bool):
        return "approve" if decision else "deny"
    if decision not in APPROVAL_DECISIONS:
        raise AixgoError(f"a decision is 'approve' or 'deny' (or True / False), got {decision!r}")
    return decision


async def _streamed(run: Callable[[EventSink], Awaitable[Result]]) -> AsyncGenerator[TurnEvent, None]:
    """The events ``run`` sends while it runs (as a task), then ``turn_end`` with what it returns.
    Leaving early cancels it."""
    queue: asyncio.Queue[TurnEvent | None] = asyncio.Queue()

    async def emit(event: TurnEvent) -> None:
        queue.put_nowait(event)

    task = asyncio.ensure_future(run(emit))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    try:
        while (event := await queue.get()) is not None:
            yield event
        yield TurnEndEvent(await task)
    finally:
        if not task.done():
            task.cancel()
            with suppress(BaseException):
                await task


def _iterate(loop_thread: _LoopThread, events: AsyncGenerator[TurnEvent, None]) -> Generator[TurnEvent, None, None]:
    """``events`` (an async generator on the runtime's loop) for synchronous code."""

    async def next_event() -> TurnEvent:
        return await anext(events)

    try:
        while True:
            try:
                yield loop_thread.run(next_event())
            except StopAsyncIteration:
                return
    finally:
        loop_thread.run(events.aclose())


def _stopped_by(keeper: asyncio.Task[LeaseLostError], turn: asyncio.Task[Any]) -> LeaseLostError | None:
    """The error to end ``turn`` with if its only cancellation came from its lease keeper (the lease was
    lost); None for any other cancellation, which stays one."""
    if not keeper.done() or keeper.cancelled() or keeper.exception() is not None:
        return None
    return keeper.result() if turn.uncancel() == 0 else None


async def _release_found(found: tuple[Session, HeldLease | None, object]) -> None:
    if found[1] is not None:
        await found[1].arelease()


async def _on_pool(
    manager: Manager, undo: Callable[[T], Awaitable[None]], fn: Callable[..., T], *args: object
) -> T:
    """Run ``fn(*args)`` on the store's pool, shielded. If the caller is cancelled meanwhile, let it
    finish, then ``undo`` what it did (release the lease it took): once the cancellation has unwound,
    the session is free (a sync caller's Ctrl-C waits for exactly that). Further cancellations while
    this runs are absorbed; the first is re-raised."""
    future = asyncio.ensure_future(manager.run_blocking(fn, *args, write=True))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await _finish(future)
        if not future.cancelled() and future.exception() is None:
            undone = asyncio.ensure_future(undo(future.result()))
            await _finish(undone)
            undone.result()
        raise


async def _finish(future: asyncio.Future[Any]) -> None:
    """Wait until ``future`` is done, whatever cancels the waiter meanwhile."""
    while not future.done():
        with suppress(asyncio.CancelledError):
            await asyncio.wait({future})
