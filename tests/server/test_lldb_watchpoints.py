"""Watchpoints from LLDB, every kind, both directions, against ground truth walked step by step.

Positions follow rr under gdb: going forward a hit stops right after the access, going
backward on it (the state before it), and LLDB prints as old value the one it had and as
new value the one where it stopped. LLDB's default ("modify") watchpoint passes writes that
change nothing, a write watchpoint stops at them. See tests/server/watch_support.py.
"""

from __future__ import annotations

import re

import pytest

from tests.server.watch_support import (
    LOADS, STORES, Hit, Watching, changes, expected_backward, expected_forward, walk,
)
from tests.support.cases import get_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import record, record_case
from tests.support.serve import ttd_serve

# One watched word at 256. Its writes: i32.store and i32.store16 (two of them store what is
# already there); its reads: i32.load. Decoys: i64.store and i64.load at 264. The last write
# is the step right before a trap.
PROGRAM = """(module
  (memory (export "memory") 1)
  (func $put (param $v i32) (i32.store (i32.const 256) (local.get $v)))
  (func $get (result i32) (i32.load (i32.const 256)))
  (func $decoy (param $v i64) (i64.store (i32.const 264) (local.get $v))
    (drop (i64.load (i32.const 264))))
  (func (export "_start") (local $acc i32)
    (call $put (i32.const 5))
    (call $decoy (i64.const 1))
    (call $put (i32.const 5))
    (local.set $acc (call $get))
    (call $put (i32.const 7))
    (call $put (i32.const 7))
    (local.set $acc (i32.add (local.get $acc) (call $get)))
    (call $put (i32.const 0))
    (i32.store16 (i32.const 257) (i32.const 0x0102))
    (call $decoy (i64.const 2))
    (call $put (local.get $acc))
    (drop (call $get))
    (i32.store (i32.const 256) (i32.const 99))
    (unreachable)))
"""
WATCHED = 256
KINDS = {
    # kind: (how to set it, accesses it stops at, prints old/new)
    "modify": ("", "changes", True),
    "write": ("-w write ", "stores", True),
    "read": ("-w read ", "loads", False),
    "read_write": ("-w read_write ", "both", True),
}


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    import wasmtime

    require_lldb()
    d = tmp_path_factory.mktemp("watch")
    wasm = d / "watch.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(PROGRAM))
    rec = record(wasm, d / "t.db", extra=["--reads"])
    assert rec.returncode != 0, rec.stderr  # the trap
    w = walk(rec.trace, WATCHED, 4)
    stores = [k for k in range(w.total) if w.ops[k] in STORES and w.ops[k] != 0x37]
    loads = [k for k in range(w.total) if w.ops[k] in LOADS and w.ops[k] != 0x29]
    events = {"changes": changes(w), "stores": stores, "loads": loads,
              "both": sorted(stores + loads)}
    # the program does what the comments say: same-value writes, a write before the trap
    assert len(stores) == 8 and len(events["changes"]) == 6 and len(loads) == 3
    assert stores[-1] == w.total - 2 and w.ops[-1] == 0x00
    return wasm, rec.trace, w, events


def _watching(session, tmp_path) -> Watching:
    return Watching(session, tmp_path / "lldb-out.txt")


