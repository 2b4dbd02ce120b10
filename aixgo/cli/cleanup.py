"""``aixgo sessions delete`` and ``prune``: removing sessions, asking first unless ``--yes``; prune
deletes only what is still stale when it gets to it (a session written meanwhile is kept)."""

from __future__ import annotations

from datetime import timedelta

import click

from aixgo.cli.common import confirm, get_session, plural, store_where
from aixgo.cli.ids import valid_id
from aixgo.cli.render import render_sessions
from aixgo.cli.store_options import open_manager, store_choice, store_options
from aixgo.config import format_duration, parse_duration
from aixgo.errors import SessionNotFoundError
from aixgo.session.core.codec import utcnow


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



@click.command(short_help="Delete sessions (asks first unless --yes).")
@click.argument("session_ids", nargs=-1, required=True, metavar="ID...", callback=valid_id("session id"))
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@store_options
@click.pass_context
def delete(ctx: click.Context, session_ids: tuple[str, ...], yes: bool) -> None:
    """Delete sessions and everything stored for them (asks first unless --yes)."""
    opened = [get_session(ctx, session_id) for session_id in dict.fromkeys(session_ids)]
    manager = opened[0][0]
    found = [sess for _, sess in opened]
    if not yes:
        first = found[0]
        what = (
            f"session {first.id} (agent {first.agent_name}, {plural(first.get_info().message_count, 'message')})"
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


@click.command()
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
        click.echo(f"nothing to prune in {store_where(choice)}", err=True)
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
            click.echo(f"would delete {plural(len(stale), 'session')}{scope} not updated for {age}:")
            click.echo(render_sessions(stale, color=True))
            return
        confirm(f"Delete {plural(len(stale), 'session')}{scope} not updated for {age}", "prune")
    deleted = manager.prune(older_than, agent=agent)
    for session_id in deleted:
        click.echo(f"deleted session {session_id}")
    click.echo(f"pruned {plural(len(deleted), 'session')}{scope} not updated for {age}", err=True)
