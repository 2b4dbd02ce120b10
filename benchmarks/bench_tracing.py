"""What tracing costs a turn (issue 25): one turn through ``Runtime`` with a model that answers at once,
on the file store, with tracing off and on, in child processes whose rounds alternate.

* **off**: no observer anywhere (what every turn costs when tracing is not asked for);
* **on**: aixgo's own setup (:func:`aixgo.observability.start_telemetry`, as ``aixgo run`` and
  ``aixgo serve`` make it): the :class:`~aixgo.observability.tracer.TracingObserver` on the runtime,
  the agent and the store, spans handed to aixgo's export process (offload.py) and measurements to
  the SDK's periodic metric reader, both exporting over OTLP/HTTP (protobuf) to a local sink process
  that answers 200 — every span and measurement is encoded and sent, as in production;
* **on, 10% sampled**: the same with ``ParentBased(TraceIdRatioBased(0.1))`` (``sampling_rate: 0.1``):
  every turn is measured, one in ten is traced and exported;
* **on, SDK batch processor**: an application's own providers with the SDK's ``BatchSpanProcessor``,
  whose thread encodes and sends the spans inside the turns' process;
* **baseline** (when ``AIXGO_BENCH_BASELINE`` names another checkout, e.g. ``/work/main``): the "off"
  workload run by that checkout's aixgo, so today's main and this branch are compared on the same
  machine in the same run.

Every variant runs in a process of its own (no variant's background threads run during another's
turns); each round runs ``TURNS_PER_ROUND`` turns of each variant, in an order that alternates,
and the median and p99 pool every round.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import header, note, report

ROUNDS = 40
TURNS_PER_ROUND = 20
ROOT = Path(__file__).resolve().parents[1]

SINK = """
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

CHILD = """
import json, sys, tempfile, time
checkout, variant, fsync, turns, endpoint = sys.argv[1:6]
sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("__editable__")]
sys.path.insert(0, checkout)  # this checkout's aixgo, whatever the venv has installed
from aixgo.agents import ReActAgent
from aixgo.llm import ModelResponse
from aixgo.runtime import Runtime
from aixgo.session import FileBackend, Manager
assert sys.modules["aixgo"].__file__.startswith(checkout)

class Instant:
    async def complete(self, messages, tools, settings):
        return ModelResponse(content="ok", finish_reason="stop")

observers = ()
sampled = variant.partition(":")[2]
if variant.startswith("on-sdk"):  # the application's own providers, with the SDK's batch span processor
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from aixgo.observability.tracer import TracingObserver
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint + "/v1/metrics"),
                                           export_interval_millis=5000)
    observers = (TracingObserver(tracer_provider=tracer_provider,
                                 meter_provider=MeterProvider(metric_readers=[reader])),)
elif variant.startswith("on"):  # aixgo's own setup, as aixgo run and aixgo serve make it
    import os
    os.environ["OTEL_METRIC_EXPORT_INTERVAL"] = "5000"
    from aixgo.observability import TelemetrySettings, start_telemetry
    telemetry = start_telemetry(TelemetrySettings(enabled=True, endpoint=endpoint, metrics_exporter="otlp",
                                                  sampling_rate=float(sampled) if sampled else None))
    observers = (telemetry.observer,)
with tempfile.TemporaryDirectory() as tmp:
    store = (observers[0].store,) if observers else ()
    manager = Manager(FileBackend(tmp, fsync=fsync), **({"observers": store} if store else {}))
    with Runtime(manager, **({"observers": observers} if observers else {})) as rt:
        rt.register_agent(ReActAgent("bench", Instant(), **({"observers": observers} if observers else {})))
        for _ in range(20):
            rt.call_with_session("bench", "warm up", "turns")
        print("ready", flush=True)
        for line in sys.stdin:
            samples = []
            cpu = time.process_time()
            for _ in range(int(turns)):
                started = time.perf_counter()
                rt.call_with_session("bench", "hello", "turns")
                samples.append(time.perf_counter() - started)
            print(json.dumps([samples, (time.process_time() - cpu) / int(turns)]), flush=True)
"""


class Child:
    """One variant's process: ``round()`` runs a round of turns there and returns their times."""

    def __init__(self, checkout: str, variant: str, fsync: str, endpoint: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, checkout, variant, fsync, str(TURNS_PER_ROUND), endpoint],
            text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "ready"

    def round(self) -> tuple[list[float], float]:
        """The round's turn times, and the process's CPU time per turn (all its threads)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        samples, cpu = json.loads(self.process.stdout.readline())
        return samples, cpu

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def run() -> None:
    header("Tracing: one turn, instant model, file store (each variant in its own process, rounds alternate)")
    sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        endpoint = f"http://127.0.0.1:{sink.stdout.readline().strip()}"
        for fsync in ("always", "never"):
            _compare(fsync, endpoint)
    finally:
        sink.terminate()
        sink.wait()
    note("on: every span exported over OTLP/HTTP (protobuf) to a local sink by aixgo's export process (its CPU "
         "is not in the turn's process), every measurement by the SDK's metric reader thread")


def _compare(fsync: str, endpoint: str) -> None:
    baseline = os.environ.get("AIXGO_BENCH_BASELINE")
    variants = {"off": (str(ROOT), "off"), "on": (str(ROOT), "on"), "on, 10% sampled": (str(ROOT), "on:0.1"),
                "on, SDK batch processor": (str(ROOT), "on-sdk")}
    if baseline:
        variants[f"off, {Path(baseline).name}"] = (baseline, "off")
    with tempfile.TemporaryDirectory():
        children = {name: Child(checkout, variant, fsync, endpoint) for name, (checkout, variant) in variants.items()}
        samples: dict[str, list[float]] = {name: [] for name in children}
        cpu: dict[str, list[float]] = {name: [] for name in children}
        try:
            names = list(children)
            for number in range(ROUNDS):
                for name in names if number % 2 == 0 else reversed(names):
                    times, per_turn = children[name].round()
                    samples[name] += times
                    cpu[name].append(per_turn)
        finally:
            for child in children.values():
                child.close()
    rows = {name: report(f"one turn, fsync={fsync}, tracing {name}", values) for name, values in samples.items()}
    note(f"fsync={fsync}: tracing on costs {(rows['on'].median / rows['off'].median - 1) * 100:+.1f}% of a turn "
         "(median; target <= +5%)")
    busy = {name: statistics.median(values) for name, values in cpu.items()}
    note(f"fsync={fsync}: CPU per turn (all threads, median of rounds): "
         + ", ".join(f"{name} {value * 1e3:.3f} ms" for name, value in busy.items())
         + f"; on vs off {(busy['on'] / busy['off'] - 1) * 100:+.1f}%")
    note(f"fsync={fsync}: tracing on with the SDK's batch span processor in the process costs "
         f"{(rows['on, SDK batch processor'].median / rows['off'].median - 1) * 100:+.1f}% (median)")
    note(f"fsync={fsync}: tracing on, 10% of traces sampled, costs "
         f"{(rows['on, 10% sampled'].median / rows['off'].median - 1) * 100:+.1f}% (median)")
    for name, row in rows.items():
        if name.startswith("off, "):
            note(f"fsync={fsync}: tracing off vs {name.split(', ')[1]}: {(rows['off'].median / row.median - 1) * 100:+.1f}%")


if __name__ == "__main__":
    started = time.perf_counter()
    run()
    print(f"({time.perf_counter() - started:.1f} s)")
