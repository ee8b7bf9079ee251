"""Run the whole WebAssembly spec test suite plain and recorded (tests/support/spec_suite.py).

    python scripts/spec_suite.py [--testsuite DIR] [--every N] [--only NAME...] [--dry-run]
    python scripts/spec_suite.py --testsuite DIR --write-subset tests/spec

DIR is a checkout of github.com/WebAssembly/testsuite (default: cloned shallowly into a
temporary directory). Each .wast is converted with `wasm-tools json-from-wast`; its
assertions run plain and recorded and are compared. --every N runs one assertion in N (the
whole suite takes hours: about a second an assertion). Directories of proposals wasmtime-py
50 does not enable by default, or that ttd does not record, are skipped by name.
Exit status 0 only if nothing failed. CI runs the committed subset (tests/spec).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.spec_suite import Tally, run_json  # noqa: E402

REPO = "https://github.com/WebAssembly/testsuite"
SKIP = {
    "proposals/custom-descriptors": "custom descriptors: not enabled by default in wasmtime-py 50",
    "proposals/custom-page-sizes": "custom page sizes: not enabled by default in wasmtime-py 50",
    "proposals/wide-arithmetic": "wide arithmetic: not enabled by default in wasmtime-py 50",
    "proposals/threads": "threads: shared memories and atomics, which ttd does not record",
    "legacy": "legacy exception handling (try/catch/rethrow), which ttd does not record",
}


# the CI subset (tests/spec): .wast name -> assertions kept
SUBSET = {"i32": 6, "i64": 6, "f32": 6, "f64": 6, "conversions": 6, "select": 5, "br_table": 4,
          "call_indirect": 6, "local_tee": 3, "address": 5, "traps": 5, "int_exprs": 4,
          "loop": 5, "memory_trap": 5, "simd_f64x2_rounding": 5, "simd_f32x4": 5,
          "simd_i32x4_arith": 4,
          # modules importing the spectest host and registered modules' exports
          "imports": 6, "linking": 6, "table_copy": 4, "global": 4}


def write_subset(js: Path, keep: int) -> None:
    """Keep every module/register command and `keep` assertions spread over the file (at
    most two assert_traps); delete the .wasm files no module command names."""
    spec = json.loads(js.read_text())
    cmds = spec["commands"]
    inv = [i for i, c in enumerate(cmds) if c["type"] in ("assert_return", "assert_trap")
           and c["action"]["type"] == "invoke"]
    traps = [i for i in inv if cmds[i]["type"] == "assert_trap"]
    rets = [i for i in inv if cmds[i]["type"] == "assert_return"]
    chosen = set(traps[::max(1, len(traps) // 2)][:2]) if traps else set()
    n = keep - len(chosen)
    chosen |= set(rets[::max(1, len(rets) // n)][:n])
    spec["commands"] = [c for i, c in enumerate(cmds)
                        if c["type"] in ("module", "register") or i in chosen]
    js.write_text(json.dumps(spec, indent=1))
    named = {c["filename"] for c in spec["commands"] if c["type"] == "module"}
    for f in (js.parent / js.stem).iterdir():
        if f.name not in named:
            f.unlink()


def wasm_tools() -> str:
    here = Path(sys.executable).parent / "wasm-tools"
    found = str(here) if here.exists() else shutil.which("wasm-tools")
    if found is None:
        sys.exit("spec_suite: wasm-tools not found (pip install wasm-tools)")
    return found


def convert(wast: Path, out_dir: Path, tool: str) -> Path | None:
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / f"{wast.stem}.json"
    wasm_dir = out_dir / wast.stem
    wasm_dir.mkdir(exist_ok=True)
    p = subprocess.run([tool, "json-from-wast", str(wast), "-o", str(js), "--wasm-dir",
                        str(wasm_dir)], capture_output=True, text=True)
    return js if p.returncode == 0 else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--testsuite", type=Path)
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--only", nargs="*", help="only these .wast names (without .wast)")
    ap.add_argument("--write-subset", type=Path, metavar="OUT",
                    help="write the CI subset (SUBSET) into OUT instead of running")
    ap.add_argument("--dry-run", action="store_true",
                    help="only count what would run and what would not, and why")
    a = ap.parse_args()
    tool = wasm_tools()
    with tempfile.TemporaryDirectory(prefix="ttd-spec-suite-") as tmp:
        suite = a.testsuite
        if suite is None:
            suite = Path(tmp) / "testsuite"
            subprocess.run(["git", "clone", "--depth", "1", "-q", REPO, str(suite)], check=True)
        if a.write_subset is not None:
            for name, keep in SUBSET.items():
                js = convert(suite / f"{name}.wast", a.write_subset, tool)
                write_subset(js, keep)
            return 0
        total = Tally()
        for wast in sorted(suite.rglob("*.wast")):
            rel = wast.relative_to(suite)
            if a.only and wast.stem not in a.only:
                continue
            skip = next((why for d, why in SKIP.items() if str(rel).startswith(d + "/")), None)
            if skip is not None:
                total.skipped[f"{rel.parent}: {skip} (whole .wast files)"] += 1
                continue
            js = convert(wast, Path(tmp) / "json" / rel.parent, tool)
            if js is None:
                total.skipped[f"{rel.parent}: json-from-wast cannot convert it (whole .wast files)"] += 1
                continue
            t = Tally()
            run_json(js, t, select=lambda i: i % a.every == 0, dry_run=a.dry_run)
            print(f"{rel}: run {t.run}, passed {t.passed}, failed {len(t.failures)}",
                  flush=True)
            total.merge(t)
        print(total.report())
        return 1 if total.failures else 0


if __name__ == "__main__":
    sys.exit(main())
