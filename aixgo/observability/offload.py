"""Spans exported by a process of their own: :class:`ExportPipe`.

Encoding spans as OTLP protobuf costs several times what making them does (about 90 µs a span in
the SDK's encoder), and a thread of the SDK's ``BatchSpanProcessor`` pays it while holding the
interpreter lock, so every turn running beside it waits. Here a span that ends is a tuple of plain
values put on a deque (:class:`aixgo.observability.light.LightSpan`); a thread of this process
pickles the queue every ``interval`` seconds and pipes it to an export process
(:mod:`aixgo.observability.exportd`), which rebuilds the spans, encodes them and sends them with the
SDK's own exporter, configured as it would be here (the same settings and ``OTEL_*`` variables).

:meth:`~ExportPipe.flush` returns once the export process has sent every span ended before it; at
exit (:meth:`~ExportPipe.close`) the export process sends what is left and ends. A forked process
starts an export process of its own on its first span.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

from aixgo.logs import get_logger
from aixgo.observability.settings import TelemetrySettings

log = get_logger("aixgo.observability")

MAX_QUEUE = 8192
"""Ended spans kept while the export process catches up (more are dropped and counted, as the SDK's
batch processor does)."""
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_FRAME = struct.Struct("!I")


class ExportPipe:
    """Packed spans handed to an export process (see the module).

    Args:
        settings: the exporter to use there (``traces_exporter``, ``endpoint``, ``protocol``, ``headers``).
        resource: the attributes of the tracer provider's resource (sent once).
        interval: seconds between two hand-overs (a full batch goes at once).
    """

    BATCH = 512

    def __init__(self, settings: TelemetrySettings, resource: dict[str, Any], interval: float = 0.5) -> None:
        self._settings, self._resource, self._interval = settings, resource, interval
        self._queue: deque[tuple[Any, ...]] = deque()
        self._measurements: deque[tuple[str, float, dict[str, Any]]] = deque()
        self._lock = threading.Lock()  # the pipe and the export process, one user at a time
        self._wake = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._pid = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self._broken = False
        self.dropped = 0
        self._flushes = 0

    def put(self, packed: tuple[Any, ...]) -> None:
        """Queue an ended span (as :meth:`aixgo.observability.light.LightSpan.end` packs it)."""
        if self._closed:
            return
        if len(self._queue) >= MAX_QUEUE:
            self.dropped += 1
            return
        self._queue.append(packed)
        if self._pid != os.getpid():
            self._start()
        elif len(self._queue) >= self.BATCH:
            self._wake.set()

    def record(self, instrument: Any, value: float, attributes: dict[str, Any]) -> None:
        """Queue one measurement of ``instrument`` (one of :class:`~aixgo.observability.tracer.TracingObserver`'s
        histograms, recorded by name in the export process); the recorder interface of the observer."""
        if self._closed or len(self._measurements) >= MAX_QUEUE:
            return
        self._measurements.append((instrument.name, value, attributes))
        if self._pid != os.getpid():
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid, self._process, self._broken = os.getpid(), None, False
            self._thread = threading.Thread(target=self._run, name="aixgo-telemetry-handover", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._lock:
                self._send_queued()

    def _send_queued(self) -> None:
        """Pipe the queued spans and measurements to the export process (holding ``_lock``)."""
        for kind, queue in (("spans", self._queue), ("measurements", self._measurements)):
            while queue:
                batch: list[Any] = []
                while queue and len(batch) < self.BATCH:
                    batch.append(queue.popleft())
                self._send((kind, batch))

    def _send(self, message: tuple[Any, ...]) -> bool:
        if self._broken:
            return False
        try:
            stdin = self._pipe()
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
            stdin.write(_FRAME.pack(len(data)) + data)
            stdin.flush()
            return True
        except (OSError, ValueError, pickle.PicklingError) as error:
            self._broken = True
            log.warning("telemetry.export_process_gone", error=type(error).__name__,
                        hint="the spans and metrics of this process are no longer exported")
            return False

    def _pipe(self) -> IO[bytes]:
        process = self._process
        if process is None:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                filter(None, (PACKAGE_ROOT, os.environ.get("PYTHONPATH"))))}
            process = subprocess.Popen(
                [sys.executable, "-m", "aixgo.observability.exportd"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, env=env, close_fds=True)
            self._process = process
            assert process.stdin is not None
            self._write_raw(process.stdin, ("setup", self._settings, self._resource))
        assert process.stdin is not None
        return process.stdin

    @staticmethod
    def _write_raw(stdin: IO[bytes], message: tuple[Any, ...]) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        stdin.write(_FRAME.pack(len(data)) + data)

    def flush(self, timeout_millis: int = 30000) -> bool:
        """Return once every span ended and every measurement taken so far was exported (False: not
        within ``timeout_millis``)."""
        if not self._lock.acquire(timeout=timeout_millis / 1000):
            return False
        try:
            if self._pid != os.getpid():
                return not (self._queue or self._measurements)
            self._send_queued()
            if self._process is None:
                return True
            self._flushes += 1
            if not self._send(("flush", self._flushes)):
                return False
            return self._acknowledged(self._flushes, time.monotonic() + timeout_millis / 1000)
        finally:
            self._lock.release()

    def _acknowledged(self, number: int, deadline: float) -> bool:
        """Wait for the export process to say it sent everything up to flush ``number``."""
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([stdout], [], [], left)
            if not ready:
                break
            line = stdout.readline()
            if not line:
                self._broken = True
                return False
            if int(line) >= number:
                return True
        return False

    def close(self) -> None:
        """Export what is left and let the export process end (waits for it a few seconds)."""
        if self._closed:
            return
        self.flush(10_000)
        self._closed = True
        self._wake.set()
        with self._lock:
            process, self._process = self._process, None
        if process is None or self._pid != os.getpid():
            return
        try:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()


class PipedRecorder:
    """The measurement recorder of :class:`~aixgo.observability.tracer.TracingObserver` that hands
    its measurements to the export process (recorded there, on the SDK's meter)."""

    def __init__(self, pipe: ExportPipe) -> None:
        self.pipe = pipe
        self.record = pipe.record

    def flush(self, timeout: float = 5.0) -> bool:
        """Return once the export process has recorded and exported every measurement so far."""
        return self.pipe.flush(int(timeout * 1000))


__all__ = ["ExportPipe", "PipedRecorder"]
