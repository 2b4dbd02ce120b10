"""Spans and metrics of turns, model requests, tool calls, compactions and store operations, on the
OpenTelemetry GenAI semantic conventions: :class:`TracingObserver`.

Through the OpenTelemetry **API** only: spans go to whatever tracer provider is set (aixgo's own,
from :func:`aixgo.observability.start_telemetry`, or the application's), and without an SDK every
call is a no-op. The observer is a :class:`~aixgo.agents.TurnObserver` (the turn, each model
request, tool call and compaction) whose :attr:`~TracingObserver.store` is a
:class:`~aixgo.session.observe.StoreObserver` (lease waits, reads, appends, checkpoints, restores).

========================  ==============================================================
span                      attributes (besides ``gen_ai.operation.name``)
========================  ==============================================================
``invoke_agent {agent}``  ``gen_ai.agent.name``, ``gen_ai.conversation.id`` (the session),
                          ``user.id``, ``aixgo.turn.outcome``, ``aixgo.turn.steps``,
                          ``aixgo.turn.tool_calls``, ``gen_ai.usage.input_tokens``/``output_tokens``
``chat {model}``          ``gen_ai.provider.name``, ``gen_ai.request.*``, ``gen_ai.response.model``,
                          ``gen_ai.response.finish_reasons``, ``gen_ai.usage.*``, ``server.address``,
                          ``server.port``, ``gen_ai.response.time_to_first_chunk``; events
                          ``gen_ai.client.retry`` and ``gen_ai.client.refusal``
``execute_tool {tool}``   ``gen_ai.tool.name``, ``gen_ai.tool.call.id``, ``gen_ai.tool.type``,
                          ``aixgo.tool.source``
``compact_context {a}``   ``aixgo.compaction.folded_turns``, ``aixgo.compaction.requests``, usage
``{operation} {store}``   ``aixgo.store.kind``, ``aixgo.store.operation`` (only when slow)
========================  ==============================================================

Message contents, tool arguments and results are recorded only with ``capture_content``
(``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.system_instructions``,
``gen_ai.tool.call.arguments``, ``gen_ai.tool.call.result``), with key-like text masked; an error's
message likewise (it may quote the server, which may quote the prompt). API keys never.
"""

from __future__ import annotations

import atexit
import json
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from aixgo.agents.observe import TurnObserver, TurnStep
from aixgo.llm.protocol import ModelResponse
from aixgo.llm.watch import WATCHER, RequestWatcher
from aixgo.logs import set_span_ids
from aixgo.redaction import mask_text
from aixgo.session.observe import StoreObserver, StoreStep

SCOPE = "aixgo"
"""The instrumentation scope of aixgo's spans and metrics."""

TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_LIMIT = 64_000
"""Characters of captured content per attribute (more is cut, with a note)."""

_OTHER = "_OTHER"


def _span_ids() -> tuple[str, str] | None:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


@dataclass(slots=True)
class _OpenTurn:
    """The ``invoke_agent`` span of the turn running in this context (shared by the runtime's
    ``turn`` step and the agent's own)."""

    span: trace.Span
    agent: str
    details: dict[str, object] = field(default_factory=dict)
    session_id: str = ""
    user: str | None = None


_open_turn: ContextVar[_OpenTurn | None] = ContextVar("aixgo_open_turn", default=None)


