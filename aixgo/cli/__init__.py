"""The ``aixgo`` command line. One module per command group; this module only wires them together.

Errors from aixgo print as one line on stderr (exit 1; configuration errors exit 2); ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import sys

from aixgo.cli.app import cli, run_cli

COMMANDS = {
    "run": ("aixgo.cli.run", "run", "Chat with an agent of CONFIG; the conversation is stored and can be resumed."),
    "serve": (
        "aixgo.cli.serve",
        "serve",
        "Serve the agents of CONFIG over HTTP: an OpenAI-compatible API and a sessions API.",
    ),
    "schema": ("aixgo.cli.validate", "schema", "Print the JSON Schema (2020-12) of config files, for editors and CI."),
    "sessions": (
        "aixgo.cli.sessions",
        "sessions",
        "Inspect and manage stored sessions: list, show, search, export, import, copy, fork, checkpoints, "
        "restore, delete, prune, migrate.",
    ),
    "ui": (
        "aixgo.cli.serve",
        "ui",
        "Open the web console for CONFIG: `aixgo serve` on 127.0.0.1 only, and the console in a browser.",
    ),
    "tools": (
        "aixgo.cli.tools",
        "tools",
        "List the tools each agent of CONFIG can call: name, source, description (connects to its MCP servers).",
    ),
    "validate": ("aixgo.cli.validate", "validate", "Check config files: every problem is reported with file:line:column."),
}
"""Each command's module, attribute and ``aixgo --help`` line: a command's module is imported only
when the command runs, so ``aixgo --help`` starts in well under 150 ms (a test keeps the help lines
equal to the commands' own)."""

cli.lazy_commands.update(COMMANDS)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``aixgo`` console script."""
    sys.exit(run_cli(argv))


__all__ = ["cli", "main"]
