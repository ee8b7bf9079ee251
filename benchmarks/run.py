"""The whole benchmark table: record and replay CPU-bound programs, one row per program.

`ttd record` works in two phases: a capture (the original module on wasmtime, only its import
calls kept) and an expansion (the instrumented module re-executed with the imports answered
from the capture, in worker processes, into the complete trace). Each row runs in three fresh
processes, so peak RSS belongs to one job:
  1. pipeline: the plain run (same module on wasmtime-py, uninstrumented), then in the same
     process the capture with an empty cache directory (cold) and again with the same one
     (cached), then the complete trace (capture + expansion) with --jobs 2 and an empty cache
     directory (cold), then --jobs 1 and --jobs 2 with that directory (cached); the last trace
     is the one replayed
  2. direct: the plain run again, then the single-run recorder (`Recorder`, as before the
     split), its instrumented module and compiled code taken from the cache
  3. replay: open the expanded trace, first stop, breakpoint searches, seeks, bs, vCont;s, bc
(at --smoke the three run in one process, two interpreters fewer per row: CI time).
Times exclude Python's start and imports (as the plain run excludes `import wasmtime`); every
ratio is to the plain run of the same process (compile + instantiate + run, as `wasmtime run`).
Under the table, the targets of the two-phase recorder, each with the measured figure, then
the post-mortem table (benchmarks.postmortem_bench: `serve CAPTURE --at end` to its first stop)
with its target (not with --json, nor with an --only that leaves bench_trap out).

    python -m benchmarks.run              # the ~10^8-step runs of every bench_* program + sqlite
    python -m benchmarks.run --large      # and the ~10^9-step runs (many minutes)
    python -m benchmarks.run --smoke      # ~10^6 steps, for CI: proves it runs (no sqlite)
    python -m benchmarks.run --only sqlite_driver   # one row (with --smoke: its smoke_args)
    python -m benchmarks.run --json       # one JSON object per row instead of the tables

Programs and their arguments are the bench_* cases of tests/programs/cases.json (including the
-O2 builds, bench_*_o2) and the big module, the case sqlite_driver (a 4.7 MB SQLite build).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "tests" / "programs"

#: Cases benchmarked besides the bench_* ones: the big module. Not at --smoke unless named
#: with --only (its cold instrument + compile alone is ~15 s).
BIG_CASES = ("sqlite_driver",)
#: The worker count of the parallel expansion measured (the cold one too).
JOBS = 2

RECORD_COLUMNS = [
    ("program", "program", "{}"),
    ("steps", "steps", "{:,}"),
    ("plain_s", "plain s", "{:.3f}"),
    ("plain_run_s", "run s", "{:.3f}"),
    ("cap_cold_s", "cap cold s", "{:.3f}"),
    ("cap_cold_ratio", "cold x", "{:.1f}x"),
    ("cap_s", "cap s", "{:.3f}"),
    ("cap_ratio", "cap x", "{:.1f}x"),
    ("full_cold_s", "full cold s", "{:.2f}"),
    ("full_j1_s", "full j1 s", "{:.2f}"),
    ("full_j1_ratio", "j1 x", "{:.1f}x"),
    ("full_j2_s", "full j2 s", "{:.2f}"),
    ("full_j2_ratio", "j2 x", "{:.1f}x"),
    ("j2_workers", "j2 n", "{}"),
    ("j2_over_j1", "j2/j1", "{:.2f}"),
    ("direct_s", "direct s", "{:.2f}"),
    ("direct_ratio", "direct x", "{:.1f}x"),
    ("bytes_per_step", "B/step", "{:.3f}"),
    ("cap_rss_mb", "cap RSS MB", "{:.0f}"),
    ("exp_rss_mb", "exp RSS MB", "{:.0f}"),
    ("record_rss_mb", "direct RSS MB", "{:.0f}"),
    ("index_s", "index s", "{:.2f}"),
]
REPLAY_COLUMNS = [
    ("program", "program", "{}"),
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
#: Every printed column, for those who check that none is missing.
COLUMNS = RECORD_COLUMNS + REPLAY_COLUMNS[1:]


def bench_cases(scale: str, big: bool | None = None) -> list[tuple[str, Path, list[str]]]:
    """(name, wasm, args) of each program at this scale: the bench_* cases, and the big
    module's case when `big` (default: except at smoke scale). A case without arguments for
    the scale (sqlite_driver has no large_args) is left out."""
    doc = json.loads((PROGRAMS / "cases.json").read_text())
    key = {"smoke": "smoke_args", "default": "args", "large": "large_args"}[scale]
    if big is None:
        big = scale != "smoke"
    out = []
    for c in doc["cases"]:
        wanted = c["name"].startswith("bench_") or (big and c["name"] in BIG_CASES)
        if wanted and key in c:
            out.append((c["name"], PROGRAMS / c["wasm"], list(c[key])))
    return out


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def _preimport() -> None:
    """What the recorder imports lazily, imported before any timing."""
    import ttd.record.capture  # noqa: F401
    import ttd.record.expand  # noqa: F401
    import ttd.record.indexer  # noqa: F401
    import ttd.record.module_cache  # noqa: F401
    import ttd.record.pipeline  # noqa: F401
    import ttd.record.recorder  # noqa: F401
    import ttd.store.trace_store  # noqa: F401


def _fresh_cache(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    os.environ["TTD_CACHE_DIR"] = str(path)


def child_pipeline(wasm: Path, out: Path, cache_root: Path, args: list[str]) -> dict:
    from benchmarks.record_bench import capture_run, complete_run, plain_times

    _preimport()
    plain = plain_times(wasm, args)
    _fresh_cache(cache_root / "capture")
    cold = capture_run(wasm, args, out)
    cached = capture_run(wasm, args, out)
    cap_rss = _peak_rss_mb()
    _fresh_cache(cache_root / "record")  # kept for the direct child
    full_cold = complete_run(wasm, args, out, jobs=JOBS)
    j1 = complete_run(wasm, args, out, jobs=1)
    j2 = complete_run(wasm, args, out, jobs=JOBS)  # the trace replayed
    return {"plain_s": plain["total"], "plain_run_s": plain["run"], "cap_cold_s": cold["seconds"],
            "cap_s": cached["seconds"], "calls": cached["calls"], "capture_bytes": cached["bytes"],
            "full_cold_s": full_cold["seconds"], "full_j1_s": j1["seconds"],
            "full_j2_s": j2["seconds"], "expand_j1_s": j1["expand_s"],
            "expand_j2_s": j2["expand_s"], "j2_workers": j2["workers"],
            "full_cold_workers": full_cold["workers"], "steps": j2["steps"], "chunks": j2["chunks"],
            "bytes": j2["bytes"], "cap_rss_mb": cap_rss,
            "exp_rss_mb": max(_peak_rss_mb(), _peak_rss_mb(resource.RUSAGE_CHILDREN))}


def child_record(wasm: Path, out: Path, cache_root: Path, args: list[str]) -> dict:
    from benchmarks.record_bench import plain_run, record_run
    from ttd.record.recorder import RecordOptions, prepare, read_program

    _preimport()
    os.environ["TTD_CACHE_DIR"] = str(cache_root / "record")
    # the instrumented module is in the cache already (the pipeline child's expansion put it
    # there); its compiled code for the direct recorder's engine is not: put it there first
    prepare(read_program(wasm), wasm, RecordOptions(program=wasm, args=args), expansion=False)
    plain = plain_run(wasm, args)
    r = record_run(wasm, args, out)
    return {"plain_s": plain, "record_s": r["record"], "index_s": r["index"],
            "steps": r["steps"], "bytes": r["bytes"], "record_rss_mb": _peak_rss_mb()}


def child_replay(trace: Path, samples: int) -> dict:
    from benchmarks.replay_bench import measure

    m = measure(trace, samples)
    return {"replay_steps": m["steps"], "open_ms": m["open_first_stop_ms"],
            "seek_p50_ms": m["seek"]["p50_ms"], "seek_p99_ms": m["seek"]["p99_ms"],
            "bs_p50_ms": m["bs"]["p50_ms"], "bs_p99_ms": m["bs"]["p99_ms"],
            "step_p50_ms": m["step"]["p50_ms"], "bc_ms": m["bc_to_start_ms"],
            "bp_fwd_ms": m["bp_search_forward_ms"], "bp_back_ms": m["bp_search_backward_ms"],
            "replay_rss_mb": _peak_rss_mb()}


def child_all(wasm: Path, trace: Path, direct_trace: Path, cache_root: Path, samples: int,
              args: list[str]) -> dict:
    """The three jobs of a row in one process (at --smoke: two interpreters fewer per row; peak
    RSS then covers what ran before)."""
    pipe = child_pipeline(wasm, trace, cache_root, args)
    rec = child_record(wasm, direct_trace, cache_root, args)
    direct_trace.unlink()
    return {"pipe": pipe, "rec": rec, "rep": child_replay(trace, samples)}


def _child(*argv: str) -> dict:
    p = subprocess.run([sys.executable, "-m", "benchmarks.run", *argv], capture_output=True,
                       text=True, cwd=ROOT)
    if p.returncode != 0:
        raise SystemExit(f"benchmark child {' '.join(argv[:3])} failed:\n{p.stderr[-8000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def row(name: str, wasm: Path, args: list[str], tmp: Path, samples: int, scale: str,
        one_process: bool = False) -> dict:
    stem = f"{name}-{'-'.join(args) or 'default'}"
    trace, direct_trace = tmp / f"{stem}.db", tmp / f"{stem}.direct.db"
    cache = tmp / f"{stem}.cache"
    try:
        if one_process:
            r = _child("--child-all", str(wasm), str(trace), str(direct_trace), str(cache),
                       str(samples), "--", *args)
            pipe, rec, rep = r["pipe"], r["rec"], r["rep"]
        else:
            pipe = _child("--child-pipeline", str(wasm), str(trace), str(cache), "--", *args)
            rec = _child("--child-record", str(wasm), str(direct_trace), str(cache), "--", *args)
            direct_trace.unlink()
            rep = _child("--child-replay", str(trace), str(samples))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        for p in (trace, direct_trace):
            p.unlink(missing_ok=True)
    if rep["replay_steps"] != pipe["steps"]:
        sys.stderr.write(f"warning: {name}: the expanded trace replays {rep['replay_steps']:,} "
                         f"steps, the expansion reported {pipe['steps']:,}\n")
    if rec["steps"] != pipe["steps"]:
        sys.stderr.write(f"warning: {name}: the direct recording has {rec['steps']:,} steps, "
                         f"the expanded trace {pipe['steps']:,}\n")
    plain = pipe["plain_s"]
    label = name if not args else f"{name} {' '.join(args)}"
    return {"program": label, "name": name, "scale": scale, **pipe,
            "cap_cold_ratio": pipe["cap_cold_s"] / plain, "cap_ratio": pipe["cap_s"] / plain,
            "full_j1_ratio": pipe["full_j1_s"] / plain, "full_j2_ratio": pipe["full_j2_s"] / plain,
            "j2_over_j1": pipe["full_j2_s"] / pipe["full_j1_s"],
            "bytes_per_step": pipe["bytes"] / pipe["steps"],
            # the direct recorder against the plain run of its own process; like the complete
            # trace, its time includes indexing (shown apart in "index s")
            "direct_s": rec["record_s"] + rec["index_s"], "direct_plain_s": rec["plain_s"],
            "direct_ratio": (rec["record_s"] + rec["index_s"]) / rec["plain_s"],
            "direct_bytes_per_step": rec["bytes"] / rec["steps"],
            "record_rss_mb": rec["record_rss_mb"], "index_s": rec["index_s"], **rep}


def _table(rows: list[dict], columns: list[tuple[str, str, str]]) -> list[str]:
    cells = [[h for _k, h, _f in columns]]
    for r in rows:
        cells.append([f.format(r[k]) for k, _h, f in columns])
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    lines = []
    for j, c in enumerate(cells):
        lines.append(" | ".join(x.rjust(w) if i else x.ljust(w)
                                for i, (x, w) in enumerate(zip(c, widths))))
        if j == 0:
            lines.append("-|-".join("-" * w for w in widths))
    return lines


def render(rows: list[dict]) -> str:
    """The recording table, a blank line, the replay table (of the expanded traces)."""
    return "\n".join(["recording (ratios to plain s; full = capture + expansion into the "
                      "complete trace; cold = empty cache directory)",
                      *_table(rows, RECORD_COLUMNS), "",
                      "replay of the expanded trace (full j2)", *_table(rows, REPLAY_COLUMNS)])


def _check(label: str, rows: list[dict], value, ok, show, absent: str) -> str:
    """One target: met if ok(value(row)) for every row; the worst row's figure."""
    if not rows:
        return f"[n/a    ] {label}: {absent}"
    vals = [(value(r), r) for r in rows]
    good = sum(1 for v, _r in vals if ok(v))
    worst, wr = max(vals, key=lambda x: x[0])
    verdict = "MET    " if good == len(vals) else "NOT MET"
    return (f"[{verdict}] {label}: worst {show(worst)} ({wr['program']}); "
            f"{good}/{len(vals)} rows meet it")


