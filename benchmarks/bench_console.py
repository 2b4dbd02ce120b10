"""The web console's pages against a file store of 100,000 sessions: the sessions API calls each page makes,
over HTTP to a real ``aixgo serve`` process, beside the floor of the same HTTP stack (``GET /healthz`` from
the same client in the same run).

* the sessions list: ``GET /v1/sessions?limit=50`` (first page, a page deep in the listing by its cursor,
  one user's sessions, a search for a rare word and for a common one);
* a session: ``GET /v1/sessions/{id}`` (transcript, checkpoints, usage).

The store is made by writing session files directly (each a copy of one of 50 sessions written by aixgo,
under its own id, user and time: valid files, checksums and all), then indexed by the first listing (its
time is its own row). Each request is timed from the client; the server logs at warning level.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from aixgo.session import EntryType, FileBackend, Manager
from aixgo.session.core.codec import dumps, header_record, utcnow
from aixgo.session.file.lines import frame
from benchmarks.harness import header, measure, note, report
from tests.server.serving import Served

SESSIONS = 100_000
TEMPLATES = 50
TARGET = 0.100
WORDS = ("apple", "river", "planet", "violin", "harbor", "meadow", "copper", "lantern", "orchid", "glacier")


def _templates(root: Path) -> list[bytes]:
    """The bytes after the header line of 50 sessions written by aixgo (a question, a tool call and its
    result, an answer, the turn's usage, a checkpoint)."""
    bodies = []
    with Manager(FileBackend(root, fsync="never", index=False)) as manager:
        for number in range(TEMPLATES):
            session = manager.create("assistant", f"t{number}")
            word = WORDS[number % len(WORDS)]
            session.append_message("user", f"Tell me about the {word} number {number}, please")
            session.append_entry(EntryType.TOOL_CALL, {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{number}", "type": "function",
                 "function": {"name": "lookup", "arguments": f'{{"q": "{word}"}}'}}]})
            session.append_entry(EntryType.TOOL_RESULT, {"role": "tool", "tool_call_id": f"call_{number}",
                                                         "content": f"{word}: a long text about it " * 8})
            session.append_message("assistant", f"Here is what I know about the {word}. " * 6)
            session.append_entry(EntryType.USAGE, {"prompt_tokens": 120, "completion_tokens": 60,
                                                   "total_tokens": 180})
            session.checkpoint()
            data = (root / "assistant" / f"t{number}.jsonl").read_bytes()
            bodies.append(data[data.index(b"\n") + 1:])
    return bodies


def _store(root: Path) -> None:
    bodies = _templates(root / "templates")
    folder = root / "store" / "assistant"
    folder.mkdir(parents=True, mode=0o700)
    (root / "store").chmod(0o700)
    start = utcnow() - timedelta(days=30)
    for number in range(SESSIONS):
        session_id = f"sess-{number:06d}"
        record = header_record(session_id, "assistant", f"user-{number % 1000:03d}",
                               start + timedelta(seconds=number * 20), {})
        (folder / f"{session_id}.jsonl").write_bytes(frame(dumps(record).encode()) + bodies[number % TEMPLATES])


def _config(root: Path) -> Path:
    path = root / "console.yaml"
    path.write_text(f"session: {{base_dir: {root / 'store'}, fsync: never}}\n"
                    "llm: {base_url: 'http://127.0.0.1:9/v1', api_key: unused}\n"
                    "agents:\n  - {name: assistant, model: m}\n")
    return path


def run() -> None:
    header(f"Web console pages, file store of {SESSIONS:,} sessions (sessions API over HTTP)")
    with tempfile.TemporaryDirectory(prefix="aixgo-bench-console-") as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        _store(root)
        note(f"{SESSIONS:,} session files written in {time.perf_counter() - began:.0f} s (not timed below)")
        began = time.perf_counter()
        with Manager(FileBackend(root / "store", fsync="never")) as manager:
            manager.list(limit=1)
        report(f"first listing: index of {SESSIONS:,} sessions built (once per store)", [time.perf_counter() - began])
        with Served(_config(root), options=("--log-level", "warning")) as served, httpx.Client(base_url=served.url) as http:
            first = http.get("/v1/sessions", params={"limit": 50}).json()
            assert len(first["data"]) == 50 and first["data"][0]["title"], first
            middle = http.get("/v1/sessions", params={"limit": 50, "offset": SESSIONS // 2}).json()["data"][-1]
            cursor = f"{middle['updated_at']},{middle['id']}"

            def get(path: str, **params: object) -> None:
                answer = http.get(path, params=params)  # type: ignore[arg-type]
                assert answer.status_code == 200, answer.text

            floor = measure(lambda: get("/healthz"), 200)
            report("floor: GET /healthz on the same client and server", floor)
            rows = [
                ("sessions list, first page (limit 50)", lambda: get("/v1/sessions", limit=50)),
                ("sessions list, a page halfway down (cursor)", lambda: get("/v1/sessions", limit=50, before=cursor)),
                ("sessions list, one user's sessions", lambda: get("/v1/sessions", limit=50, user="user-123")),
                ("sessions list, search a rare word (1 in 100,000)",
                 lambda: get("/v1/sessions", limit=50, q="sess-042042")),
                ("sessions list, search a word in 1 of 10 sessions", lambda: get("/v1/sessions", limit=50, q="glacier")),
                ("session page: GET /v1/sessions/{id}", lambda: get("/v1/sessions/sess-077777")),
            ]
            for name, call in rows:
                samples = measure(call, 200)
                report(name, samples, TARGET)
            note(f"floor median {statistics.median(floor) * 1e3:.2f} ms; target: median <= {TARGET * 1e3:.0f} ms")


if __name__ == "__main__":
    run()
