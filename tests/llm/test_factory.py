"""build_model: one entry point from plain config values to a ChatModel."""

from __future__ import annotations

import asyncio

import pytest

from aixgo.errors import LLMConfigError
from aixgo.llm import ChatModel, ModelSettings, OpenAIChatModel, build_model
from aixgo.testing import OfflineDemoModel, ScriptedModel, ScriptExhaustedError


def test_openai_provider_defaults() -> None:
    model = build_model("openai", model_name="gpt-x", api_key="k")
    assert isinstance(model, OpenAIChatModel)
    assert model.model == "gpt-x"
    assert model.retry_policy.max_retries == 2
    assert isinstance(model, ChatModel)


def test_openai_provider_settings() -> None:
    model = build_model(
        "openai", model_name="m", base_url="http://127.0.0.1:9/v1", timeout=3.5, max_retries=0
    )
    assert isinstance(model, OpenAIChatModel)
    assert model.base_url == "http://127.0.0.1:9/v1"
    assert model.retry_policy.max_attempts == 1
    assert model._timeout == 3.5


def test_openai_provider_without_credentials() -> None:
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY"):
        build_model("openai", model_name="m")


def test_scripted_provider_with_script() -> None:
    model = build_model("scripted", script=["first", "second"])
    assert isinstance(model, ScriptedModel)

    async def ask() -> str | None:
        return (await model.complete([{"role": "user", "content": "hi"}], [], ModelSettings())).content

    assert [asyncio.run(ask()), asyncio.run(ask())] == ["first", "second"]
    with pytest.raises(ScriptExhaustedError):
        asyncio.run(ask())


def test_scripted_provider_without_script_is_the_demo_model() -> None:
    assert isinstance(build_model("scripted"), OfflineDemoModel)
    assert isinstance(build_model("scripted", script=[]), OfflineDemoModel)


def test_unknown_provider() -> None:
    with pytest.raises(LLMConfigError, match="openai, scripted"):
        build_model("anthropic")