def _run(wt: Watching, command: str, until: set[str]) -> tuple[list[Hit], Hit]:
    """Repeat a moving command while it stops at watchpoints: the hits and the last stop."""
    hits = []
    for _ in range(50):
        hit = wt.do(command)
        if hit.reason != "watchpoint":
            assert hit.reason in until, hit
            return hits, hit
        hits.append(hit)
    raise AssertionError("no end")


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_stops_at_the_right_access_both_ways(program, tmp_path, kind):
    wasm, trace, w, events = program
    how, which, prints = KINDS[kind]
    ev = events[which]
    with ttd_serve(trace) as srv, LLDBSession(wasm, srv.port) as s:
        wt = _watching(s, tmp_path)
        assert wt.step() == 0
        wt.output()
        out = s.run_command(f"watchpoint set expression {how}-s 4 -- {WATCHED}")
        assert "Watchpoint created" in out, out
        # creating it runs nothing: LLDB only shows the value it captured, the one here
        assert wt.step() == 0
        if prints:
            assert re.search(r"new value: 0\b", out + wt.output()), out

        # forward through every access to the trap: the last write is reported first
        hits, end = _run(wt, "continue", {"exception"})
        assert hits == expected_forward(w, ev, 0, prints)
        assert end.step == w.total - 1
        assert (hits[-1].step == w.total - 1) == (ev[-1] == w.total - 2)

        # backward with LLDB's reverse continue, to the start of the recording
        hits, start = _run(wt, "process continue -R", {"history_boundary"})
        assert hits == expected_backward(w, ev, w.total - 1, prints)
        assert start.step == 0

        # and forward again, one hit
        first = wt.do("process continue -F")
        assert first == expected_forward(w, ev, 0, prints)[0]

        # ttd's rc from the end: the same hits, and LLDB keeps going forward afterwards
        wt.do("ttd goto end")
        assert wt.step() == w.total - 1
        back = expected_backward(w, ev, w.total - 1, prints)
        for want in back[:3]:
            assert wt.do("rc") == want
        again = wt.do("continue")  # the access the last rc stopped before
        k = back[2].step
        assert again == Hit(k + 1, w.pcs[k + 1], "watchpoint",
                            (w.value(k), w.value(k + 1)) if prints else None)
        hits, start = _run(wt, "rc", {"history_boundary"})
        assert hits == expected_backward(w, ev, k + 1, prints)
        assert wt.do("continue") == expected_forward(w, ev, 0, prints)[0]
        wt.close()


def test_single_steps_report_the_writes_they_make_or_undo(program, tmp_path):
    """`si` over a write that changes the value stops as a watchpoint hit (as hardware does),
    `rsi` over it too, before it; neither stops for a write that changes nothing, which a
    "modify" watchpoint must not see (LLDB would run on to the next hit)."""
    wasm, trace, w, events = program
    with ttd_serve(trace) as srv, LLDBSession(wasm, srv.port) as s:
        wt = _watching(s, tmp_path)
        s.run_command(f"watchpoint set expression -s 4 -- {WATCHED}")
        seen = []
        for _ in range(w.total - 1):
            hit = wt.do("si")
            seen.append(hit)
            if hit.step == w.total - 1:
                break
        assert [h.step for h in seen] == list(range(1, w.total))
        assert [h for h in seen if h.reason == "watchpoint"] == \
            expected_forward(w, events["changes"], 0, True)
        back = []
        for _ in range(w.total - 1):
            back.append(wt.do("rsi"))
        assert [h.step for h in back] == list(range(w.total - 2, -1, -1))
        assert [h for h in back if h.reason == "watchpoint"] == \
            expected_backward(w, events["changes"], w.total - 1, True)
        wt.close()


def test_goto_reports_a_changed_value_so_the_next_old_value_is_right(program, tmp_path):
    wasm, trace, w, events = program
    ch = events["changes"]
    with ttd_serve(trace) as srv, LLDBSession(wasm, srv.port) as s:
        wt = _watching(s, tmp_path)
        s.run_command(f"watchpoint set expression -s 4 -- {WATCHED}")
        mid = ch[2] - 1  # after the second change, before the third
        hit = wt.do(f"ttd goto {mid}")
        assert hit.step == mid and hit.reason == "watchpoint"
        assert hit.printed == (w.value(0), w.value(mid))
        assert wt.do("continue") == expected_forward(w, ch, mid, True)[0]
        same = wt.do(f"ttd goto {ch[2] + 1}")  # the value there is the one LLDB has
        assert same.reason != "watchpoint" and same.printed is None
        wt.close()


