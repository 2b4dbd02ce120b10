"""``aixgo run CONFIG``: chat with an agent whose conversation is stored in a durable session.

Interactive by default (line editing and input history through :mod:`readline`); ``-m TEXT`` runs one
turn and prints only the answer on stdout, for scripts. ``--session ID`` resumes or creates that
session, ``-c/--continue`` resumes the agent's most recent one.

(Longer than most modules: the one-shot turn and the chat's turns print through the same streaming,
``--json`` and cut-off helpers, so they stay beside the command; the renderers, the status line and
the id lookups have modules of their own.)
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
import sys
import traceback
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import click

from aixgo.cli.app import CliState, debug_option
from aixgo.cli.approvals import Approver, WaitingForApproval
from aixgo.cli.ids import find_session, looks_like_id_prefix, resolve_checkpoint, valid_id
from aixgo.cli.render import checkpoint_json, entry_json, render_checkpoints, render_transcript
from aixgo.cli.status import Status
from aixgo.cli.waits import waits_shown
from aixgo.errors import (
    AixgoError,
    ApprovalPendingError,
    CheckpointNotFoundError,
    SessionCorruptedError,
    SessionError,
    SessionNotFoundError,
)
from aixgo.session import Session
from aixgo.session.core.summary import message_text
from aixgo.session.core.turns import last_turn_start
from aixgo.session.ids import new_session_id
from aixgo.session.transcript import usage_totals
from aixgo.session.transfer import fork as fork_session
from aixgo.session.types import ApprovalDecision, SessionInfo

if TYPE_CHECKING:
    from collections.abc import Iterable

    from aixgo.agents.events import TurnEvent
    from aixgo.runtime import Result, Runtime

HELP = """commands:
  /help               this help
  /history            the conversation so far
  /undo               leave your last message and its answer out (they stay stored)
  /retry              ask your last message again (the earlier answer stays stored)
  /edit               edit your last message in $EDITOR and ask it again
  /checkpoint [note]  save a checkpoint of the conversation
  /checkpoints        list checkpoints
  /restore ID         go back to a checkpoint (later messages leave the history)
  /fork               continue in a copy of this conversation (this one stays as it is)
  /usage              tokens used by this session
  /new                start a new session
  /exit               quit (or Ctrl-D); Ctrl-C cancels a running turn
  \"\"\"                 on a line of its own: start (and end) a message of several lines"""


def _pick_agent(runtime: Runtime, wanted: str | None) -> str:
    names = runtime.agent_names
    if wanted is not None:
        if wanted not in names:
            raise click.UsageError(f"no agent named {wanted!r} in the config (it has: {', '.join(names) or 'none'})")
        return wanted
    if not names:
        raise click.UsageError("the config declares no agents")
    if len(names) > 1:
        raise click.UsageError(f"the config has several agents ({', '.join(names)}): choose one with --agent")
    return names[0]


def _result_json(result: Result) -> str:
    shown: dict[str, Any] = {
        "answer": result.answer,
        "session_id": result.session_id,
        "agent": result.agent,
        "steps": result.steps,
        "tool_calls": result.tool_calls,
        "usage": result.usage.to_dict(),
        "outcome": result.outcome,
    }
    if result.paused:
        shown["approvals"] = [{"call_id": a.call_id, "name": a.name, "arguments": a.arguments}
                              for a in result.approvals]
    return json.dumps(shown, ensure_ascii=False)


MULTILINE = '"""'
"""A line of only this starts a message of several lines; the next such line ends it."""

EXIT_TURN_FAILED = 1
EXIT_UNKNOWN_COMMAND = 2


