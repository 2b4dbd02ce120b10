"""The root ``aixgo`` click group, its global options, and error handling shared by every command.

Errors from aixgo print as one line on stderr — exit 1, or 2 for configuration and usage errors —
and never a traceback, unless ``--debug`` is given. So does an ``OSError`` no layer turned into an aixgo
error (a store folder the user may not read): its message and file name, exit 1.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import IO, Any

import click

from aixgo import __version__
from aixgo.errors import AixgoError, ConfigError
from aixgo.logs import configure_logging

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
LOG_LEVELS = ["debug", "info", "warning", "error", "critical"]


@dataclass
class CliState:
    """Options of the root group, available to subcommands as ``click.get_current_context().obj``."""

    debug: bool = False
    log_level: str = "critical"
    log_json: bool = False


class OneLineUsageError(click.UsageError):
    """A usage error as one line on stderr (``error: …; see aixgo run --help``), exit 2, instead of click's
    block of usage, hint and message."""

    @classmethod
    def of(cls, exc: click.UsageError) -> OneLineUsageError:
        return cls(exc.format_message(), exc.ctx)

    def show(self, file: IO[Any] | None = None) -> None:
        where = f" (see: {self.ctx.command_path} --help)" if self.ctx is not None else ""
        click.echo(f"error: {self.format_message()}{where}", err=True, file=file)


def _one_line(exc: click.UsageError) -> click.UsageError:
    """``exc`` shown in one line (help asked for by giving no arguments stays help)."""
    if isinstance(exc, (OneLineUsageError, click.exceptions.NoArgsIsHelpError)):
        return exc
    return OneLineUsageError.of(exc)


class AixgoGroup(click.Group):
    """A click group that turns aixgo's errors into one line on stderr and an exit code, and loads
    its commands' modules only when one runs (``lazy_commands``: name -> module, attribute, help line)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, tuple[str, str, str]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            import importlib  # noqa: PLC0415

            module, attribute, _ = self.lazy_commands[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(name) for name in names), default=0)
        rows = []
        for name in names:
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            elif name in self.lazy_commands:
                rows.append((name, click.Command(name, help=self.lazy_commands[name][2]).get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from None
        except AixgoError as exc:
            state = ctx.obj if isinstance(ctx.obj, CliState) else None
            if state is not None and state.debug:
                raise
            if isinstance(exc, ConfigError):
                click.echo(str(exc), err=True)
                ctx.exit(EXIT_USAGE)
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except OSError as exc:  # what no layer named: a folder or file the user may not read, …
            state = ctx.obj if isinstance(ctx.obj, CliState) else None
            if state is not None and state.debug:
                raise
            where = f" ({exc.filename})" if exc.filename else ""
            click.echo(f"error: {exc.strerror or exc}{where}", err=True)
            ctx.exit(EXIT_ERROR)


def _debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """``--debug`` given after a subcommand: the same as before it (tracebacks, debug logs)."""
    if value:
        state = ctx.find_object(CliState)
        if state is not None and not state.debug:
            state.debug, state.log_level = True, "debug"
            configure_logging("debug", json=state.log_json)
    return value


debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    callback=_debug,
    help="Show tracebacks for errors (as `aixgo --debug`).",
)
"""``--debug`` after a subcommand (``aixgo run … --debug``, ``aixgo sessions list --debug``)."""


@click.group(cls=AixgoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aixgo")
@click.option(
    "--log-level",
    default="critical",
    show_default=True,
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    help="Level of aixgo's own logs, always on stderr (quiet by default so chats stay readable).",
)
@click.option("--log-json", is_flag=True, help="Logs as JSON lines instead of text.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors (implies --log-level debug).")
@click.pass_context
def cli(ctx: click.Context, log_level: str, log_json: bool, debug: bool) -> None:
    """aixgo: AI agents that remember."""
    level = "debug" if debug else log_level
    configure_logging(level, json=log_json)
    ctx.obj = CliState(debug=debug, log_level=level, log_json=log_json)


def run_cli(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    try:
        cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="aixgo", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
