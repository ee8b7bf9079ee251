"""Run WebAssembly spec-suite assertions plain and recorded, and compare.

Input: the JSON + .wasm files `wasm-tools json-from-wast` writes for a .wast file. Every
`assert_return` / `assert_trap` that invokes an export runs twice, each time on a fresh
instance: on plain wasmtime-py, and recorded the way `ttd record --spectest --invoke EXPORT
ARGS` records it (capture, then expansion); both with the `spectest` host module
(ttd/record/spectest.py) for modules that import from it. A function taking or returning a float or a v128 is called
through an adapter appended to its module (tests/support/spec_adapter.py: floats as their
bits, a v128 as two i64), so every value crosses wasmtime-py exactly. Results must agree bit
for bit, also with the trace's rebuilt operand stack at its last step; traps by message; each trace must pass `ttd verify` and the operand-stack oracle of
tests/replay/test_operand_stack.py. Whatever is not run is counted under its reason.

A fresh instance per assertion (a recording starts from instantiation) means an assertion
that depends on earlier actions of the .wast can see other values than the spec expects; the
spec's expectation is therefore counted (`spec_agrees`), not required: plain and recorded
must agree.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime

from ttd.record import spectest
from ttd.record.pipeline import capture_and_expand
from ttd.record.recorder import RecordError, RecordOptions, _bits, _trap_message
from ttd.replay.operand_stack import OperandStacks
from ttd.replay.session import ReplaySession
from ttd.replay.trace import Trace
from ttd.replay.verify import verify
from ttd.store.trace_store import TraceStore
from tests.support.spec_adapter import ADAPTER, adapter_type, needs_adapter, with_adapter
from ttd.wasm.errors import WasmError
from ttd.wasm.module import parse_module

_VALUES = ("i32", "i64", "f32", "f64", "v128")
NOT_HOST = ("the module imports what neither the spectest host nor a module registered "
            "before it provides")
LINKED_STATE = ("the module imports a memory, table, tag or mutable global of a registered module: "
                "state shared with code the capture does not see (ttd record --link refuses it)")
BAD_REGISTERED = "the module imports from a registered module that cannot be instantiated here"


@dataclass
class Tally:
    planned: int = 0  # assertions that would run (a dry run counts them only)
    run: int = 0  # assertions run plain and recorded
    passed: int = 0
    spec_agrees: int = 0  # of those run, plain results equal to the spec's expectation
    stack_checks: int = 0  # results compared with the rebuilt operand stack
    stack_unknown: int = 0  # results the rebuilt stack leaves unknown
    failures: list = field(default_factory=list)  # (file, line, what)
    skipped: Counter = field(default_factory=Counter)  # reason -> assertions

    def merge(self, other: "Tally") -> None:
        for k in ("planned", "run", "passed", "spec_agrees", "stack_checks", "stack_unknown"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.failures += other.failures
        self.skipped.update(other.skipped)

    def report(self) -> str:
        lines = [f"assertions to run: {self.planned}; run plain and recorded: {self.run}, "
                 f"passed: {self.passed}, "
                 f"failed: {len(self.failures)}; plain equal to the spec's expectation: "
                 f"{self.spec_agrees}; results checked against the rebuilt operand stack: "
                 f"{self.stack_checks} (unknown there: {self.stack_unknown})"]
        for reason, n in self.skipped.most_common():
            lines.append(f"  not run: {n:6d}  {reason}")
        for f in self.failures[:50]:
            lines.append(f"  FAILED {f[0]}:{f[1]}: {f[2]}")
        return "\n".join(lines)


_WIDTH = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "f32": 32, "f64": 64}
_NAN = {32: (0xFF << 23, (1 << 23) - 1, 1 << 22), 64: (0x7FF << 52, (1 << 52) - 1, 1 << 51)}


def _int(s) -> int | None:
    try:
        return int(s) if isinstance(s, str) else None
    except ValueError:  # nan:..., a reference
        return None


def _value_bits(v: dict) -> int | str:
    """A spec argument's bits (a v128 as one 128-bit integer), or why it cannot be passed."""
    t, s = v["type"], v.get("value")
    if t in ("i32", "i64", "f32", "f64") and _int(s) is not None:
        return _int(s) & ((1 << _WIDTH[t]) - 1)
    if t == "v128" and isinstance(s, list) and all(_int(x) is not None for x in s):
        w = _WIDTH[v["lane_type"]]
        return sum((_int(x) & ((1 << w) - 1)) << (i * w) for i, x in enumerate(s))
    return f"{t} argument {s!r}: not a value of bits"


