"""The whole benchmark table: record and replay CPU-bound C programs, one row per program.

Each row runs in two fresh processes, so peak RSS belongs to one job:
  1. record: the plain run (same module on wasmtime-py, uninstrumented) then `ttd record`
     of it, both in that process; peak RSS is the process's high-water mark
  2. replay: open the trace, first stop, breakpoint searches, seeks, bs, vCont;s, bc

    python -m benchmarks.run              # the ~10^8-step runs of every bench_* program
    python -m benchmarks.run --large      # and the ~10^9-step runs (minutes)
    python -m benchmarks.run --smoke      # ~10^6 steps, for CI: proves it runs
    python -m benchmarks.run --json       # one JSON object per row instead of the table

Programs and their arguments are the bench_* cases of tests/programs/cases.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "tests" / "programs"

COLUMNS = [
    ("program", "program", "{}"),
    ("steps", "steps", "{:,}"),
    ("plain_s", "plain s", "{:.3f}"),
    ("record_s", "record s", "{:.2f}"),
    ("ratio", "ratio", "{:.1f}x"),
    ("msteps_per_s", "Msteps/s", "{:.0f}"),
    ("bytes_per_step", "B/step", "{:.3f}"),
    ("record_rss_mb", "rec RSS MB", "{:.0f}"),
    ("index_s", "index s", "{:.2f}"),
    ("open_ms", "open ms", "{:.0f}"),
    ("seek_p50_ms", "seek p50", "{:.1f}"),
    ("seek_p99_ms", "seek p99", "{:.1f}"),
    ("bs_p50_ms", "bs p50", "{:.1f}"),
    ("bs_p99_ms", "bs p99", "{:.1f}"),
    ("step_p50_ms", "s p50", "{:.2f}"),
    ("bc_ms", "bc ms", "{:.1f}"),
    ("bp_fwd_ms", "bp fwd ms", "{:.0f}"),
    ("bp_back_ms", "bp back ms", "{:.0f}"),
    ("replay_rss_mb", "replay RSS MB", "{:.0f}"),
]


def bench_cases(scale: str) -> list[tuple[str, Path, list[str]]]:
    doc = json.loads((PROGRAMS / "cases.json").read_text())
    key = {"smoke": "smoke_args", "default": "args", "large": "large_args"}[scale]
    out = []
    for c in doc["cases"]:
        if c["name"].startswith("bench_") and key in c:
            out.append((c["name"], PROGRAMS / c["wasm"], list(c[key])))
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_record(wasm: Path, out: Path, args: list[str]) -> dict:
    from benchmarks.record_bench import plain_run, record_run

    plain = plain_run(wasm, args)
    r = record_run(wasm, args, out)
    return {"plain_s": plain, "record_s": r["record"], "index_s": r["index"],
            "steps": r["steps"], "bytes": r["bytes"], "record_rss_mb": _peak_rss_mb()}


def child_replay(trace: Path, samples: int) -> dict:
    from benchmarks.replay_bench import measure

    m = measure(trace, samples)
    return {"open_ms": m["open_first_stop_ms"], "seek_p50_ms": m["seek"]["p50_ms"],
            "seek_p99_ms": m["seek"]["p99_ms"], "bs_p50_ms": m["bs"]["p50_ms"],
            "bs_p99_ms": m["bs"]["p99_ms"], "step_p50_ms": m["step"]["p50_ms"],
            "bc_ms": m["bc_to_start_ms"], "bp_fwd_ms": m["bp_search_forward_ms"],
            "bp_back_ms": m["bp_search_backward_ms"], "replay_rss_mb": _peak_rss_mb()}


def _child(*argv: str) -> dict:
    p = subprocess.run([sys.executable, "-m", "benchmarks.run", *argv], capture_output=True,
                       text=True, cwd=ROOT)
    if p.returncode != 0:
        raise SystemExit(f"benchmark child {argv[:2]} failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def row(name: str, wasm: Path, args: list[str], tmp: Path, samples: int) -> dict:
    trace = tmp / f"{name}-{'-'.join(args) or 'default'}.db"
    rec = _child("--child-record", str(wasm), str(trace), "--", *args)
    rep = _child("--child-replay", str(trace), str(samples))
    trace.unlink()
    label = name if not args else f"{name} {' '.join(args)}"
    return {"program": label, "steps": rec["steps"], "plain_s": rec["plain_s"],
            "record_s": rec["record_s"], "ratio": rec["record_s"] / rec["plain_s"],
            "msteps_per_s": rec["steps"] / rec["record_s"] / 1e6,
            "bytes_per_step": rec["bytes"] / rec["steps"], "record_rss_mb": rec["record_rss_mb"],
            "index_s": rec["index_s"], **rep}


def render(rows: list[dict]) -> str:
    cells = [[h for _k, h, _f in COLUMNS]]
    for r in rows:
        cells.append([f.format(r[k]) for k, _h, f in COLUMNS])
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = []
    for j, c in enumerate(cells):
        lines.append(" | ".join(x.rjust(w) if i else x.ljust(w)
                                for i, (x, w) in enumerate(zip(c, widths))))
        if j == 0:
            lines.append("-|-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child-record"]:
        wasm, out = Path(argv[1]), Path(argv[2])
        print(json.dumps(child_record(wasm, out, argv[4:])))
        return 0
    if argv[:1] == ["--child-replay"]:
        print(json.dumps(child_replay(Path(argv[1]), int(argv[2]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="~10^6-step runs only (CI)")
    ap.add_argument("--large", action="store_true", help="also the ~10^9-step runs")
    ap.add_argument("--only", help="comma-separated program names")
    ap.add_argument("--samples", type=int, help="random seeks per trace (default 100)")
    ap.add_argument("--json", action="store_true", help="one JSON object per row")
    a = ap.parse_args(argv)
    scales = ["smoke"] if a.smoke else (["default", "large"] if a.large else ["default"])
    samples = a.samples or (10 if a.smoke else 100)
    only = set(a.only.split(",")) if a.only else None
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("TTD_BENCH_TMP")) as tmp:
        for scale in scales:
            for name, wasm, args in bench_cases(scale):
                if only and name not in only:
                    continue
                r = row(name, wasm, args, Path(tmp), samples)
                rows.append(r)
                if a.json:
                    print(json.dumps(r), flush=True)
                else:
                    sys.stderr.write(f"measured {r['program']}\n")
    if not a.json:
        print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
