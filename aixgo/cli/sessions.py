"""``aixgo sessions …``: list, show, export, import, checkpoints, restore, delete and prune sessions.

Every subcommand works on the store chosen by ``--config`` (or ``AIXGO_CONFIG``) or by
``--store/--base-dir/--redis-url`` (see :mod:`aixgo.cli.store_options`), given before or after the
subcommand. ``aixgo sessions`` alone lists the sessions. Exit codes: 0 ok, 1 error (unknown
session or checkpoint, unreadable data, store unreachable), 2 usage or config error.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import click

from aixgo.cli.ids import resolve_checkpoint, resolve_session, valid_id
from aixgo.cli.render import (
    checkpoint_branch,
    checkpoint_json,
    entry_json,
    format_metadata,
    info_json,
    render_checkpoints,
    render_sessions,
    render_transcript,
    to_json,
    usage_totals,
    when,
)
from aixgo.cli.repair import repair
from aixgo.cli.store_options import StoreChoice, open_manager, store_choice, store_options
from aixgo.config import format_duration, parse_duration
from aixgo.errors import (
    SessionCorruptedError,
    SessionExistsError,
    SessionNotFoundError,
)
from aixgo.session.core.codec import utcnow
from aixgo.session.history import message_text
from aixgo.session.ids import new_session_id
from aixgo.session.manager import Manager, Session
from aixgo.session.transfer import export_lines, import_lines
from aixgo.session.types import SessionInfo

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141


class CliError(click.ClickException):
    """A problem reported as one ``error: …`` line on stderr, exit 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


class CliUsageError(CliError):
    """Like :class:`CliError`, for a command that cannot run as given (exit 2)."""

    exit_code = EXIT_USAGE


class Declined(click.ClickException):
    """The user answered no: not an error, but nothing was done (exit 1, so ``&&`` chains stop)."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), err=True, file=file)


def confirm(question: str, action: str) -> None:
    """Ask ``question`` on the terminal; raise :class:`Declined` on no. Without a terminal, refuse
    (the caller must pass ``--yes``); Ctrl-C or end of input at the prompt is an interruption
    (``interrupted``, exit 130), as everywhere else."""
    if not _stdin_is_interactive():
        raise CliUsageError(f"refusing to {action} without confirmation: standard input is not a terminal; pass --yes")
    try:
        answer = click.confirm(f"{question}? This cannot be undone", default=False, err=True)
    except click.Abort:
        click.echo(err=True)
        raise KeyboardInterrupt from None
    if not answer:
        raise Declined(f"nothing {action}d")  # "delete" -> "nothing deleted", "prune" -> "nothing pruned"


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    """A click callback parsing ``30d``, ``12h``, ``1h30m`` … (see :func:`aixgo.config.parse_duration`);
    a duration of zero is refused, as config files refuse it."""
    if value is None:
        return None
    try:
        duration = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    if duration <= timedelta(0):
        raise click.BadParameter(f"{value!r}: the duration must be longer than 0", ctx, param)
    return duration


SESSION_ID = click.argument("session_id", metavar="ID", callback=valid_id("session id"))


def _get(ctx: click.Context, session_id: str) -> tuple[Manager, Session]:
    """Open the store and the session; a file store directory that does not exist holds no sessions
    (and is not created just to say so)."""
    choice = store_choice(ctx)
    if choice.missing():
        raise SessionNotFoundError(
            f"session {session_id!r} not found in {choice.file_dir} (the directory does not exist)",
            session_id=session_id,
        )
    manager = open_manager(ctx)
    return manager, resolve_session(manager, session_id)


def _echo_json(value: Any) -> None:
    click.echo(to_json(value))


class SessionsGroup(click.Group):
    """The ``sessions`` group: a reader that stops early (``aixgo sessions export ID | head``) ends the
    command quietly with exit code 141 (128 + SIGPIPE), like other Unix tools, not with a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _silence_stdout()
            ctx.exit(EXIT_BROKEN_PIPE)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:  # pragma: no cover - no /dev/null
        return
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (e.g. under a test runner)
        pass
    finally:
        os.close(devnull)