def _signed(bits: int, width: int) -> int:
    return bits - (1 << width) if bits >= 1 << (width - 1) else bits


def _flatten(values: list[int], types) -> list[int]:
    """Bits of each value as the integers the adapter (or an integer export) takes."""
    out = []
    for v, t in zip(values, types):
        if t == "v128":
            out += [_signed(v & (1 << 64) - 1, 64), _signed(v >> 64, 64)]
        else:
            out.append(_signed(v, 32 if t in ("i32", "f32") else 64))
    return out


def _lane_ok(want: str, got: int, width: int) -> bool:
    if want.startswith("nan:"):
        exp, frac, quiet = _NAN[width]
        is_nan = got & exp == exp and got & frac
        return bool(is_nan and (want == "nan:arithmetic" and got & quiet
                                or want == "nan:canonical" and got & frac == quiet))
    return got == int(want) & ((1 << width) - 1)


def _expected_ok(want: list, got: list[int], types) -> bool:
    """The plain results (flattened, as bits) against the spec's expectation."""
    got = list(got)
    for w, t in zip(want, types):
        if t == "v128":
            if len(got) < 2 or not isinstance(w.get("value"), list):
                return False
            v = (got.pop(0) & (1 << 64) - 1) | (got.pop(0) & (1 << 64) - 1) << 64
            lw = _WIDTH[w["lane_type"]]
            if not all(_lane_ok(x, (v >> (i * lw)) & ((1 << lw) - 1), lw)
                       for i, x in enumerate(w["value"])):
                return False
        else:
            width = 32 if t in ("i32", "f32") else 64
            if not got or not isinstance(w.get("value"), str) or not _lane_ok(
                    w["value"], got.pop(0) & ((1 << width) - 1), width):
                return False
    return not got


def _plain(module: wasmtime.Module, engine: wasmtime.Engine, field_: str, args: list,
           links: tuple = ()):
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    spectest.define(store, linker, out=io.StringIO())  # what it prints is not compared
    try:
        for name, path in links:  # fresh instances of the registered modules it needs
            linker.define_instance(store, name, linker.instantiate(
                store, wasmtime.Module(engine, Path(path).read_bytes())))
        inst = linker.instantiate(store, module)
        func = inst.exports(store)[field_]
        r = func(store, *args)
    except wasmtime.Trap as e:
        return None, _trap_message(e)
    return (list(r) if isinstance(r, (list, tuple)) else ([] if r is None else [r])), None


def _record(wasm: Path, field_: str, args: list[str], out: Path, links: tuple = ()):
    """`ttd record --invoke`, its output (results, a trap's backtrace) to /dev/null."""
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        return capture_and_expand(RecordOptions(program=wasm, invoke=field_, args=args,
                                                out=out, quiet=True, overwrite=True, jobs=1,
                                                spectest=True, links=list(links)))
    finally:
        for fd, s in zip((1, 2), saved):
            os.dup2(s, fd)
            os.close(s)
        os.close(null)


def _check(wasm: Path, field_: str, texts: list[str], plain, rtypes: list[str], out: Path,
           tally: Tally, links: tuple = ()) -> str | None:
    """Record one invocation and compare it with the plain run: None, or what differs."""
    from tests.replay.test_operand_stack import _check_trace  # the oracle

    results, trap = plain
    try:
        rec = _record(wasm, field_, texts, out, links)
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
        steps = trace.total_steps
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
    if not steps:  # the export is a host function itself (a registered module's): no Wasm ran
        return None
    try:
        _check_trace(rec.path, cold=4)
    except AssertionError as e:
        return f"operand stacks: {str(e)[:200]}"
    except Exception as e:  # a Mismatch: the rebuild contradicts validation
        return f"operand stacks: {type(e).__name__}: {str(e)[:200]}"
    return None


