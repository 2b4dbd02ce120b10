"""Counting a request's prompt tokens before it is sent, without ever counting too few.

For a model ``tiktoken`` knows, and whose encoding is available offline (the ``aixgo[tokens]`` extra
bundles ``cl100k_base``), the count is tiktoken's. Otherwise it is an estimate that leans high
(:func:`estimate_text`), and
:class:`Calibration` corrects it per session from the ``prompt_tokens`` the server reports, keeping a
margin above the largest ratio it has seen.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aixgo.logs import get_logger

_log = get_logger("aixgo.agents.context")

MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds around each message (role, separators)."""
REQUEST_OVERHEAD = 3
"""Tokens every request adds (the assistant's reply header)."""
MARGIN = 1.1
"""Calibration stays this far above the largest reported/estimated ratio seen."""
ESTIMATE_MARGIN = 1.15
"""The estimate's own margin over its piece counts."""

Encode = Callable[[str], list[int]]

_LETTERS = re.compile(r"[A-Za-z]+")
_LONG_WORDS = re.compile(r"[A-Za-z]{7,}")
_CASE_CHANGES = re.compile(r"[a-z][A-Z]|[A-Z]{2}")
_DIGIT_GROUPS = re.compile(r"\d{1,3}")
_SPACE_RUNS = re.compile(r"\s{2,}")
_PUNCTUATION = re.compile(r"[^\sA-Za-z0-9\x80-\U0010ffff]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def estimate_text(text: str) -> int:
    """Tokens in ``text`` by an estimate that leans high, after how BPE tokenizers split text: a word
    is a token (long and mixed-case ones more), numbers go in groups of three digits, punctuation
    and runs of white space are tokens of their own, and non-ASCII characters take one to three
    tokens by their UTF-8 length. Tested never to count fewer than ``cl100k_base`` on prose, code,
    JSON, numbers, URLs, CJK, emoji and random text (1.2 to 2.5 times as many)."""
    if not text:
        return 0
    n: float = len(_LETTERS.findall(text)) + sum((len(word) - 4) // 3 for word in _LONG_WORDS.findall(text))
    n += len(_CASE_CHANGES.findall(text)) + 1.4 * len(_DIGIT_GROUPS.findall(text)) + len(_PUNCTUATION.findall(text))
    n += 0.5 * text.count(" ") + sum(1 + len(run) // 4 for run in _SPACE_RUNS.findall(text))
    if not text.isascii():
        extra_bytes = len(text.encode("utf-8", "surrogatepass")) - len(text)
        n += 0.5 * len(_NON_ASCII.findall(text)) + 0.65 * extra_bytes
    return int(n * ESTIMATE_MARGIN) + 1


class TokenCounter:
    """Tokens of messages and tool schemas for one model (``encode``: an exact tokenizer, if any)."""

    def __init__(self, encode: Encode | None = None) -> None:
        self._encode = encode

    @property
    def exact(self) -> bool:
        """Whether counts come from the model's tokenizer rather than the estimate."""
        return self._encode is not None

    def text(self, text: str) -> int:
        """Tokens in ``text``."""
        if self._encode is None:
            return estimate_text(text)
        return len(self._encode(text))

    def message(self, message: Mapping[str, Any]) -> int:
        """Tokens one chat message takes in a prompt (content, tool calls, ids and overhead)."""
        total = MESSAGE_OVERHEAD
        content = message.get("content")
        if isinstance(content, str):
            total += self.text(content)
        elif content is not None:
            total += self.text(json.dumps(content, ensure_ascii=False))
        calls = message.get("tool_calls")
        if calls:
            total += self.text(json.dumps(calls, ensure_ascii=False))
        call_id = message.get("tool_call_id")
        if isinstance(call_id, str):
            total += self.text(call_id)
        return total

    def messages(self, messages: Iterable[Mapping[str, Any]]) -> int:
        """Tokens of several messages (without the request's own overhead)."""
        return sum(self.message(message) for message in messages)

    def tools(self, schemas: Sequence[Mapping[str, Any]]) -> int:
        """Tokens the tool definitions take (servers render them into the prompt)."""
        return self.text(json.dumps(list(schemas), ensure_ascii=False)) if schemas else 0


_encoders: dict[str, Encode | None] = {}
_encoders_lock = threading.Lock()


def load_counter(model: str | None) -> TokenCounter:
    """A counter for ``model``: tiktoken's encoding when it knows the model and the encoding loads
    without a download (an ``<encoding>_offline`` extension, or tiktoken's own cache when
    ``TIKTOKEN_CACHE_DIR`` is set), else the estimate. Blocking the first time (loads a file):
    call it off the event loop."""
    if not model:
        return TokenCounter()
    with _encoders_lock:
        if model not in _encoders:
            _encoders[model] = _offline_encoder(model)
        return TokenCounter(_encoders[model])


def _offline_encoder(model: str) -> Encode | None:
    try:
        import tiktoken  # noqa: PLC0415 - optional (aixgo[tokens]), and slow to import
    except ImportError:
        return None
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        return None
    candidates = [f"{name}_offline"] + ([name] if os.environ.get("TIKTOKEN_CACHE_DIR") else [])
    for candidate in candidates:
        try:
            encoding = tiktoken.get_encoding(candidate)
        except Exception as exc:  # not registered, or not loadable offline
            _log.debug("tokens.encoding_unavailable", encoding=candidate, error=type(exc).__name__)
            continue
        _log.debug("tokens.tiktoken", model=model, encoding=candidate)
        return lambda text: encoding.encode(text, disallowed_special=())
    return None


class Calibration:
    """Per-session correction of the counter, learned from the server's ``prompt_tokens``.

    :meth:`factor` is :data:`MARGIN` times the largest ratio reported/estimated among the session's
    last few requests (1.0 before any report), so a count multiplied by it leans high. Bounded: the
    least recently used sessions are forgotten past ``max_sessions``."""

    def __init__(self, max_sessions: int = 4096, window: int = 8) -> None:
        self._ratios: OrderedDict[str, deque[float]] = OrderedDict()
        self._max_sessions = max_sessions
        self._window = window
        self._lock = threading.Lock()

    def factor(self, session_id: str) -> float:
        """What to multiply a count by for ``session_id``."""
        with self._lock:
            ratios = self._ratios.get(session_id)
            return max(ratios) * MARGIN if ratios else 1.0

    def knows(self, session_id: str) -> bool:
        """Whether this process has observed requests of ``session_id``."""
        with self._lock:
            return session_id in self._ratios

    def observe(self, session_id: str, counted: int, reported: int) -> None:
        """Record that a request counted ``counted`` tokens (uncorrected) and the server said ``reported``."""
        if counted <= 0 or reported <= 0:
            return
        ratio = min(8.0, max(0.25, reported / counted))
        with self._lock:
            ratios = self._ratios.get(session_id)
            if ratios is None:
                ratios = self._ratios[session_id] = deque(maxlen=self._window)
                if len(self._ratios) > self._max_sessions:
                    self._ratios.popitem(last=False)
            else:
                self._ratios.move_to_end(session_id)
            ratios.append(ratio)

    def undercounted(self, session_id: str, counted: int, at_least: int) -> None:
        """The server refused a request counted at ``counted`` tokens as larger than ``at_least``."""
        self.observe(session_id, counted, max(at_least, int(counted * MARGIN) + 1))
