"""``aixgo sessions repair ID [--apply]``: move a damaged file store session's damage aside.

A dry run by default: it says which line is the first damaged one and what would be kept and moved.
With ``--apply`` the valid prefix stays as the session and every byte from the damaged line on is
kept, unchanged, in ``<session-id>.jsonl.damaged-<time>`` beside it; nothing is deleted.
"""

from __future__ import annotations

import click

from aixgo.cli.common import SESSION_ID
from aixgo.cli.store_options import open_manager, store_options
from aixgo.session.file import FileBackend


@click.command(short_help="Move a damaged session's damage aside (dry run unless --apply).")
@SESSION_ID
@click.option("--apply", is_flag=True, help="Do it (the default only reports what would be done).")
@store_options
@click.pass_context
def repair(ctx: click.Context, session_id: str, apply: bool) -> None:
    """Check a file store session and, with --apply, keep its valid prefix and move the rest aside.

    \b
    Examples:
      aixgo sessions repair 3f2c9a1e-…            # what is damaged, what would be kept
      aixgo sessions repair 3f2c9a1e-… --apply    # do it; the damaged bytes are kept beside the file
    """
    backend = open_manager(ctx).backend
    if not isinstance(backend, FileBackend):
        raise click.UsageError("repair works on the file store (Redis sessions are checked as they are read)")
    report = backend.repair(session_id, apply=apply)
    if report.damaged_line is None:
        click.echo(f"session {session_id} is whole: {report.kept_lines} records, nothing to repair")
        return
    kept = f"{report.kept_lines} valid records ({report.kept_bytes} bytes)"
    moved = f"{report.damaged_bytes} bytes from line {report.damaged_line} on"
    click.echo(f"damage: {report.problem}")
    if report.moved_to is None:
        click.echo(f"would keep {kept} and move {moved} aside; run again with --apply to do it")
    else:
        click.echo(f"kept {kept}; moved {moved} to {report.moved_to}")
