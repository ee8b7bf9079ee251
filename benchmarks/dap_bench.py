"""What a `ttd dap` user waits per move on a big trace: each request that moves in time,
from the request to its `stopped` event, through the real adapter (stdio), LLDB and server.

Records tests/programs/bench_sort.wasm with its large argument (~10^9 steps, ~20 s) unless
--trace is given, goes to the middle of the run and times next / stepIn / stepOut /
stepBack / ttdReverseStepIn / ttdReverseStepOut / instruction steps both ways, continue and
reverseContinue between hits of a function breakpoint, and ttdGoto. Printed, not asserted:
the target is 100 ms at p50 per move.

    python -m benchmarks.dap_bench [--trace PATH] [--moves N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from tests.dap.wire import WireClient
    from tests.support.cases import get_case
    from tests.support.recording import record

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trace", type=Path, help="a recorded bench_sort trace (default: record one)")
    ap.add_argument("--moves", type=int, default=10, help="moves of each kind (default 10)")
    a = ap.parse_args(argv)
    trace = a.trace
    if trace is None:
        case = get_case("bench_sort")
        trace = Path(tempfile.mkdtemp(prefix="dap-bench-")) / "sort.db"
        t = time.monotonic()
        rec = record(case.wasm_path.resolve(), trace, case.large_args or case.args)
        if not trace.exists():
            sys.stderr.write(rec.stderr)
            return 1
        print(f"recorded {trace} in {time.monotonic() - t:.1f} s")
    c = WireClient.stdio()
    times: dict[str, list[float]] = {}

    def timed(kind: str, command: str, **args) -> dict:
        t = time.monotonic()
        c.request(command, {"threadId": 1, **args})
        stop = c.event("stopped")
        times.setdefault(kind, []).append(time.monotonic() - t)
        return stop

    try:
        t = time.monotonic()
        c.start({"type": "ttd", "request": "launch", "trace": str(trace)})
        print(f"launch to first stop: {time.monotonic() - t:.2f} s")
        total = c.request("ttdWhen")["body"]["total"]
        print(f"trace: {total:,} steps")
        for k in range(a.moves):
            timed("ttdGoto", "ttdGoto", step=total // 4 + k * (total // (2 * a.moves)))
        c.request("setFunctionBreakpoints", {"breakpoints": [{"name": "insertion_sort"}]})
        for _ in range(a.moves):
            timed("continue", "continue")
        for _ in range(a.moves):
            timed("reverseContinue", "reverseContinue")
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        for name, command, extra in [
                ("next", "next", {}), ("stepBack", "stepBack", {}),
                ("stepIn", "stepIn", {}), ("ttdReverseStepIn", "ttdReverseStepIn", {}),
                ("next (instruction)", "next", {"granularity": "instruction"}),
                ("stepBack (instruction)", "stepBack", {"granularity": "instruction"})]:
            for _ in range(a.moves):
                timed(name, command, **extra)
        for _ in range(3):
            timed("stepOut", "stepOut")
            timed("ttdReverseStepOut", "ttdReverseStepOut")
        c.request("disconnect")
    finally:
        c.close()
    every = []
    print(f"{'move':24} {'n':>3} {'p50 ms':>8} {'max ms':>8}")
    for kind, ts in times.items():
        every += ts
        print(f"{kind:24} {len(ts):3} {statistics.median(ts) * 1000:8.1f} {max(ts) * 1000:8.1f}")
    print(f"{'all moves':24} {len(every):3} {statistics.median(every) * 1000:8.1f} "
          f"{max(every) * 1000:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
