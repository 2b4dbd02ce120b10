"""``aixgo sessions …``: list, show, export, import, checkpoints, restore, delete and prune sessions.

Every subcommand works on the store chosen by ``--config`` (or ``AIXGO_CONFIG``) or by
``--store/--base-dir/--redis-url/--pg-url`` (see :mod:`aixgo.cli.store_options`), given before or after the
subcommand. ``aixgo sessions`` alone lists the sessions. Exit codes: 0 ok, 1 error (unknown
session or checkpoint, unreadable data, store unreachable), 2 usage or config error.

Export and import live in :mod:`aixgo.cli.transfer`, delete and prune in :mod:`aixgo.cli.cleanup`,
repair in :mod:`aixgo.cli.repair`, verify in :mod:`aixgo.cli.verify`; what they share in
:mod:`aixgo.cli.common`.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import click

from aixgo.cli.cleanup import delete, prune
from aixgo.cli.common import (
    SESSION_ID,
    CliUsageError,
    echo_json,
    get_session,
    store_where,
)
from aixgo.cli.copy import copy
from aixgo.cli.ids import resolve_checkpoint, valid_id
from aixgo.cli.migrate import migrate
from aixgo.cli.render import (
    checkpoint_branch,
    checkpoint_json,
    compact_arguments,
    entry_json,
    format_metadata,
    info_json,
    render_checkpoints,
    render_sessions,
    render_transcript,
    when,
)
from aixgo.cli.repair import repair
from aixgo.cli.store_options import open_manager, store_choice, store_options
from aixgo.cli.transfer import export, import_session
from aixgo.cli.verify import verify
from aixgo.errors import SessionNotFoundError
from aixgo.session import Entry, SessionInfo
from aixgo.session.core.approvals import open_request
from aixgo.session.core.codec import utcnow
from aixgo.session.history import message_text
from aixgo.session.manager import Session
from aixgo.session.transcript import usage_totals
from aixgo.session.transfer import fork as fork_session
from aixgo.session.views import approval_json

EXIT_BROKEN_PIPE = 141


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
    """Inspect and manage stored sessions: list, show, search, export, import, copy, fork, checkpoints,
    restore, delete, prune, migrate.

    The store is the one of --config FILE (or $AIXGO_CONFIG), else --store file (default, at
    --base-dir, default ~/.aixgo/sessions), --store redis (at --redis-url) or --store postgres (at
    --pg-url). These options may also follow the subcommand. Without a subcommand, lists the sessions.

    \b
    Examples:
      aixgo sessions list --agent assistant
      aixgo sessions show 3f2c…
      aixgo sessions export 3f2c… -o backup.jsonl
      aixgo sessions --store redis --redis-url localhost:6379 import backup.jsonl
      aixgo sessions prune --older-than 30d --dry-run
      aixgo sessions copy --from ~/.aixgo/sessions --to postgresql://aixgo@db/app
      aixgo sessions --pg-url postgresql://aixgo@db/app migrate --dry-run
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_sessions)


@sessions.command("list")
@click.option("--agent", callback=valid_id("agent name"), help="Only sessions of this agent.")
@click.option("--user", "user_id", help="Only sessions of this user id.")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many sessions.")
@click.option(
    "--offset",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Skip this many sessions (for paging).",
)
@click.option("-q", "--search", metavar="TEXT",
              help="Only sessions with every word of TEXT (a word's start) in their messages, id, agent or user.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option("--tokens", "with_tokens", is_flag=True,
              help="Add a TOKENS column: the tokens each session's turns used.")
@store_options
@click.pass_context
def list_sessions(
    ctx: click.Context,
    agent: str | None,
    user_id: str | None,
    limit: int | None,
    offset: int,
    search: str | None,
    as_json: bool,
    with_tokens: bool,
) -> None:
    """List sessions, most recently updated first, each with its title (the first user message).

    With -q TEXT, only the sessions that TEXT finds: each of its words begins a word of their messages, id,
    agent or user (case-insensitive), as the web console searches."""
    choice = store_choice(ctx)
    manager = None if choice.missing() else open_manager(ctx)
    infos = [] if manager is None else manager.list(agent=agent, user_id=user_id, limit=limit, offset=offset,
                                                    search=search)
    tokens = {info.id: info.tokens for info in infos if info.tokens is not None} if with_tokens else None
    if as_json:
        echo_json([{**info_json(info), **({"tokens": tokens.get(info.id)} if tokens is not None else {})}
                    for info in infos])
    elif not infos:
        found = f" found by {search!r}" if search else ""
        click.echo(f"no sessions{_filters(agent, user_id)}{found} in {store_where(choice)}", err=True)
    else:
        width = shutil.get_terminal_size(fallback=(0, 0)).columns
        click.echo(render_sessions(infos, color=True, tokens=tokens, width=width))
    for info in infos:
        if info.damage is not None:
            click.echo(f"warning: session {info.id} cannot be read: {info.damage}", err=True)