@dataclass
class _Chat:
    """The interactive (or piped) chat. With ``--json``, every line on stdout is one JSON object:
    answers, and the output of /commands alike; notes and errors go to stderr."""

    runtime: Runtime
    agent: str
    session_id: str
    config: str
    user_id: str | None
    as_json: bool
    debug: bool
    color: bool = False
    stream: bool = True
    approve_all: bool = False
    failed_turns: int = 0
    failed_commands: int = 0
    unknown_commands: int = 0

    def stored(self) -> Session | None:
        """The chat's session once a message stored it; None before (it begins with the first message, so
        a chat left without a word leaves nothing behind)."""
        try:
            return self.runtime.manager_for(self.agent).get(self.session_id)
        except SessionNotFoundError:
            return None

    @property
    def session(self) -> Session:
        """The stored session, for the commands that need one."""
        found = self.stored()
        if found is None:
            raise SessionNotFoundError("nothing is stored yet: the session begins with your first message",
                                       session_id=self.session_id)
        return found

    def say(self, payload: dict[str, Any], text: str) -> None:
        """``text`` for people, or ``payload`` as one JSON line with ``--json``."""
        click.echo(json.dumps(payload, ensure_ascii=False, default=str) if self.as_json else text)

    def banner(self, *, resumed: bool = False) -> None:
        mode = self.runtime.session_mode(self.agent)
        if mode == "enabled":
            click.echo(f"aixgo · agent {self.agent} · session {self.session_id}", err=True)
            if resumed:
                self._resumed()
            click.echo(f"resume with: {_resume_command(Path(self.config), self.session_id)}", err=True)
        elif mode == "lightweight":
            click.echo(f"aixgo · agent {self.agent} · in-memory session (session_mode: lightweight): "
                       "it ends when you quit", err=True)
        else:
            click.echo(f"aixgo · agent {self.agent} · no memory (sessions disabled): each message "
                       "is answered on its own", err=True)
        click.echo(f"type /help for commands, {MULTILINE} for several lines, Ctrl-D to quit", err=True)

    def _resumed(self) -> None:
        """Say that this is an earlier conversation, and how it ended."""
        messages = self.session.get_messages(limit=64)
        count = self.session.get_info().message_count
        click.echo(f"resumed session {self.session.id}, {count} message{'s' * (count != 1)}", err=True)
        said = [m for m in messages if m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)
                and m.get("content")]
        last_user = next((i for i in range(len(said) - 1, -1, -1) if said[i]["role"] == "user"), None)
        if last_user is not None:
            for message in said[last_user : last_user + 2]:
                who = "you" if message["role"] == "user" else self.agent
                text = " ".join(str(message["content"]).split())
                click.echo(f"  {who}> {text[:200]}{'…' if len(text) > 200 else ''}", err=True)

    @property
    def prefix(self) -> str:
        """What comes before an answer: the agent's name at a terminal; nothing when standard input is not
        one (a pipe, a script), so stdout holds only the answers."""
        return f"{self.agent}> " if _stdin_is_terminal() else ""

    @property
    def streams(self) -> bool:
        return self.stream and not self.as_json

    def approver(self) -> Approver:
        return _approver(self.runtime, Path(self.config), self.session_id, self.approve_all, self.streams,
                         self.prefix)

    def turn(self, text: str) -> None:
        try:
            try:
                result = self._turn(text)
            except ApprovalPendingError:  # a turn left waiting (a question not answered): it comes first
                self.settle_waiting()
                result = self._turn(text)
            result = self.approver().settle(result)
        except KeyboardInterrupt:
            click.echo("(turn cancelled — the session is intact)", err=True)
            return
        except WaitingForApproval as exc:
            if not sys.stdin.isatty():
                raise
            click.echo(f"note: {exc.message}", err=True)  # at the terminal: the chat goes on
            return
        except AixgoError as exc:
            self.failed_turns += 1
            if self.debug:
                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
            return
        self.show(result)

    def _turn(self, text: str) -> Result:
        if self.streams:
            return stream_turn(self.runtime, self.agent, text, self.session_id, self.user_id, prefix=self.prefix)
        return _call(self.runtime, self.agent, text, self.session_id, self.user_id)

    def settle_waiting(self) -> None:
        """Decide what waits in the session (a resumed one), showing the continued turn's answer."""
        if self.runtime.session_mode(self.agent) != "enabled" or self.stored() is None:
            return
        result = self.approver().settle_session(self.session_id)
        if result is not None:
            self.show(result)

    def show(self, result: Result) -> None:
        if self.as_json:
            click.echo(_result_json(result))
        elif not self.stream:
            click.echo(f"{self.prefix}{result.answer}")
        _note_if_cut_off(result, self.config)

    def command(self, line: str) -> bool:
        """Run a /command; returns False when the chat should end."""
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        actions: dict[str, Callable[[str], bool | None]] = {
            "/help": lambda _: self.say({"help": HELP}, HELP),
            "/history": self._history,
            "/checkpoint": self._checkpoint,
            "/checkpoints": self._checkpoints,
            "/restore": self._restore,
            "/undo": self._undo,
            "/retry": self._retry,
            "/edit": self._edit,
            "/fork": self._fork,
            "/usage": self._usage,
            "/new": self._new,
            "/exit": lambda _: False,
            "/quit": lambda _: False,
        }
        action = actions.get(name)
        if action is None:
            self.unknown_commands += 1
            click.echo(f"unknown command {name} (try /help)", err=True)
            return True
        try:
            return action(arg) is not False
        except AixgoError as exc:
            self.failed_commands += 1
            click.echo(f"error: {exc}", err=True)
            return True

    def _checkpoint(self, note: str) -> None:
        cp = self.session.checkpoint(metadata={"note": note} if note else None)
        self.say({"checkpoint": checkpoint_json(cp)}, f"checkpoint {cp.id} at entry {cp.seq}")

    def _history(self, _: str) -> None:
        session = self.stored()
        entries = session.get_entries() if session is not None else []
        if self.as_json:
            self.say({"history": [entry_json(e) for e in entries]}, "")
            return
        checkpoints = session.checkpoints() if session is not None else []
        text = render_transcript(entries, checkpoints, color=self.color, timestamps=False)
        click.echo(text or "(no messages yet)")

    def _checkpoints(self, _: str) -> None:
        session = self.stored()
        checkpoints = session.checkpoints() if session is not None else []
        if self.as_json:
            self.say({"checkpoints": [checkpoint_json(cp) for cp in checkpoints]}, "")
            return
        if not checkpoints:
            click.echo("no checkpoints yet (/checkpoint [note] makes one)")
            return
        click.echo(render_checkpoints(checkpoints, self.session.get_entries(), color=self.color))

    def _restore(self, checkpoint_id: str) -> None:
        if not checkpoint_id:
            click.echo("usage: /restore CHECKPOINT_ID (see /checkpoints)", err=True)
            return
        session = self.stored()
        if session is None:
            raise CheckpointNotFoundError(f"session {self.session_id!r} has no checkpoint {checkpoint_id!r}: "
                                          "nothing is stored yet", session_id=self.session_id)
        cp = session.restore(resolve_checkpoint(session, checkpoint_id).id)
        self.say({"restored": checkpoint_json(cp)}, f"restored {cp.id}: the history now ends at entry {cp.seq}")

    def _undo(self, _: str) -> None:
        left = self.session.undo()
        said = message_text(left[0].data.get("content"))
        if self.as_json:
            self.say({"undone": [entry_json(e) for e in left]}, "")
        click.echo(f"undone: {_short(said)} (and its answer; still stored: aixgo sessions show --all "
                   f"{self.session_id})", err=True)

    def _retry(self, _: str) -> None:
        left = self.session.undo()
        self.turn(message_text(left[0].data.get("content")))

    def _edit(self, _: str) -> None:
        session = self.session
        history = session.get_entries()
        start = last_turn_start(history)
        if start is None:
            raise SessionError("there is no message of yours to edit yet", session_id=self.session_id)
        said = message_text(history[start].data.get("content"))
        edited = click.edit(said, extension=".md")
        if edited is None or not edited.strip() or edited.strip() == said.strip():
            click.echo("(unchanged: nothing sent)", err=True)
            return
        session.undo()
        self.turn(edited.strip())

    def _fork(self, _: str) -> None:
        copy = fork_session(self.runtime.manager_for(self.agent), self.session)
        click.echo(f"forked session {self.session_id} into {copy.id}; this chat goes on in the copy", err=True)
        self.session_id = copy.id
        if self.as_json:
            self.say({"session_id": copy.id}, "")

    def _usage(self, _: str) -> None:
        session = self.stored()
        used = usage_totals(session.get_entries() if session is not None else [])
        text = f"this session: {used.describe()} tokens"
        if used.last_turn is not None:
            text += f"; last turn: {used.last_turn:,}"
        self.say({"usage": dataclasses.asdict(used)}, text)

    def _new(self, _: str) -> None:
        self.session_id = new_session_id()
        if self.as_json:
            self.say({"session_id": self.session_id}, "")
        self.banner()

    def loop(self, *, resumed: bool = False) -> int:
        """Chat until end of input or /exit. Returns the exit code: 0, or, when standard input is not
        a terminal (a script, a pipe), 2 if a command was unknown, else 1 if a turn or a command failed."""
        interactive = sys.stdin.isatty()
        if interactive:
            _enable_line_editing()
        self.banner(resumed=resumed)
        try:
            self.settle_waiting()
        except WaitingForApproval as exc:
            if not interactive:
                raise
            click.echo(f"note: {exc.message}", err=True)
        while True:
            try:
                line = input("you> " if interactive else "")
                if line.strip() == MULTILINE:
                    line = self._read_block(interactive)
            except EOFError:
                if interactive:
                    click.echo(err=True)
                break
            except KeyboardInterrupt:
                click.echo("\n(Ctrl-D or /exit to quit)", err=True)
                continue
            if not line.strip():
                continue
            if line.lstrip().startswith("/") and "\n" not in line:
                if not self.command(line.strip()):
                    break
            else:
                self.turn(line.strip())
        if interactive:
            return 0
        if self.unknown_commands:
            return EXIT_UNKNOWN_COMMAND
        return EXIT_TURN_FAILED if self.failed_turns or self.failed_commands else 0

    @staticmethod
    def _read_block(interactive: bool) -> str:
        """The lines up to the closing ``\"\"\"`` as one message (end of input also closes it)."""
        lines: list[str] = []
        while True:
            try:
                line = input("... " if interactive else "")
            except EOFError:
                break
            if line.strip() == MULTILINE:
                break
            lines.append(line)
        return "\n".join(lines)


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):  # closed, or replaced by something without a descriptor
        return False


