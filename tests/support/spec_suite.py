"""Run WebAssembly spec-suite assertions plain and recorded, and compare.

Input: the JSON + .wasm files `wasm-tools json-from-wast` writes for a .wast file. Every
`assert_return` / `assert_trap` that invokes an export runs twice, each time on a fresh
instance: on plain wasmtime-py, and recorded the way `ttd record --invoke EXPORT ARGS` records
it (capture, then expansion). Results must agree bit for bit (text of the same float repr;
NaN results by their bits, from the rebuilt operand stack of the trace's last step), traps by
message; each trace must pass `ttd verify` and the operand-stack oracle of
tests/replay/test_operand_stack.py. Whatever is not run is counted under its reason.

A fresh instance per assertion (a recording starts from instantiation) means an assertion
that depends on earlier actions of the .wast can see other values than the spec expects; the
spec's expectation is therefore counted (`spec_agrees`), not required: plain and recorded
must agree.
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime

from ttd.record.pipeline import capture_and_expand
from ttd.record.recorder import RecordError, RecordOptions, _bits, _trap_message
from ttd.replay.operand_stack import OperandStacks
from ttd.replay.session import ReplaySession
from ttd.replay.trace import Trace
from ttd.replay.verify import verify
from ttd.store.trace_store import TraceStore

ONLY_WASI = "the module has imports (spectest or registered modules): ttd records only WASI imports"


@dataclass
class Tally:
    run: int = 0  # assertions run plain and recorded
    passed: int = 0
    spec_agrees: int = 0  # of those run, plain results equal to the spec's expectation
    stack_checks: int = 0  # results compared with the rebuilt operand stack
    stack_unknown: int = 0  # results the rebuilt stack leaves unknown
    failures: list = field(default_factory=list)  # (file, line, what)
    skipped: Counter = field(default_factory=Counter)  # reason -> assertions

    def merge(self, other: "Tally") -> None:
        for k in ("run", "passed", "spec_agrees", "stack_checks", "stack_unknown"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.failures += other.failures
        self.skipped.update(other.skipped)

    def report(self) -> str:
        lines = [f"assertions run plain and recorded: {self.run}, passed: {self.passed}, "
                 f"failed: {len(self.failures)}; plain equal to the spec's expectation: "
                 f"{self.spec_agrees}; results checked against the rebuilt operand stack: "
                 f"{self.stack_checks} (unknown there: {self.stack_unknown})"]
        for reason, n in self.skipped.most_common():
            lines.append(f"  not run: {n:6d}  {reason}")
        for f in self.failures[:50]:
            lines.append(f"  FAILED {f[0]}:{f[1]}: {f[2]}")
        return "\n".join(lines)


def _arg(v: dict):
    """A spec argument as the text `ttd record --invoke` takes, and as the Python value
    wasmtime-py takes; or the reason it cannot be passed."""
    t, s = v["type"], v.get("value")
    if t in ("i32", "i64"):
        bits = 32 if t == "i32" else 64
        n = int(s)
        n = n - (1 << bits) if n >= 1 << (bits - 1) else n
        return str(n), n
    if t in ("f32", "f64"):
        raw = int(s)
        f = struct.unpack("<f" if t == "f32" else "<d",
                          raw.to_bytes(4 if t == "f32" else 8, "little"))[0]
        if math.isnan(f):
            return "NaN argument: --invoke takes decimal text, which has no NaN payloads"
        return repr(f), f
    return f"{t} argument: wasmtime-py cannot pass it to an export"


def _expected_ok(want: list, got: list, types: list[str]) -> bool:
    if len(want) != len(got):
        return False
    for w, g, t in zip(want, got, types):
        s = w.get("value")
        if s in ("nan:canonical", "nan:arithmetic"):
            if not (isinstance(g, float) and math.isnan(g)):
                return False
        elif isinstance(s, str) and _bits(g, t) != int(s) & ((1 << (32 if t in ("i32", "f32") else 64)) - 1):
            return False
    return True


def _plain(module: wasmtime.Module, engine: wasmtime.Engine, field_: str, args: list):
    store = wasmtime.Store(engine)
    try:
        inst = wasmtime.Instance(store, module, [])
        func = inst.exports(store)[field_]
        r = func(store, *args)
    except wasmtime.Trap as e:
        return None, _trap_message(e)
    return (list(r) if isinstance(r, (list, tuple)) else ([] if r is None else [r])), None


def _record(wasm: Path, field_: str, args: list[str], out: Path):
    """`ttd record --invoke`, its output (results, a trap's backtrace) to /dev/null."""
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        return capture_and_expand(RecordOptions(program=wasm, invoke=field_, args=args,
                                                out=out, quiet=True, overwrite=True, jobs=1))
    finally:
        for fd, s in zip((1, 2), saved):
            os.dup2(s, fd)
            os.close(s)
        os.close(null)


def _check(wasm: Path, field_: str, texts: list[str], plain, rtypes: list[str], out: Path,
           tally: Tally) -> str | None:
    """Record one invocation and compare it with the plain run: None, or what differs."""
    from tests.replay.test_operand_stack import _check_trace  # the oracle

    results, trap = plain
    try:
        rec = _record(wasm, field_, texts, out)
    except RecordError as e:
        return f"ttd record refused it: {e}"
    if (rec.trap is not None) != (trap is not None) or (trap is not None and rec.trap != trap):
        return f"trap: plain {trap!r}, recorded {rec.trap!r}"
    with TraceStore.open(rec.path) as store:
        recorded = store.info().get("invoke_results")
        trace = Trace(store)
        rep = verify(trace)
        if not rep.ok:
            return f"ttd verify: {rep.problems[:3]}"
        last = None
        if trap is None and trace.total_steps:
            stacks = OperandStacks(ReplaySession(trace), strict=True)
            last = stacks.frame_stack(trace.total_steps - 1, 0)
    if trap is None:
        if recorded != [str(r) for r in results]:
            return f"results: plain {[str(r) for r in results]}, recorded {recorded}"
        if last is not None and len(last) >= len(results):
            for (_vt, v), r, t in zip(last[len(last) - len(results):], results, rtypes):
                if v is None:
                    tally.stack_unknown += 1
                    continue
                tally.stack_checks += 1
                if v != _bits(r, t):
                    return f"rebuilt operand stack holds {v:#x}, the result is {_bits(r, t):#x}"
    try:
        _check_trace(rec.path, cold=4)
    except AssertionError as e:
        return f"operand stacks: {str(e)[:200]}"
    except Exception as e:  # a Mismatch: the rebuild contradicts validation
        return f"operand stacks: {type(e).__name__}: {str(e)[:200]}"
    return None


def run_json(path: Path, tally: Tally, select=None, engine: wasmtime.Engine | None = None) -> None:
    """Run the assertions of one json-from-wast file (`select(index)` picks a subset)."""
    engine = engine or wasmtime.Engine()
    spec = json.loads(path.read_text())
    wasm_dir = path.parent / path.stem
    modules: dict[str | None, tuple[Path, wasmtime.Module] | str] = {}
    current: tuple[Path, wasmtime.Module] | str = "no module yet"
    index = -1
    with tempfile.TemporaryDirectory(prefix="ttd-spec-") as tmp:
        out = Path(tmp) / "t.db"
        for cmd in spec["commands"]:
            kind = cmd["type"]
            if kind == "module":
                wasm = wasm_dir / cmd["filename"]
                if cmd.get("module_type", "binary") != "binary":
                    current = "a text module (json-from-wast kept it as text)"
                else:
                    try:
                        m = wasmtime.Module(engine, wasm.read_bytes())
                        current = ONLY_WASI if m.imports else (wasm, m)
                    except wasmtime.WasmtimeError as e:
                        current = f"wasmtime-py rejects the module: {str(e).splitlines()[0][:80]}"
                modules[None] = current
                if cmd.get("name"):
                    modules[cmd["name"]] = current
                continue
            if kind not in ("assert_return", "assert_trap"):
                tally.skipped[f"{kind}: not an execution of an export" if kind.startswith(
                    ("assert_invalid", "assert_malformed", "assert_unlinkable"))
                    else f"{kind}: not compared"] += 1
                continue
            action = cmd["action"]
            if action["type"] != "invoke":
                tally.skipped[f"{kind} of a `{action['type']}` action: no call to record"] += 1
                continue
            index += 1
            if select is not None and not select(index):
                continue
            target = modules.get(action.get("module"), "an unknown module name")
            if isinstance(target, str):
                tally.skipped[target] += 1
                continue
            wasm, module = target
            args = [_arg(a) for a in action["args"]]
            bad = next((a for a in args if isinstance(a, str)), None)
            want = cmd.get("expected", [])
            if bad is None:
                bad = next((f"{w['type']} result: wasmtime-py cannot return it" for w in want
                            if w["type"] not in ("i32", "i64", "f32", "f64")), None)
            if bad is not None:
                tally.skipped[bad] += 1
                continue
            func = next((e for e in module.exports if e.name == action["field"]), None)
            ftype = func.type if func is not None else None
            if not isinstance(ftype, wasmtime.FuncType):
                tally.skipped["invokes something that is not an exported function"] += 1
                continue
            rtypes = [str(t) for t in ftype.results]
            if any(t not in ("i32", "i64", "f32", "f64") for t in rtypes):
                tally.skipped["a result wasmtime-py cannot return"] += 1
                continue
            plain = _plain(module, engine, action["field"], [a[1] for a in args])
            tally.run += 1
            if kind == "assert_return" and plain[0] is not None and _expected_ok(
                    want, plain[0], rtypes):
                tally.spec_agrees += 1
            elif kind == "assert_trap" and plain[1] is not None:
                tally.spec_agrees += 1
            what = _check(wasm, action["field"], [a[0] for a in args], plain, rtypes, out, tally)
            if what is None:
                tally.passed += 1
            else:
                tally.failures.append((path.name, cmd.get("line"), what))
