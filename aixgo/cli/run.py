"""``aixgo run CONFIG``: chat with an agent whose conversation is stored in a durable session.

Interactive by default (line editing and input history through :mod:`readline`); ``-m TEXT`` runs one
turn and prints only the answer on stdout, for scripts. ``--session ID`` resumes or creates that
session, ``-c/--continue`` resumes the agent's most recent one.
"""

from __future__ import annotations

import json
import shlex
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aixgo.cli.app import CliState
from aixgo.cli.render import render_checkpoints, render_transcript
from aixgo.errors import AixgoError, SessionNotFoundError
from aixgo.session import Session
from aixgo.session.ids import new_session_id

if TYPE_CHECKING:
    from aixgo.runtime import Result, Runtime

HELP = """commands:
  /help               this help
  /history            the conversation so far
  /checkpoint [note]  save a checkpoint of the conversation
  /checkpoints        list checkpoints
  /restore ID         go back to a checkpoint (later messages leave the history)
  /new                start a new session
  /exit               quit (or Ctrl-D); Ctrl-C cancels a running turn"""


def _pick_agent(runtime: Runtime, wanted: str | None) -> str:
    names = runtime.agent_names
    if wanted is not None:
        runtime.agent(wanted)
        return wanted
    if not names:
        raise click.UsageError("the config declares no agents")
    if len(names) > 1:
        raise click.UsageError(f"the config has several agents ({', '.join(names)}): choose one with --agent")
    return names[0]


def _result_json(result: Result) -> str:
    return json.dumps(
        {
            "answer": result.answer,
            "session_id": result.session_id,
            "agent": result.agent,
            "steps": result.steps,
            "tool_calls": result.tool_calls,
            "usage": result.usage.to_dict(),
        },
        ensure_ascii=False,
    )


@dataclass
class _Chat:
    runtime: Runtime
    agent: str
    session: Session
    config: str
    user_id: str | None
    as_json: bool
    debug: bool
    color: bool = False

    def banner(self) -> None:
        click.echo(f"aixgo · agent {self.agent} · session {self.session.id}", err=True)
        click.echo(f"resume with: aixgo run {self.config} --session {self.session.id}", err=True)
        click.echo("type /help for commands, Ctrl-D to quit", err=True)

    def turn(self, text: str) -> None:
        try:
            result = self.runtime.call_with_session(self.agent, text, self.session.id, user_id=self.user_id)
        except KeyboardInterrupt:
            click.echo("(turn cancelled — the session is intact)", err=True)
            return
        except AixgoError as exc:
            if self.debug:
                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
            return
        click.echo(_result_json(result) if self.as_json else f"{self.agent}> {result.answer}")
        _note_if_cut_off(result, self.config)

    def command(self, line: str) -> bool:
        """Run a /command; returns False when the chat should end."""
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        actions: dict[str, Callable[[str], bool | None]] = {
            "/help": lambda _: click.echo(HELP),
            "/history": self._history,
            "/checkpoint": self._checkpoint,
            "/checkpoints": self._checkpoints,
            "/restore": self._restore,
            "/new": self._new,
            "/exit": lambda _: False,
            "/quit": lambda _: False,
        }
        action = actions.get(name)
        if action is None:
            click.echo(f"unknown command {name} (try /help)", err=True)
            return True
        try:
            return action(arg) is not False
        except AixgoError as exc:
            click.echo(f"error: {exc}", err=True)
            return True

    def _checkpoint(self, note: str) -> None:
        cp = self.session.checkpoint(metadata={"note": note} if note else None)
        click.echo(f"checkpoint {cp.id} at entry {cp.seq}")

    def _history(self, _: str) -> None:
        entries = self.session.get_entries()
        text = render_transcript(entries, self.session.checkpoints(), color=self.color, timestamps=False)
        click.echo(text or "(no messages yet)")

    def _checkpoints(self, _: str) -> None:
        checkpoints = self.session.checkpoints()
        if not checkpoints:
            click.echo("no checkpoints yet (/checkpoint [note] makes one)")
            return
        click.echo(render_checkpoints(checkpoints, self.session.get_entries(), color=self.color))

    def _restore(self, checkpoint_id: str) -> None:
        if not checkpoint_id:
            click.echo("usage: /restore CHECKPOINT_ID (see /checkpoints)", err=True)
            return
        cp = self.session.restore(checkpoint_id)
        click.echo(f"restored {cp.id}: the history now ends at entry {cp.seq}")

    def _new(self, _: str) -> None:
        self.session = self.runtime.session_for(self.agent, None, user_id=self.user_id)
        self.banner()

    def loop(self) -> None:
        interactive = sys.stdin.isatty()
        if interactive:
            _enable_line_editing()
        self.banner()
        while True:
            try:
                line = input("you> " if interactive else "")
            except EOFError:
                if interactive:
                    click.echo(err=True)
                return
            except KeyboardInterrupt:
                click.echo("\n(Ctrl-D or /exit to quit)", err=True)
                continue
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if not self.command(line):
                    return
            else:
                self.turn(line)


