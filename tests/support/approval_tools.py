"""Python tools for the approval tests, usable from YAML (``tests.support.approval_tools:record``) in any
process: each run is appended to the file named by ``AIXGO_TEST_RUNS``, so a test can see what ran, in
which process, and that a denied call never did."""

from __future__ import annotations

import os
from pathlib import Path


def record(label: str) -> str:
    """Write something down (a change in the world: it must not run without approval).

    Args:
        label: What to write.
    """
    with open(os.environ["AIXGO_TEST_RUNS"], "a", encoding="utf-8") as runs:
        runs.write(f"record {label} {os.getpid()}\n")
    return f"recorded {label}"


def look(topic: str) -> str:
    """Look something up (harmless: needs no approval).

    Args:
        topic: What to look up.
    """
    with open(os.environ["AIXGO_TEST_RUNS"], "a", encoding="utf-8") as runs:
        runs.write(f"look {topic} {os.getpid()}\n")
    return f"{topic} looks fine"


def runs(path: Path) -> list[str]:
    """What ran, in order, as ``tool label`` (without the process id)."""
    if not path.exists():
        return []
    return [" ".join(line.split()[:2]) for line in path.read_text(encoding="utf-8").splitlines()]


def approval_config(path: Path, base_url: str, store: str) -> Path:
    """A config at ``path``: the agent ``bot`` with :func:`record` (needs approval) and :func:`look`, the
    model at ``base_url``, the session store ``store`` (a ``session:`` line)."""
    path.write_text(f"""\
{store}
llm: {{base_url: '{base_url}', api_key: sk-test, max_retries: 0}}
agents:
  - name: bot
    model: test-model
    tools: [tests.support.approval_tools:record, tests.support.approval_tools:look]
    require_approval: [record]
""")
    return path
