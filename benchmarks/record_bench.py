"""Recording cost on CPU-bound programs, against the same module on plain wasmtime-py.

Prints one row per program: plain run time, direct recording time (`Recorder`: instrument +
compile + run + flush), indexing time, the ratio, steps per second and trace bytes per step.
Both runs happen in this process, one after the other, so the ratio compares like with like.

The two-phase `ttd record` (capture, then expansion) is measured by capture_run and
complete_run, which benchmarks.run puts side by side with plain_times in one process.

    python -m benchmarks.record_bench            # the 10^8-step programs
    python -m benchmarks.record_bench --smoke    # ~10^6 steps, for CI: proves it runs
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import wasmtime

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "tests" / "programs"


def cases(smoke: bool) -> list[tuple[str, Path, list[str]]]:
    doc = json.loads((PROGRAMS / "cases.json").read_text())
    out = []
    for c in doc["cases"]:
        if c["name"].startswith("bench_"):
            args = c["smoke_args"] if smoke else c["args"]
            out.append((c["name"], PROGRAMS / c["wasm"], list(args)))
    return out


def plain_times(wasm: Path, args: list[str], trap: bool = False) -> dict:
    """The same module on wasmtime-py, uninstrumented: "total" is compile + instantiate + run
    (what `wasmtime run` costs), "run" the call of _start alone. With `trap`, the run must
    end in a trap."""
    t = time.perf_counter()
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wasm.read_bytes())
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [wasm.name, *args]
    devnull = tempfile.NamedTemporaryFile(delete=False)
    wasi.stdout_file = devnull.name
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    t_run = time.perf_counter()
    trapped = False
    try:
        start(store)
    except wasmtime.ExitTrap:
        pass
    except wasmtime.Trap:
        if not trap:
            raise
        trapped = True
    end = time.perf_counter()
    os.unlink(devnull.name)
    if trap and not trapped:
        raise SystemExit(f"{wasm.name} {' '.join(args)} did not trap")
    return {"total": end - t, "run": end - t_run}


def plain_run(wasm: Path, args: list[str]) -> float:
    """The same module on wasmtime-py, uninstrumented: compile, instantiate, run."""
    return plain_times(wasm, args)["total"]


@contextmanager
def program_stdout_to_devnull():
    """What the recorded program prints goes to fd 1: keep it out of the benchmark's output."""
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def capture_run(wasm: Path, args: list[str], out: Path, *, use_cache: bool = True) -> dict:
    """Phase 1 of `ttd record` alone: the uninstrumented module on wasmtime, import calls kept."""
    from ttd.record.capture import Capturer
    from ttd.record.recorder import RecordOptions

    with program_stdout_to_devnull():
        t = time.perf_counter()
        res = Capturer(RecordOptions(program=wasm, args=args, out=out, quiet=True,
                                     overwrite=True, use_cache=use_cache)).run()
        seconds = time.perf_counter() - t
    return {"seconds": seconds, "calls": res.calls, "exit_code": res.exit_code,
            "bytes": out.stat().st_size}


def complete_run(wasm: Path, args: list[str], out: Path, *, jobs: int | None,
                 use_cache: bool = True) -> dict:
    """`ttd record` as a whole: capture, then expansion into a complete trace in `jobs` worker
    processes (None: one per core; ttd.record.pipeline.capture_and_expand). "seconds" is the
    wall time of both; the trace's info says how they split and how many workers the expansion
    used."""
    from ttd.record.pipeline import capture_and_expand
    from ttd.record.recorder import RecordOptions
    from ttd.store.trace_store import TraceStore

    with program_stdout_to_devnull():
        t = time.perf_counter()
        res = capture_and_expand(RecordOptions(program=wasm, args=args, out=out, quiet=True,
                                               overwrite=True, use_cache=use_cache, jobs=jobs))
        seconds = time.perf_counter() - t
    with TraceStore.open(out) as st:
        info = st.info()
    return {"seconds": seconds, "steps": res.steps, "chunks": res.chunks,
            "bytes": out.stat().st_size, "exit_code": res.exit_code,
            "capture_s": info.get("capture_seconds"), "expand_s": info.get("expand_seconds"),
            "workers": info.get("expand_jobs")}


def record_run(wasm: Path, args: list[str], out: Path) -> dict:
    from ttd.record import indexer
    from ttd.record.recorder import RecordOptions, Recorder

    timings = {}
    real_index = indexer.index_trace

    def timed_index(path, quiet=False):
        t = time.perf_counter()
        try:
            return real_index(path, quiet=quiet)
        finally:
            timings["index"] = time.perf_counter() - t

    indexer.index_trace = timed_index
    try:
        with program_stdout_to_devnull():
            t = time.perf_counter()
            res = Recorder(RecordOptions(program=wasm, args=args, out=out, quiet=True,
                                         overwrite=True)).run()
            total = time.perf_counter() - t
    finally:
        indexer.index_trace = real_index
    return {"steps": res.steps, "total": total, "index": timings.get("index", 0.0),
            "record": total - timings.get("index", 0.0), "bytes": out.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="small inputs, for CI")
    ap.add_argument("--json", action="store_true", help="one JSON object per program")
    a = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, wasm, args in cases(a.smoke):
            plain = plain_run(wasm, args)
            r = record_run(wasm, args, Path(tmp) / f"{name}.db")
            rows.append({
                "program": name, "steps": r["steps"], "plain_s": round(plain, 4),
                "record_s": round(r["record"], 3), "index_s": round(r["index"], 3),
                "ratio": round(r["record"] / plain, 1),
                "steps_per_s": round(r["steps"] / r["record"]),
                "bytes_per_step": round(r["bytes"] / r["steps"], 4),
                "trace_mb": round(r["bytes"] / 1e6, 2),
            })
    if a.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    head = ["program", "steps", "plain_s", "record_s", "ratio", "steps_per_s",
            "bytes_per_step", "trace_mb", "index_s"]
    print(" | ".join(f"{h:>14}" for h in head))
    for row in rows:
        print(" | ".join(f"{row[h]:>14,}" if isinstance(row[h], (int, float)) and h not in
                         ("plain_s", "record_s", "ratio", "bytes_per_step", "trace_mb", "index_s")
                         else f"{row[h]:>14}" for h in head))
    return 0


if __name__ == "__main__":
    sys.exit(main())