def _with_piped_input(message: str) -> str:
    """``-m TEXT`` with standard input that is not a terminal (``cat notes.txt | aixgo run … -m "summarize"``):
    what was piped in, an empty line, then TEXT, as simonw's ``llm`` joins them. TEXT alone otherwise."""
    if _stdin_is_terminal() or sys.stdin is None:
        return message
    try:
        piped = sys.stdin.read().rstrip()
    except UnicodeDecodeError:
        raise click.UsageError("standard input is not UTF-8 text: pipe text in, or leave -m alone") from None
    return f"{piped}\n\n{message}" if piped.strip() else message


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


def _save_history(readline: ModuleType, history: Path) -> None:
    try:
        readline.write_history_file(history)
        history.chmod(0o600)
    except OSError:
        pass


def stream_turn(
    runtime: Runtime, agent: str, message: str, session_id: str, user_id: str | None, *, prefix: str = ""
) -> Result:
    """Run a turn, printing the answer on stdout as it arrives (flushed, to a terminal or a pipe alike)
    and, on a terminal, a spinner while waiting for the model or a tool; tool calls and their results
    go to stderr as one compact line each. Returns the turn's result."""
    return show_events(runtime.stream_with_session(agent, message, session_id, user_id=user_id), prefix=prefix)


def _call(runtime: Runtime, agent: str, message: str, session_id: str, user_id: str | None) -> Result:
    """A turn whose answer is printed whole: on a terminal, its waits show on the status line meanwhile."""
    with Status() as status, waits_shown(status):
        return runtime.call_with_session(agent, message, session_id, user_id=user_id)


