"""Recording does not change how deep a program may recurse.

Instrumented frames are bigger than the plain module's. A recursion that fits `wasmtime run`
(here: the capture's plain run, at wasmtime's default Wasm stack) must finish under capture +
expansion with the same output and exit code; a runaway recursion must trap in the expansion
at the very call the captured run overflowed at: same trap, same pc, same depth, same frames.

The programs are WAT, built with the recursion count as a constant; the deepest count the
plain run survives is found by bisection on the capture's own engine.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import wasmtime

from tests.support.recording import info_json, record, ttd
from tests.support.wasmtime_cli import wasmtime_binary
from ttd.record.capture import capture_engine
from ttd.record.expand import MAX_BACKTRACE
from ttd.store.trace_store import TraceStore

STACK_EXHAUSTED = "call stack exhausted"
NO_OFFSET = (1 << 64) - 1  # wasmtime's module offset of a frame that overflowed in its prologue

# A dot every 1024 levels down to level 8192: import calls while recursing, none near the
# plain run's limit (the capture forwards them through a Wasm trampoline and Python, which
# costs stack `wasmtime run` does not spend)
_PRINT = """
  (global $level (mut i32) (i32.const 0))
  (func $dot
    (global.set $level (i32.add (global.get $level) (i32.const 1)))
    (if (i32.or (i32.ge_u (global.get $level) (i32.const 8192))
                (i32.and (global.get $level) (i32.const 1023)))
      (then (return)))
    (i32.store (i32.const 32) (i32.const 48))
    (i32.store (i32.const 36) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40))))
"""

# rec(n, a, b): a small frame
SMALL = """
  (func $rec (param $n i32) (param $a i64) (param $b i64) (result i64)
    (local $t i64)
    (call $dot)
    (if (result i64) (i32.eqz (local.get $n))
      (then (local.get $a))
      (else
        (local.set $t (i64.mul (local.get $b) (i64.const 3)))
        (i64.add
          (call $rec (i32.sub (local.get $n) (i32.const 1))
                     (i64.add (local.get $a) (local.get $b)) (local.get $t))
          (i64.xor (local.get $a) (local.get $t))))))
"""

# rec(n, a, b): many values live across the call (a bigger frame), the recursion through a
# second function by call_indirect, which returns with br_if / br_table to its function label
WIDE = """
  (type $sig (func (param i32 i64 i64) (result i64)))
  (table 1 funcref)
  (elem (i32.const 0) $rec)
  (func $rec (param $n i32) (param $a i64) (param $b i64) (result i64)
    (local $c i64) (local $d i64) (local $e i64) (local $f i64)
    (local.set $c (i64.mul (local.get $a) (i64.const 3)))
    (local.set $d (i64.add (local.get $b) (local.get $c)))
    (local.set $e (i64.xor (local.get $c) (local.get $d)))
    (local.set $f (i64.rotl (local.get $e) (i64.const 7)))
    (i64.add (i64.add (call $step (local.get $n) (local.get $d) (local.get $f))
                      (i64.mul (local.get $c) (local.get $d)))
             (i64.add (i64.mul (local.get $e) (local.get $f)) (local.get $a))))
  (func $step (param $n i32) (param $a i64) (param $b i64) (result i64)
    (call $dot)
    (local.get $a)
    (br_if 0 (i32.eqz (local.get $n)))
    (drop)
    (drop (block $go (result i64)
      (br_table $go 1 (i64.const 5) (i32.and (local.get $n) (i32.const 0)))))
    (call_indirect (type $sig) (i32.sub (local.get $n) (i32.const 1))
                   (local.get $a) (local.get $b) (i32.const 0)))
"""

TEMPLATE = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "deep\\n")
  (data (i32.const 48) ".")
  {print}
  {body}
  (func (export "_start")
    (local $r i64)
    (local.set $r (call $rec (i32.const {n}) (i64.const 1) (i64.const 2)))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 5))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.wrap_i64 (i64.and (local.get $r) (i64.const 63))))))
"""

PROGRAMS = {"small": SMALL, "wide": WIDE}
#: The functions one recursion level enters, in order, the last a leaf (dot: 2, rec: 3, step: 4)
LEVEL = {"small": [3, 2], "wide": [3, 4, 2]}


def _wasm(kind: str, n: int) -> bytes:
    return wasmtime.wat2wasm(TEMPLATE.format(print=_PRINT, body=PROGRAMS[kind], n=n))


def _plain_run(wasm: bytes) -> int | str:
    """Run as the capture runs the plain module: the exit code, or the trap's message."""
    engine = capture_engine()
    store = wasmtime.Store(engine)
    store.set_epoch_deadline(1)
    store.set_wasi(wasmtime.WasiConfig())  # no stdout: only the outcome matters here
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    try:
        linker.instantiate(store, wasmtime.Module(engine, wasm)).exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:
        return e.code
    except wasmtime.Trap as e:
        return str(e).strip().splitlines()[-1].split("wasm trap:")[-1].strip()
    return 0