def _enable_line_editing() -> None:
    try:
        import readline  # noqa: PLC0415 - optional on some platforms, only for interactive use
    except ImportError:  # pragma: no cover
        return
    history = Path("~/.aixgo/history").expanduser()
    try:
        history.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if history.exists():
            readline.read_history_file(history)
        readline.set_history_length(1000)
    except OSError:
        return
    import atexit  # noqa: PLC0415

    atexit.register(_save_history, readline, history)


def _save_history(readline: Any, history: Path) -> None:
    try:
        readline.write_history_file(history)
        history.chmod(0o600)
    except OSError:
        pass


def _resume_command(config: Path, session_id: str) -> str:
    """The command that continues ``session_id`` (``aixgo`` as the user's shell finds it)."""
    return f"aixgo run {shlex.quote(str(config))} --session {shlex.quote(session_id)}"


def _note_if_cut_off(result: Any, config: str) -> None:
    """Say so (on stderr) when the model stopped at its token limit: the answer is cut off."""
    if getattr(result, "finish_reason", None) == "length":
        click.echo(
            f"note: the answer was cut off at the model's token limit (finish_reason: length); raise the agent's "
            f"max_tokens in {config}",
            err=True,
        )


@click.command("run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--session", "session_id", metavar="ID", help="Resume (or create) the session with this id.")
@click.option("-c", "--continue", "continue_", is_flag=True, help="Resume the agent's most recent session.")
@click.option("--agent", metavar="NAME", help="Which agent to talk to, when the config has several.")
@click.option("--user", "user_id", metavar="ID", help="The user the session belongs to.")
@click.option("-m", "--message", metavar="TEXT", help="Send one message, print the answer and exit.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (one JSON object per answer).")
@click.pass_context
def run(
    ctx: click.Context,
    config: Path,
    session_id: str | None,
    continue_: bool,
    agent: str | None,
    user_id: str | None,
    message: str | None,
    as_json: bool,
) -> None:
    """Chat with an agent of CONFIG; the conversation is stored and can be resumed."""
    if continue_ and session_id:
        raise click.UsageError("use either --session or --continue, not both")
    if message is not None and not message.strip():
        raise click.UsageError("the message given with -m is empty: there is nothing to send")
    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    from aixgo.runtime import Runtime  # noqa: PLC0415 - loads the model client (openai) only when chatting

    with Runtime.from_config(config) as runtime:
        agent_name = _pick_agent(runtime, agent)
        if continue_:
            recent = runtime.session_manager.most_recent(agent=agent_name, user_id=user_id)
            if recent is None:
                raise SessionNotFoundError(f"no earlier session of agent {agent_name!r} to continue")
            session_id = recent.id
        if message is not None:
            session_id = session_id or new_session_id()  # known up front, so a failure can name it
            try:
                result = runtime.call_with_session(agent_name, message, session_id, user_id=user_id)
            except AixgoError:
                click.echo(
                    f"note: session {session_id} keeps what the turn stored; continue it with: "
                    f"{_resume_command(config, session_id)}",
                    err=True,
                )
                raise
            click.echo(_result_json(result) if as_json else result.answer)
            _note_if_cut_off(result, str(config))
            return
        session = runtime.session_for(agent_name, session_id, user_id=user_id)
        color = sys.stdout.isatty() and not as_json
        _Chat(runtime, agent_name, session, str(config), user_id, as_json, state.debug, color).loop()


COMMANDS = [run]
