"""A trap of a tail call itself (return_call_indirect to an undefined element or of the wrong
type, return_call_ref of null) happens in the caller's frame, though the depth counter has
already left it: the expansion must still agree with the capture's backtrace."""

from __future__ import annotations

import pytest
import wasmtime

from tests.support.recording import ttd

WAT = """
(module
  (type $t (func (param i64) (result i64)))
  (type $u (func (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $id $other)
  (func $id (type $t) (local.get 0))
  (func $other (type $u) (i32.const 1))
  (func $dispatch (export "dispatch") (param i32 i64) (result i64)
    (return_call_indirect (type $t) (local.get 1) (local.get 0)))
  (func (export "outer") (param i32) (result i64)
    (i64.add (i64.const 1) (call $dispatch (local.get 0) (i64.const 41))))
  (func (export "null") (result i64)
    (return_call_ref $t (i64.const 1) (ref.null $t))))
"""


@pytest.mark.parametrize("export,args,trap", [
    ("dispatch", ["5", "2"], "undefined element"),
    ("outer", ["7"], "undefined element"),
    ("dispatch", ["1", "2"], "indirect call type mismatch"),
    ("null", [], "null"),
    ("outer", ["0"], None),
])
def test_tail_call_traps_record_and_verify(tmp_path, export, args, trap):
    wasm = tmp_path / "tc.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(WAT))
    out = tmp_path / "t.db"
    r = ttd("record", "-q", "-o", str(out), "--invoke", export, str(wasm), *args)
    err = r.stderr.decode()
    if trap is None:
        assert r.returncode == 0 and r.stdout.decode().split() == ["42"], err
    else:
        assert r.returncode == 134 and trap in err and "diverged" not in err, err
    v = ttd("verify", str(out))
    assert v.returncode == 0, v.stdout + v.stderr
