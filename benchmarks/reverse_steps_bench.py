"""Source-level reverse steps (rn, rs, rfinish) in a big module: what a user waits per move.

Records tests/programs/sqlite_driver.wasm (SQLite at -O2, one compile unit of ~174,000
line-table entries) with a short input, serves it, and in a real LLDB walks forwards with
`next` / `step` from a few functions (sqlite3VdbeExec: ~7,900 line entries of its own), then
times each `rn` / `rs` back and an `rfinish`. Each move is split into finding where to go (the
server's walk back and the pcs it asks LLDB about: `ask`) and landing there (the server's seek
to that step and LLDB's refresh: `land`). Printed, not asserted: the target is 0.2 s per move.

    python -m benchmarks.reverse_steps_bench [--orders N] [--trace PATH]
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

PLACES = [  # (function, breakpoint hits, forward move, moves)
    ("sqlite3VdbeExec", 3, "next", 10),
    ("sqlite3VdbeExec", 3, "step", 10),
    ("sqlite3BtreeInsert", 2, "step", 12),
    ("sqlite3BtreeInsert", 2, "next", 12),
]


def main(argv: list[str] | None = None) -> int:
    from tests.support.cases import get_case
    from tests.support.lldb_session import LLDBSession, require_lldb
    from tests.support.recording import record
    from tests.support.serve import ttd_serve

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", default="5", help="sqlite_driver's argument (default 5)")
    ap.add_argument("--trace", type=Path, help="use this recording of sqlite_driver")
    a = ap.parse_args(argv)
    require_lldb()
    case = get_case("sqlite_driver")
    with tempfile.TemporaryDirectory(prefix="ttd-rbench-") as tmp:
        trace = a.trace
        if trace is None:
            t0 = time.perf_counter()
            rec = record(case.wasm_path.resolve(), Path(tmp) / "t.db", [a.orders])
            if rec.returncode != 0:
                print(rec.stderr, file=sys.stderr)
                return 1
            trace = rec.trace
            print(f"recorded sqlite_driver {a.orders}: {time.perf_counter() - t0:.1f} s")
        rows = []
        for func, hits, how, n in PLACES:
            with ttd_serve(trace) as srv, LLDBSession(case.wasm_path, srv.port) as s:
                s.run_command("command script import ttd.lldb")
                commands = sys.modules["ttd.lldb"]
                spent = {"ask": 0.0}
                ask = commands._ask

                def timed_ask(*args, _ask=ask):
                    t = time.perf_counter()
                    try:
                        return _ask(*args)
                    finally:
                        spent["ask"] += time.perf_counter() - t
                commands._ask = timed_ask
                s.break_name(func)
                for _ in range(hits):
                    s.cont()
                s.delete_all_breakpoints()
                for _ in range(n):
                    getattr(s, how)()
                rev = {"next": "rn", "step": "rs"}[how]
                for cmd in [rev] * n + ["rfinish"]:
                    spent["ask"] = 0.0
                    before = commands.STATS["pcs_resolved"]
                    t = time.perf_counter()
                    out = s.run_command(cmd)
                    total = time.perf_counter() - t
                    if "error" in out.lower():
                        print(out, file=sys.stderr)
                        return 1
                    if total > 0.2:
                        print(f"  over 0.2 s: {func} {cmd} {total:.3f} s "
                              f"(ask {spent['ask']:.3f} s)")
                    rows.append((func, cmd, total, spent["ask"],
                                 commands.STATS["pcs_resolved"] - before))
    print(f"{'function':20s} {'move':8s} {'moves':>5s} {'p50 s':>7s} {'max s':>7s} "
          f"{'ask p50':>8s} {'land p50':>8s} {'pcs':>5s}")
    keys = []
    for r in rows:
        if (r[0], r[1]) not in keys:
            keys.append((r[0], r[1]))
    for func, cmd in keys:
        sel = [r for r in rows if (r[0], r[1]) == (func, cmd)]
        tot = [r[2] for r in sel]
        asks = [r[3] for r in sel]
        lands = [r[2] - r[3] for r in sel]
        print(f"{func:20s} {cmd:8s} {len(sel):5d} {statistics.median(tot):7.3f} {max(tot):7.3f} "
              f"{statistics.median(asks):8.3f} {statistics.median(lands):8.3f} "
              f"{sum(r[4] for r in sel):5d}")
    worst = max(r[2] for r in rows)
    print(f"\n[{'met' if worst <= 0.2 else 'missed'}] at most 0.2 s per source-level reverse "
          f"move: worst {worst:.3f} s (p50 {statistics.median(r[2] for r in rows):.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
