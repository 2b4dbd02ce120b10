"""The ``aixgo`` command line. One module per command group; this module only wires them together.

Errors from aixgo print as one line on stderr (exit 1; configuration errors exit 2); ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import sys

from aixgo.cli.app import cli, run_cli

_COMMAND_MODULES = ("aixgo.cli.validate", "aixgo.cli.run", "aixgo.cli.sessions")


def _register() -> None:
    import importlib  # noqa: PLC0415 - only needed once, at start-up

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a command group not built yet
            if exc.name != name:
                raise
            continue
        for command in getattr(module, "COMMANDS", ()):
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``aixgo`` console script."""
    sys.exit(run_cli(argv))


__all__ = ["cli", "main"]