class _Recorder:
    """Measurements handed to the meter in batches, on a thread of its own.

    The SDK's ``record()`` cleans and hashes the attributes of every measurement (7 to 30 µs here); a
    turn takes about ten, so the turn only queues them (a deque append) and this thread records them every
    ``interval`` seconds, yielding the interpreter between small batches so that a turn waiting for
    it is never held up long. :meth:`flush` records whatever is queued, at once (the meter is
    flushed or read after it; at exit it runs first)."""

    BATCH = 16

    def __init__(self, interval: float = 0.25) -> None:
        self._interval = interval
        self._pending: deque[tuple[metrics.Histogram, float, dict[str, Any], Any]] = deque()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one drain at a time, so a flush returns after the one under way

    def record(self, instrument: metrics.Histogram, value: float, attributes: dict[str, Any]) -> None:
        """Queue one measurement (without its context: exemplars would double what it costs the SDK)."""
        self._pending.append((instrument, value, attributes, None))
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="aixgo-measurements", daemon=True)
                self._thread.start()
                atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            time.sleep(self._interval)
            self.flush()

    def flush(self, timeout: float = 5.0) -> bool:
        """Record every measurement queued so far; False if another drain held it up over ``timeout`` s."""
        if not self._lock.acquire(timeout=timeout):
            return False
        try:
            pending, done = self._pending, 0
            while pending:
                try:
                    instrument, value, attributes, context = pending.popleft()
                except IndexError:
                    break
                try:
                    instrument.record(value, attributes, context=context)
                except Exception:  # noqa: S112 - one bad measurement must not stop the others
                    continue
                done += 1
                if done % self.BATCH == 0:
                    time.sleep(0)  # let a waiting turn run
            return True
        finally:
            self._lock.release()


class _Instruments:
    """aixgo's histograms (names, units and bucket advice of the GenAI conventions where they have some)."""

    def __init__(self, meter: metrics.Meter) -> None:
        def histogram(name: str, unit: str, description: str, buckets: Sequence[float]) -> metrics.Histogram:
            return meter.create_histogram(name, unit=unit, description=description,
                                          explicit_bucket_boundaries_advisory=buckets)

        self.tokens = histogram("gen_ai.client.token.usage", "{token}",
                                "Tokens used per model request (input and output)", TOKEN_BUCKETS)
        self.operation = histogram("gen_ai.client.operation.duration", "s",
                                   "Duration of a model request, retries included", DURATION_BUCKETS)
        self.turn = histogram("aixgo.turn.duration", "s",
                              "Duration of an agent's turn, from the lease to the answer", DURATION_BUCKETS)
        self.tool = histogram("aixgo.tool.duration", "s", "Duration of a tool call", DURATION_BUCKETS)
        self.store = histogram("aixgo.store.operation.duration", "s",
                               "Duration of a session store operation (lease wait, read, append, checkpoint, "
                               "restore)", STORE_BUCKETS)


def histograms(meter: metrics.Meter) -> dict[str, metrics.Histogram]:
    """aixgo's histograms on ``meter``, by name (the export process records the measurements it is
    handed in them)."""
    instruments = _Instruments(meter)
    return {instrument.name: instrument for instrument in vars(instruments).values()}


class MeasurementRecorder(Protocol):
    """Takes the observer's measurements off the turn's path (see :class:`_Recorder`)."""

    def record(self, instrument: metrics.Histogram, value: float, attributes: dict[str, Any]) -> None:
        """Queue one measurement."""

    def flush(self, timeout: float = 5.0) -> bool:
        """Record (and, where the recorder exports, export) every measurement queued so far."""


