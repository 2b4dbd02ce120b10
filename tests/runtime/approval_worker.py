"""A second process that decides a waiting tool call through the Python API, as another service would.

``python -m tests.runtime.approval_worker CONFIG SESSION CALL_ID DECISION [GATE]`` prints one JSON line:
``{"pending": [...], "answer": ..., "outcome": ...}``, or ``{"error": TYPE, "message": ...}``. With
``GATE``, it first waits until that file exists (so several workers decide at the same moment)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from aixgo.errors import AixgoError
from aixgo.runtime import Runtime


def main() -> None:
    config, session_id, call_id, decision = sys.argv[1:5]
    gate = Path(sys.argv[5]) if len(sys.argv) > 5 else None
    with Runtime.from_config(config) as runtime:
        pending = [a.call_id for a in runtime.pending_approvals(session_id)]
        if gate is not None:
            (gate.parent / f"ready-{decision}").touch()
            deadline = time.monotonic() + 60
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.001)
        try:
            result = runtime.decide(session_id, call_id, decision, reason=f"{decision} from pid", by="worker")  # type: ignore[arg-type]
        except AixgoError as exc:
            print(json.dumps({"pending": pending, "error": type(exc).__name__, "message": str(exc)}))
            return
        print(json.dumps({"pending": pending, "answer": result.answer, "outcome": result.outcome}))


if __name__ == "__main__":
    main()