def test_reverse_steps_stop_at_a_watched_write_on_their_way(program, tmp_path):
    """rn/rs/rfinish un-execute code: like a reverse step under rr they stop before a watched
    write they meet (here: rfinish out of $put, whose store changed the value)."""
    wasm, trace, w, events = program
    ch = events["changes"]
    with ttd_serve(trace) as srv, LLDBSession(wasm, srv.port) as s:
        wt = _watching(s, tmp_path)
        s.run_command(f"watchpoint set expression -s 4 -- {WATCHED}")
        first = wt.do("continue")  # right after the first store, still in $put
        assert first.step == ch[0] + 1
        back = wt.do("rfinish")
        assert back == Hit(ch[0], w.pcs[ch[0]], "watchpoint", (w.value(ch[0] + 1),
                                                                 w.value(ch[0])))
        wt.close()


def test_rc_with_an_ignore_count_lets_lldb_judge_going_backwards(program, tmp_path):
    """LLDB passes the first hits of a watchpoint with an ignore count itself and resumes the
    way it is going: rc then runs backwards in LLDB's own direction (never forwards)."""
    wasm, trace, w, events = program
    back = expected_backward(w, events["changes"], w.total - 1, True)
    with ttd_serve(trace, at="end") as srv, LLDBSession(wasm, srv.port) as s:
        wt = _watching(s, tmp_path)
        s.run_command(f"watchpoint set expression -s 4 -- {WATCHED}")
        s.run_command("watchpoint ignore -i 2 1")
        out = s.run_command("rc")
        assert "continues backwards" in out, out
        hit = wt.do("ttd when")
        assert (hit.step, hit.pc, hit.reason) == (back[2].step, back[2].pc, "watchpoint")
        assert wt.do("continue").step == back[3].step  # LLDB's direction is now backwards
        wt.close()


# ---- a C program: the README's recipe ------------------------------------------------------


@pytest.fixture(scope="module")
def wild(tmp_path_factory):
    require_lldb()
    return record_case(get_case("wild"), tmp_path_factory.mktemp("wild") / "t.db").trace


def _watched(out: str) -> int:
    m = re.search(r"addr = (0x[0-9a-fA-F]+) size = 4", out)
    assert m, out
    return int(m.group(1), 16)


@pytest.mark.parametrize("how", ["", "-w write "])
def test_watch_variable_both_ways_in_c(wild, tmp_path, how):
    """`watchpoint set variable stats.total` at main's breakpoint, before `stats` is zeroed
    (a write of 0 over 0: the default watchpoint passes it, `-w write` stops there), through
    the legitimate writes and the wild one, and back with both reverse continues."""
    wasm = get_case("wild").wasm_path
    with ttd_serve(wild) as srv, LLDBSession(wasm, srv.port) as s:
        wt = _watching(s, tmp_path)
        s.break_name("main")
        s.cont()
        out = s.run_command(f"watchpoint set variable {how}stats.total")
        addr = _watched(out)
        w = walk(wild, addr, 4)
        ch = changes(w)
        here = wt.step()
        fwd = expected_forward(w, ch, here, True)
        if how:  # the zeroing of stats: a store whose bytes stay 0
            zero = next(k for k in range(here, ch[0]) if w.ops[k] in STORES)
            assert w.values[zero] == w.values[zero + 1] == b"\0\0\0\0"
            assert wt.do("continue") == Hit(zero + 1, w.pcs[zero + 1], "watchpoint", (0, 0))
        # the eight legitimate writes, then the wild one in scale(): 360 -> 1080
        n = next(i for i, h in enumerate(fwd) if h.printed == (360, 1080)) + 1
        assert n == 9
        got = [wt.do("continue") for _ in range(n)]
        assert got == fwd[:n]
        wild_write = got[-1]
        assert s.stop().function == "scale"
        back = expected_backward(w, ch, wild_write.step, True)
        assert [wt.do("process continue -R") for _ in range(3)] == back[:3]
        assert back[0].printed == (1080, 360)  # before the wild write
        assert wt.do("rc") == back[3]
        assert wt.do("continue") == Hit(back[3].step + 1, w.pcs[back[3].step + 1],
                                        "watchpoint", back[3].printed[::-1])
        wt.close()


