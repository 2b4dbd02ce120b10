"""Building a :class:`~aixgo.llm.protocol.ChatModel` from plain settings (an ``llm:`` config block).

Takes keyword arguments rather than a config object, so the LLM layer does not depend on the
config package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal, get_args

from aixgo.errors import LLMConfigError
from aixgo.llm.demo import OfflineDemoModel
from aixgo.llm.protocol import ChatModel
from aixgo.llm.scripted import ScriptedModel

if TYPE_CHECKING:  # the OpenAI client is imported only when a model uses it (0.5-1 s of start-up)
    from aixgo.llm.retry import RetryPolicy

Provider = Literal["openai", "scripted"]
"""The model providers ``build_model`` knows (``llm.provider`` in a config)."""
PROVIDERS: tuple[str, ...] = get_args(Provider)


def build_model(
    provider: str = "openai",
    *,
    model_name: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    script: Sequence[str] | None = None,
    retry_policy: RetryPolicy | None = None,
    default_headers: Mapping[str, str] | None = None,
) -> ChatModel:
    """The model for one agent.

    ``provider="openai"``: an :class:`OpenAIChatModel` (any OpenAI-compatible server) with
    ``model_name`` as its model; ``timeout`` in seconds (default 60), ``max_retries`` (default 2).

    ``provider="scripted"``: offline, no network. With a ``script``, a
    :class:`~aixgo.llm.scripted.ScriptedModel` that answers with those strings in order (and raises
    :class:`~aixgo.llm.scripted.ScriptExhaustedError` after the last); without one, the rule-based
    :class:`~aixgo.llm.demo.OfflineDemoModel`.

    Raises:
        LLMConfigError: unknown provider, or the OpenAI client cannot be configured.
    """
    if provider == "scripted":
        return ScriptedModel(list(script)) if script else OfflineDemoModel()
    if provider == "openai":
        from aixgo.llm.openai_model import DEFAULT_TIMEOUT, OpenAIChatModel  # noqa: PLC0415 - see above

        return OpenAIChatModel(
            model_name,
            api_key=api_key,
            base_url=base_url,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            max_retries=2 if max_retries is None else max_retries,
            retry_policy=retry_policy,
            default_headers=default_headers,
        )
    raise LLMConfigError(f"unknown llm provider {provider!r}: use one of {', '.join(PROVIDERS)}")