def show_events(events: Iterable[TurnEvent], *, prefix: str = "") -> Result:
    """Print a streamed turn's events (see :func:`stream_turn`); returns its result."""
    started = False
    with Status() as status, waits_shown(status), closing(events):  # type: ignore[type-var]  # has close()
        status.show("thinking")
        for event in events:
            if event.type == "text_delta":
                status.clear()
                if not started:
                    click.echo(prefix, nl=False)
                    started = True
                click.echo(event.text, nl=False)
                sys.stdout.flush()
            elif event.type == "tool_call":
                status.clear()
                if started:
                    click.echo()
                    started = False
                status.show(f"{event.name}({_short(event.arguments)}) …")
            elif event.type == "tool_result":
                status.clear()
                line = f"  · {event.name} → {_short(event.content)}"
                click.echo(click.style(line, dim=True) if sys.stderr.isatty() else line, err=True)
                status.show("thinking")
            elif event.type == "approval_required":
                status.clear()
                if started:
                    click.echo()
                    started = False
            elif event.type == "turn_end":
                status.clear()
                if started:
                    click.echo()
                return event.result
    raise AixgoError("the turn ended without a result")  # pragma: no cover - turn_end always comes last


def _short(text: str, limit: int = 80) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _aixgo_command() -> str:
    """How the user's shell runs this aixgo: ``aixgo`` when it is on PATH, else its full path (a
    virtualenv that is not activated), else ``python -m aixgo``."""
    script = Path(sys.executable).parent / "aixgo"
    found = shutil.which("aixgo")
    if found is not None and (not script.exists() or Path(found).resolve() == script.resolve()):
        return "aixgo"
    if script.exists():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m aixgo"


