"""Contract, part 2: export/import, prune and "updated" — the same rules on every store.

Mixed into :class:`tests.session.contract.BackendContract`; nothing here knows which store it runs on.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

import aixgo.session.manager as manager_module
from aixgo.errors import (
    ChecksumMismatchError,
    InvalidSessionIdError,
    SessionCorruptedError,
    SessionExistsError,
    SessionNotFoundError,
    UnsupportedVersionError,
)
from aixgo.session import Backend, EntryType, Manager, MemoryBackend, Session, export_lines, import_lines

MakeBackend = Callable[[], Backend]


def _kind(line: str) -> Any:
    try:
        return json.loads(line).get("k")
    except ValueError:
        return None
    except RecursionError:  # a record nested too deeply for json: its kind is its first key
        found = re.match(r'\{"k":"(\w+)"', line)
        return found.group(1) if found else None


def reseal(lines: list[str]) -> list[str]:
    """``lines`` (an export without its end record, or with a stale one) with a correct end record, so a
    test can change a record and reach the rule it means to test rather than the checksum."""
    body = [line for line in lines if _kind(line) != "end"]
    kinds = [_kind(line) for line in body]
    digest = hashlib.sha256("".join(line + "\n" for line in body).encode()).hexdigest()
    end = {"k": "end", "entries": kinds.count("e"), "checkpoints": kinds.count("c"), "sha256": digest}
    return [*body, json.dumps(end, separators=(",", ":"))]


def deep(depth: int) -> dict[str, Any]:
    """A JSON object nested ``depth`` levels deep (``deep(1) == {}``), built without recursion."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


def depth_of(value: Any) -> int:
    """How deep ``deep()``'s chain of ``"x"`` keys goes (-1 if ``value`` is not such a chain), without recursion."""
    depth = 0
    while isinstance(value, dict):
        depth += 1
        if not value:
            return depth
        if list(value) != ["x"]:
            return -1
        value = value["x"]
    return -1


def write_as_an_older_aixgo(monkeypatch: pytest.MonkeyPatch, write: Callable[[], object]) -> None:
    """Run ``write`` as an aixgo before the nesting bound could: with no ``MAX_JSON_DEPTH`` and on a fresh
    thread (as shallow a stack as a writer could have had), so values ~990 levels deep get stored."""
    from aixgo.session.core import records

    monkeypatch.setattr(records, "MAX_JSON_DEPTH", 10_000, raising=False)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            write()
        except BaseException as exc:
            failed.append(exc)

    writer = threading.Thread(target=run)
    writer.start()
    writer.join()
    monkeypatch.undo()
    if failed:
        raise failed[0]


def _edit(kind: str, change: Callable[[dict[str, Any]], None], nth: int = 0) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        out, seen = [], 0
        for line in lines:
            rec = json.loads(line)
            if rec.get("k") == kind:
                if seen == nth:
                    change(rec)
                    out.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
                    seen += 1
                    continue
                seen += 1
            out.append(line)
        return reseal(out)

    return edit


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda rec: rec.__setitem__(key, value)


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda rec: rec.pop(key)


