"""The Redis store's Lua against the session core, run through a real ``redis-server`` on the same inputs.

The Lua scripts cannot import Python, so three things the core owns are written again in
``aixgo/session/redis/lua/prelude.lua``: the bytes of an encoded entry (the constants are generated from
:mod:`aixgo.session.core.codec`; ``entry_id`` reads an entry's id by them), the read-range rule
(``range_bounds``, :func:`aixgo.session.core.slicing.range_bounds`) and the branch swap of a restore
(``branch_swap``, :func:`aixgo.session.core.state.branch_swap`). Each is run here beside the core's
function on the same inputs, edge cases included, and the outputs must be equal. The Redis store's own
index records (``ent``, ``cps``), written by an import in Python and read by the scripts, are checked
the same way.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from aixgo.session import EntryType, Manager
from aixgo.session.core import codec
from aixgo.session.core.codec import encode_entry, entry_id_of, utcnow
from aixgo.session.core.slicing import HistoryRange, range_bounds
from aixgo.session.redis.scripts import (
    PRELUDE,
    SCRIPTS,
    checkpoint_info,
    entry_info,
    layout_constants,
    write_order,
)
from aixgo.session.types import Entry
from tests.session.contract import build_tree, core_swap
from tests.session.redis_server import RedisServer

pytestmark = pytest.mark.redis



@pytest.fixture(scope="module")
def client(server: RedisServer) -> Iterator[Any]:
    conn = server.client()
    yield conn
    conn.close()


def run_lua(client: Any, body: str, keys: list[str], args: list[str | int]) -> Any:
    """``body`` after the prelude every session script starts with, as one ``EVAL``."""
    return client.eval(PRELUDE + body, len(keys), *keys, *args)


def test_the_prelude_is_what_every_session_script_starts_with() -> None:
    assert PRELUDE.strip() and "local function range_bounds" in PRELUDE
    assert layout_constants() in PRELUDE
    for name in ("history", "restore", "append", "chain", "snapshot"):
        assert SCRIPTS[name].source.startswith(PRELUDE)


def test_the_lua_layout_constants_are_the_codecs() -> None:
    """Generated from the codec, and the codec's constants cut from what encode_entry writes."""
    line = encode_entry(Entry("e_1", None, 1, utcnow(), EntryType.TOOL_CALL, {"id": "x"})).encode()
    assert line.startswith(codec.ENTRY_START + b'tool_call"' + codec.ID_KEY + b'"e_1"' + codec.PARENT_KEY + b"null,")
    assert f"local ENTRY_START = '{codec.ENTRY_START.decode()}'" in layout_constants()
    assert f"local ENTRY_ID_KEY = '{codec.ID_KEY.decode()}\"'" in layout_constants()
    assert f"local ROOT = '{codec.ROOT_HEX}'" in layout_constants()


ODD_IDS = [
    "e_1",
    "with space",
    'quote"inside',
    "back\\slash",
    'both\\"',
    "ends with backslash\\",
    '","id":"fake',
    "ünïcødé ☃ 𝄞",
    "tab\tand\nnewline",
    "\u0001control",
    "x" * 300,
]


def test_lua_reads_an_entrys_id_as_the_codec_does(client: Any) -> None:
    lines = [
        encode_entry(Entry(eid, parent, 2, utcnow(), kind, {"id": "not this", "content": '"id":"nor this"'}))
        for eid, parent, kind in zip(
            ODD_IDS, itertools.cycle([None, "p", 'p"q', "p\\"]), itertools.cycle(EntryType), strict=False
        )
    ]
    body = "local out = {} for i = 1, #ARGV do out[i] = entry_id(ARGV[i]) end return out"
    got = [raw.decode() for raw in run_lua(client, body, [], lines)]
    assert got == [entry_id_of(line.encode()) for line in lines] == ODD_IDS


def test_lua_selects_the_read_range_the_core_selects(client: Any) -> None:
    """Every length, window, start and stop around the edges (empty history, window 0, past either end)."""
    cases = [
        (length, window, start, stop)
        for length in range(6)
        for window in (None, *range(8))
        for start in range(-7, 8)
        for stop in range(-7, 8)
    ]
    args = [str(v) if v is not None else "" for case in cases for v in case]
    body = """
local out = {}
for i = 1, #ARGV, 4 do
  local window = nil
  if ARGV[i + 1] ~= '' then window = tonumber(ARGV[i + 1]) end
  local first, stop = range_bounds(tonumber(ARGV[i]), window, tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]))
  out[#out + 1] = first
  out[#out + 1] = stop
end
return out"""
    flat = run_lua(client, body, [], args)
    got = list(zip(flat[::2], flat[1::2], strict=True))
    want = [range_bounds(length, HistoryRange(window, start, stop)) for length, window, start, stop in cases]
    assert got == want


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lua_swaps_branches_as_the_core_does(client: Any, open_backend: Any, seed: int) -> None:
    """For every entry of a branching session (and the root), Lua's branch_swap on the stored keys and
    the core's on the session's history and tree; and every restore lays out what the core said."""
    backend = open_backend()
    mgr = Manager(backend)
    session = mgr.create("assistant", f"lua-{uuid.uuid4().hex[:8]}")
    build_tree(session, seed)
    everything = session.all_entries()
    assert len(everything) > len(session.get_entries())  # there are abandoned branches
    body = """
local keep, branch = branch_swap(ARGV[1], tonumber(ARGV[2]))
local ids = {}
for i = #branch, 1, -1 do ids[#ids + 1] = branch[i][1] end
return {keep, ids}"""
    targets = [(None, 0)] + [(e.id, e.seq) for e in everything]
    for entry_id, seq in targets:
        keep, ids = run_lua(client, body, backend.keys_of(session.id)[:5], [entry_id or "", seq])
        assert (keep, [i.decode() for i in ids]) == core_swap(session, entry_id, seq), entry_id
    mgr.close()


def test_lua_parses_the_index_records_python_writes(client: Any) -> None:
    """An import writes ``ent`` and ``cps`` records in Python (``scripts.entry_info``/``checkpoint_info``);
    the scripts read them with ``parse_info`` and restore's pattern: the same fields come back."""
    infos = [entry_info(3, 7, 2, "ab" * 32, "parent with spaces"), entry_info(1, 1, 0, "00" * 32, None)]
    body = """
local out = {}
for i = 1, #ARGV do
  local w, seq, msgs, hash, parent = parse_info(ARGV[i])
  out[#out + 1] = {w, seq, msgs, hash, parent}
end
return out"""
    got = [[v.decode() if isinstance(v, bytes) else v for v in row] for row in run_lua(client, body, [], infos)]
    assert got == [[3, 7, 2, "ab" * 32, "parent with spaces"], [1, 1, 0, "00" * 32, ""]]
    assert [write_order(info.encode()) for info in infos] == [3, 1]
    cps = [checkpoint_info(4, 2, "e 1"), checkpoint_info(1, 0, None)]
    body = "local out = {} for i = 1, #ARGV do out[i] = {string.match(ARGV[i], '^(%d+) (%d+) (.*)$')} end return out"
    assert [[v.decode() for v in row] for row in run_lua(client, body, [], cps)] == [["4", "2", "e 1"], ["1", "0", ""]]
    assert [write_order(info.encode()) for info in cps] == [4, 1]
