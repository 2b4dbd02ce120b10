"""Child process of the crash test: runs one agent turn whose tool hangs until the process is killed.

``python -m tests.agents.crash_child <sessions_dir> <base_url> <session_id>``
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from aixgo.agents import ReActAgent
from aixgo.llm import OpenAIChatModel
from aixgo.session import FileBackend, Manager


def hang(marker: str) -> str:
    """Signal that the tool started, then never return.

    Args:
        marker: A file to create once the tool runs.
    """
    Path(marker).write_text("started")
    time.sleep(120)
    return "unreachable"


def main() -> None:
    sessions_dir, base_url, session_id = sys.argv[1:4]
    with Manager(FileBackend(sessions_dir)) as manager:
        session = manager.get_or_create("crashy", session_id)
        model = OpenAIChatModel("test-model", base_url=base_url, max_retries=0)
        agent = ReActAgent("crashy", model, "prompt", ["tests.agents.crash_child:hang"])
        asyncio.run(agent.run_turn(session, "please run the slow tool"))


if __name__ == "__main__":
    main()
