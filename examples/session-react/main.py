"""A ReAct agent with tools whose whole conversation lives in a durable session.

    python examples/session-react/main.py            # a short conversation, then the stored history
    python examples/session-react/main.py --demo     # two separate processes share one memory

Offline by default: the agent talks to aixgo's scripted demo model, so no key and no network are
needed. With OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server) set, the same
code talks to a real model (AIXGO_MODEL, default gpt-4o-mini).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from aixgo import SimpleRuntime
from aixgo.agents import ReActAgent, tool
from aixgo.llm import ChatModel, OpenAIChatModel
from aixgo.session import FileBackend, Manager, session_from_context
from aixgo.testing import OfflineDemoModel

AGENT = "assistant"
FIRST_PROCESS = [
    "Hi! My name is Ada.",
    "Remember that our launch is on Friday.",
    "What is 17 * 23?",
]
SECOND_PROCESS = [
    "What is my name?",
    "What did I ask you to remember?",
]


@tool
def conversation_length() -> str:
    """How many messages the current conversation holds (reads the session from context)."""
    session = session_from_context()
    if session is None:
        return "no session in context"
    return f"{session.get_info().message_count} messages so far in session {session.id}"


def make_model() -> ChatModel:
    """A real OpenAI-compatible model when configured in the environment, else the offline demo model."""
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return OpenAIChatModel(os.environ.get("AIXGO_MODEL", "gpt-4o-mini"))
    return OfflineDemoModel()


def make_runtime(base_dir: Path) -> SimpleRuntime:
    """The seed's shape: a runtime, a session manager on the file store, one ReAct agent with tools."""
    runtime = SimpleRuntime()
    runtime.set_session_manager(Manager(FileBackend(base_dir)))
    runtime.register_agent(
        ReActAgent(
            AGENT,
            make_model(),
            prompt="You are a helpful assistant with memory. Use the calculator for arithmetic.",
            tools=["calculator", "current_time", conversation_length],
            max_steps=6,
        )
    )
    return runtime


def converse(base_dir: Path, session_id: str, messages: list[str]) -> None:
    """Send ``messages`` one by one in the session, printing each answer."""
    with make_runtime(base_dir) as runtime:
        for text in messages:
            print(f"  you> {text}")
            result = runtime.call_with_session(AGENT, text, session_id)
            print(f"  {AGENT}> {result.answer}   [{result.steps} step(s), {result.tool_calls} tool call(s)]")


def print_history(base_dir: Path, session_id: str) -> None:
    """The stored history, entry by entry, as the next process (or `aixgo sessions show`) sees it."""
    with Manager(FileBackend(base_dir)) as manager:
        session = manager.get(session_id)
        print(f"\nstored history of session {session_id} ({session.get_info().message_count} messages):")
        for entry in session.get_entries():
            data = entry.data
            if entry.type.value == "usage":
                detail = f"{data.get('total_tokens')} tokens"
            elif data.get("tool_calls"):
                detail = ", ".join(
                    f"{c['function']['name']}({c['function']['arguments']})" for c in data["tool_calls"]
                )
            else:
                detail = str(data.get("content"))
            print(f"  #{entry.seq:<3} {entry.type.value:<11} {data.get('role', ''):<9} {detail}")


DEMO_DIR = Path("~/.aixgo/demo-sessions")
"""Where the demo keeps its session: one folder, reused by every run (each run starts the session anew)."""


def demo(base_dir: Path | None = None) -> int:
    """Run the conversation in two separate processes: the second answers from what the first stored."""
    base_dir = (base_dir or DEMO_DIR).expanduser()
    session_id = "demo-session"
    with Manager(FileBackend(base_dir)) as manager:
        manager.delete(session_id)  # the previous run's conversation
    model = (
        "a real model"
        if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
        else "the offline demo model"
    )
    print(f"aixgo demo — file store at {base_dir}, {model}\n")
    for step, label in (
        ("first", "process 1: tell the agent a few things"),
        ("second", "process 2: a new process asks about them"),
    ):
        print(f"── {label}")
        done = subprocess.run(
            [sys.executable, __file__, "--step", step, "--base-dir", str(base_dir), "--session", session_id],
            check=False,
        )
        if done.returncode != 0:
            print(f"demo failed: the {step} process exited with {done.returncode}", file=sys.stderr)
            return done.returncode
        print()
    print_history(base_dir, session_id)
    script = Path(sys.executable).parent / "aixgo"
    command = str(script) if script.exists() else "aixgo"
    print(f"\ninspect it: {command} sessions --base-dir {base_dir} show {session_id}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo", action="store_true", help="run the two-process memory demo")
    parser.add_argument("--step", choices=["first", "second"], help=argparse.SUPPRESS)
    parser.add_argument("--base-dir", type=Path, help="session store folder (default: a new temp folder; ~/.aixgo/demo-sessions with --demo)")
    parser.add_argument("--session", default="example-session", help="session id")
    args = parser.parse_args()
    if args.demo:
        return demo(args.base_dir)
    base_dir = args.base_dir or Path(tempfile.mkdtemp(prefix="aixgo-example-"))
    if args.step:
        print(f"  (pid {os.getpid()})")
        converse(base_dir, args.session, FIRST_PROCESS if args.step == "first" else SECOND_PROCESS)
        return 0
    converse(base_dir, args.session, FIRST_PROCESS + SECOND_PROCESS)
    print_history(base_dir, args.session)
    return 0


if __name__ == "__main__":
    sys.exit(main())