_DEEPEST: dict[str, int] = {}


def deepest(kind: str) -> int:
    """The largest n the plain run survives (bisected; the next one overflows)."""
    if kind not in _DEEPEST:
        lo, hi = 1, 1 << 20
        assert _plain_run(_wasm(kind, hi)) == STACK_EXHAUSTED
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if isinstance(_plain_run(_wasm(kind, mid)), int):
                lo = mid
            else:
                hi = mid
        _DEEPEST[kind] = lo
    return _DEEPEST[kind]


def _write(tmp_path: Path, kind: str, n: int) -> Path:
    path = tmp_path / f"{kind}_{n if n >= 0 else 'inf'}.wasm"
    path.write_bytes(_wasm(kind, n))
    return path


@pytest.mark.parametrize("kind", sorted(PROGRAMS))
def test_deepest_recursion_finishes_as_under_wasmtime(tmp_path, kind):
    n = deepest(kind)
    assert n > 1000  # a real recursion
    wasm = _write(tmp_path, kind, n)
    plain = _plain_run(wasm.read_bytes())
    assert isinstance(plain, int)
    rec = record(wasm, tmp_path / "t.db", extra=["--expand"])
    assert rec.returncode == plain, rec.stderr
    assert rec.stdout == "." * min(7, (n + 1) // 1024) + "deep\n"
    info = info_json(tmp_path / "t.db")
    assert info["trap"] is None and info["exit_code"] == plain and info["status"] == "complete"

    # and as the wasmtime command line runs it (its own host frames cost a little stack)
    binary = wasmtime_binary()
    if binary is not None:
        m = n - 64
        wasm = _write(tmp_path, kind, m)
        live = subprocess.run([str(binary), "run", str(wasm)], capture_output=True, timeout=60)
        rec = record(wasm, tmp_path / "cli.db", extra=["--expand"])
        assert (rec.returncode, rec.stdout.encode()) == (live.returncode, live.stdout)


@pytest.mark.parametrize("kind", sorted(PROGRAMS))
def test_runaway_recursion_traps_at_the_captured_call(tmp_path, kind):
    wasm = _write(tmp_path, kind, -1)  # n counts down from 2**32 - 1: the stack ends first
    trace = tmp_path / "t.db"
    rec = record(wasm, trace, extra=["--capture-only"])
    assert rec.returncode == 134, rec.stderr
    with TraceStore.open(trace) as st:
        cap = st.info()
    assert cap["trap"] == STACK_EXHAUSTED
    frames = cap["trap_frames"]
    assert len(frames) == MAX_BACKTRACE  # wasmtime keeps only the innermost frames
    assert frames[0][1] == NO_OFFSET  # the function entered ran nothing: no pc
    call_pc = frames[1][1]

    p = ttd("expand", "--quiet", str(trace))
    assert p.returncode == 0, p.stderr.decode()
    info = info_json(trace)
    assert (info["trap"], info["exit_code"], info["status"]) == (STACK_EXHAUSTED, 134, "complete")
    assert info["trap_pc"] == call_pc

    # the last step is the call the plain run overflowed at, as deep as it was
    from ttd.replay.cursor import Cursor
    from ttd.replay.trace import Trace

    with TraceStore.open(trace) as st:
        cursor = Cursor(Trace(st))
        cursor.seek(cursor.total - 1)
        funcs, pcs = cursor.functions(), cursor.call_stack()
        steps = cursor.total
    # n = deepest + 1 is the first count the plain run does not survive: its deepest level
    # (the one a runaway recursion overflows in too) enters the function the capture names
    levels = deepest(kind) + 1
    seq = LEVEL[kind]
    assert len(funcs) == 1 + levels * (len(seq) - 1) + seq.index(frames[0][0])
    assert pcs[0] == call_pc
    assert funcs[:MAX_BACKTRACE - 1] == [f for f, _pc in frames[1:]]
    # callers: wasmtime names the call, the replay the return address just after it
    assert all(0 < ret - pc <= 6 for ret, (_f, pc) in zip(pcs[1:], frames[2:]))

    # the same history whichever way it is expanded: two workers, small chunks
    again = tmp_path / "again.db"
    rec = record(wasm, again, extra=["--expand", "--jobs", "2", "--chunk-blocks", "4096"])
    assert rec.returncode == 134, rec.stderr
    again_info = info_json(again)
    assert (again_info["steps"], again_info["trap_pc"]) == (steps, call_pc)


def test_stack_too_small_for_the_instrumented_frames_is_an_error(tmp_path, monkeypatch):
    """With no more Wasm stack than the plain run had, the instrumented run cannot get as
    deep: the expansion says so, naming the depth, rather than keeping another history."""
    import ttd.record.recorder as recorder
    from ttd.record.expand import expand_trace
    from ttd.record.recorder import RecordError

    n = deepest("small")
    wasm = _write(tmp_path, "small", n)
    trace = tmp_path / "t.db"
    assert record(wasm, trace, extra=["--capture-only"]).returncode == _plain_run(wasm.read_bytes())
    monkeypatch.setattr(recorder, "EXPANSION_WASM_STACK", 512 << 10)
    with pytest.raises(RecordError, match=r"ran out of Wasm stack entering a function [\d,]+ "
                                          r"frames deep"):
        expand_trace(trace, jobs=1, quiet=True, use_cache=False)


# ---- the counter itself ------------------------------------------------------------------

WAT_DIR = Path(__file__).resolve().parents[1] / "wat"
FAMILIES = sorted(p.stem for p in WAT_DIR.glob("*.wat") if p.stem != "trap")


def _run_counted(wasm: bytes, instrumented: bool, tmp_path: Path) -> int:
    """Run _start of the instrumented module (hooks that only empty the buffers) or of the
    probe; the depth counter when it returns."""
    from ttd.record.depth import depth_probe
    from ttd.record.instrument import EXPORT_PREFIX, instrument
    from ttd.record.recorder import _wt_functype

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.stdout_file = str(tmp_path / "stdout")
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    if not instrumented:
        exports = linker.instantiate(store, wasmtime.Module(engine, depth_probe(wasm))).exports(store)
    else:
        inst = instrument(wasm)
        exports = linker.instantiate(store, wasmtime.Module(engine, inst.wasm)).exports(store)
        lay = inst.layout
        tpi, tpv = exports[EXPORT_PREFIX + "tpi"], exports[EXPORT_PREFIX + "tpv"]
        hooks = exports[EXPORT_PREFIX + "hooks"]

        def flush() -> None:
            tpi.set_value(store, lay.id_base)
            tpv.set_value(store, lay.val_base)
        hooks.set(store, 0, wasmtime.Func(store, wasmtime.FuncType([], []), flush))
        for k, ht in enumerate(lay.hook_types):
            hooks.set(store, 1 + k, wasmtime.Func(store, _wt_functype(ht), lambda *a: None))
    exports["_start"](store)
    return exports[EXPORT_PREFIX + "depth"].value(store)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("instrumented", [True, False], ids=["instrumented", "probe"])
def test_every_way_out_of_a_function_is_counted(tmp_path, family, instrumented):
    """Returns, branches to the function label (br, br_if, br_table), the end, tail calls,
    and frames an exception unwound: after _start returns, the depth is 0 again."""
    wasm = wasmtime.wat2wasm((WAT_DIR / f"{family}.wat").read_text())
    assert _run_counted(wasm, instrumented, tmp_path) == 0
    assert (tmp_path / "stdout").read_text() == (WAT_DIR / f"{family}.expected").read_text()


def test_the_counter_is_part_of_the_instrumented_modules_cache_key(tmp_path, monkeypatch):
    import ttd.record.depth
    from ttd.record import module_cache

    module_cache._code_fingerprint.cache_clear()
    before = module_cache._code_fingerprint()
    changed = tmp_path / "depth.py"
    changed.write_bytes(Path(ttd.record.depth.__file__).read_bytes() + b"\n# changed\n")
    monkeypatch.setattr(ttd.record.depth, "__file__", str(changed))
    module_cache._code_fingerprint.cache_clear()
    try:
        assert module_cache._code_fingerprint() != before
    finally:
        monkeypatch.undo()
        module_cache._code_fingerprint.cache_clear()


EXITS = """
(module
  (memory (export "memory") 1)
  (func $brif (param i32) (result i32)
    (i32.const 7) (br_if 0 (local.get 0)) (drop) (i32.const 8))
  (func $brtable (param i32) (result i32)
    (block $a (result i32)
      (block $b (result i32)
        (br_table $a $b 2 (i32.const 5) (local.get 0)))  ;; 0: $a, 1: $b, else: the function
      (drop) (i32.const 6)))
  (func $tail (param i32) (result i32) (return_call $brtable (local.get 0)))
  (func $ret (param i32) (result i32) (if (local.get 0) (then (return (i32.const 1)))) (i32.const 2))
  (func $br (result i32) (i32.const 3) (br 0))
  (func (export "_start") (local $i i32)
    (loop $l
      (drop (call $brif (local.get $i)))
      (drop (call $brtable (local.get $i)))
      (drop (call $tail (local.get $i)))
      (drop (call $ret (local.get $i)))
      (drop (call $br))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 4))))))
"""


@pytest.mark.parametrize("instrumented", [True, False], ids=["instrumented", "probe"])
def test_branches_taken_to_the_function_label_are_counted(tmp_path, instrumented):
    """br_if and br_table leave the function only when they take its label (each index)."""
    assert _run_counted(wasmtime.wat2wasm(EXITS), instrumented, tmp_path) == 0