# ---- a crash -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trap(tmp_path_factory):
    require_lldb()
    rec = record_case(get_case("trap"), tmp_path_factory.mktemp("trap") / "t.db")
    assert rec.returncode != 0
    return rec.trace


def test_watch_at_a_crash_goes_back_to_the_write_of_the_bad_pointer(trap, tmp_path):
    """At the trap, watch main's `bad` and `total` (frame 1): going back stops before the
    store of the pointer lookup() returned, and before each `total +=`."""
    wasm = get_case("trap").wasm_path
    with ttd_serve(trap, at="end") as srv, LLDBSession(wasm, srv.port) as s:
        wt = _watching(s, tmp_path)
        assert s.stop().reason == "exception"
        end = wt.step()
        s.run_command("frame select 1")
        bad = _watched(s.run_command("watchpoint set variable bad"))
        w = walk(trap, bad, 4)
        assert w.total - 1 == end
        ch = changes(w)
        back = expected_backward(w, ch, end, True)
        hit = wt.do("process continue -R")
        assert hit == back[0] and s.stop().function == "main"
        assert w.value(ch[-1] + 1) == w.value(end)  # the bad pointer stored there
        assert wt.do("process continue -F") == expected_forward(w, ch, hit.step, True)[0]
        last = wt.do("continue")  # nothing writes `bad` again: on to the trap
        assert last.reason == "exception" and last.step == end
        s.run_command("watchpoint delete")
        s.run_command("frame select 1")
        total = _watched(s.run_command("watchpoint set variable total"))
        w = walk(trap, total, 4)
        back = expected_backward(w, changes(w), end, True)
        assert [wt.do("rc") for _ in range(len(back))] == back
        assert wt.do("rc").reason == "history_boundary"
        wt.close()


# ---- host writes, reads without --reads ----------------------------------------------------


READER = """(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 256))   ;; iovec: buffer at 256, 16 bytes
    (i32.store (i32.const 4) (i32.const 16))
    (i32.store (i32.const 300) (i32.const 7))   ;; a wasm write to the buffer's first word
    (i32.store (i32.const 256) (i32.const 7))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store8 (i32.const 256) (i32.const 88))))
"""


def test_watchpoint_sees_the_host_write_at_the_import_call(tmp_path):
    import wasmtime

    require_lldb()
    wasm = tmp_path / "reader.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(READER))
    rec = record(wasm, tmp_path / "t.db", stdin="ABCDEFGH")
    assert rec.returncode == 0
    with ttd_serve(rec.trace) as srv, LLDBSession(wasm, srv.port) as s:
        out = s.run_command("watchpoint set expression -w write -s 4 -- 256")
        assert "Watchpoint created" in out, out
        kinds = []
        for _ in range(3):
            s.run_command("continue")
            stop = s.stop()
            assert stop.reason == "watchpoint", stop
            kinds.append(s.read_memory(256, 4))
        # the wasm store, then the host's fd_read (stop right after the call), then the store8
        assert kinds == [b"\x07\0\0\0", b"ABCD", b"XBCD"]
        s.run_command("process continue -R")  # before the store8
        assert s.read_memory(256, 4) == b"ABCD"
        s.run_command("process continue -R")  # before the call that filled the buffer
        assert s.read_memory(256, 4) == b"\x07\0\0\0"
        assert s.stop().offset == s.frames()[0].offset


def test_read_watchpoint_is_refused_without_reads(wild):
    with ttd_serve(wild) as srv, LLDBSession(get_case("wild").wasm_path, srv.port) as s:
        s.break_name("main")
        s.cont()
        out = s.run_command("watchpoint set expression -w read -s 4 -- 0x1000")
        assert "Watchpoint creation failed" in out, out
