"""What the ``aixgo sessions`` commands share: errors shown as one line, the confirmation prompt,
the session argument, opening a session, and small wording helpers."""

from __future__ import annotations

import sys
from typing import IO, Any

import click

from aixgo.cli.app import EXIT_USAGE
from aixgo.cli.ids import resolve_session, valid_id
from aixgo.cli.render import to_json
from aixgo.cli.store_options import StoreChoice, open_manager, store_choice
from aixgo.errors import SessionNotFoundError
from aixgo.session.manager import Manager, Session


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
    if not stdin_is_interactive():
        raise CliUsageError(f"refusing to {action} without confirmation: standard input is not a terminal; pass --yes")
    try:
        answer = click.confirm(f"{question}? This cannot be undone", default=False, err=True)
    except click.Abort:
        click.echo(err=True)
        raise KeyboardInterrupt from None
    if not answer:
        raise Declined(f"nothing {action}d")  # "delete" -> "nothing deleted", "prune" -> "nothing pruned"


SESSION_ID = click.argument("session_id", metavar="ID", callback=valid_id("session id"))


def get_session(ctx: click.Context, session_id: str) -> tuple[Manager, Session]:
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


def echo_json(value: Any) -> None:
    click.echo(to_json(value))


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def stdin_is_interactive() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def store_where(choice: StoreChoice) -> str:
    """The store, as the messages name it (saying so when its directory does not exist)."""
    where = choice.describe()
    return where + " (the directory does not exist)" if choice.missing() else where