def _set_data(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda rec: rec["data"].__setitem__(key, value)


def _drop_data(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda rec: rec["data"].pop(key)


def _raw_replace(old: str, new: str, kind: str = "e") -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        done = False
        out = []
        for line in lines:
            if not done and _kind(line) == kind and old in line:
                out.append(line.replace(old, new, 1))
                done = True
                continue
            out.append(line)
        assert done, f"{old!r} not found"
        return reseal(out)

    return edit


def _insert_after(kind: str, text: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        index = max(i for i, line in enumerate(lines) if _kind(line) == kind)
        return reseal([*lines[: index + 1], text, *lines[index + 1 :]])

    return edit


def _duplicate(kind: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        index = max(i for i, line in enumerate(lines) if _kind(line) == kind)
        return reseal([*lines[: index + 1], lines[index], *lines[index + 1 :]])

    return edit


def _without_end(lines: list[str]) -> list[str]:
    return lines[:-1]


def _bad_end(field: str, value: Any) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        end = json.loads(lines[-1])
        end[field] = value
        return [*lines[:-1], json.dumps(end)]

    return edit


def _unsealed(edit: Callable[[list[str]], list[str]]) -> Callable[[list[str]], list[str]]:
    """Apply ``edit`` but keep the original end record (an edited file)."""
    return lambda lines: [*edit(lines)[:-1], lines[-1]]


MALFORMED_IMPORTS: dict[str, Callable[[list[str]], list[str]]] = {
    "header without agent": _edit("s", _drop("agent")),
    "header without id": _edit("s", _drop("id")),
    "header metadata is a number": _edit("s", _set("metadata", 5)),
    "header user_id is an object": _edit("s", _set("user_id", {"a": 1})),
    "header id with a slash": _edit("s", _set("id", "../escape")),
    "header id of 252 UTF-8 bytes": _edit("s", _set("id", "€" * 84)),
    "header created_at is not a time": _edit("s", _set("created_at", "yesterday")),
    "first line is not a header": lambda lines: reseal(lines[1:]),
    "entry with NaN in data": _raw_replace('"content":"one"', '"content":NaN'),
    "entry tool_calls is a number": _edit("e", _set_data("tool_calls", 5), nth=1),
    "tool result without tool_call_id": _edit("e", _drop_data("tool_call_id"), nth=2),
    "entry data is a list": _edit("e", _set("data", [1])),
    "entry of unknown type": _edit("e", _set("type", "telepathy")),
    "entry without ts": _edit("e", _drop("ts")),
    "entry seq leaves a gap": _edit("e", _set("seq", 3), nth=1),
    "entry names an unknown parent": _edit("e", _set("parent_id", "e_nowhere"), nth=1),
    "entry id listed twice": _duplicate("e"),
    "checkpoint without seq": _edit("c", _drop("seq")),
    "checkpoint seq disagrees with its entry": _edit("c", _set("seq", 1)),
    "checkpoint listed twice": _duplicate("c"),
    "checkpoint checksum does not match": _edit("c", _set("checksum", "ab" * 32)),
    "checkpoint metadata is a string": _edit("c", _set("metadata", "x")),
    "head names an unknown entry": _edit("h", _set("entry_id", "e_nowhere")),
    "no head record": lambda lines: reseal([line for line in lines if json.loads(line).get("k") != "h"]),
    "record of unknown kind": _insert_after("c", '{"k":"zz"}'),
    "a restore record": _insert_after("c", '{"k":"r","checkpoint_id":"x","entry_id":null,"seq":0,"ts":"2026-01-01T00:00:00Z"}'),
    "a line that is not JSON": _insert_after("e", "{not json"),
    "cut before the end record": _without_end,
    "end record counts wrong": _bad_end("entries", 99),
    "edited after export": _unsealed(_raw_replace('"content":"one"', '"content":"uno"')),
    "a record after the end": lambda lines: [*lines, lines[1]],
    "newer format version": _edit("s", _set("v", 99)),
    "empty file": lambda lines: [],
    # bounded values: every JSON value at most MAX_JSON_DEPTH levels deep and MAX_JSON_BYTES large
    "entry data nested 101 deep": _edit("e", _set_data("extra", deep(100))),
    "entry data nested 5000 deep": _raw_replace('"content":"one"', '"content":"one","x":' + "[" * 4999 + "]" * 4999),
    "a line nested 30000 deep": _insert_after("e", "[" * 30000 + "]" * 30000),
    "header metadata nested 101 deep": _edit("s", _set("metadata", deep(101))),
    "checkpoint metadata nested 101 deep": _edit("c", _set("metadata", deep(101))),
    "entry data larger than 16 MiB": _raw_replace('"content":"one"', '"content":"' + "x" * (16 << 20) + '"'),
    "checkpoint metadata larger than 16 MiB": _edit("c", _set("metadata", {"blob": "x" * (16 << 20)})),
}
SAID = {  # what the error says, where another rule (the checksum) could otherwise refuse the file first
    "entry data nested 101 deep": "nested deeper than 100 levels",
    "entry data nested 5000 deep": "nested deeper than",
    "a line nested 30000 deep": "nested deeper than",
    "header metadata nested 101 deep": "nested deeper than 100 levels",
    "checkpoint metadata nested 101 deep": "nested deeper than 100 levels",
    "entry data larger than 16 MiB": "larger than 16 MiB",
    "checkpoint metadata larger than 16 MiB": "larger than 16 MiB",
}


def _sample(mgr: Manager, session_id: str) -> Session:
    s = mgr.create("assistant", session_id, user_id="u-1", metadata={"title": "sample"})
    s.append_message("user", "one")
    call = {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": "{}"}}
    s.append_message("assistant", None, tool_calls=[call])
    s.append_message("tool", "4", tool_call_id="c1")
    s.append_message("assistant", "four")
    s.checkpoint(metadata={"n": 1})
    return s


class TransferContract:
    """Export/import, prune and "updated" on every store."""

    def reopen(self, make_backend: MakeBackend) -> Manager:
        raise NotImplementedError

    @pytest.mark.parametrize("case", sorted(MALFORMED_IMPORTS))
    def test_malformed_import_is_refused_and_stores_nothing(self, mgr: Manager, case: str) -> None:
        lines = list(export_lines(_sample(mgr, "sample")))
        assert mgr.delete("sample")
        assert import_lines(MemoryBackendManager(), lines).id == "sample"  # the untouched export is valid
        before = [i.id for i in mgr.list()]
        broken = MALFORMED_IMPORTS[case](lines)
        expected = UnsupportedVersionError if "version" in case else SessionCorruptedError
        with pytest.raises(expected) as caught:
            import_lines(mgr, broken, source="dump.jsonl")
        assert "dump.jsonl" in str(caught.value)
        assert SAID.get(case, "") in str(caught.value)
        if case not in ("empty file",):
            assert ":" in str(caught.value).split("dump.jsonl", 1)[1][:12] or "end record" in str(caught.value)
        assert [i.id for i in mgr.list()] == before
        with pytest.raises(SessionNotFoundError):
            mgr.get("sample")

    def test_checksum_mismatch_on_import_is_its_own_error(self, mgr: Manager) -> None:
        lines = list(export_lines(_sample(mgr, "sample")))
        mgr.delete("sample")
        with pytest.raises(ChecksumMismatchError):
            import_lines(mgr, MALFORMED_IMPORTS["checkpoint checksum does not match"](lines), source="d")

    def test_export_cut_at_any_line_is_refused(self, mgr: Manager) -> None:
        lines = list(export_lines(_sample(mgr, "sample")))
        mgr.delete("sample")
        for cut in range(len(lines)):
            with pytest.raises(SessionCorruptedError, match=r"cut short|empty|no head"):
                import_lines(mgr, lines[:cut], source="cut.jsonl")
        assert import_lines(mgr, lines).id == "sample"

    def test_import_keeps_updated_and_list_order(self, mgr: Manager, make_backend: MakeBackend) -> None:
        old = _sample(mgr, "older")
        time.sleep(0.05)
        new = mgr.create("assistant", "newer")
        new.append_message("user", "later")
        updated = {i.id: i.updated_at for i in mgr.list()}
        lines = list(export_lines(old))
        mgr.delete("older")
        imported = import_lines(self.reopen(make_backend), lines)
        assert imported.info.updated_at == updated["older"]  # not the time of the import
        assert [i.id for i in mgr.list()] == ["newer", "older"]
        assert [i.id for i in self.reopen(make_backend).list()] == ["newer", "older"]

    def test_updated_is_the_last_record(self, mgr: Manager) -> None:
        s = mgr.create("assistant", "s-updated")
        entry = s.append_message("user", "x")
        assert s.info.updated_at == entry.timestamp
        cp = s.checkpoint()
        assert s.info.updated_at == cp.timestamp

    def test_export_is_a_consistent_snapshot_under_a_writer(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", "busy")
        stop = threading.Event()
        failures: list[BaseException] = []
        # the writer runs beside the exports, at most 20 writes ahead of them; every export is followed by
        # at least one write (counted, not timed: a loaded machine only takes longer)
        progress = threading.Condition()
        count = {"written": 0, "exported": 0}

        def write() -> None:
            writer = self.reopen(make_backend).get("busy")
            n = 0
            try:
                while not stop.is_set():
                    with progress:
                        progress.wait_for(lambda: stop.is_set() or count["written"] < (count["exported"] + 1) * 20,
                                          timeout=60)
                    if stop.is_set():
                        break
                    writer.append_message("user", f"m{n}")
                    n += 1
                    if n % 7 == 0:
                        cp = writer.checkpoint()
                        writer.append_message("assistant", "branch")
                        writer.restore(cp.id)
                    with progress:
                        count["written"] = n
                        progress.notify_all()
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)
                with progress:
                    progress.notify_all()

        thread = threading.Thread(target=write)
        thread.start()
        try:
            exports = []
            for _ in range(30):
                exports.append(list(export_lines(s)))
                with progress:
                    count["exported"] += 1
                    seen = count["written"]
                    progress.notify_all()
                    assert progress.wait_for(lambda seen=seen: count["written"] > seen or bool(failures), timeout=60)
        finally:
            stop.set()
            with progress:
                progress.notify_all()
            thread.join()
        assert not failures
        for lines in exports:
            copy = import_lines(MemoryBackendManager(), lines)
            assert copy.id == "busy"
        assert len({len(lines) for lines in exports}) > 1  # they saw the session at different points

    def test_prune_never_deletes_a_session_written_after_listing(
        self, mgr: Manager, make_backend: MakeBackend, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ids = [f"p{i:03d}" for i in range(150)]
        for session_id in ids:
            mgr.create("assistant", session_id).append_message("user", "old")
        time.sleep(0.3)
        written: dict[str, datetime] = {}
        ready = threading.Event()
        pruner = self.reopen(make_backend)
        # prune's cutoff, as it computed it: a session written before the cutoff was stale when prune
        # looked (on a loaded machine the writer can get that far), and deleting it is right
        seen_now: list[datetime] = []
        real_utcnow = manager_module.utcnow

        def recorded_utcnow() -> datetime:
            seen_now.append(real_utcnow())
            return seen_now[-1]

        monkeypatch.setattr(manager_module, "utcnow", recorded_utcnow)

        def write() -> None:
            writer = self.reopen(make_backend)
            ready.set()
            for session_id in reversed(ids):
                try:
                    entry = writer.get(session_id).append_message("user", "fresh")
                except SessionNotFoundError:
                    continue
                written[session_id] = entry.timestamp

        thread = threading.Thread(target=write)
        thread.start()
        ready.wait()
        pruned = set(pruner.prune(older_than=timedelta(seconds=0.2)))
        thread.join()
        cutoff = seen_now[0] - timedelta(seconds=0.2)
        fresh = {session_id for session_id, at in written.items() if at >= cutoff}
        assert not pruned & fresh, f"{len(pruned & fresh)} sessions written during prune were deleted"
        survivors = {i.id for i in mgr.list()}
        assert fresh <= survivors
        assert pruned | survivors == set(ids)

    def test_prune_refuses_a_zero_age(self, mgr: Manager) -> None:
        with pytest.raises(ValueError, match="positive"):
            mgr.prune(older_than=timedelta(0))

    def test_append_refuses_invalid_data_alike(self, mgr: Manager) -> None:
        from aixgo.errors import InvalidEntryError

        s = mgr.create("assistant", "s-invalid")
        bad: list[tuple[EntryType, Any]] = [
            (EntryType.MESSAGE, {"role": "user", "content": float("nan")}),
            (EntryType.MESSAGE, {"role": "assistant", "content": None, "tool_calls": 5}),
            (EntryType.TOOL_RESULT, {"role": "tool", "content": "x"}),
            (EntryType.MESSAGE, {"content": "no role"}),
            (EntryType.METADATA, {"x": object()}),
            (EntryType.MESSAGE, "not a dict"),
        ]
        for kind, data in bad:
            with pytest.raises(InvalidEntryError):
                s.append_entry(kind, data)
        with pytest.raises(InvalidEntryError, match="unknown entry type"):
            s.append_entry("telepathy", {})
        assert s.get_entries() == []

    def test_values_nested_too_deep_or_too_large_are_refused_alike(self, mgr: Manager) -> None:
        from aixgo.errors import InvalidEntryError

        s = mgr.create("assistant", "s-bounds")
        s.append_entry(EntryType.METADATA, deep(100))  # at the bound: stored
        s.checkpoint(metadata=deep(100))
        too_deep = "nested deeper than 100 levels"
        for data in (deep(101), deep(5000), {"list": [[deep(98)]]}):
            with pytest.raises(InvalidEntryError, match=too_deep):
                s.append_entry(EntryType.METADATA, data)
        with pytest.raises(InvalidEntryError, match="larger than 16 MiB"):
            s.append_message("user", "x" * (16 << 20))
        with pytest.raises(InvalidEntryError, match="larger than 16 MiB"):
            s.append_entry(EntryType.METADATA, {"blob": "€" * (6 << 20)})  # 18 MiB as UTF-8, 6 Mi characters
        for metadata, said in [(deep(101), too_deep), (deep(5000), too_deep), ({"x": float("nan")}, "cannot be stored as JSON"),
                               ({"x": object()}, "cannot be stored as JSON"), ({"blob": "x" * (16 << 20)}, "larger than 16 MiB")]:
            with pytest.raises(InvalidEntryError, match=said):
                s.checkpoint(metadata=metadata)
        for metadata in (deep(101), {"x": float("inf")}):
            with pytest.raises(InvalidEntryError):
                mgr.create("assistant", "s-bad-metadata", metadata=metadata)
        assert [depth_of(e.data) for e in s.get_entries()] == [100]
        assert [depth_of(cp.metadata) for cp in s.checkpoints()] == [100]
        with pytest.raises(SessionNotFoundError):
            mgr.get("s-bad-metadata")

    def test_values_stored_deeper_than_the_bound_still_read_back(
        self, mgr: Manager, make_backend: MakeBackend, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An older aixgo stored values up to ~990 levels deep (as deep as Python's JSON could write):
        they read back, export, and an import of them is refused with the line, never a RecursionError."""
        def write() -> None:
            s = mgr.create("assistant", "s-deep", metadata=deep(980))
            s.append_message("user", "hi")
            s.append_entry(EntryType.METADATA, deep(980))
            s.checkpoint(metadata=deep(980))

        write_as_an_older_aixgo(monkeypatch, write)
        with self.reopen(make_backend) as fresh:
            s = fresh.get("s-deep")
            assert [depth_of(e.data) for e in s.get_entries()] == [-1, 980]
            assert [depth_of(e.data) for e in s.all_entries()] == [-1, 980]
            assert [depth_of(cp.metadata) for cp in s.checkpoints()] == [980]
            assert [info.id for info in fresh.list()] == ["s-deep"]
            lines = list(export_lines(s))
            assert [_kind(line) for line in lines] == ["s", "e", "e", "c", "h", "end"]
            s.restore(s.checkpoints()[0].id)  # the checksum still verifies
            fresh.delete("s-deep")
            with pytest.raises(SessionCorruptedError, match=r"dump\.jsonl:1: .*nested deeper than 100 levels"):
                import_lines(fresh, lines, source="dump.jsonl")
            with pytest.raises(SessionNotFoundError):
                fresh.get("s-deep")

    def test_ids_are_limited_in_bytes_on_every_store(self, mgr: Manager, make_backend: MakeBackend) -> None:
        with pytest.raises(InvalidSessionIdError, match="bytes"):
            mgr.create("assistant", "€" * 84)
        longest = "€" * 42 + "xx"  # 128 bytes
        s = mgr.create("assistant", longest)
        s.append_message("user", "hi")
        lines = list(export_lines(s))
        mgr.delete(longest)
        assert import_lines(self.reopen(make_backend), lines).get_entries()[0].data["content"] == "hi"

    # -- import with replace: atomic, old or new, never neither ------------------------------------

    @staticmethod
    def _two_versions(mgr: Manager, session_id: str) -> tuple[list[str], list[str]]:
        """Two exports of one session id: a short one, and a longer one with a branch and checkpoints."""
        s = mgr.create("assistant", session_id, user_id="u-1", metadata={"v": 1})
        s.append_message("user", "old one")
        s.append_message("assistant", "old two")
        old = list(export_lines(s))
        cp = s.checkpoint(metadata={"n": 1})
        s.append_message("user", "abandoned")
        s.restore(cp.id)
        for i in range(30):
            s.append_message("user", f"new {i}")
        s.checkpoint()
        return old, list(export_lines(s))

    def test_import_with_replace_swaps_the_whole_session(self, mgr: Manager, make_backend: MakeBackend) -> None:
        old, new = self._two_versions(mgr, "swap")
        watcher = self.reopen(make_backend).get("swap")  # another process that had the session open
        watcher.get_entries()
        replaced = import_lines(mgr, old, "old.jsonl", replace=True)
        assert list(export_lines(replaced)) == old
        assert [e.data["content"] for e in watcher.get_entries()] == ["old one", "old two"]
        assert watcher.checkpoints() == [] and watcher.info.message_count == 2
        assert watcher.append_message("assistant", "after").seq == 3
        replaced = import_lines(self.reopen(make_backend), new, "new.jsonl", replace=True)
        assert list(export_lines(replaced)) == new
        assert list(export_lines(watcher)) == new
        assert [i.id for i in mgr.list()].count("swap") == 1

    def test_import_with_replace_of_a_missing_session_imports_it(self, mgr: Manager) -> None:
        old, _ = self._two_versions(mgr, "fresh")
        assert mgr.delete("fresh")
        assert list(export_lines(import_lines(mgr, old, replace=True))) == old

    def test_import_with_replace_never_replaces_another_agents_session(self, mgr: Manager) -> None:
        old, _ = self._two_versions(mgr, "mine")
        mgr.delete("mine")
        mgr.create("other-agent", "mine").append_message("user", "keep me")
        with pytest.raises(SessionExistsError, match="other-agent"):
            import_lines(mgr, old, replace=True)
        assert [e.data["content"] for e in mgr.get("mine").get_entries()] == ["keep me"]
        assert mgr.get("mine").agent == "other-agent"

    def test_readers_see_the_old_or_the_new_session_never_neither(
        self, mgr: Manager, make_backend: MakeBackend
    ) -> None:
        old, new = self._two_versions(mgr, "flip")
        expected = {tuple(old), tuple(new)}
        reader = self.reopen(make_backend)
        stop = threading.Event()
        seen: list[int] = []
        errors: list[BaseException] = []

        def read() -> None:
            try:
                while not stop.is_set():
                    session = reader.get("flip")
                    assert tuple(export_lines(session)) in expected
                    seen.append(len(session.get_entries()))
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=read)
        thread.start()
        writer = self.reopen(make_backend)
        for round_no in range(20):
            import_lines(writer, old if round_no % 2 else new, replace=True)
        stop.set()
        thread.join()
        assert errors == []
        assert seen



def MemoryBackendManager() -> Manager:
    """A scratch manager on the in-memory store (to check that an export imports)."""
    return Manager(MemoryBackend())
