"""Post-mortem on a capture (`ttd serve CAPTURE --at end`): time to the first stop at the trap.

One row per scale of tests/programs/bench_trap.wasm (a CPU-bound loop that traps 27 frames
deep, after memory.grow). In one process, after the imports: the plain run (the module on
wasmtime-py, uninstrumented: compile + instantiate + run to the trap), the capture, then
  - today: what `serve CAPTURE --at end` does before its first stop: the whole capture
    expanded into a temporary trace (one process, as _expanded_copy), opened, the session
    positioned at the last step;
  - last segment: "expand the last segment first" as far as it exists
    (ttd.record.last_segment): the count pass, then the run of the shadow-stack variant that
    fast-forwards to the last chunks and keeps them, with the frames (functions, call sites,
    locals) where they start, as the whole expansion has them. `serve` does not replay such
    a segment yet: this is what the first stop would cost, without opening it.
Target (issue 14): first stop within 3x plain + 1 s at 10^9 steps.

    python -m benchmarks.postmortem_bench            # 10^8 steps
    python -m benchmarks.postmortem_bench --large    # and 10^9
    python -m benchmarks.postmortem_bench --smoke    # 10^6, for CI: proves it runs
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WASM = ROOT / "tests" / "programs" / "bench_trap.wasm"
#: Loop iterations of bench_trap.wasm per scale (22 steps each).
SCALES = {"smoke": 45_000, "default": 4_500_000, "large": 45_000_000}

COLUMNS = [
    ("program", "program", "{}"),
    ("steps", "steps", "{:,}"),
    ("plain_s", "plain s", "{:.3f}"),
    ("target_s", "target s", "{:.2f}"),
    ("today_s", "today s", "{:.2f}"),
    ("today_ratio", "today x", "{:.1f}x"),
    ("count_s", "count s", "{:.2f}"),
    ("segment_s", "segment s", "{:.2f}"),
    ("last_s", "last seg s", "{:.2f}"),
    ("start_depth", "frames at seg", "{}"),
    ("frames", "seg frames", "{}"),
]


def measure(scale: str, tmp: Path) -> dict:
    from benchmarks.record_bench import capture_run, plain_times
    from ttd.record.expand import expand_trace
    from ttd.record.last_segment import expand_last_segment
    from ttd.replay.session import ReplaySession
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    args = [str(SCALES[scale])]
    cap = tmp / f"cap-{scale}.db"
    capture_run(WASM, args, cap)  # fills the module cache too
    plain = min(plain_times(WASM, args, trap=True)["total"] for _ in range(3))

    t = time.perf_counter()
    res = expand_trace(cap, out=tmp / f"today-{scale}.db", quiet=True)
    trace = Trace(TraceStore.open(res.path))
    session = ReplaySession(trace, trace.total_steps - 1)
    today = time.perf_counter() - t
    stop = (session.last_stop.why.name, session.last_stop.step, session.last_stop.pc)
    steps = trace.total_steps
    trace.store.close()

    t = time.perf_counter()
    seg = expand_last_segment(cap, tmp / f"last-{scale}.db")
    last = time.perf_counter() - t
    if seg.steps != steps:
        raise SystemExit(f"the last segment ends at step {seg.steps:,}, the whole run at {steps:,}")
    for p in tmp.glob(f"*-{scale}.db"):
        p.unlink()
    return {"program": f"bench_trap {args[0]}", "scale": scale, "steps": steps,
            "plain_s": plain, "target_s": 3 * plain + 1, "today_s": today,
            "today_ratio": today / plain, "count_s": seg.count_seconds,
            "segment_s": seg.segment_seconds, "last_s": last, "start_depth": seg.start_depth,
            "frames": seg.frames,
            "first_stop": stop}


def render(rows: list[dict]) -> str:
    cells = [[h for _k, h, _f in COLUMNS]] + [[f.format(r[k]) for k, _h, f in COLUMNS] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = []
    for j, c in enumerate(cells):
        lines.append(" | ".join(x.rjust(w) if i else x.ljust(w) for i, (x, w) in enumerate(zip(c, widths))))
        if j == 0:
            lines.append("-|-".join("-" * w for w in widths))
    return "\n".join(lines)


def targets(rows: list[dict]) -> str:
    large = [r for r in rows if r["scale"] == "large"]
    if not large:
        return "[n/a    ] post-mortem first stop <= 3x plain + 1 s at 10^9 steps: not measured (--large)"
    r = large[0]
    verdict = "MET    " if r["today_s"] <= r["target_s"] else "NOT MET"
    return (f"[{verdict}] post-mortem first stop <= 3x plain + 1 s at 10^9 steps: "
            f"{r['today_s']:.2f} s, target {r['target_s']:.2f} s; the last segment with its "
            f"frames (not served yet) takes {r['last_s']:.2f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--large", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    from benchmarks.run import _preimport

    _preimport()
    import ttd.record.last_segment  # noqa: F401
    import ttd.replay.session  # noqa: F401

    scales = ["smoke"] if a.smoke else ["default", "large"] if a.large else ["default"]
    tmp = Path(tempfile.mkdtemp(prefix="ttd-postmortem-"))
    try:
        rows = [measure(s, tmp) for s in scales]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        for r in rows:
            print(json.dumps(r))
    else:
        print("post-mortem on a capture (serve --at end): seconds to the first stop at the trap")
        print(render(rows))
        print(targets(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
