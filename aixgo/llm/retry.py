"""Retrying model requests with tenacity: what to retry, how long to wait, when to give up.

Retried: HTTP 408, 409, 429 and 5xx, timeouts and connection errors — failures that can pass on
their own. Waits grow exponentially with random jitter, except when the server says how long to
wait (``Retry-After`` / ``retry-after-ms``, in seconds or as an HTTP date): that is honoured, up to
:attr:`RetryPolicy.max_retry_after`. Anything else (400, 401, 403, 404, 422 …) is raised at once,
because sending the same request again cannot succeed.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import openai
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from aixgo.errors import LLMUnavailableError
from aixgo.llm.watch import current as current_watcher
from aixgo.logs import get_logger
from aixgo.redaction import mask_text

log = get_logger("aixgo.llm")

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try before raising :class:`~aixgo.errors.LLMUnavailableError`.

    ``max_retries`` retries follow the first attempt. Backoff before retry *n* (1-based) is
    ``min(max_backoff, initial_backoff * 2**(n-1)) + uniform(0, jitter)`` seconds, unless the
    server sent ``Retry-After``; then that, capped at ``max_retry_after``. ``sleep`` replaces
    :func:`asyncio.sleep` (tests use it to observe waits without waiting).
    """

    max_retries: int = 2
    initial_backoff: float = 0.5
    max_backoff: float = 20.0
    jitter: float = 0.5
    max_retry_after: float = 60.0
    sleep: Callable[[float], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if min(self.initial_backoff, self.max_backoff, self.jitter, self.max_retry_after) < 0:
            raise ValueError("backoff times must be >= 0")

    @property
    def max_attempts(self) -> int:
        """The first attempt plus the retries."""
        return self.max_retries + 1


def status_code_of(exc: BaseException) -> int | None:
    """The HTTP status of an ``openai`` error, or None for timeouts and connection errors."""
    return exc.status_code if isinstance(exc, openai.APIStatusError) else None


NOT_AN_API_STATUS = frozenset({501, 505})
"""Statuses that mean "this is not an API that speaks this protocol", never retried."""


def is_retryable(exc: BaseException) -> bool:
    """Whether sending the same request again may succeed."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    status = status_code_of(exc)
    if status in NOT_AN_API_STATUS:  # the server does not implement this: asking again will not help
        return False
    return status is not None and (status in RETRYABLE_STATUS or status >= 500)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date).

    None when neither header is present or parseable; never negative."""
    lowered = {key.lower(): value for key, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        value = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, value) if math.isfinite(value) else None


def retry_after_of(exc: BaseException) -> float | None:
    """The server-requested wait carried by an ``openai`` status error, if any."""
    if isinstance(exc, openai.APIStatusError):
        return parse_retry_after(exc.response.headers)
    return None


def server_message(exc: BaseException, limit: int = 300) -> str | None:
    """What the server said in an error response (its ``error.message``, else the body), trimmed, with
    anything that looks like a key or password masked; None when it said nothing."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        text = str(message) if message else json.dumps(body)
    else:
        text = str(body) if body else ""
    text = " ".join(text.split())
    return mask_text(text[:limit]) if text else None


def advice_for(exc: BaseException) -> str:
    """What to do about a failure that outlasted the retries, fitting its kind."""
    if isinstance(exc, openai.APITimeoutError):
        return "the server is slow to answer: raise llm.timeout (or llm.max_retries)"
    if isinstance(exc, openai.APIConnectionError):
        return "nothing answered there: check llm.base_url and that the server is running"
    status = status_code_of(exc)
    if status == 429:
        return "the server is rate limiting: lower the request rate or raise llm.max_retries"
    if status is not None and status >= 500:
        return "the server answered, so it is up, but failed on this request: its message says why"
    return "check the server and llm.base_url"


def describe_failure(exc: BaseException) -> str:
    """A short, key- and prompt-free description of a failed attempt."""
    if isinstance(exc, openai.APITimeoutError):
        return "the request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"connection error ({type(cause).__name__ if cause else 'no response'})"
    status = status_code_of(exc)
    said = server_message(exc)
    if status == 429:
        return "429 rate limited" + (f" (the server said: {said})" if said else "")
    if status is not None:
        return f"HTTP {status}" + (f" (the server said: {said})" if said else "")
    return type(exc).__name__


class _Wait:
    """Server-requested wait when given, else exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        requested = retry_after_of(exc) if exc is not None else None
        if requested is not None:
            return min(requested, self._policy.max_retry_after)
        # Jitter goes on top of the cap so that clients stuck at the cap still spread out.
        policy = self._policy
        backoff = min(policy.max_backoff, policy.initial_backoff * 2.0 ** (state.attempt_number - 1))
        return backoff + random.uniform(0, policy.jitter)


async def call_with_retries(
    request: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    where: str,
    log_fields: Mapping[str, Any] | None = None,
) -> T:
    """Await ``request()`` until it succeeds, fails for good, or the attempts run out.

    Exhausted retryable failures become :class:`~aixgo.errors.LLMUnavailableError` (naming
    ``where``, e.g. the server URL, and the attempt count); non-retryable exceptions propagate
    unchanged for the caller to translate. Each retry is logged with ``log_fields``.
    """
    fields = dict(log_fields or {})

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = round(state.next_action.sleep, 3) if state.next_action else None
        status = status_code_of(exc) if exc else None
        log.warning(
            "llm.retry",
            attempt=state.attempt_number,
            max_attempts=policy.max_attempts,
            wait_s=wait,
            status_code=status,
            error=describe_failure(exc) if exc else None,
            **fields,
        )
        watcher = current_watcher()
        if watcher is not None:
            watcher.retrying(state.attempt_number, wait, status, type(exc).__name__ if exc else "unknown")

    attempts = 0

    async def attempt() -> T:  # tenacity awaits only coroutine functions, not lambdas returning awaitables
        nonlocal attempts
        attempts += 1
        return await request()

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=_Wait(policy),
        retry=retry_if_exception(is_retryable),
        before_sleep=before_sleep,
        sleep=policy.sleep or asyncio.sleep,
        reraise=True,
    )
    try:
        return await retrying(attempt)
    except Exception as exc:
        if not is_retryable(exc):
            raise
        status = status_code_of(exc)
        log.error("llm.unavailable", attempts=attempts, status_code=status, error=type(exc).__name__, **fields)
        raise LLMUnavailableError(
            f"model server {where} failed after {attempts} attempt(s): {describe_failure(exc)}; {advice_for(exc)}",
            status_code=status,
            attempts=attempts,
        ) from exc
