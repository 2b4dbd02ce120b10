"""The context budget of an agent: what of a session's history each request sends, so it fits.

``window`` (the model's context size, configured or learned from the server's refusal) minus
``reserve`` (tokens kept for the answer) is the prompt budget. The system prompt, the summary, the
tool definitions and the current turn always go; earlier turns go newest first while they fit.
What does not fit is either dropped from the request (``trim``) or folded into a durable summary
(``summarize``, the default; see :mod:`aixgo.agents.context.compaction`). With no window known,
everything is sent, until a server says the request is too long: then the window it names is
learned (and stored in the session), and the step is compacted and retried once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aixgo.agents.context.compaction import batches, summary_request, summary_system_text
from aixgo.agents.context.conversation import read_conversation
from aixgo.agents.context.tokens import REQUEST_OVERHEAD, Calibration, TokenCounter, load_counter
from aixgo.agents.context.turn_cache import TurnCache
from aixgo.agents.context.turns import Conversation, Turn, copy_messages, split_turns
from aixgo.errors import AgentError, ContextWindowExceededError
from aixgo.llm.protocol import ChatModel, ModelSettings, Usage
from aixgo.session import Entry, EntryType, Session

Strategy = Literal["summarize", "trim"]
STRATEGIES: tuple[str, ...] = ("summarize", "trim")
KEEP_AFTER_COMPACTION = 0.5
"""After a compaction the kept turns fill at most this share of the room left for turns, so the
next compaction is many turns away."""
MAX_SUMMARY_ATTEMPTS = 3
ENTRY_CACHE = 65_536
"""Token counts of this many entries are remembered (the newest turns are read again every turn)."""


@dataclass(frozen=True, slots=True)
class ContextSettings:
    """An agent's ``context:`` block.

    Args:
        window: the model's context size in tokens (None: unknown until a server refuses a request
            as too long, then learned for the session).
        reserve: tokens kept free for the answer (None: the agent's ``max_tokens``, else a quarter
            of the window, at most 1024).
        strategy: ``summarize`` (fold what no longer fits into a durable summary) or ``trim``
            (drop the oldest whole turns from the request).
        summarizer: the model that writes summaries (None: the agent's own model).
        summary_tokens: the largest summary, in tokens (None: an eighth of the prompt budget,
            between 128 and 1024).
    """

    window: int | None = None
    reserve: int | None = None
    strategy: Strategy | str = "summarize"
    summarizer: str | None = None
    summary_tokens: int | None = None

    def check(self, agent: str) -> None:
        """Raise :class:`~aixgo.errors.AgentError` for values that cannot work."""
        if self.strategy not in STRATEGIES:
            raise AgentError(f"context.strategy must be 'summarize' or 'trim', got {self.strategy!r}", agent=agent)
        if self.window is not None and self.window < 64:
            raise AgentError(f"context.window must be at least 64 tokens, got {self.window}", agent=agent)
        if self.reserve is not None and self.reserve < 0:
            raise AgentError("context.reserve must be >= 0", agent=agent)
        if self.window is not None and self.reserve is not None and self.reserve >= self.window // 2:
            raise AgentError(
                f"context.reserve ({self.reserve}) must be less than half of context.window ({self.window})",
                agent=agent,
            )
        if self.summary_tokens is not None and self.summary_tokens < 16:
            raise AgentError("context.summary_tokens must be at least 16", agent=agent)


class ContextBudget:
    """Fits each request of one agent into its model's context window (one per agent, all sessions)."""

    def __init__(self, settings: ContextSettings, *, model_name: str | None, max_tokens: int | None) -> None:
        self.settings = settings
        self.model_name = model_name
        self.max_tokens = max_tokens
        self.calibration = Calibration()
        self._counter: TokenCounter | None = None
        self._windows: OrderedDict[str, int] = OrderedDict()
        self._entry_tokens: OrderedDict[str, int] = OrderedDict()
        self._head_cache: dict[str, int] = {}
        self._turns = TurnCache()
        self._lock = threading.Lock()

    # -- counting --------------------------------------------------------------------------------

    @property
    def counter(self) -> TokenCounter:
        """The token counter (loaded on first use: blocking, so first used on the store's pool)."""
        if self._counter is None:
            self._counter = load_counter(self.model_name)
        return self._counter

    def count_entry(self, entry: Entry) -> int:
        """Tokens of a stored chat entry, remembered by entry id (entries never change)."""
        known = self._entry_tokens.get(entry.id)  # one C call, atomic: only insertion needs the lock
        if known is not None:
            return known
        tokens = self.counter.message(entry.data)
        with self._lock:
            self._entry_tokens[entry.id] = tokens
            if len(self._entry_tokens) > ENTRY_CACHE:
                self._entry_tokens.popitem(last=False)
        return tokens

    def _head_tokens(self, head: list[dict[str, Any]]) -> int:
        """Tokens of the system message (prompt + summary), remembered: it is the same for many requests."""
        key = head[0]["content"] if head else ""
        known = self._head_cache.get(key)
        if known is None:
            known = self.counter.messages(head)
            if len(self._head_cache) > 256:
                self._head_cache.clear()
            self._head_cache[key] = known
        return known

    # -- the window ------------------------------------------------------------------------------

    def window(self, session_id: str, conversation: Conversation | None = None) -> int | None:
        """The window for ``session_id``: the configured one, or a smaller one a server named (learned
        in this process, or stored in the session)."""
        learned = self.learned(session_id, conversation)
        configured = self.settings.window
        if learned is None or (configured is not None and configured <= learned):
            return configured
        return learned

    def learned(self, session_id: str, conversation: Conversation | None = None) -> int | None:
        """The window a server named for ``session_id`` (None: none yet)."""
        with self._lock:
            if session_id in self._windows:
                return self._windows[session_id]
        if conversation is not None and conversation.window is not None:
            self._remember(session_id, conversation.window)
            return conversation.window
        return None

    def reserve(self, window: int) -> int:
        """Tokens kept for the answer in ``window``."""
        if self.settings.reserve is not None:
            return self.settings.reserve
        if self.max_tokens is not None:
            return min(self.max_tokens, window // 2)
        return min(1024, window // 4)

    def prompt_budget(self, window: int) -> int:
        """Tokens a request's messages and tools may take in ``window``."""
        return window - self.reserve(window)

    def summary_tokens(self, window: int) -> int:
        """The largest summary for ``window``."""
        if self.settings.summary_tokens is not None:
            return self.settings.summary_tokens
        return max(128, min(1024, self.prompt_budget(window) // 8))

    def learn(self, session_id: str, exc: ContextWindowExceededError, counted: int) -> int | None:
        """Learn from a refusal of a request counted (uncorrected) at ``counted`` tokens. Returns the
        window the server named (or, naming none while aixgo knew none, three quarters of what was
        sent) when it is news for the session, else None; either way the token count is corrected."""
        known = self.window(session_id)
        if exc.requested is not None:
            self.calibration.observe(session_id, counted, exc.requested)
        elif exc.limit:
            self.calibration.undercounted(session_id, counted, exc.limit - (self.max_tokens or 0))
        elif known is not None:  # the window was right, the count was not
            self.calibration.undercounted(session_id, counted, int(counted * self._factor(session_id) * 1.25))
        window = exc.limit or (None if known is not None else max(64, int(counted * self._factor(session_id) * 0.75)))
        if window is None or (known is not None and window >= known):
            return None
        self._remember(session_id, window)
        return window

    def _remember(self, session_id: str, window: int) -> None:
        with self._lock:
            self._windows[session_id] = window
            self._windows.move_to_end(session_id)
            if len(self._windows) > 4096:
                self._windows.popitem(last=False)

    def _factor(self, session_id: str) -> float:
        return self.calibration.factor(session_id)

    def observe(self, session_id: str, counted: int, usage: Usage | None) -> None:
        """Calibrate from the ``prompt_tokens`` a server reported for a request counted at ``counted``."""
        if usage is not None and usage.prompt_tokens > 0:
            self.calibration.observe(session_id, counted, usage.prompt_tokens)

    # -- reading ---------------------------------------------------------------------------------

    def read(self, session: Session, max_messages: int | None = None) -> Conversation:
        """The conversation the next request of ``session`` builds on (blocking)."""
        window = self.window(session.id)
        budget = None if window is None else int(self.prompt_budget(window) / self._factor(session.id))
        count = self.counter.message
        conversation = read_conversation(
            session, count, budget, max_messages=max_messages, count_entry=self.count_entry, cache=self._turns
        )
        self.window(session.id, conversation)
        if not self.calibration.knows(session.id):
            for estimated, reported in conversation.counts:
                self.calibration.observe(session.id, estimated, reported)
        return conversation

    # -- fitting ---------------------------------------------------------------------------------

    def fit(
        self,
        session_id: str,
        system: str,
        conversation: Conversation,
        turn: Sequence[dict[str, Any]],
        tools: Sequence[Mapping[str, Any]],
        *,
        agent: str,
    ) -> tuple[list[dict[str, Any]], int, list[Turn]]:
        """The request's messages, their uncorrected token count, and the turns that did not fit
        (oldest first; empty when all fit or the window is unknown).

        Raises:
            ContextWindowExceededError: the current turn alone does not fit the window."""
        counter = self.counter
        factor = self._factor(session_id)
        head = _system_messages(summary_system_text(system, conversation.summary_text))
        fixed = self._head_tokens(head) + counter.messages(turn) + counter.tools(tools) + REQUEST_OVERHEAD
        window = self.window(session_id, conversation)
        if window is None:
            return [*head, *conversation.messages(), *turn], fixed + conversation.turn_tokens, []
        budget = self.prompt_budget(window)
        if fixed * factor > budget:
            raise self.too_large(agent, int(fixed * factor), window)
        room = budget / factor - fixed
        kept: list[Turn] = []
        for candidate in reversed(conversation.turns):
            if candidate.tokens > room:
                break
            kept.append(candidate)
            room -= candidate.tokens
        kept.reverse()
        dropped = conversation.turns[: len(conversation.turns) - len(kept)]
        return [*head, *copy_messages(kept), *turn], fixed + sum(t.tokens for t in kept), dropped

    def too_large(self, agent: str, counted: int, window: int) -> ContextWindowExceededError:
        """The error for a turn that cannot fit ``window`` even with no earlier history."""
        return ContextWindowExceededError(
            f"agent {agent!r}: this turn does not fit the model's context window: the system prompt, the "
            f"tools and this turn's messages alone take about {counted} tokens, and the window of {window} "
            f"tokens keeps {self.reserve(window)} for the answer; send a shorter message (or raise "
            "context.window for a model with a larger one). The message is kept in the session but will "
            "not be sent again.",
            limit=window,
        )

    # -- compaction ------------------------------------------------------------------------------

    def compaction_split(
        self, session_id: str, system: str, conversation: Conversation, turn: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]],
    ) -> int:
        """How many of the conversation's newest turns to keep when compacting (the rest is folded)."""
        window = self.window(session_id, conversation)
        assert window is not None
        counter = self.counter
        factor = self._factor(session_id)
        fixed = counter.messages(_system_messages(system)) + counter.messages(turn) + counter.tools(tools)
        room = (self.prompt_budget(window) / factor - fixed - REQUEST_OVERHEAD - self.summary_tokens(window) - 32)
        room *= KEEP_AFTER_COMPACTION
        keep = 0
        for candidate in reversed(conversation.turns):
            if candidate.tokens > room:
                break
            keep += 1
            room -= candidate.tokens
        return keep

    async def summarize(
        self,
        session_id: str,
        model: ChatModel,
        settings: ModelSettings,
        previous: str | None,
        turns: Sequence[Turn],
        window: int,
    ) -> tuple[str, Usage, int]:
        """A new summary folding ``previous`` and ``turns``; returns it, the tokens used and the
        number of requests made."""
        summary_tokens = self.summary_tokens(window)
        request_settings = ModelSettings(
            model=self.settings.summarizer or settings.model,
            temperature=0.0 if settings.temperature is not None else None,
            max_tokens=summary_tokens,
            timeout=settings.timeout,
            extra_body=settings.extra_body,
        )
        usage, requests = Usage(), 0
        # the transcript of each request must fit with the previous summary and the answer
        limit = max(64, int((window - summary_tokens * 2 - 256) / self._factor(session_id) * 0.8))
        summary = previous
        pending = list(turns)
        attempts = 0
        while pending:
            group = batches(pending, limit)[0]
            max_chars = max(200, int(limit * 2.5))
            messages = summary_request(summary, group, summary_tokens=summary_tokens, max_chars=max_chars)
            try:
                response = await model.complete(messages, [], request_settings)
            except ContextWindowExceededError:
                attempts += 1
                if attempts >= MAX_SUMMARY_ATTEMPTS or limit <= 64:
                    raise
                limit = max(64, limit // 2)
                continue
            requests += 1
            usage += response.usage or Usage()
            text = (response.content or "").strip()
            if text:
                summary = text
            pending = pending[len(group):]
        return summary or "", usage, requests

    def fold_range(self, session: Session, first_seq: int, before_seq: int) -> list[Turn]:
        """The turns stored from ``first_seq`` to before ``before_seq`` (blocking; for compaction of
        turns that were not read)."""
        entries = session.get_entries(after=first_seq - 1, before=before_seq)
        return split_turns(entries, self.counter.message, self.count_entry)


def summary_entry_data(
    content: str, to_seq: int, *, window: int | None, model: str | None, turns: int, requests: int
) -> dict[str, Any]:
    """The data of a ``summary`` entry covering ``1..to_seq``."""
    data: dict[str, Any] = {"content": content, "from_seq": 1, "to_seq": to_seq, "turns": turns, "requests": requests}
    if window is not None:
        data["window"] = window
    if model:
        data["model"] = model
    return data


def window_metadata(window: int) -> tuple[EntryType, dict[str, Any]]:
    """The entry that records a window learned from a server, for a fresh process to reuse."""
    return EntryType.METADATA, {"context_window": window, "learned_from": "server"}


def _system_messages(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": text}] if text else []
