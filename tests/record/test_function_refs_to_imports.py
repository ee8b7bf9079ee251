"""A table or ref.func holding an imported (WASI) function records: the call through the
table or call_ref reaches the import's recording wrapper, so the host call is recorded as a
direct call is (its memory writes replay: `ttd verify` compares the final memory)."""

from __future__ import annotations

import pytest
import wasmtime

from tests.replay.test_operand_stack import _check_trace
from tests.support.recording import record, ttd
from ttd.replay.cursor import Cursor
from ttd.replay.trace import Trace
from ttd.store.trace_store import TraceStore

WAT = """
(module
  (type $fdw (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (type $fdw)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi\\n")
  (data (i32.const 0) "\\10\\00\\00\\00\\03\\00\\00\\00")
  (table 3 funcref)
  ELEM
  (elem declare func $fd_write)
  (func $self (type $fdw) (i32.const 9))
  (func (export "_start")
    (drop (call_indirect (type $fdw) (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)
                                     (i32.const 0)))
    (drop (call_indirect (type $fdw) (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)
                                     (i32.const 1)))
    (i32.store (i32.const 8) (i32.const 0))
    (drop (call_ref $fdw (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)
                         (ref.func $fd_write)))))
"""


# element segments as function indices, and as ref.func / ref.null expressions
ELEMS = {"indices": "(elem (i32.const 0) $fd_write $self)",
         "expressions": "(elem (i32.const 0) funcref (ref.func $fd_write) (ref.func $self) "
                        "(ref.null func))"}


@pytest.mark.parametrize("elem", sorted(ELEMS))
@pytest.mark.parametrize("mode", [[], ["--direct"]], ids=["capture", "direct"])
def test_imported_function_in_a_table(mode, elem, tmp_path):
    wasm = tmp_path / "t.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(WAT.replace("ELEM", ELEMS[elem])))
    rec = record(wasm, tmp_path / "t.db", extra=mode)
    assert rec.returncode == 0, rec.stderr
    assert rec.stdout == "hi\nhi\n"
    v = ttd("verify", str(rec.trace))
    assert v.returncode == 0, v.stdout.decode() + v.stderr.decode()
    with TraceStore.open(rec.trace) as store:
        trace = Trace(store)
        cur = Cursor(trace)
        cur.seek(trace.total_steps - 1)
        assert cur.read_memory(8, 4) == (3).to_bytes(4, "little")  # fd_write's nwritten
    _check_trace(rec.trace)