class TracingObserver(TurnObserver):
    """Turns, model requests, tool calls and compactions as spans and metrics (see the module's table).

    Args:
        tracer_provider, meter_provider: where spans and measurements go (default: the global ones
            the application or :func:`aixgo.observability.start_telemetry` set).
        capture_content: record messages, tool arguments and results (opt-in; see module doc).
        store_span_ms: store operations at least this slow get a span (checkpoints and restores always, and
            a lease that waited for another holder).
        recorder: where measurements go (default: queued, then recorded on the meter by a thread of
            this process).

    Give it to agents (``ReActAgent(observers=[obs])``), the runtime (``Runtime(observers=[obs])``)
    and the session manager (``Manager(backend, observers=[obs.store])``);
    :meth:`aixgo.Runtime.from_config` does all three when the config turns tracing on.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        capture_content: bool = False,
        store_span_ms: float = 5.0,
        recorder: MeasurementRecorder | None = None,
    ) -> None:
        self.tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        self.metrics = _Instruments(metrics.get_meter(SCOPE, meter_provider=meter_provider))
        self.recorder: MeasurementRecorder = recorder if recorder is not None else _Recorder()
        self.capture_content = capture_content
        self.store = StoreSpans(self, store_span_ms / 1000)
        """The observer of store operations (give it to the session manager)."""
        set_span_ids(_span_ids)

    def flush(self, timeout: float = 5.0) -> bool:
        """Hand every measurement taken so far to the meter (before flushing or reading it)."""
        return self.recorder.flush(timeout)

    def observe(self, step: TurnStep) -> AbstractContextManager[None]:
        """A span (and measurements) around ``step``."""
        if step.kind == "model":
            return self._chat(step)
        if step.kind == "tool":
            return self._tool(step)
        if step.kind == "turn":
            return self._turn(step)
        return self._compact(step)

    # -- the turn ------------------------------------------------------------------------------

    @contextmanager
    def _turn(self, step: TurnStep) -> Iterator[None]:
        outer = _open_turn.get()
        if outer is not None and outer.agent == step.agent:  # the runtime's turn step holds the span
            try:
                yield
            finally:
                outer.details.update(step.details)
                outer.session_id = step.session_id or outer.session_id
                outer.user = step.user or outer.user
            return
        attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": step.agent}
        span = self.tracer.start_span(f"invoke_agent {step.agent}", kind=SpanKind.INTERNAL, attributes=attributes)
        opened = _OpenTurn(span, step.agent)
        marker = _open_turn.set(opened)
        started = time.perf_counter()
        try:
            with _current(span):
                yield
        finally:
            _open_turn.reset(marker)
            opened.details.update(step.details)
            self._end_turn(opened, step, time.perf_counter() - started)

    def _end_turn(self, opened: _OpenTurn, step: TurnStep, duration: float) -> None:
        span, details = opened.span, opened.details
        error = step.error
        outcome = details.get("outcome") or _outcome(error)
        session_id = step.session_id or opened.session_id
        user = step.user or opened.user
        attributes: dict[str, Any] = {"aixgo.turn.outcome": str(outcome)}
        if session_id:
            attributes["gen_ai.conversation.id"] = session_id
        if user:
            attributes["user.id"] = user
        for key, name in (("steps", "aixgo.turn.steps"), ("tool_calls", "aixgo.turn.tool_calls")):
            value = details.get(key)
            if isinstance(value, int):
                attributes[name] = value
        used_in, used_out = details.get("input_tokens"), details.get("output_tokens")
        if isinstance(used_in, int) and isinstance(used_out, int) and used_in + used_out:  # 0: nothing reported
            attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"] = used_in, used_out
        span.set_attributes(attributes)
        measured = {"gen_ai.agent.name": opened.agent, "aixgo.turn.outcome": str(outcome)}
        if error is not None and outcome != "answered":
            self._fail(span, error, measured)
        span.end()
        self.recorder.record(self.metrics.turn, duration, measured)

    # -- one model request ---------------------------------------------------------------------

    @contextmanager
    def _chat(self, step: TurnStep) -> Iterator[None]:
        model = step.name
        attributes: dict[str, Any] = {"gen_ai.operation.name": "chat"}
        if model:
            attributes["gen_ai.request.model"] = model
        if step.session_id:
            attributes["gen_ai.conversation.id"] = step.session_id
        span = self.tracer.start_span(f"chat {model}" if model else "chat", kind=SpanKind.CLIENT, attributes=attributes)
        watch = _ChatWatch(span)
        try:
            with _current(span, watch):
                yield
        finally:
            self._end_chat(span, step, watch)

    def _end_chat(self, span: trace.Span, step: TurnStep, watch: _ChatWatch) -> None:
        details, payload = step.details, step.payload
        attributes = _request_attributes(payload.get("settings"))
        if watch.server is None:  # a model that reports no request (not over HTTP)
            attributes["gen_ai.provider.name"] = watch.provider
        response_model = details.get("response_model")
        if isinstance(response_model, str):
            attributes["gen_ai.response.model"] = response_model
        finish = details.get("finish_reason")
        if isinstance(finish, str):
            attributes["gen_ai.response.finish_reasons"] = (finish,)
        for key, name in (("input_tokens", "gen_ai.usage.input_tokens"), ("output_tokens", "gen_ai.usage.output_tokens")):
            value = details.get(key)
            if isinstance(value, int):
                attributes[name] = value
        if watch.first_chunk_at is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = watch.first_chunk_at - watch.started
        if self.capture_content:
            attributes.update(_chat_content(payload))
        span.set_attributes(attributes)
        measured: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": watch.provider,
                                    "gen_ai.agent.name": step.agent}
        if step.name:
            measured["gen_ai.request.model"] = step.name
        if "gen_ai.response.model" in attributes:
            measured["gen_ai.response.model"] = attributes["gen_ai.response.model"]
        if watch.server is not None:
            measured.update(watch.server)
        if step.error is not None:
            self._fail(span, step.error, measured)
        span.end()
        record = self.recorder.record
        record(self.metrics.operation, time.perf_counter() - watch.started, measured)
        for key, kind in (("input_tokens", "input"), ("output_tokens", "output")):
            value = details.get(key)
            if isinstance(value, int):
                record(self.metrics.tokens, value, {**measured, "gen_ai.token.type": kind})

    # -- one tool call -------------------------------------------------------------------------

    @contextmanager
    def _tool(self, step: TurnStep) -> Iterator[None]:
        attributes: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": step.name,
                                      "gen_ai.tool.type": "function"}
        span = self.tracer.start_span(f"execute_tool {step.name}", kind=SpanKind.INTERNAL, attributes=attributes)
        started = time.perf_counter()
        try:
            with _current(span, _ToolWatch(span)):
                yield
        finally:
            self._end_tool(span, step, time.perf_counter() - started)

    def _end_tool(self, span: trace.Span, step: TurnStep, duration: float) -> None:
        details, payload = step.details, step.payload
        source = str(details.get("source") or "unknown")
        attributes: dict[str, Any] = {"aixgo.tool.source": source}
        call_id = details.get("call_id")
        if isinstance(call_id, str):
            attributes["gen_ai.tool.call.id"] = call_id
        if self.capture_content:
            arguments = payload.get("arguments")
            if arguments is not None:
                text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False, default=str)
                attributes["gen_ai.tool.call.arguments"] = _captured(text)
            result = payload.get("result")
            if isinstance(result, str):
                attributes["gen_ai.tool.call.result"] = _captured(result)
        span.set_attributes(attributes)
        measured = {"gen_ai.agent.name": step.agent, "gen_ai.tool.name": step.name, "aixgo.tool.source": source}
        if step.error is not None:
            self._fail(span, step.error, measured)
        elif details.get("is_error"):
            span.set_status(Status(StatusCode.ERROR, "the tool failed (its error was given to the model)"))
            span.set_attribute("error.type", "tool_error")
            measured["error.type"] = "tool_error"
        span.end()
        self.recorder.record(self.metrics.tool, duration, measured)

    # -- compaction ----------------------------------------------------------------------------

    @contextmanager
    def _compact(self, step: TurnStep) -> Iterator[None]:
        attributes = {"gen_ai.operation.name": "compact_context", "gen_ai.agent.name": step.agent,
                      "gen_ai.conversation.id": step.session_id}
        span = self.tracer.start_span(f"compact_context {step.agent}", kind=SpanKind.INTERNAL, attributes=attributes)
        try:
            with _current(span, _ChatWatch(span)):
                yield
        finally:
            details = step.details
            for key, name in (("folded_turns", "aixgo.compaction.folded_turns"),
                              ("requests", "aixgo.compaction.requests"),
                              ("input_tokens", "gen_ai.usage.input_tokens"),
                              ("output_tokens", "gen_ai.usage.output_tokens")):
                value = details.get(key)
                if isinstance(value, int):
                    span.set_attribute(name, value)
            if step.error is not None:
                self._fail(span, step.error, {})
            span.end()

    # -- shared --------------------------------------------------------------------------------

    def _fail(self, span: trace.Span, error: BaseException, measured: dict[str, Any]) -> None:
        kind = type(error).__name__
        status_code = getattr(error, "status_code", None)
        attributes: dict[str, Any] = {"error.type": kind}
        if isinstance(status_code, int):
            attributes["http.response.status_code"] = status_code
        span.set_attributes(attributes)
        description = f"{kind}: {mask_text(str(error))[:1000]}" if self.capture_content else kind
        span.set_status(Status(StatusCode.ERROR, description))
        measured["error.type"] = kind


class _ChatWatch(RequestWatcher):
    """What the model client tells the ``chat`` (or ``compact_context``) span of its request."""

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.started = time.perf_counter()
        self.provider = _OTHER
        self.server: dict[str, Any] | None = None
        self.first_chunk_at: float | None = None

    def sending(self, base_url: str, provider: str) -> Mapping[str, str]:
        self.provider = provider
        if self.server is None:
            self.server = _server(base_url)
            self.span.set_attributes({**self.server, "gen_ai.provider.name": provider})
        headers: dict[str, str] = {}
        propagate.inject(headers, context=trace.set_span_in_context(self.span))
        return headers

    def retrying(self, attempt: int, wait: float | None, status_code: int | None, error: str) -> None:
        attributes: dict[str, Any] = {"aixgo.retry.attempt": attempt, "error.type": error}
        if wait is not None:
            attributes["aixgo.retry.wait_s"] = wait
        if status_code is not None:
            attributes["http.response.status_code"] = status_code
        self.span.add_event("gen_ai.client.retry", attributes)

    def refused(self, status_code: int | None, error: str) -> None:
        attributes: dict[str, Any] = {"error.type": error}
        if status_code is not None:
            attributes["http.response.status_code"] = status_code
        self.span.add_event("gen_ai.client.refusal", attributes)

    def first_chunk(self) -> None:
        if self.first_chunk_at is None:
            self.first_chunk_at = time.perf_counter()


class _ToolWatch(RequestWatcher):
    """What an MCP tool call tells its ``execute_tool`` span; the call carries the span's context on."""

    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def sending(self, base_url: str, provider: str) -> Mapping[str, str]:
        if base_url:
            self.span.set_attributes(_server(base_url))
        headers: dict[str, str] = {}
        propagate.inject(headers, context=trace.set_span_in_context(self.span))
        return headers