@click.group(cls=SessionsGroup, invoke_without_command=True)
@store_options
@click.pass_context
def sessions(ctx: click.Context) -> None:
    """Inspect and manage stored sessions: list, show, search, export, import, fork, checkpoints,
    restore, delete, prune.

    The store is the one of --config FILE (or $AIXGO_CONFIG), else --store file (default, at
    --base-dir, default ~/.aixgo/sessions) or --store redis (at --redis-url). These options may also
    follow the subcommand. Without a subcommand, lists the sessions.

    \b
    Examples:
      aixgo sessions list --agent assistant
      aixgo sessions show 3f2c…
      aixgo sessions export 3f2c… -o backup.jsonl
      aixgo sessions --store redis --redis-url localhost:6379 import backup.jsonl
      aixgo sessions prune --older-than 30d --dry-run
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_sessions)


@sessions.command("list")
@click.option("--agent", callback=valid_id("agent name"), help="Only sessions of this agent.")
@click.option("--user", "user_id", help="Only sessions of this user id.")
@click.option("--limit", type=click.IntRange(min=0), help="Show at most this many sessions.")
@click.option(
    "--offset",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Skip this many sessions (for paging).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option("--tokens", "with_tokens", is_flag=True,
              help="Add a TOKENS column: the tokens each session used (reads each listed session).")
@store_options
@click.pass_context
def list_sessions(
    ctx: click.Context,
    agent: str | None,
    user_id: str | None,
    limit: int | None,
    offset: int,
    as_json: bool,
    with_tokens: bool,
) -> None:
    """List sessions, most recently updated first."""
    choice = store_choice(ctx)
    manager = None if choice.missing() else open_manager(ctx)
    infos = [] if manager is None else manager.list(agent=agent, user_id=user_id, limit=limit, offset=offset)
    tokens = _tokens_used(manager, infos) if with_tokens and manager is not None else None
    if as_json:
        _echo_json([{**info_json(info), **({"tokens": tokens.get(info.id)} if tokens is not None else {})}
                    for info in infos])
    elif not infos:
        click.echo(f"no sessions{_filters(agent, user_id)} in {_where(choice)}", err=True)
    else:
        click.echo(render_sessions(infos, color=True, tokens=tokens))
    for info in infos:
        if info.damage is not None:
            click.echo(f"warning: session {info.id} cannot be read: {info.damage}", err=True)


def _tokens_used(manager: Manager, infos: Iterable[SessionInfo]) -> dict[str, int]:
    """Total tokens of each readable session's usage entries (its current history)."""
    used = {}
    for info in infos:
        if info.damage is None:
            used[info.id] = usage_totals(manager.get(info.id).get_entries()).total_tokens
    return used


def _filters(agent: str | None, user_id: str | None) -> str:
    parts = ([f"agent {agent!r}"] if agent else []) + ([f"user {user_id!r}"] if user_id else [])
    return (" of " + " and ".join(parts)) if parts else ""


def _where(choice: StoreChoice) -> str:
    where = choice.describe()
    return where + " (the directory does not exist)" if choice.missing() else where


@sessions.command()
@SESSION_ID
@click.option("--limit", type=click.IntRange(min=1), help="Show only the last N entries.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the session, its history and checkpoints as JSON."
)
@click.option("--all", "all_branches", is_flag=True, help="Also show entries abandoned by a restore, marked so.")
@store_options
@click.pass_context
def show(ctx: click.Context, session_id: str, limit: int | None, as_json: bool, all_branches: bool) -> None:
    """Show a session's history as a readable transcript.

    Roles, tool calls with their arguments and tool results are shown in order; checkpoints are
    marked where they were taken. Entries abandoned by a restore are shown only with --all, in the
    order they were written and marked "(abandoned branch)"."""
    _, sess = _get(ctx, session_id)
    info = sess.info
    current = sess.get_entries()
    history, abandoned = current, set()
    if all_branches:
        history = sess.all_entries()
        abandoned = {e.id for e in history} - {e.id for e in current}
    entries = history[-limit:] if limit else history
    checkpoints = sess.checkpoints()
    history_ids: set[str | None] = {None} | {e.id for e in current}
    head = current[-1].id if current else None
    if as_json:
        _echo_json(
            {
                "session": info_json(info),
                "entries": [entry_json(e) for e in entries],
                "checkpoints": [
                    checkpoint_json(cp, checkpoint_branch(cp, history_ids, head)) for cp in checkpoints
                ],
            }
        )
        return
    now = utcnow()
    lines = [
        f"session      {info.id}",
        f"agent        {info.agent}",
        f"user         {info.user_id or '-'}",
        f"created      {when(info.created_at, now)}",
        f"updated      {when(info.updated_at, now)}",
        f"messages     {info.message_count}",
        f"checkpoints  {len(checkpoints)}",
    ]
    used = usage_totals(current)
    if used.turns:
        lines.append(f"tokens       {used.describe()}")
    if info.metadata:
        lines.append(f"metadata     {format_metadata(info.metadata, width=None)}")
    click.echo("\n".join(lines) + "\n")
    shown_ids = {None} | {e.id for e in entries} if len(entries) == len(history) else {e.id for e in entries}
    transcript = render_transcript(
        entries, [cp for cp in checkpoints if cp.entry_id in shown_ids], color=True, abandoned=abandoned
    )
    if len(entries) < len(history):
        hidden = len(history) - len(entries)
        click.echo(
            f"({hidden} earlier entr{'y' if hidden == 1 else 'ies'} not shown; drop --limit to see all)"
        )
    click.echo(transcript if transcript else "(no entries yet)")
    on_abandoned = sum(cp.entry_id not in history_ids for cp in checkpoints)
    if on_abandoned and not all_branches:
        noun = "checkpoint is" if on_abandoned == 1 else "checkpoints are"
        click.echo(f"\n({on_abandoned} {noun} on abandoned branches: aixgo sessions show --all {info.id})")


