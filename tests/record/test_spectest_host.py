"""`ttd record --spectest`: a module importing the spec tests' `spectest` host module (print
functions, globals, table, memory) is recorded, replays and verifies; its expansion takes
every import from the capture, never from the host."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import wasmtime

from tests.support.capture_craft import info, set_info
from tests.support.recording import ttd

WAT = """
(module
  (import "spectest" "print_i32" (func $print (param i32)))
  (import "spectest" "print_f64_f64" (func $print2 (param f64 f64)))
  (import "spectest" "global_i32" (global $g i32))
  (import "spectest" "global_f64" (global $gf f64))
  (import "spectest" "memory" (memory 1 2))
  (import "spectest" "table" (table 10 funcref))
  (data (i32.const 8) "hi")
  (elem (i32.const 2) $seven)
  (func $seven (result i32) (i32.const 7))
  (func (export "run") (param i32) (result i32)
    (call $print (local.get 0))
    (call $print2 (global.get $gf) (f64.const 0.5))
    (i32.store (i32.const 100) (global.get $g))
    (drop (memory.grow (i32.const 1)))
    (i32.add
      (i32.add (i32.load (i32.const 100)) (i32.load8_u (i32.const 8)))
      (i32.add (call_indirect (result i32) (i32.const 2))
               (i32.add (table.size) (memory.size))))))
"""
# 666 (global_i32) + 104 ('h') + 7 + 10 (table) + 2 (pages after the grow)
EXPECTED = 666 + 104 + 7 + 10 + 2


@pytest.fixture()
def wasm(tmp_path: Path) -> Path:
    p = tmp_path / "spec.wasm"
    p.write_bytes(wasmtime.wat2wasm(WAT))
    return p


@pytest.mark.parametrize("mode", [(), ("--direct",)], ids=["capture", "direct"])
def test_record_with_the_spectest_host(wasm, tmp_path, mode):
    out = tmp_path / "t.db"
    r = ttd("record", "--spectest", *mode, "-q", "-o", str(out), "--invoke", "run", str(wasm),
            "5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["5: i32", "666.6: f64", "0.5: f64", str(EXPECTED)]
    assert info(out)["invoke_results"] == [str(EXPECTED)]
    v = ttd("verify", str(out))
    assert v.returncode == 0, v.stdout + v.stderr


def test_without_the_host_a_clear_error(wasm, tmp_path):
    r = ttd("record", "-q", "-o", str(tmp_path / "t.db"), "--invoke", "run", str(wasm), "5")
    err = r.stderr.decode()
    assert r.returncode != 0 and "Traceback" not in err
    assert "spectest::print_i32" in err and len(err.strip().splitlines()) == 1


def test_expansion_takes_the_host_values_from_the_capture(wasm, tmp_path):
    cap = tmp_path / "cap.db"
    r = ttd("record", "--spectest", "--capture-only", "-q", "-o", str(cap), "--invoke", "run",
            str(wasm), "5")
    assert r.returncode == 0, r.stderr
    values = info(cap)["capture"]["host_values"]
    assert ["global", "spectest", "global_i32", "i32", False, 666] in values
    # the capture as it is expands (in place; no host involved: nothing printed)
    ok_db, bad_db, bad2_db = (tmp_path / f"{n}.db" for n in ("ok", "bad", "bad2"))
    for p in (ok_db, bad_db, bad2_db):
        shutil.copyfile(cap, p)
    ok = ttd("expand", "-q", str(ok_db))
    assert ok.returncode == 0, ok.stderr
    assert b"i32" not in ok.stdout
    assert info(ok_db)["invoke_results"] == [str(EXPECTED)]
    # another value in the capture: the expansion re-executes with it, so the run no longer
    # ends as captured (the host's 666 was not consulted)
    capture = info(cap)["capture"]
    capture["host_values"] = [[*v[:5], 667] if v[2] == "global_i32" else v
                              for v in capture["host_values"]]
    set_info(bad_db, capture=capture)
    bad = ttd("expand", "-q", str(bad_db))
    err = bad.stderr.decode()
    assert bad.returncode != 0 and "Traceback" not in err, err
    assert str(EXPECTED + 1) in err or "diverge" in err.lower() or "differ" in err.lower(), err
    # an unusable description: one clear line, no trace of a traceback
    capture["host_values"] = [["memory", "spectest", "memory", 1 << 40, None, ""]]
    set_info(bad2_db, capture=capture)
    bad = ttd("expand", "-q", str(bad2_db))
    err = bad.stderr.decode()
    assert bad.returncode != 0 and "Traceback" not in err and err.strip(), err
