"""The root ``aixgo`` click group, its global options, and error handling shared by every command."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click

from aixgo import __version__
from aixgo.errors import AixgoError, ConfigError
from aixgo.logs import configure_logging

EXIT_ERROR = 1
EXIT_CONFIG = 2


@dataclass
class CliState:
    """Options of the root group, available to subcommands as ``click.get_current_context().obj``."""

    debug: bool = False
    log_level: str = "warning"
    log_json: bool = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aixgo")
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Log level of aixgo's own logs (always on stderr).",
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
    """Run the CLI and map errors to exit codes: one clear line on stderr, no traceback."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="aixgo", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except ConfigError as exc:
        if debug:
            raise
        click.echo(str(exc), err=True)
        return EXIT_CONFIG
    except AixgoError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0