def _filters(agent: str | None, user_id: str | None) -> str:
    parts = ([f"agent {agent!r}"] if agent else []) + ([f"user {user_id!r}"] if user_id else [])
    return (" of " + " and ".join(parts)) if parts else ""


@sessions.command()
@click.argument("session_id", metavar="ID", required=False, callback=valid_id("session id"))
@click.option("--limit", type=click.IntRange(min=1), help="Show only the last N entries.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the session, its history and checkpoints as JSON."
)
@click.option("--all", "all_branches", is_flag=True, help="Also show entries abandoned by a restore, marked so.")
@store_options
@click.pass_context
def show(ctx: click.Context, session_id: str | None, limit: int | None, as_json: bool, all_branches: bool) -> None:
    """Show a session's history as a readable transcript (without ID: the latest conversation).

    Roles, tool calls with their arguments and tool results are shown in order; checkpoints are
    marked where they were taken. Entries abandoned by a restore are shown only with --all, in the
    order they were written and marked "(abandoned branch)"."""
    sess = _latest(ctx) if session_id is None else get_session(ctx, session_id)[1]
    info = sess.get_info()
    current = sess.get_entries()
    history, abandoned = current, set()
    if all_branches:
        history = sess.all_entries()
        abandoned = {e.id for e in history} - {e.id for e in current}
    entries = history[-limit:] if limit else history
    checkpoints = sess.checkpoints()
    history_ids: set[str | None] = {None} | {e.id for e in current}
    head = current[-1].id if current else None
    waiting = open_request(current)
    if as_json:
        echo_json(
            {
                "session": info_json(info),
                "entries": [entry_json(e) for e in entries],
                "checkpoints": [
                    checkpoint_json(cp, checkpoint_branch(cp, history_ids, head)) for cp in checkpoints
                ],
                "approvals": [approval_json(a, info.id, info.agent) for a in (waiting.approvals if waiting else ())],
            }
        )
        return
    click.echo(_show_header(info, len(checkpoints), current) + "\n")
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
    if waiting is not None and waiting.waiting:
        calls = "; ".join(f"{a.name}({compact_arguments(a.arguments)}) [{a.call_id}]" for a in waiting.waiting)
        click.echo(click.style(f"waiting for approval: {calls}", fg="magenta"))


def _show_header(info: SessionInfo, checkpoints: int, current: list[Entry]) -> str:
    """The lines above a transcript: who, when, how much."""
    now = utcnow()
    lines = [
        f"session      {info.id}",
        f"agent        {info.agent}",
        f"user         {info.user_id or '-'}",
        f"created      {when(info.created_at, now)}",
        f"updated      {when(info.updated_at, now)}",
        f"messages     {info.message_count}",
        f"checkpoints  {checkpoints}",
    ]
    used = usage_totals(current)
    if used.turns:
        lines.append(f"tokens       {used.describe()}")
    if info.metadata:
        lines.append(f"metadata     {format_metadata(info.metadata, width=None)}")
    return "\n".join(lines)


def _latest(ctx: click.Context) -> Session:
    """The most recently updated conversation (a session with a message) of the chosen store."""
    choice = store_choice(ctx)
    found = None if choice.missing() else open_manager(ctx).most_recent(with_messages=True)
    if found is None:
        raise SessionNotFoundError(f"no conversation in {store_where(choice)} to show")
    return found


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
        click.echo(f"no sessions in {store_where(choice)}", err=True)
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
        echo_json(matches)
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
    manager, sess = get_session(ctx, session_id)
    checkpoint = resolve_checkpoint(sess, checkpoint_id) if checkpoint_id else None
    copy = fork_session(manager, sess, new_id, checkpoint.id if checkpoint else None)
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
    _, sess = get_session(ctx, session_id)
    cps = sess.checkpoints()
    history = sess.get_entries()
    ids = {None} | {e.id for e in history}
    head = history[-1].id if history else None
    if as_json:
        echo_json([checkpoint_json(cp, checkpoint_branch(cp, ids, head)) for cp in cps])
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
    _, sess = get_session(ctx, session_id)
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


COMMANDS = [sessions]

__all__ = ["COMMANDS", "sessions"]


sessions.add_command(export)
sessions.add_command(import_session)
sessions.add_command(delete)
sessions.add_command(prune)
sessions.add_command(repair)
sessions.add_command(copy)
sessions.add_command(migrate)
sessions.add_command(verify)
