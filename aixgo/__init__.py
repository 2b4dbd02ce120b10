"""aixgo: AI agents that remember.

A YAML file declares a session store and ReAct agents; the runtime threads every conversation turn
through a durable session (files or Redis) that can be checkpointed and restored.

>>> import aixgo
>>> rt = aixgo.Runtime.from_config("configs/offline.yaml")   # doctest: +SKIP
>>> rt.call_with_session("offline", "Hello!", "user-123").answer  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aixgo import errors
from aixgo.errors import AixgoError

if TYPE_CHECKING:
    from aixgo import session
    from aixgo.config import load_config
    from aixgo.runtime import Result, Runtime, SimpleRuntime

__version__ = "0.1.0"

_LAZY = {
    "session": "aixgo",  # a subpackage: imported on first use (the CLI's start-up does not need it)
    "Result": "aixgo.runtime",
    "Runtime": "aixgo.runtime",
    "SimpleRuntime": "aixgo.runtime",
    "load_config": "aixgo.config",
}


def __getattr__(name: str) -> Any:
    # The runtime pulls in the openai client; import it only when it is used.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aixgo' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    if name == "session":
        return importlib.import_module("aixgo.session")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "AixgoError",
    "Result",
    "Runtime",
    "SimpleRuntime",
    "__version__",
    "errors",
    "load_config",
    "session",
]
