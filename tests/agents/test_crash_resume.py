"""A process killed between a tool call and its result; another process resumes the session."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from aixgo.agents import ReActAgent
from aixgo.llm import OpenAIChatModel
from aixgo.session import EntryType, FileBackend, Manager
from aixgo.session.history import INTERRUPTED_RESULT
from tests.support.openai_server import OpenAIServer, call, tool_calls

ROOT = Path(__file__).resolve().parents[2]


def test_killed_mid_tool_then_resumed(
    openai_server: OpenAIServer, sessions_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "tool-started"
    openai_server.enqueue(tool_calls(call("hang", {"marker": str(marker)}, id="call_hang")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.agents.crash_child",
            str(sessions_dir),
            openai_server.base_url,
            "crash-1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert child.poll() is None, child.communicate()[1].decode()
            assert time.monotonic() < deadline, "the child never started the tool"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    with Manager(FileBackend(sessions_dir, fsync="never")) as manager:
        session = manager.get("crash-1")
        # On disk: the user message and the tool call, but no result and no answer.
        assert [e.type for e in session.get_entries()] == [EntryType.MESSAGE, EntryType.TOOL_CALL]
        assert session.get_entries()[1].data["tool_calls"][0]["id"] == "call_hang"

        openai_server.enqueue("Sorry, the previous tool run was interrupted. Hello again!")
        model = OpenAIChatModel("test-model", base_url=openai_server.base_url, max_retries=0)
        agent = ReActAgent("crashy", model, "prompt", ["tests.agents.crash_child:hang"])
        result = asyncio.run(agent.run_turn(session, "are you still there?"))
        assert result.answer.endswith("Hello again!")

        sent = openai_server.chat_requests[-1]["messages"]
        assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "user"]
        assert sent[3] == {"role": "tool", "tool_call_id": "call_hang", "content": INTERRUPTED_RESULT}
        assert sent[4] == {"role": "user", "content": "are you still there?"}
        # The stored history is still valid for the API, and the new turn was persisted after it.
        messages = session.get_messages()
        assert messages[2] == sent[3]
        assert [m["role"] for m in messages] == ["user", "assistant", "tool", "user", "assistant"]