class StoreSpans(StoreObserver):
    """Store operations as measurements, and as spans when slow (checkpoints and restores always, and
    a lease that waited for another holder):
    a span is made when the operation ends, with its real start and end, as a child of the span
    that is current (the same as when it began)."""

    ALWAYS = frozenset({"checkpoint", "restore"})

    def __init__(self, owner: TracingObserver, threshold: float) -> None:
        self._owner = owner
        self._threshold = threshold
        self._attributes: dict[tuple[str, str, str | None], dict[str, Any]] = {}

    def observe(self, step: StoreStep) -> AbstractContextManager[None]:
        return _StoreTimer(self, step)

    def _spanned(self, step: StoreStep, duration: float) -> bool:
        if duration >= self._threshold or step.operation in self.ALWAYS:
            return True
        return step.operation == "lease" and step.details.get("waited") is True  # however short the wait

    def ended(self, step: StoreStep, duration: float) -> None:
        """Measure ``step`` (and make its span when it was slow)."""
        error = type(step.error).__name__ if step.error is not None else None
        key = (step.store, step.operation, error)
        measured = self._attributes.get(key)
        if measured is None:  # a handful of combinations: one dict each, reused
            measured = {"aixgo.store.kind": step.store, "aixgo.store.operation": step.operation}
            if error is not None:
                measured["error.type"] = error
            self._attributes[key] = measured
        owner = self._owner
        owner.recorder.record(owner.metrics.store, duration, measured)
        if not self._spanned(step, duration):
            return
        attributes: dict[str, Any] = {**measured, "gen_ai.conversation.id": step.session_id}
        for name, value in step.details.items():
            if isinstance(value, bool | int | float | str):
                attributes[f"aixgo.store.{name}"] = value
        ended_ns = time.time_ns()
        span = owner.tracer.start_span(f"{step.operation} {step.store}", kind=SpanKind.INTERNAL,
                                       attributes=attributes, start_time=ended_ns - int(duration * 1e9))
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=ended_ns)


