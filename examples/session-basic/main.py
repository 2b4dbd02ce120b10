"""The session API on its own: create, resume, append, page, checkpoint, restore, context helpers, delete.

    python examples/session-basic/main.py                     # in a temporary folder, removed afterwards
    python examples/session-basic/main.py --base-dir DIR      # keep the store; inspect it with `aixgo sessions`
    python examples/session-basic/main.py --redis-url localhost:6379   # the same steps on Redis

Runs offline: the last step hands the stored history to aixgo's offline demo model, or to a real
OpenAI-compatible model when OPENAI_API_KEY (or OPENAI_BASE_URL) is set (AIXGO_MODEL, default
gpt-4o-mini).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from aixgo.errors import SessionNotFoundError
from aixgo.llm import ChatModel, ModelSettings, OpenAIChatModel
from aixgo.session import (
    Backend,
    EntryType,
    FileBackend,
    Manager,
    Session,
    context_with_session,
    session_from_context,
    use_session,
)
from aixgo.testing import OfflineDemoModel

AGENT = "assistant"


def step(number: int, title: str) -> None:
    print(f"\n{number}. {title}")


def say(text: str) -> None:
    print(f"   {text}")


def show_entries(sess: Session, last: int = 8) -> None:
    """One line per entry of the current history (the ``last`` ones)."""
    for entry in sess.get_entries(limit=last):
        data = entry.data
        if data.get("tool_calls"):
            calls = ", ".join(
                f"{c['function']['name']}({c['function']['arguments']})" for c in data["tool_calls"]
            )
            text = f"calls {calls}"
        else:
            text = str(data.get("content", data))
        say(f"  [{entry.seq}] {entry.type.value:<11} {data.get('role', ''):<9} {text}")


# -- a "tool" that needs the session but takes no session argument ----------------------------------


def take_note(note: str) -> str:
    """Append a note to whichever session is current in this context (thread or asyncio task)."""
    sess = session_from_context()
    if sess is None:
        return "no session in context"
    sess.append_entry(EntryType.METADATA, {"note": note})
    return f"noted {note!r} in session {sess.id}"


def _print_note(note: str) -> None:
    say(f"thread: {take_note(note)}")


async def handle_request(user: str) -> str:
    """What a server would run per request: yield to other tasks, then call the tool."""
    await asyncio.sleep(0.01)  # the two tasks interleave here
    return take_note(f"request from {user}")


async def serve_concurrently(first: Session, second: Session) -> list[str]:
    """Two asyncio tasks, each started in a context that carries its own session."""
    tasks = [
        asyncio.create_task(handle_request("ada"), context=context_with_session(first)),
        asyncio.create_task(handle_request("bo"), context=context_with_session(second)),
    ]
    return list(await asyncio.gather(*tasks))


def make_model() -> tuple[ChatModel, str]:
    """A real OpenAI-compatible model when the environment configures one, else the offline demo model."""
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        name = os.environ.get("AIXGO_MODEL", "gpt-4o-mini")
        return OpenAIChatModel(name), f"the OpenAI-compatible model {name}"
    return OfflineDemoModel(), "aixgo's offline demo model (set OPENAI_API_KEY to use a real one)"


# -- the walk-through ---------------------------------------------------------------------------------


def run(open_backend: Callable[[], Backend], where: str, session_id: str) -> None:
    """Walk through the API on the store ``open_backend()`` opens (called twice: step 5 reopens it)."""
    with Manager(open_backend()) as mgr:
        print(f"aixgo session-basic: sessions without an agent, on the {where}")

        step(1, "Create a session (a random id), then resume or create one by a known id")
        scratch = mgr.create(AGENT, user_id="user-123", metadata={"purpose": "scratch"})
        say(
            f"create()        -> new session {scratch.id} for agent {scratch.agent_name!r}, user {scratch.user_id!r}"
        )
        sess = mgr.get_or_create(AGENT, session_id, user_id="user-123")
        earlier = len(sess.get_entries())
        if earlier:
            say(f"get_or_create() -> resumed {sess.id!r} from an earlier run ({earlier} entries)")
        else:
            say(f"get_or_create() -> created {sess.id!r} (run again with the same store to resume it)")

        step(2, "Append messages (OpenAI chat shape) and read them back")
        if earlier:
            say("(the greeting is already stored from the earlier run: not appending it again)")
        else:
            sess.append_message("system", "You are a helpful assistant with memory.")
            sess.append_message("user", "Hi! My name is Ada.")
            sess.append_message("assistant", "Nice to meet you, Ada.")
        show_entries(sess)
        same = mgr.get(sess.id)
        say(f"a second handle (mgr.get) sees the same history: {len(same.get_entries())} entries")

        step(3, "Page through history without reading everything")
        last_two = sess.get_entries(limit=2)
        older = sess.get_entries(limit=2, before=last_two[0].seq)
        newer = sess.get_entries(limit=2, after=older[0].seq)
        for call, page in (
            ("get_entries(limit=2)", last_two),
            (f"get_entries(limit=2, before={last_two[0].seq})", older),
            (f"get_entries(limit=2, after={older[0].seq})", newer),
        ):
            say(f"{call:<32} -> seq {[e.seq for e in page]}")

        step(4, "Checkpoint, go down a path, restore")
        cp = sess.checkpoint(metadata={"reason": "before tool run"})
        say(f"checkpoint {cp.id} at seq {cp.seq} (checksum {cp.checksum[:12]}…)")
        sess.append_message(
            "assistant",
            None,
            tool_calls=[
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "delete_all_files", "arguments": '{"really": true}'},
                }
            ],
        )
        sess.append_message("tool", "refused", tool_call_id="call_1")
        say(f"appended a tool call and its result: history has {len(sess.get_entries())} entries")
        sess.restore(cp.id)
        kept = len(sess.all_entries())
        say(f"restore({cp.id}) -> history has {len(sess.get_entries())} entries again")
        say(f"the abandoned branch stays stored for audit: all_entries() has {kept} entries")

        step(5, "Restore is durable: a new Manager (as after a restart) sees the restored history")
        with Manager(open_backend()) as fresh:
            again = fresh.get(sess.id)
            say(
                f"reopened {again.id!r}: {len(again.get_entries())} entries, checkpoints {[c.id for c in again.checkpoints()]}"
            )

        step(6, "Context helpers: the current session travels with threads' and tasks' contexts")
        with use_session(sess):
            say(
                f"inside use_session(sess): session_from_context() is sess -> {session_from_context() is sess}"
            )
            say(take_note("called from inside use_session"))
        say(f"after the with block: session_from_context() -> {session_from_context()}")
        thread = threading.Thread(
            target=context_with_session(scratch).run, args=(_print_note, "from a thread")
        )
        thread.start()
        thread.join()
        for line in asyncio.run(serve_concurrently(sess, scratch)):
            say(f"asyncio task: {line}")
        say(f"outside the thread and tasks: session_from_context() -> {session_from_context()}")

        step(7, "Hand the history to a model")
        model, model_name = make_model()
        sess.append_message("user", "What is my name?")
        messages = sess.get_messages()
        say(f"get_messages() -> {len(messages)} provider-valid chat messages for {model_name}")
        reply = asyncio.run(model.complete(messages, [], ModelSettings()))
        sess.append_message("assistant", reply.content)
        say(f"user> What is my name?   assistant> {reply.content}")

        step(8, "List and delete")
        for info in mgr.list(agent=AGENT):
            say(
                f"list(): {info.id}  user={info.user_id}  messages={info.message_count}  updated={info.updated_at:%H:%M:%S}"
            )
        mgr.delete(scratch.id)
        try:
            mgr.get(scratch.id)
        except SessionNotFoundError as exc:
            say(f"delete({scratch.id}) -> get() now raises SessionNotFoundError: {exc}")
        say(
            f"{len(mgr.list(agent=AGENT))} session(s) left: {sess.id!r} with {sess.get_info().message_count} messages"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--base-dir", type=Path, help="file store folder to use and keep (default: a temporary one)"
    )
    where.add_argument("--redis-url", help="use the Redis store at this address instead, e.g. localhost:6379")
    parser.add_argument("--session", default="basic-demo", help="id of the session to create or resume")
    args = parser.parse_args()

    if args.redis_url:
        from aixgo.session import RedisBackend  # noqa: PLC0415 - redis is an optional extra

        run(lambda: RedisBackend(args.redis_url), f"Redis store at {args.redis_url}", args.session)
        print(f"\nInspect it: aixgo sessions show {args.session} --redis-url {args.redis_url}")
        return
    if args.base_dir is not None:
        run(lambda: FileBackend(args.base_dir), f"file store at {args.base_dir}", args.session)
        print(f"\nInspect it: aixgo sessions show {args.session} --base-dir {args.base_dir}")
        return
    tmp = Path(tempfile.mkdtemp(prefix="aixgo-session-basic-"))
    try:
        run(lambda: FileBackend(tmp), f"file store at {tmp} (temporary)", args.session)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        "\nThe temporary store is gone; pass --base-dir DIR to keep it and inspect it with `aixgo sessions`."
    )


if __name__ == "__main__":
    main()
