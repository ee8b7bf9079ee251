"""Write watchpoints from LLDB: the next and the previous write, wild and host writes included."""

from __future__ import annotations

import pytest

from tests.support.cases import get_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import record_case
from tests.support.serve import ttd_serve


@pytest.fixture(scope="module")
def wild(tmp_path_factory):
    require_lldb()
    return record_case(get_case("wild"), tmp_path_factory.mktemp("wild") / "t.db").trace


def _watched(s, out: str) -> int:
    import re

    m = re.search(r"addr = (0x[0-9a-fA-F]+) size = 4", out)
    assert m, out
    return int(m.group(1), 16)


def _int_at(s, addr: int) -> int:
    return int.from_bytes(s.read_memory(addr, 4), "little", signed=True)


def _watch_stops_until_scale(s, addr: int, most: int) -> list[tuple[str, int]]:
    """Continue from watchpoint stop to watchpoint stop until one in scale(): (function,
    value at addr) of each."""
    seen = []
    for _ in range(most):
        s.run_command("continue")
        stop = s.stop()
        assert stop.reason == "watchpoint", stop
        seen.append((stop.function, _int_at(s, addr)))
        if stop.function == "scale":
            break
    return seen


def test_watchpoint_finds_every_write_then_the_wild_one_and_goes_back(wild):
    with ttd_serve(wild) as srv, LLDBSession(get_case("wild").wasm_path, srv.port) as s:
        s.run_command("command script import ttd.lldb")
        s.break_name("main")
        s.cont()
        s.next()
        out = s.run_command("watchpoint set variable stats.total")
        assert "Watchpoint created" in out, out
        addr = _watched(s, out)
        seen = _watch_stops_until_scale(s, addr, 12)
        totals = [v for f, v in seen if f == "accumulate"]
        assert totals == [10 * sum(range(1, k + 1)) for k in range(1, 9)]
        assert seen[-1] == ("scale", 1080)  # the wild write: samples[8] is total
        s.run_command("process continue -R")  # the previous write: the last legitimate one
        stop = s.stop()
        assert stop.reason == "watchpoint" and stop.function == "accumulate"
        assert _int_at(s, addr) == 360
        s.run_command("rc")
        assert s.stop().function == "accumulate" and _int_at(s, addr) == 280
        s.run_command("process continue -F")
        assert s.stop().function == "accumulate" and _int_at(s, addr) == 360


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

    from tests.support.recording import record

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
        s.run_command("process continue -R")
        assert s.read_memory(256, 4) == b"ABCD"


@pytest.fixture(scope="module")
def wild_reads(tmp_path_factory):
    from tests.support.recording import record

    require_lldb()
    case = get_case("wild")
    rec = record(case.wasm_path, tmp_path_factory.mktemp("wildr") / "t.db", extra=["--reads"])
    assert rec.returncode == 1, rec.stderr  # the program reports the clobbered total
    return rec.trace


def test_read_watchpoint_finds_every_read_then_goes_back(wild_reads):
    """`-w read`: each `s->total += value` reads it, main reads it for printf, and scale()
    reads it as values[8] just before clobbering it."""
    with ttd_serve(wild_reads) as srv, LLDBSession(get_case("wild").wasm_path, srv.port) as s:
        s.break_name("main")
        s.cont()
        s.next()
        addr = _watched(s, s.run_command("watchpoint set variable stats.total"))
        s.run_command("watchpoint delete")
        out = s.run_command(f"watchpoint set expression -w read -s 4 -- {addr:#x}")
        assert "Watchpoint created" in out, out
        seen = _watch_stops_until_scale(s, addr, 11)
        # a read changes nothing: the value is the one before the next write
        assert [f for f, _v in seen] == ["accumulate"] * 8 + ["main", "scale"], seen
        assert [v for _f, v in seen[:8]] == [10 * sum(range(1, k)) for k in range(1, 9)]
        assert seen[8:] == [("main", 360), ("scale", 360)]
        s.run_command("process continue -R")
        stop = s.stop()
        assert stop.reason == "watchpoint" and stop.function == "main"
        s.run_command("process continue -R")
        assert s.stop().function == "accumulate" and _int_at(s, addr) == 280
        # read_write (access): the write that follows that read is next
        s.run_command("watchpoint delete")
        out = s.run_command(f"watchpoint set expression -w read_write -s 4 -- {addr:#x}")
        assert "Watchpoint created" in out, out
        s.run_command("process continue -F")  # a plain continue keeps going backwards
        stop = s.stop()
        assert stop.reason == "watchpoint" and stop.function == "accumulate"
        assert _int_at(s, addr) == 360
        s.run_command("process continue -R")  # back past that write to the read before it
        stop = s.stop()
        assert stop.reason == "watchpoint" and _int_at(s, addr) == 280


def test_read_watchpoint_is_refused_without_reads(wild):
    with ttd_serve(wild) as srv, LLDBSession(get_case("wild").wasm_path, srv.port) as s:
        s.break_name("main")
        s.cont()
        out = s.run_command("watchpoint set expression -w read -s 4 -- 0x1000")
        assert "Watchpoint creation failed" in out, out