def targets(rows: list[dict]) -> str:
    """The two-phase recorder's targets, each with what was measured."""
    large = [r for r in rows if r.get("scale") == "large"]
    sqlite = [r for r in rows if r.get("name") == "sqlite_driver" and r.get("scale") == "default"]
    two = [r for r in rows if (r.get("j2_workers") or 0) >= 2]
    no_large = "not measured (the 10^9-step runs: --large)"
    no_sqlite = ("not measured (no sqlite_driver row with its default args: it has none at "
                 "--smoke, nor unless named by --only)")
    x = lambda v: f"{v:.2f}x"  # noqa: E731
    plus = lambda v: f"plain {v:+.2f} s"  # noqa: E731
    sec = lambda v: f"{v:.2f} s"  # noqa: E731
    lines = [
        _check("capture <= 1.3x plain at 10^9 steps (cached)", large,
               lambda r: r["cap_ratio"], lambda v: v <= 1.3, x, no_large),
        _check("capture <= plain + 0.5 s cached, any module", rows,
               lambda r: r["cap_s"] - r["plain_s"], lambda v: v <= 0.5, plus, "no rows"),
        _check("capture <= plain + 3 s uncached, any module", rows,
               lambda r: r["cap_cold_s"] - r["plain_s"], lambda v: v <= 3.0, plus, "no rows"),
        _check("complete trace <= 8x plain at 10^9 steps, --jobs 1", large,
               lambda r: r["full_j1_ratio"], lambda v: v <= 8.0, x, no_large),
        _check(f"complete trace <= 8x plain at 10^9 steps, --jobs {JOBS}", large,
               lambda r: r["full_j2_ratio"], lambda v: v <= 8.0, x, no_large),
        _check("2 workers <= 0.6x of 1 worker (complete trace, cached)", two,
               lambda r: r["j2_over_j1"], lambda v: v <= 0.6, x,
               "not measured: no row's expansion used 2 workers (too few chunks)"),
        _check(f"sqlite_driver complete trace <= 5 s uncached (--jobs {JOBS})", sqlite,
               lambda r: r["full_cold_s"], lambda v: v <= 5.0, sec, no_sqlite),
        _check("sqlite_driver complete trace <= 2 s cached, --jobs 1", sqlite,
               lambda r: r["full_j1_s"], lambda v: v <= 2.0, sec, no_sqlite),
        _check(f"sqlite_driver complete trace <= 2 s cached, --jobs {JOBS}", sqlite,
               lambda r: r["full_j2_s"], lambda v: v <= 2.0, sec, no_sqlite),
    ]
    fewer = [r["program"] for r in rows if (r.get("j2_workers") or 0) < 2]
    if fewer:
        lines.append(f"          (expansion used 1 worker for --jobs {JOBS}, too few chunks: "
                     f"{', '.join(fewer)})")
    return "\n".join(["targets (two-phase recorder):", *lines])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child-pipeline"]:
        print(json.dumps(child_pipeline(Path(argv[1]), Path(argv[2]), Path(argv[3]), argv[5:])))
        return 0
    if argv[:1] == ["--child-record"]:
        print(json.dumps(child_record(Path(argv[1]), Path(argv[2]), Path(argv[3]), argv[5:])))
        return 0
    if argv[:1] == ["--child-all"]:
        print(json.dumps(child_all(Path(argv[1]), Path(argv[2]), Path(argv[3]), Path(argv[4]),
                                   int(argv[5]), argv[7:])))
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
    ap.add_argument("--parallel", type=int, default=1, metavar="N",
                    help="measure N rows at once (their timings then disturb each other: for "
                         "--smoke, which proves the table runs, not how fast)")
    a = ap.parse_args(argv)
    scales = ["smoke"] if a.smoke else (["default", "large"] if a.large else ["default"])
    samples = a.samples or (10 if a.smoke else 100)
    only = set(a.only.split(",")) if a.only else None
    big = True if only and only & set(BIG_CASES) else None
    todo = [(name, wasm, args, scale) for scale in scales
            for name, wasm, args in bench_cases(scale, big) if not only or name in only]
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("TTD_BENCH_TMP")) as tmp, \
            ThreadPoolExecutor(max(1, a.parallel)) as pool:
        futures = [pool.submit(row, name, wasm, args, Path(tmp), samples, scale, a.smoke)
                   for name, wasm, args, scale in todo]
        for f in futures:  # in table order, each as soon as it and those above it are done
            r = f.result()
            rows.append(r)
            if a.json:
                print(json.dumps(r), flush=True)
            else:
                sys.stderr.write(f"measured {r['program']}\n")
    if a.json:
        sys.stderr.write(targets(rows) + "\n")
    else:
        print(render(rows))
        print()
        print(targets(rows))
        if not only or "bench_trap" in only:
            print()
            print(postmortem_table(scales))
    return 0


def postmortem_table(scales: list[str]) -> str:
    """The post-mortem rows (benchmarks.postmortem_bench), measured in a process of their own."""
    flags = ["--smoke"] if scales == ["smoke"] else ["--large"] if "large" in scales else []
    p = subprocess.run([sys.executable, "-m", "benchmarks.postmortem_bench", *flags],
                       capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        raise SystemExit(f"benchmarks.postmortem_bench failed:\n{p.stderr[-8000:]}")
    return p.stdout.rstrip()


if __name__ == "__main__":
    sys.exit(main())
