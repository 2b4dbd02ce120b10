"""aixgo: AI agents that remember.

A YAML file declares a session store and ReAct agents; the runtime threads every conversation turn
through a durable session (files or Redis) that can be checkpointed and restored.
"""

from __future__ import annotations

from aixgo import errors, session
from aixgo.errors import AixgoError

__version__ = "0.1.0"

__all__ = ["AixgoError", "__version__", "errors", "session"]