def _write_atomically(path: Path, lines: Iterable[str]) -> int:
    """Write ``lines`` (each plus a newline, UTF-8) to ``path`` via a temporary file and a rename, mode
    0600 for a new file. Returns the number of lines written."""
    path = path.expanduser()
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    count = 0
    try:
        with os.fdopen(fd, "wb") as f:
            for line in lines:
                f.write(line.encode("utf-8") + b"\n")
                count += 1
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


@sessions.command(short_help="Export a session as JSONL (stdout or a file).")
@SESSION_ID
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (atomically, mode 0600) instead of standard output (-).",
)
@store_options
@click.pass_context
def export(ctx: click.Context, session_id: str, output: Path | None) -> None:
    """Export a session as JSONL: header, every entry (abandoned branches too), checkpoints, head.

    The output imports into any store with `aixgo sessions import`, keeping ids, timestamps and
    checkpoints; exporting the imported session gives the same bytes."""
    _, sess = _get(ctx, session_id)
    lines = list(export_lines(sess))
    if output is None or str(output) == "-":
        stream = sys.stdout.buffer
        for line in lines:
            stream.write(line.encode("utf-8") + b"\n")
        stream.flush()
        return
    try:
        count = _write_atomically(output, lines)
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"exported session {sess.id} ({count} lines) to {output}", err=True)


def _utf8_lines(stream: IO[bytes], source: str) -> Iterator[str]:
    for number, raw in enumerate(stream, start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SessionCorruptedError(
                f"not a valid session export: not UTF-8 ({exc.reason})", path=source, line=number
            ) from None


@sessions.command("import", short_help="Import a session exported as JSONL (a file or -).")
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=str), metavar="FILE"
)
@click.option("--new-id", is_flag=True, help="Import under a new session id (a copy beside the existing one).")
@click.option("--replace", is_flag=True, help="Replace a session with the same id (asks first unless --yes).")
@click.option("-y", "--yes", is_flag=True, help="With --replace: do not ask for confirmation.")
@store_options
@click.pass_context
def import_session(ctx: click.Context, file: str, new_id: bool, replace: bool, yes: bool) -> None:
    """Import a session exported by `aixgo sessions export` (FILE, or - for standard input).

    Prints the imported session's id on standard output. The session keeps its id; when the store
    already has it, nothing is stored unless --new-id (import a copy under a new id) or --replace
    (delete the existing session, after asking) is given."""
    if new_id and replace:
        raise CliUsageError("use either --new-id or --replace, not both")
    manager = open_manager(ctx)
    lines = _read_export(file)
    plan_id = new_session_id() if new_id else None
    try:
        sess = import_lines(manager, lines, file if file != "-" else "<stdin>", session_id=plan_id)
    except SessionExistsError as exc:
        if not replace:
            raise CliError(
                f"{exc}; import it as a copy with --new-id, or replace the stored one with --replace"
            ) from None
        sess = _replace(manager, lines, file, exc.session_id or "", yes)
    info = sess.info
    click.echo(
        f"imported session {info.id} (agent {info.agent}, {_plural(info.message_count, 'message')}, "
        f"{_plural(len(sess.checkpoints()), 'checkpoint')}) into {store_choice(ctx).describe()}",
        err=True,
    )
    click.echo(sess.id)


