"""A trap Cranelift moved records: wasmtime reports it at the machine instruction that trapped
(the function's entry for a folded `unreachable`, the `br_if` that jumps to one), the
expansion at the Wasm instruction, and the two are the same trap (spec select.wast
select-trap-left/right diverged: 'captured run trapped at pc 0x4b7'; a br_if to an
unreachable: 'trapped at pc 0x35, the re-execution at 0x3b')."""

from __future__ import annotations

import pytest
import wasmtime

from tests.support.recording import record, ttd
from ttd.replay.trace import Trace
from ttd.store.trace_store import TraceStore

WAT = """
(module
  (func (export "left") (param $c i32) (result i32)
    (select (unreachable) (i32.const 0) (local.get $c)))
  (func (export "right") (param $c i32) (result i32)
    (select (i32.const 0) (unreachable) (local.get $c))))
"""


@pytest.mark.parametrize("export", ["left", "right"])
def test_trap_at_function_entry_records(export, tmp_path):
    wasm = tmp_path / "t.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(WAT))
    rec = record(wasm, tmp_path / "t.db", ["1"], extra=["--invoke", export])
    assert rec.returncode == 134, rec.stderr
    assert "unreachable" in rec.stderr
    assert ttd("verify", str(rec.trace)).returncode == 0
    with TraceStore.open(rec.trace) as store:
        trace = Trace(store)
        ops = {op.offset: op.name for op in trace.module.operators(trace.module.bodies[0].index
                                                                      + (export == "right"))}
        info = store.info()
    assert info.get("final", {}).get("last_pc") in ops
    assert ops[info["final"]["last_pc"]] == "unreachable"


BR_IF = """
(module
  (global $g (mut i32) (i32.const 1))
  (func $f (param i32) (result i32)
    (block $b
      (br_if $b (local.get 0))
      (return (i32.const 5)))
    unreachable)
  (func (export "_start")
    (drop (call $f (global.get $g)))))
"""


def test_a_br_if_to_unreachable_records_at_the_unreachable(tmp_path):
    wasm = tmp_path / "t.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(BR_IF))
    rec = record(wasm, tmp_path / "t.db")
    assert rec.returncode == 134, rec.stderr
    assert "unreachable" in rec.stderr and "diverged" not in rec.stderr
    assert ttd("verify", str(rec.trace)).returncode == 0
    with TraceStore.open(rec.trace) as store:
        trace = Trace(store)
        ops = {op.offset: op.name for op in trace.module.operators(trace.module.bodies[0].index)}
        last_pc = store.info()["final"]["last_pc"]
    assert ops[last_pc] == "unreachable"
