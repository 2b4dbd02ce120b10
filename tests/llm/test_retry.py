"""The retry policy on its own: what is retried, how long it waits, when it stops."""

from __future__ import annotations

import asyncio
import email.utils

import httpx2
import openai
import pytest

from aixgo.errors import LLMUnavailableError
from aixgo.llm import RetryPolicy
from aixgo.llm.retry import call_with_retries, is_retryable, parse_retry_after
from tests.support.fixtures import RecordingSleep

REQUEST = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")


def status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    response = httpx2.Response(status, headers=headers or {}, request=REQUEST)
    return openai.APIStatusError(f"status {status}", response=response, body=None)


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (status_error(408), True),
        (status_error(409), True),
        (status_error(429), True),
        (status_error(500), True),
        (status_error(503), True),
        (status_error(400), False),
        (status_error(401), False),
        (status_error(403), False),
        (status_error(404), False),
        (status_error(422), False),
        (openai.APITimeoutError(REQUEST), True),
        (openai.APIConnectionError(request=REQUEST), True),
        (ValueError("x"), False),
    ],
)
def test_is_retryable(exc: BaseException, retryable: bool) -> None:
    assert is_retryable(exc) is retryable


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after({"Retry-After": "12"}) == 12.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"Retry-After-Ms": "1500", "Retry-After": "99"}) == 1.5
    assert parse_retry_after({"Retry-After": email.utils.formatdate(now + 20, usegmt=True)}, now=now) == 20.0
    assert parse_retry_after({"Retry-After": email.utils.formatdate(now - 20, usegmt=True)}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "-3"}) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"Retry-After": "nan"}) is None
    assert parse_retry_after({"retry-after-ms": "x", "Retry-After": "2"}) == 2.0
    assert parse_retry_after({}) is None


def test_policy_validation() -> None:
    assert RetryPolicy(max_retries=4).max_attempts == 5
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="backoff"):
        RetryPolicy(jitter=-1)


def run(policy: RetryPolicy, outcomes: list[BaseException | str]) -> tuple[str, int]:
    calls = 0

    async def request() -> str:
        nonlocal calls
        outcome = outcomes[calls]
        calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    result = asyncio.run(call_with_retries(request, policy, where="http://srv/v1"))
    return result, calls


def test_backoff_grows_exponentially_and_is_capped() -> None:
    sleeps = RecordingSleep()
    policy = RetryPolicy(max_retries=5, initial_backoff=1.0, max_backoff=5.0, jitter=0.0, sleep=sleeps)
    result, calls = run(policy, [status_error(500)] * 5 + ["ok"])
    assert (result, calls) == ("ok", 6)
    assert sleeps.waits == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_spreads_waits() -> None:
    sleeps = RecordingSleep()
    policy = RetryPolicy(max_retries=30, initial_backoff=1.0, max_backoff=1.0, jitter=1.0, sleep=sleeps)
    run(policy, [status_error(503)] * 30 + ["ok"])
    assert all(1.0 <= w <= 2.0 for w in sleeps.waits)
    assert len(set(sleeps.waits)) > 10


def test_non_retryable_propagates_unchanged_after_one_attempt() -> None:
    sleeps = RecordingSleep()
    with pytest.raises(openai.APIStatusError) as info:
        run(RetryPolicy(sleep=sleeps), [status_error(401), "never"])
    assert info.value.status_code == 401
    assert sleeps.waits == []


def test_exhausted_retries_become_unavailable() -> None:
    sleeps = RecordingSleep()
    with pytest.raises(LLMUnavailableError) as info:
        run(RetryPolicy(max_retries=2, sleep=sleeps), [status_error(429, {"Retry-After": "1"})] * 3)
    assert info.value.attempts == 3
    assert info.value.status_code == 429
    assert "rate limiting" in str(info.value) and "http://srv/v1" in str(info.value)
    assert sleeps.waits == [1.0, 1.0]
    assert isinstance(info.value.__cause__, openai.APIStatusError)


def test_zero_retries_means_one_attempt() -> None:
    with pytest.raises(LLMUnavailableError) as info:
        run(RetryPolicy(max_retries=0, sleep=RecordingSleep()), [openai.APITimeoutError(REQUEST), "never"])
    assert info.value.attempts == 1
