"""Modules with v128 globals record (capture + expansion, and --direct), verify, and replay
the globals' 128 bits at every step; an f32 global keeps a NaN's payload exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from tests.support.recording import record, ttd
from ttd.record.schedule import VT_F32, VT_V128
from ttd.replay.cursor import Cursor
from ttd.replay.trace import Trace
from ttd.store.trace_store import TraceStore

WAT = """
(module
  (global $g (mut v128) (v128.const i32x4 1 2 3 4))
  (global $k v128 (v128.const i64x2 -1 0x0123456789abcdef))
  (global $f (mut f32) (f32.const 0))
  (global (export "exported") (mut v128) (v128.const i8x16 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16))
  (func (export "main") (result i32)
    (global.set $g (i32x4.add (global.get $g) (global.get $k)))
    (global.set $f (f32.reinterpret_i32 (i32.const 0x7fa00001)))
    (i32x4.extract_lane 0 (global.get $g))))
"""
G0 = 1 | 2 << 32 | 3 << 64 | 4 << 96
K = (1 << 64) - 1 | 0x0123456789ABCDEF << 64


def _add_lanes(a: int, b: int) -> int:
    m = (1 << 32) - 1
    return sum((((a >> s) & m) + ((b >> s) & m) & m) << s for s in range(0, 128, 32))


@pytest.mark.parametrize("mode", [[], ["--direct"]], ids=["capture", "direct"])
def test_v128_global_records_and_replays(mode, tmp_path):
    wasm = tmp_path / "g.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(WAT))
    rec = record(wasm, tmp_path / "g.db", extra=[*mode, "--invoke", "main"])
    assert rec.returncode == 0, rec.stderr
    assert rec.stdout == "0\n"  # lane 0: 1 + 0xffffffff
    v = ttd("verify", str(rec.trace))
    assert v.returncode == 0, v.stdout.decode() + v.stderr.decode()
    with TraceStore.open(rec.trace) as store:
        trace = Trace(store)
        cur = Cursor(trace)
        assert [vt for vt, _v in cur.globals()][:3] == [VT_V128, VT_V128, VT_F32]
        assert [v for _vt, v in cur.globals()][:2] == [G0, K]
        cur.seek(trace.total_steps - 1)
        g, k, f = [v for _vt, v in cur.globals()][:3]
        assert (g, k) == (_add_lanes(G0, K), K)
        assert f == 0x7FA00001  # a signalling NaN, bit for bit
