"""Start-up of the ``aixgo`` command (issue 27, item 11): a fresh process per sample, as a user runs it.

Rows: ``aixgo --help``; ``aixgo run configs/offline.yaml -m hi`` (one turn of the offline model, a new
session in a fresh file store); ``aixgo sessions list`` on an empty store; ``aixgo validate
configs/offline.yaml``. The floor is ``python -c pass`` with the same interpreter, measured in the same
run, interleaved with the rows so that a busy machine slows both alike. Modules run from their
compiled bytecode, as from an installed wheel (``PYTHONDONTWRITEBYTECODE`` is dropped for the children). Targets are the issue's: 0.5 s,
0.25 s and 0.35 s at the median. Each command's CPU time (user + system, which a busy machine inflates
less than the wall time) is printed beside the floor's. ``AIXGO_BENCH_ROUNDS`` sets the rounds (30).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.harness import header, note, percentile, report

ROUNDS = int(os.environ.get("AIXGO_BENCH_ROUNDS", "30"))
REPO = Path(__file__).resolve().parents[1]
OFFLINE = str(REPO / "configs" / "offline.yaml")


def _command() -> list[str]:
    """The ``aixgo`` console script next to this interpreter, else ``python -m aixgo``."""
    script = Path(sys.executable).parent / "aixgo"
    return [str(script)] if script.exists() else [sys.executable, "-m", "aixgo"]


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> Callable[[], tuple[float, float]]:
    """One run of ``argv``: its wall time, and the CPU time (user + system) the process used, which a
    busy machine inflates less than the wall time."""

    def once() -> tuple[float, float]:
        start = time.perf_counter()
        child = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise subprocess.CalledProcessError(child.returncode, argv)
        return wall, usage.ru_utime + usage.ru_stime

    return once


def run() -> None:
    """Print the start-up rows beside ``python -c pass``."""
    header("start-up: one fresh process per sample (interleaved with the floor)")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {**os.environ, "HOME": str(home), "NO_COLOR": "1"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled modules, as pip installs them
        aixgo = _command()
        workloads: dict[str, tuple[Callable[[], tuple[float, float]], float | None]] = {
            "floor: python -c pass": (_timed([sys.executable, "-c", "pass"], env, home), None),
            "aixgo --help": (_timed([*aixgo, "--help"], env, home), None),
            "aixgo run configs/offline.yaml -m hi": (_timed([*aixgo, "run", OFFLINE, "-m", "hi"], env, home), 0.5),
            "aixgo sessions list (empty store)": (
                _timed([*aixgo, "sessions", "--base-dir", str(home / "empty"), "list"], env, home),
                0.25,
            ),
            "aixgo validate configs/offline.yaml": (_timed([*aixgo, "validate", OFFLINE], env, home), 0.35),
        }
        samples: dict[str, list[float]] = {name: [] for name in workloads}
        cpu: dict[str, list[float]] = {name: [] for name in workloads}
        for once, _ in workloads.values():
            once()  # warm the OS's file cache and write the bytecode, as an installed wheel has it
        for _ in range(ROUNDS):
            for name, (once, _) in workloads.items():
                wall, used = once()
                samples[name].append(wall)
                cpu[name].append(used)
    floor = samples["floor: python -c pass"]
    for name, (_, target) in workloads.items():
        report(name, samples[name], target)
    note(f"floor p99 {percentile(floor, 99) * 1e3:.1f} ms; command: {' '.join(aixgo)}")
    base, base_cpu = statistics.median(floor), statistics.median(cpu["floor: python -c pass"])
    for name in list(workloads)[1:]:  # what the command adds to the interpreter's own start, and how many floors it is
        own, own_cpu = statistics.median(samples[name]), statistics.median(cpu[name])
        note(f"{name}: median {(own - base) * 1e3:.0f} ms over the floor ({own / base:.1f}x); CPU time "
             f"{own_cpu * 1e3:.0f} ms beside the floor's {base_cpu * 1e3:.0f} ms ({own_cpu / base_cpu:.1f}x)")
