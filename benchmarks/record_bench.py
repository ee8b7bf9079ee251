"""Recording cost on CPU-bound programs, against the same module on plain wasmtime-py.

Prints one row per program: plain run time, recording time (instrument + compile + run +
flush), indexing time, the ratio, steps per second and trace bytes per step. Both runs
happen in this process, one after the other, so the ratio compares like with like.

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


def plain_run(wasm: Path, args: list[str]) -> float:
    """The same module on wasmtime-py, uninstrumented: compile, instantiate, run."""
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
    try:
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap:
        pass
    elapsed = time.perf_counter() - t
    os.unlink(devnull.name)
    return elapsed


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
    saved = os.dup(1)
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the program's stdout
        t = time.perf_counter()
        res = Recorder(RecordOptions(program=wasm, args=args, out=out, quiet=True,
                                     overwrite=True)).run()
        total = time.perf_counter() - t
    finally:
        os.dup2(saved, 1)
        os.close(saved)
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