def _linkable(wasm: Path, m: wasmtime.Module, parsed, registered: dict):
    """(wasm, module, parsed, links) when every import is the spectest host's or a number
    function / constant number global of a registered module (links: the registered modules
    it needs, theirs first, as `ttd record --link` takes them); else why not."""
    links: dict[str, Path] = {}

    def need(p) -> str | None:
        for i in p.imports:
            if spectest.provides(i.module, i.name, i.kind):
                continue
            reg = registered.get(i.module)
            if reg is None:
                return NOT_HOST
            if isinstance(reg, str):
                return BAD_REGISTERED
            if i.kind not in ("func", "global"):
                return LINKED_STATE
            if i.kind == "global" and (i.desc.mutable or str(i.desc.valtype) not in _VALUES[:4]):
                return LINKED_STATE
            if i.module not in links:
                why = need(reg[2])
                if why is not None:
                    return why if why != NOT_HOST else BAD_REGISTERED
                links[i.module] = reg[0]
        return None

    why = need(parsed)
    if why is not None:
        return why
    return (wasm, m, parsed, tuple(links.items()))


def run_json(path: Path, tally: Tally, select=None, engine: wasmtime.Engine | None = None,
             dry_run: bool = False) -> None:
    """Run the assertions of one json-from-wast file (`select(index)` picks a subset; a dry
    run only sorts them into what would run and what would not, and why)."""
    engine = engine or wasmtime.Engine()
    spec = json.loads(path.read_text())
    wasm_dir = path.parent / path.stem
    modules: dict[str | None, tuple | str] = {}
    adapted: dict[tuple, tuple[Path, wasmtime.Module]] = {}
    current: tuple | str = "no module yet"
    registered: dict[str, tuple | str] = {}  # name -> a module (or why it is unusable)
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
                    # types from ttd's own reader: wasmtime-py aborts the process on GC types
                    data = wasm.read_bytes()
                    try:
                        m = wasmtime.Module(engine, data)
                        parsed = parse_module(data)
                        current = _linkable(wasm, m, parsed, registered)
                    except wasmtime.WasmtimeError as e:
                        current = f"wasmtime-py rejects the module: {str(e).splitlines()[0][:80]}"
                    except WasmError as e:
                        current = f"ttd's module reader rejects the module: {str(e)[:80]}"
                modules[None] = current
                if cmd.get("name"):
                    modules[cmd["name"]] = current
                continue
            if kind == "register":
                what = modules.get(cmd.get("name"), "an unknown module name")
                registered[cmd["as"]] = what
                tally.skipped["register: not compared"] += 1
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
            wasm, module, parsed, links = target
            func = next((e for e in parsed.exports if e.name == action["field"]
                         and e.kind == "func"), None)
            if func is None:
                tally.skipped["invokes something that is not an exported function"] += 1
                continue
            ft = parsed.func_type(func.index)
            bad = next((f"{t} parameter or result: wasmtime-py cannot pass it" for t in
                        (*ft.params, *ft.results) if t not in _VALUES), None)
            bits = [_value_bits(a) for a in action["args"]]
            bad = bad or next((b for b in bits if isinstance(b, str)), None)
            want = cmd.get("expected", [])
            if bad is not None:
                tally.skipped[bad] += 1
                continue
            field_, target_wasm, target_module = action["field"], wasm, module
            if needs_adapter(ft):
                key = (wasm, func.index)
                if key not in adapted:
                    path2 = Path(tmp) / f"adapted{len(adapted)}.wasm"
                    path2.write_bytes(with_adapter(wasm.read_bytes(), parsed, func.index))
                    adapted[key] = (path2, wasmtime.Module(engine, path2.read_bytes()))
                target_wasm, target_module = adapted[key]
                field_ = ADAPTER
            rtypes = list(adapter_type(ft).results)
            call_args = _flatten(bits, ft.params)
            tally.planned += 1
            if dry_run:
                continue
            plain = _plain(target_module, engine, field_, call_args, links)
            tally.run += 1
            if kind == "assert_return" and plain[0] is not None and _expected_ok(
                    want, plain[0], ft.results):
                tally.spec_agrees += 1
            elif kind == "assert_trap" and plain[1] is not None:
                tally.spec_agrees += 1
            what = _check(target_wasm, field_, [str(x) for x in call_args], plain, rtypes, out,
                          tally, links)
            if what is None:
                tally.passed += 1
            else:
                tally.failures.append((path.name, cmd.get("line"), what))