def _resume_command(config: Path, session_id: str) -> str:
    """The command that continues ``session_id``, as the user's shell can run it."""
    return f"{_aixgo_command()} run {shlex.quote(str(config))} --session {shlex.quote(session_id)}"


def _note_if_cut_off(result: Result, config: str) -> None:
    """Say so (on stderr) when the model stopped at its token limit: the answer is cut off."""
    if result.finish_reason == "length":
        click.echo(
            f"note: the answer was cut off at the model's token limit (finish_reason: length); raise the agent's "
            f"max_tokens in {config}",
            err=True,
        )


@click.command("run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--session", "session_id", metavar="ID", callback=valid_id("session id"),
              help="Resume (or create) the session with this id.")
@click.option("-c", "--continue", "continue_", is_flag=True, help="Resume the agent's most recent session.")
@click.option("--agent", metavar="NAME", help="Which agent to talk to, when the config has several.")
@click.option("--user", "user_id", metavar="ID", help="The user the session belongs to.")
@click.option("-m", "--message", metavar="TEXT", help="Send one message, print the answer and exit.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (one JSON object per answer).")
@click.option("--no-stream", is_flag=True, help="Print each answer whole when it is done, not as it arrives.")
@click.option("--trace", is_flag=True,
              help="Print each turn's spans as a tree on stderr (needs aixgo[otel]; see docs/observability.md).")
@click.option("--approve-all", is_flag=True,
              help="Approve every tool call that waits for approval (require_approval) without asking.")
@debug_option
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
    no_stream: bool,
    trace: bool,
    approve_all: bool,
) -> None:
    """Chat with an agent of CONFIG; the conversation is stored and can be resumed.

    A tool call that needs approval is asked about on a terminal (Run TOOL({...})? [y/N]); without a
    terminal the turn stays waiting in the session and the command exits 3, unless --approve-all."""
    if continue_ and session_id:
        raise click.UsageError("use either --session or --continue, not both")
    if message is not None and not message.strip():
        raise click.UsageError("the message given with -m is empty: there is nothing to send")
    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    from aixgo.runtime import Runtime  # noqa: PLC0415 - loads the model client (openai) only when chatting

    with Runtime.from_config(config, trace_tree=trace) as runtime:
        agent_name = _pick_agent(runtime, agent)
        stored = runtime.session_mode(agent_name) == "enabled"
        if not stored and (continue_ or session_id):
            raise click.UsageError(
                f"agent {agent_name!r} stores no sessions (session_mode: {runtime.session_mode(agent_name)}): "
                "--session and --continue need one"
            )
        session_id, resumed = _session_to_use(runtime, agent_name, session_id, continue_, user_id)
        if message is not None:
            message = _with_piped_input(message)
            _one_turn(runtime, agent_name, message, session_id or new_session_id(), user_id, config,
                      as_json=as_json, no_stream=no_stream, stored=stored, approve_all=approve_all, resumed=resumed)
            return
        color = sys.stdout.isatty() and not as_json
        chat = _Chat(runtime, agent_name, session_id or new_session_id(), str(config), user_id, as_json, state.debug, color,
                     stream=not no_stream, approve_all=approve_all)
        code = chat.loop(resumed=resumed)
    if code:
        ctx.exit(code)


def _session_to_use(
    runtime: Runtime, agent_name: str, session_id: str | None, continue_: bool, user_id: str | None
) -> tuple[str | None, bool]:
    """The session id to run in (None: a new one) and whether it resumes an existing session:
    ``--continue`` takes the agent's most recent, ``--session`` may name one by a unique prefix."""
    if continue_:
        recent = runtime.session_manager.most_recent(agent=agent_name, user_id=user_id, with_messages=True)
        if recent is None:
            of_user = f" of user {user_id!r}" if user_id is not None else ""
            raise SessionNotFoundError(f"no earlier conversation of agent {agent_name!r}{of_user} to continue")
        return recent.id, True
    if session_id is None:
        return None, False
    found = find_session(runtime.session_manager, session_id, agent=agent_name)
    if found is None:
        if looks_like_id_prefix(session_id):
            raise click.UsageError(
                f"no session of agent {agent_name!r} has an id that is or starts with {session_id!r} "
                "(`aixgo sessions list` shows them); a new session takes an id of your own, such as notes-1"
            )
        return session_id, False
    _check_user(found, user_id)
    return found.id, True


