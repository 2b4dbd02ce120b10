"""Errors say what the server said, and give advice that fits the failure (issue "Real
OpenAI-compatible servers", defect 3): connection refused is not a timeout, a 500 from a server
that is up is not "check that the server is up"."""

from __future__ import annotations

import asyncio

import pytest

from aixgo.errors import LLMUnavailableError
from aixgo.llm import ModelSettings, OpenAIChatModel, RetryPolicy
from tests.session.redis_server import free_port
from tests.support.openai_server import OpenAIServer, error


def _ask(model: OpenAIChatModel) -> None:
    asyncio.run(model.complete([{"role": "user", "content": "hi"}], [], ModelSettings()))


def test_a_5xx_error_shows_the_servers_words(openai_server: OpenAIServer, fast_retries: RetryPolicy) -> None:
    said = "1 validation error: content: Input should be a valid string (api_key=sk-secret123456789)"
    openai_server.enqueue(*(error(500, said) for _ in range(3)))
    model = OpenAIChatModel("m", base_url=openai_server.base_url, api_key="sk-test", retry_policy=fast_retries)
    with pytest.raises(LLMUnavailableError) as caught:
        _ask(model)
    text = str(caught.value)
    assert "Input should be a valid string" in text
    assert "sk-secret123456789" not in text
    assert "check that the server is up" not in text
    assert "the server answered" in text


def test_connection_refused_is_not_blamed_on_timeouts(fast_retries: RetryPolicy) -> None:
    model = OpenAIChatModel(
        "m", base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="sk-test", retry_policy=fast_retries
    )
    with pytest.raises(LLMUnavailableError) as caught:
        _ask(model)
    text = str(caught.value)
    assert "nothing answered" in text and "base_url" in text
    assert "timeout" not in text


def test_a_context_overflow_says_so(openai_server: OpenAIServer, fast_retries: RetryPolicy) -> None:
    from aixgo.errors import ContextWindowExceededError

    said = "This model's maximum context length is 1024 tokens. However, you requested 1301 tokens."
    openai_server.enqueue(error(400, said))
    model = OpenAIChatModel("m", base_url=openai_server.base_url, api_key="sk-test", retry_policy=fast_retries)
    with pytest.raises(ContextWindowExceededError) as caught:
        _ask(model)
    assert caught.value.limit == 1024
    text = str(caught.value)
    assert "context window" in text and "1024" in text
    assert "tool schemas" not in text  # the first version's advice did not fit this case


@pytest.mark.parametrize(("status", "body"), [(501, "<html><body>Not Implemented</body></html>"), (200, "<html>hi</html>")])
def test_a_server_that_is_not_an_openai_api_is_called_so(
    openai_server: OpenAIServer, fast_retries: RetryPolicy, status: int, body: str
) -> None:
    from aixgo.errors import LLMError
    from tests.support.openai_server import Reply

    openai_server.enqueue(*(Reply(status=status, body=body) for _ in range(3)))
    model = OpenAIChatModel("m", base_url=openai_server.base_url, api_key="sk-test", retry_policy=fast_retries)
    with pytest.raises(LLMError) as caught:
        _ask(model)
    text = str(caught.value)
    assert "not an OpenAI-compatible API" in text and "base_url" in text
    assert "timeout" not in text
    assert len(openai_server.chat_requests) == 1  # a 501 is not retried: it will not change
