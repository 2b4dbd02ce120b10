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
    when,
)
from aixgo.cli.repair import repair
from aixgo.cli.store_options import StoreChoice, open_manager, store_choice, store_options
from aixgo.config import format_duration, parse_duration
from aixgo.errors import InvalidSessionIdError, SessionCorruptedError, SessionNotFoundError
from aixgo.session.core.codec import utcnow
from aixgo.session.ids import validate_id
from aixgo.session.manager import Manager, Session
from aixgo.session.transfer import export_lines, import_lines

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


def _valid_id(what: str) -> Any:
    """A click callback that rejects ids :func:`~aixgo.session.ids.validate_id` refuses (exit 2)."""

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        values = value if isinstance(value, tuple) else () if value is None else (value,)
        for item in values:
            try:
                validate_id(item, what)
            except InvalidSessionIdError as exc:
                raise click.BadParameter(str(exc), ctx, param) from None
        return value

    return check


SESSION_ID = click.argument("session_id", metavar="ID", callback=_valid_id("session id"))


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
    return manager, manager.get(session_id)


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
    """Inspect and manage stored sessions: list, show, export, import, checkpoints, restore, delete, prune.

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
@click.option("--agent", callback=_valid_id("agent name"), help="Only sessions of this agent.")
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
@store_options
@click.pass_context
def list_sessions(
    ctx: click.Context, agent: str | None, user_id: str | None, limit: int | None, offset: int, as_json: bool
) -> None:
    """List sessions, most recently updated first."""
    choice = store_choice(ctx)
    infos = (
        []
        if choice.missing()
        else open_manager(ctx).list(agent=agent, user_id=user_id, limit=limit, offset=offset)
    )
    if as_json:
        _echo_json([info_json(info) for info in infos])
    elif not infos:
        click.echo(f"no sessions{_filters(agent, user_id)} in {_where(choice)}", err=True)
    else:
        click.echo(render_sessions(infos, color=True))
    for info in infos:
        if info.damage is not None:
            click.echo(f"warning: session {info.id} cannot be read: {info.damage}", err=True)


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
@store_options
@click.pass_context
def show(ctx: click.Context, session_id: str, limit: int | None, as_json: bool) -> None:
    """Show a session's history as a readable transcript.

    Roles, tool calls with their arguments and tool results are shown in order; checkpoints are
    marked where they were taken. Entries abandoned by a restore are not shown (see `export`)."""
    _, sess = _get(ctx, session_id)
    info = sess.info
    history = sess.get_entries()
    entries = history[-limit:] if limit else history
    checkpoints = sess.checkpoints()
    history_ids: set[str | None] = {None} | {e.id for e in history}
    head = history[-1].id if history else None
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
    if info.metadata:
        lines.append(f"metadata     {format_metadata(info.metadata, width=None)}")
    click.echo("\n".join(lines) + "\n")
    shown_ids = {None} | {e.id for e in entries} if len(entries) == len(history) else {e.id for e in entries}
    transcript = render_transcript(
        entries, [cp for cp in checkpoints if cp.entry_id in shown_ids], color=True
    )
    if len(entries) < len(history):
        hidden = len(history) - len(entries)
        click.echo(
            f"({hidden} earlier entr{'y' if hidden == 1 else 'ies'} not shown; drop --limit to see all)"
        )
    click.echo(transcript if transcript else "(no entries yet)")
    abandoned = sum(cp.entry_id not in history_ids for cp in checkpoints)
    if abandoned:
        noun = "checkpoint is" if abandoned == 1 else "checkpoints are"
        click.echo(f"\n({abandoned} {noun} on abandoned branches: aixgo sessions checkpoints {info.id})")


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
@store_options
@click.pass_context
def import_session(ctx: click.Context, file: str) -> None:
    """Import a session exported by `aixgo sessions export` (FILE, or - for standard input).

    Prints the imported session's id on standard output. The session keeps its id; importing into
    a store that already has it fails and stores nothing."""
    manager = open_manager(ctx)
    if file == "-":
        sess = import_lines(manager, _utf8_lines(sys.stdin.buffer, "<stdin>"), "<stdin>")
    else:
        try:
            with open(file, "rb") as stream:
                sess = import_lines(manager, _utf8_lines(stream, file), file)
        except OSError as exc:
            raise CliError(f"cannot read {file}: {exc.strerror or exc}") from None
    info = sess.info
    click.echo(
        f"imported session {info.id} (agent {info.agent}, {_plural(info.message_count, 'message')}, "
        f"{_plural(len(sess.checkpoints()), 'checkpoint')}) into {store_choice(ctx).describe()}",
        err=True,
    )
    click.echo(sess.id)


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
@click.argument("checkpoint_id", metavar="CHECKPOINT", callback=_valid_id("checkpoint id"))
@store_options
@click.pass_context
def restore(ctx: click.Context, session_id: str, checkpoint_id: str) -> None:
    """Move a session's history back to a checkpoint, durably.

    Entries after the checkpoint leave the history but stay stored (`export` includes them)."""
    _, sess = _get(ctx, session_id)
    before = {e.id for e in sess.get_entries()}
    cp = sess.restore(checkpoint_id)
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
@click.argument("session_ids", nargs=-1, required=True, metavar="ID...", callback=_valid_id("session id"))
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@store_options
@click.pass_context
def delete(ctx: click.Context, session_ids: tuple[str, ...], yes: bool) -> None:
    """Delete sessions and everything stored for them (asks first unless --yes)."""
    opened = [_get(ctx, session_id) for session_id in dict.fromkeys(session_ids)]
    manager = opened[0][0]
    found = [sess for _, sess in opened]
    if not yes:
        if not _stdin_is_interactive():
            raise CliUsageError(
                "refusing to delete without confirmation: standard input is not a terminal; pass --yes"
            )
        first = found[0]
        what = (
            f"session {first.id} (agent {first.agent_name}, {_plural(first.info.message_count, 'message')})"
            if len(found) == 1
            else f"{len(found)} sessions ({', '.join(s.id for s in found)})"
        )
        if not click.confirm(f"Delete {what}? This cannot be undone", default=False, err=True):
            raise CliError("nothing deleted")
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
@click.option("--agent", callback=_valid_id("agent name"), help="Only sessions of this agent.")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@store_options
@click.pass_context
def prune(ctx: click.Context, older_than: timedelta, agent: str | None, dry_run: bool) -> None:
    """Delete sessions that were not updated for a while."""
    age = format_duration(older_than)
    choice = store_choice(ctx)
    if choice.missing():
        click.echo(f"nothing to prune in {_where(choice)}", err=True)
        return
    manager = open_manager(ctx)
    scope = f" of agent {agent!r}" if agent else ""
    if dry_run:
        cutoff = utcnow() - older_than
        stale = [info for info in manager.list(agent=agent) if info.updated_at < cutoff]
        if not stale:
            click.echo(f"no sessions{scope} older than {age}: nothing would be deleted", err=True)
            return
        click.echo(f"would delete {_plural(len(stale), 'session')}{scope} not updated for {age}:")
        click.echo(render_sessions(stale, color=True))
        return
    deleted = manager.prune(older_than, agent=agent)
    for session_id in deleted:
        click.echo(f"deleted session {session_id}")
    click.echo(f"pruned {_plural(len(deleted), 'session')}{scope} not updated for {age}", err=True)


COMMANDS = [sessions]

__all__ = ["COMMANDS", "sessions"]


sessions.add_command(repair)