def _one_turn(
    runtime: Runtime,
    agent_name: str,
    message: str,
    session_id: str,
    user_id: str | None,
    config: Path,
    *,
    as_json: bool,
    no_stream: bool,
    stored: bool,
    approve_all: bool,
    resumed: bool = False,
) -> None:
    """``-m TEXT``: one turn, its answer on stdout (streamed unless ``--json``/``--no-stream``); a
    failed turn names the session that keeps what it stored. What waits for approval is settled first
    (a resumed session's), then after the turn (see :mod:`aixgo.cli.approvals`)."""
    streams = not (as_json or no_stream)
    approver = _approver(runtime, config, session_id, approve_all, streams, "")

    def show(result: Result) -> None:
        if not streams:
            click.echo(_result_json(result) if as_json else result.answer)
        _note_if_cut_off(result, str(config))

    before = _stored_info(runtime, session_id) if stored and resumed else None
    try:
        if stored and (earlier := approver.settle_session(session_id)) is not None:
            show(earlier)
        if streams:
            result = stream_turn(runtime, agent_name, message, session_id, user_id)
        else:
            result = _call(runtime, agent_name, message, session_id, user_id)
        try:
            result = approver.settle(result)
        except WaitingForApproval:
            if as_json:
                click.echo(_result_json(result))
            raise
    except AixgoError as exc:
        if stored:
            _note_after_failure(runtime, agent_name, session_id, before, config, exc)
        raise
    show(result)


def _stored_info(runtime: Runtime, session_id: str) -> SessionInfo | None:
    """The session's summary as the store has it; None when it is not there or cannot be read."""
    try:
        return runtime.session_manager.get(session_id).get_info()
    except AixgoError:
        return None


def _note_after_failure(runtime: Runtime, agent: str, session_id: str, before: SessionInfo | None,
                        config: Path, error: AixgoError) -> None:
    """After a failed ``-m`` turn: name the session and how to continue it, when the turn stored something
    in it; point to ``repair`` when the session cannot be read; say nothing when no turn ran (the store
    could not be reached, the session is another agent's)."""
    from aixgo.session.file import FileBackend  # noqa: PLC0415 - only after a failure

    if isinstance(runtime.session_manager.backend, FileBackend):
        damaged = (f"note: session {session_id} is damaged; `{_aixgo_command()} sessions repair {session_id}` "
                   "shows what can be kept")
    else:  # repair is the file store's; the others check what they read, and verify says what is wrong
        damaged = f"note: session {session_id} is damaged; `{_aixgo_command()} sessions verify {session_id}` checks it"
    if isinstance(error, SessionCorruptedError):
        click.echo(damaged, err=True)
        return
    try:
        info = runtime.session_manager.get(session_id).get_info()
    except SessionCorruptedError:
        click.echo(damaged, err=True)
        return
    except AixgoError:
        return
    if info.agent != agent or (before is not None and (info.updated_at, info.message_count) == (
            before.updated_at, before.message_count)):
        return
    click.echo(f"note: session {session_id} keeps what the turn stored; continue it with: "
               f"{_resume_command(config, session_id)}", err=True)


def _approver(runtime: Runtime, config: Path, session_id: str, approve_all: bool, streams: bool,
              prefix: str) -> Approver:
    """The approver of one command: decisions continue turns printed as the command prints answers."""

    def run_decision(session: str, call_id: str, decision: ApprovalDecision, reason: str | None, by: str) -> Result:
        if streams:
            return show_events(runtime.stream_decide(session, call_id, decision, reason=reason, by=by), prefix=prefix)
        return runtime.decide(session, call_id, decision, reason=reason, by=by)

    return Approver(runtime, _resume_command(config, session_id), approve_all, run_decision)


def _check_user(session: Session, user_id: str | None) -> None:
    """``--user`` given: the session must be that user's (another user's conversation is not resumed)."""
    if user_id is not None and session.get_info().user_id != user_id:
        raise SessionNotFoundError(
            f"session {session.id!r} does not belong to user {user_id!r}; leave out --user, or start a new "
            "session for that user (without --session)",
            session_id=session.id,
        )


COMMANDS = [run]