class _StoreTimer:
    """Times one store operation (a plain context manager: this runs several times per turn)."""

    __slots__ = ("_spans", "_started", "_step")

    def __init__(self, spans: StoreSpans, step: StoreStep) -> None:
        self._spans, self._step, self._started = spans, step, 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._spans.ended(self._step, time.perf_counter() - self._started)


class _current:
    """``span`` as the current span (and ``watch`` hearing the model requests) inside the block (a
    class, not a generator: it runs around every step of every turn)."""

    __slots__ = ("_attached", "_span", "_watch", "_watched")

    def __init__(self, span: trace.Span, watch: RequestWatcher | None = None) -> None:
        self._span, self._watch = span, watch
        self._attached: object = None
        self._watched: Token[RequestWatcher | None] | None = None

    def __enter__(self) -> None:
        self._attached = otel_context.attach(trace.set_span_in_context(self._span))
        if self._watch is not None:
            self._watched = WATCHER.set(self._watch)

    def __exit__(self, *exc: object) -> None:
        if self._watched is not None:
            WATCHER.reset(self._watched)
        otel_context.detach(self._attached)  # type: ignore[arg-type]


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "answered"
    return "cancelled" if type(error).__name__ == "CancelledError" else "failed"


def _server(base_url: str) -> dict[str, Any]:
    try:
        parts = urlsplit(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return {}
    return {"server.address": parts.hostname or "", "server.port": port}


def _request_attributes(settings: object) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for key, name in (("temperature", "gen_ai.request.temperature"), ("max_tokens", "gen_ai.request.max_tokens"),
                      ("top_p", "gen_ai.request.top_p"), ("seed", "gen_ai.request.seed")):
        value = getattr(settings, key, None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[name] = value
    stop = getattr(settings, "stop", None)
    if stop:
        attributes["gen_ai.request.stop_sequences"] = tuple(str(s) for s in stop)
    return attributes


def _captured(text: str) -> str:
    masked = mask_text(text)
    if len(masked) > CONTENT_LIMIT:
        return masked[:CONTENT_LIMIT] + f"… ({len(masked) - CONTENT_LIMIT} more characters)"
    return masked


def _parts(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if message.get("role") == "tool":
        return [{"type": "tool_call_response", "id": message.get("tool_call_id"), "response": content}]
    if content:
        parts.append({"type": "text", "content": content if isinstance(content, str) else json.dumps(content)})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        parts.append({"type": "tool_call", "id": call.get("id"), "name": function.get("name"),
                      "arguments": function.get("arguments")})
    return parts


def _chat_content(payload: Mapping[str, object]) -> dict[str, str]:
    """The opt-in content attributes of a chat span, in the GenAI conventions' message shape."""
    found: dict[str, str] = {}
    messages = payload.get("messages")
    if isinstance(messages, Sequence):
        system = [{"type": "text", "content": m.get("content")} for m in messages
                  if isinstance(m, Mapping) and m.get("role") == "system"]
        chat = [{"role": m.get("role"), "parts": _parts(m)} for m in messages
                if isinstance(m, Mapping) and m.get("role") != "system"]
        if system:
            found["gen_ai.system_instructions"] = _captured(json.dumps(system, ensure_ascii=False))
        found["gen_ai.input.messages"] = _captured(json.dumps(chat, ensure_ascii=False))
    response = payload.get("response")
    if isinstance(response, ModelResponse):
        message = {"role": "assistant", "content": response.content,
                   "tool_calls": [call.to_openai() for call in response.tool_calls]}
        output = [{"role": "assistant", "parts": _parts(message),
                   "finish_reason": getattr(response, "finish_reason", None) or "stop"}]
        found["gen_ai.output.messages"] = _captured(json.dumps(output, ensure_ascii=False))
    return found


__all__ = ["SCOPE", "MeasurementRecorder", "StoreSpans", "TracingObserver", "histograms"]
