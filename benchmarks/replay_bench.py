"""Replay latencies on a large trace: what a debugger user waits for.

Records a CPU-bound program (10^8 steps by default) as `ttd record` does (capture, then
expansion into the complete trace; --direct: the single-run recorder), then measures: opening
the trace and producing the first stop, a breakpoint search across the whole trace forwards and
backwards (a pc that runs only near the end / the start), `bs` (one step back) and `vCont;s`
(one step forward) at random positions, `bc` with no breakpoints (back to the start), and
seeks to random steps (p50/p99). Each move includes what a stop shows: the call stack and 1 KiB of
memory at the stack pointer.

    python -m benchmarks.replay_bench [--trace PATH] [--smoke] [--direct]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.record_bench import cases, complete_run, record_run


def _ms(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"p50_ms": round(statistics.median(xs) * 1e3, 2),
            "p99_ms": round(xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1e3, 2)}


def measure(path: Path, samples: int) -> dict:
    from ttd.replay.session import ReplaySession
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    t = time.perf_counter()
    trace = Trace(TraceStore.open(path))
    s = ReplaySession(trace, 0)
    first_stop = time.perf_counter() - t
    gc.freeze()  # as `ttd serve` does once the trace is open
    total = s.total
    rng = random.Random(1)
    out = {"steps": total, "open_first_stop_ms": round(first_stop * 1e3, 1)}

    # a pc that runs only at the very end of the program, and one only at the very start
    s.goto(total - 1)
    late_pc = s.cursor.pc
    s.goto(0)
    early_pc = s.cursor.pc
    s.add_breakpoint(late_pc)
    t = time.perf_counter()
    hit = s.find_breakpoint(0, forward=True)
    out["bp_search_forward_ms"] = round((time.perf_counter() - t) * 1e3, 1)
    out["bp_forward_hit_step"] = hit
    s.remove_breakpoint(late_pc)
    s.add_breakpoint(early_pc)
    t = time.perf_counter()
    hit = s.find_breakpoint(total - 1, forward=False)
    out["bp_search_backward_ms"] = round((time.perf_counter() - t) * 1e3, 1)
    s.remove_breakpoint(early_pc)

    def stop_view() -> None:
        # what a debugger shows at a stop: the call stack and the memory at the stack pointer
        # (memory pages load lazily, so a seek alone would undercount)
        cur = s.cursor
        cur.call_stack()
        if cur.st.globals and cur.st.memories:
            cur.read_memory(max(0, min(cur.st.globals[0], len(cur.st.memories[0]) - 1024)), 1024)

    seeks, backs, fwds = [], [], []
    for _ in range(samples):
        step = rng.randrange(1, total - 1)
        t = time.perf_counter()
        s.goto(step)
        stop_view()
        seeks.append(time.perf_counter() - t)
        t = time.perf_counter()
        s.step_backward()
        stop_view()
        backs.append(time.perf_counter() - t)
        t = time.perf_counter()
        s.step_forward()
        stop_view()
        fwds.append(time.perf_counter() - t)
    out["seek"] = _ms(seeks)
    out["bs"] = _ms(backs)
    out["step"] = _ms(fwds)
    s.goto(total - 1)
    t = time.perf_counter()
    stop = s.continue_backward()
    out["bc_to_start_ms"] = round((time.perf_counter() - t) * 1e3, 1)
    out["bc_stop"] = stop.why.value
    trace.store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", type=Path, help="measure this trace instead of recording one")
    ap.add_argument("--smoke", action="store_true", help="a ~10^6-step trace, few samples")
    ap.add_argument("--program", default="bench_sort")
    ap.add_argument("--direct", action="store_true",
                    help="record with the single-run recorder instead of capture + expansion")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = a.trace
        if path is None:
            name, wasm, args = next(c for c in cases(a.smoke) if c[0] == a.program)
            path = Path(tmp) / f"{name}.db"
            if a.direct:
                record_run(wasm, args, path)
            else:
                complete_run(wasm, args, path, jobs=None)
        result = measure(path, 20 if a.smoke else 100)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