def _read_export(file: str) -> list[str]:
    if file == "-":
        return list(_utf8_lines(sys.stdin.buffer, "<stdin>"))
    try:
        with open(file, "rb") as stream:
            return list(_utf8_lines(stream, file))
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror or exc}") from None


def _replace(manager: Manager, lines: list[str], file: str, session_id: str, yes: bool) -> Session:
    """Delete the stored session ``session_id`` and import ``lines`` in its place; if the import then
    fails, the stored session is put back from its own export, so nothing is lost."""
    old = manager.get(session_id)
    if not yes:
        confirm(f"Replace session {old.id} (agent {old.agent_name}, "
                f"{_plural(old.info.message_count, 'message')}) with the one in {file}", "replace")
    kept = list(export_lines(old))
    manager.delete(old.id)
    try:
        return import_lines(manager, lines, file)
    except BaseException:
        import_lines(manager, kept, f"the stored {old.id}")
        raise


SNIPPET = 100
"""Characters of a message shown around a search match."""


def _snippet(text: str, start: int, length: int) -> str:
    begin = max(0, start - SNIPPET // 3)
    piece = " ".join(text[begin : begin + SNIPPET].split())
    return ("…" if begin else "") + piece + ("…" if begin + SNIPPET < len(text) else "")


@sessions.command(short_help="Find sessions whose messages contain TEXT.")
@click.argument("text")
@click.option("--agent", callback=valid_id("agent name"), help="Only sessions of this agent.")
@click.option("--user", "user_id", help="Only sessions of this user id.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Show at most this many matches.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of matches.")
@store_options
@click.pass_context
def search(
    ctx: click.Context, text: str, agent: str | None, user_id: str | None, limit: int, as_json: bool
) -> None:
    """Find messages containing TEXT (case-insensitive) in the stored sessions' histories, newest
    sessions first: one line per match with the session id, the entry and a snippet."""
    if not text.strip():
        raise CliUsageError("the search text is empty")
    choice = store_choice(ctx)
    if choice.missing():
        click.echo(f"no sessions in {_where(choice)}", err=True)
        return
    manager = open_manager(ctx)
    needle = text.casefold()
    matches: list[dict[str, Any]] = []
    for info in manager.list(agent=agent, user_id=user_id):
        if info.damage is not None or len(matches) >= limit:
            continue
        for entry in manager.get(info.id).get_entries():
            body = message_text(entry.data.get("content"))
            where = body.casefold().find(needle)
            if where < 0:
                continue
            role = str(entry.data.get("role") or entry.type.value)
            matches.append({"session_id": info.id, "agent": info.agent, "seq": entry.seq, "role": role,
                            "snippet": _snippet(body, where, len(text))})
            if len(matches) >= limit:
                break
    if as_json:
        _echo_json(matches)
        return
    if not matches:
        click.echo(f"no messages contain {text!r}", err=True)
        return
    for match in matches:
        click.echo(f"{match['session_id']}  [{match['seq']}] {match['role']}: {match['snippet']}")
    if len(matches) >= limit:
        click.echo(f"(stopped at {limit} matches: --limit shows more)", err=True)


@sessions.command(short_help="Copy a session to a new id (optionally as it was at a checkpoint).")
@SESSION_ID
@click.option("--at", "checkpoint_id", metavar="CHECKPOINT", help="The copy's history ends at this checkpoint.")
@click.option("--id", "new_id", metavar="ID", callback=valid_id("session id"), help="The copy's id (default: a new UUID).")
@store_options
@click.pass_context
def fork(ctx: click.Context, session_id: str, checkpoint_id: str | None, new_id: str | None) -> None:
    """Copy a session, with its checkpoints, to a new id and print that id; the original is unchanged.

    With --at, the copy's history ends at that checkpoint (what came after stays stored in the copy
    as an abandoned branch, as after a restore)."""
    manager, sess = _get(ctx, session_id)
    checkpoint = resolve_checkpoint(sess, checkpoint_id) if checkpoint_id else None
    copy = import_lines(manager, list(export_lines(sess)), f"session {sess.id}", session_id=new_id or new_session_id())
    if checkpoint is not None:
        copy.restore(checkpoint.id)
    at = f" at checkpoint {checkpoint.id} (seq {checkpoint.seq})" if checkpoint else ""
    click.echo(f"forked session {sess.id}{at} into {copy.id}", err=True)
    click.echo(copy.id)


@sessions.command(short_help="List a session's checkpoints.")
@SESSION_ID
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@store_options
@click.pass_context
def checkpoints(ctx: click.Context, session_id: str, as_json: bool) -> None:
    """List a session's checkpoints, oldest first, and whether each is on the current history."""
    _, sess = _get(ctx, session_id)
    cps = sess.checkpoints()
    history = sess.get_entries()
    ids = {None} | {e.id for e in history}
    head = history[-1].id if history else None
    if as_json:
        _echo_json([checkpoint_json(cp, checkpoint_branch(cp, ids, head)) for cp in cps])
        return
    if not cps:
        click.echo(f"session {sess.id} has no checkpoints", err=True)
        return
    click.echo(render_checkpoints(cps, history, color=True))


@sessions.command()
@SESSION_ID
@click.argument("checkpoint_id", metavar="CHECKPOINT", callback=valid_id("checkpoint id"))
@store_options
@click.pass_context
def restore(ctx: click.Context, session_id: str, checkpoint_id: str) -> None:
    """Move a session's history back to a checkpoint, durably.

    Entries after the checkpoint leave the history but stay stored (`export` includes them)."""
    _, sess = _get(ctx, session_id)
    before = {e.id for e in sess.get_entries()}
    cp = sess.restore(resolve_checkpoint(sess, checkpoint_id).id)
    after = {e.id for e in sess.get_entries()}
    left, rejoined = len(before - after), len(after - before)
    message = f"restored session {sess.id} to checkpoint {cp.id} (seq {cp.seq})"
    message += f"; {_entries(left)} left the history (still stored: `aixgo sessions export` keeps them)"
    if rejoined:
        message += f"; {_entries(rejoined)} of another branch rejoined it"
    click.echo(message)


def _entries(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _stdin_is_interactive() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@sessions.command(short_help="Delete sessions (asks first unless --yes).")
@click.argument("session_ids", nargs=-1, required=True, metavar="ID...", callback=valid_id("session id"))
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@store_options
@click.pass_context
def delete(ctx: click.Context, session_ids: tuple[str, ...], yes: bool) -> None:
    """Delete sessions and everything stored for them (asks first unless --yes)."""
    opened = [_get(ctx, session_id) for session_id in dict.fromkeys(session_ids)]
    manager = opened[0][0]
    found = [sess for _, sess in opened]
    if not yes:
        first = found[0]
        what = (
            f"session {first.id} (agent {first.agent_name}, {_plural(first.info.message_count, 'message')})"
            if len(found) == 1
            else f"{len(found)} sessions ({', '.join(s.id for s in found)})"
        )
        confirm(f"Delete {what}", "delete")
    for sess in found:
        if not manager.delete(sess.id):
            raise SessionNotFoundError(
                f"session {sess.id!r} was deleted by someone else meanwhile", session_id=sess.id
            )
        click.echo(f"deleted session {sess.id}")


@sessions.command()
@click.option(
    "--older-than",
    "older_than",
    metavar="DURATION",
    callback=_duration,
    required=True,
    help="Delete sessions not updated for this long: 30d, 12h, 1h30m … (more than 0).",
)
@click.option("--agent", callback=valid_id("agent name"), help="Only sessions of this agent.")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@store_options
@click.pass_context
def prune(ctx: click.Context, older_than: timedelta, agent: str | None, dry_run: bool, yes: bool) -> None:
    """Delete sessions that were not updated for a while (asks first unless --yes)."""
    age = format_duration(older_than)
    choice = store_choice(ctx)
    if choice.missing():
        click.echo(f"nothing to prune in {_where(choice)}", err=True)
        return
    manager = open_manager(ctx)
    scope = f" of agent {agent!r}" if agent else ""
    if dry_run or not yes:
        cutoff = utcnow() - older_than
        stale = [info for info in manager.list(agent=agent) if info.updated_at < cutoff]
        if not stale:
            would = " would be" if dry_run else ""
            click.echo(f"no sessions{scope} older than {age}: nothing{would} deleted", err=True)
            return
        if dry_run:
            click.echo(f"would delete {_plural(len(stale), 'session')}{scope} not updated for {age}:")
            click.echo(render_sessions(stale, color=True))
            return
        confirm(f"Delete {_plural(len(stale), 'session')}{scope} not updated for {age}", "prune")
    deleted = manager.prune(older_than, agent=agent)
    for session_id in deleted:
        click.echo(f"deleted session {session_id}")
    click.echo(f"pruned {_plural(len(deleted), 'session')}{scope} not updated for {age}", err=True)


COMMANDS = [sessions]

__all__ = ["COMMANDS", "sessions"]


sessions.add_command(repair)
