"""``aixgo serve``: agents with memory behind an OpenAI-compatible HTTP API (needs ``aixgo[server]``).

>>> from aixgo.server import create_app            # doctest: +SKIP
>>> app = create_app(Runtime.from_config("configs/offline.yaml"))   # any ASGI server runs it
"""

from __future__ import annotations

from aixgo.server.app import SESSION_HEADER, create_app

__all__ = ["SESSION_HEADER", "create_app"]
