#!/usr/bin/env python3
"""Rebuild the C test programs of tests/programs/ into wasm32-wasi modules.

    python tests/programs/build.py              # rebuild every .wasm
    python tests/programs/build.py fib trap     # rebuild some programs
    python tests/programs/build.py --expect     # then rewrite the expectations in
                                                # cases.json by running `wasmtime run`
    python tests/programs/build.py --steps      # then measure approximate step counts
                                                # (wasmtime-py fuel) into cases.json
    python tests/programs/build.py --check      # build into a temp dir and compare
                                                # with the committed .wasm files

Every src/NAME.c becomes NAME.wasm next to this script, compiled with zig's clang:

    python -m ziglang cc -target wasm32-wasi -g -O0 -fno-sanitize=undefined \
        -fdebug-compilation-dir=. src/NAME.c -o NAME.wasm

run from this directory, so the DWARF names sources relatively (`src/NAME.c`, comp_dir
`.`) and the output does not depend on where the repository is checked out. The programs
in OPTIMISED (opstack) get -O2 instead of -O0.
`-fno-sanitize=undefined` matters: zig turns UBSan on at -O0, which adds ~0.5 MB of
runtime and turns out-of-bounds bugs (trap.c) into an `unreachable` panic instead of a
wasm memory trap. The libc objects (zig's wasi-libc, compiler_rt) carry their own DWARF,
which is most of each module's ~1 MB.

zlib_example.wasm is zlib's own test program (zlib-1.2.11/test/example.c) linked with the
zlib library sources. Neither is kept in this repository: they are taken from the sdist
of the PyPI package `pyminizip` (version and sha256 pinned below), which vendors zlib
1.2.11 complete with its test directory. Only the built module and the zlib licence
(zlib_example.LICENSE.txt, copied from zlib.h) are committed.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
CASES = HERE / "cases.json"

CFLAGS = [
    "-target", "wasm32-wasi",
    "-g", "-O0",
    "-fno-sanitize=undefined",
    "-fdebug-compilation-dir=.",
]

# Programs about what only optimised code does (variables that live on the wasm operand
# stack, DW_OP_WASM_location 2): built with this -O level instead of -O0.
OPTIMISED = {"opstack": "-O2"}

ZLIB_SDIST_NAME = "pyminizip"
ZLIB_SDIST_VERSION = "0.2.6"
ZLIB_SDIST_FILE = f"pyminizip-{ZLIB_SDIST_VERSION}.tar.gz"
ZLIB_SDIST_SHA256 = "0a954dd2a65fd72c8b827b83fb806fb4f301075a6ec43e207d3345ab15843a7a"
ZLIB_DIR = "zlib-1.2.11"
ZLIB_SOURCES = [
    "adler32.c", "compress.c", "crc32.c", "deflate.c", "gzclose.c", "gzlib.c",
    "gzread.c", "gzwrite.c", "infback.c", "inffast.c", "inflate.c", "inftrees.c",
    "trees.c", "uncompr.c", "zutil.c",
]
ZLIB_TEST = "test/example.c"
ZLIB_PROGRAM = "zlib_example"


def zig_cc(args: list[str], cwd: Path) -> None:
    cmd = [sys.executable, "-m", "ziglang", "cc", *args]
    subprocess.run(cmd, cwd=cwd, check=True)


def c_programs() -> list[str]:
    return sorted(p.stem for p in SRC.glob("*.c"))


def build_c(name: str, outdir: Path) -> Path:
    out = outdir / f"{name}.wasm"
    flags = [OPTIMISED.get(name, f) if f == "-O0" else f for f in CFLAGS]
    zig_cc([*flags, f"src/{name}.c", "-o", str(out)], cwd=HERE)
    out.chmod(0o644)
    return out


# ---------------------------------------------------------------------------
# zlib from the pyminizip sdist


def fetch_zlib_sdist(workdir: Path, sdist: Path | None) -> Path:
    """Return the path of the pinned pyminizip sdist, downloading it with pip."""
    if sdist is None:
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ttd-programs"
        cached = cache / ZLIB_SDIST_FILE
        if cached.is_file() and sha256(cached) == ZLIB_SDIST_SHA256:
            return cached
        dl = workdir / "sdist"
        dl.mkdir()
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
             "--disable-pip-version-check", "-d", str(dl),
             f"{ZLIB_SDIST_NAME}=={ZLIB_SDIST_VERSION}"],
            check=True,
        )
        sdist = dl / ZLIB_SDIST_FILE
        try:
            cache.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sdist, cached)
        except OSError:
            pass
    digest = sha256(sdist)
    if digest != ZLIB_SDIST_SHA256:
        raise SystemExit(f"{sdist}: sha256 {digest} != pinned {ZLIB_SDIST_SHA256}")
    return sdist


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_zlib(outdir: Path, sdist: Path | None) -> Path:
    with tempfile.TemporaryDirectory(prefix="ttd-zlib-") as tmp:
        work = Path(tmp)
        archive = fetch_zlib_sdist(work, sdist)
        top = f"pyminizip-{ZLIB_SDIST_VERSION}/{ZLIB_DIR}/"
        wanted = {top + f for f in ZLIB_SOURCES + [ZLIB_TEST]}
        with tarfile.open(archive) as tar:
            members = [
                m for m in tar.getmembers()
                if m.isfile() and (m.name in wanted or (
                    m.name.startswith(top) and m.name.endswith(".h") and "/contrib/" not in m.name))
            ]
            for m in members:
                data = tar.extractfile(m).read()
                dest = work / m.name[len(f"pyminizip-{ZLIB_SDIST_VERSION}/"):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        out = outdir / f"{ZLIB_PROGRAM}.wasm"
        srcs = [f"{ZLIB_DIR}/{f}" for f in ZLIB_SOURCES] + [f"{ZLIB_DIR}/{ZLIB_TEST}"]
        # HAVE_UNISTD_H is what zlib's configure would set (declares lseek & co).
        zig_cc([*CFLAGS, "-w", "-DHAVE_UNISTD_H", f"-I{ZLIB_DIR}", *srcs, "-o", str(out)], cwd=work)
        out.chmod(0o644)
        licence = zlib_licence((work / ZLIB_DIR / "zlib.h").read_text(encoding="latin-1"))
        (outdir / f"{ZLIB_PROGRAM}.LICENSE.txt").write_text(licence)
    return out


def zlib_licence(header: str) -> str:
    start = header.index("/*") + 2
    end = header.index("*/")
    body = header[start:end].strip("\n")
    return (
        "zlib_example.wasm is built from zlib 1.2.11 (the library and its test/example.c),\n"
        "taken from the sdist of the PyPI package pyminizip 0.2.6, which vendors it.\n"
        "Its licence, from zlib.h:\n\n" + body.rstrip() + "\n"
    )


# ---------------------------------------------------------------------------
# expectations and step counts


def load_cases() -> dict:
    return json.loads(CASES.read_text())


def save_cases(doc: dict) -> None:
    CASES.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def update_expectations() -> None:
    sys.path.insert(0, str(HERE.parent.parent))
    from tests.support.cases import run_case_cli  # noqa: E402

    doc = load_cases()
    for case in doc["cases"]:
        res = run_case_cli(case)
        case["expected_stdout"] = res.stdout
        case["expected_exit_code"] = res.returncode
        print(f"{case['name']}: exit {res.returncode}, {len(res.stdout)} bytes of stdout")
        if "smoke_args" in case:
            res = run_case_cli(case, smoke=True)
            case["smoke_expected_stdout"] = res.stdout
            if res.returncode != case["expected_exit_code"]:
                raise SystemExit(f"{case['name']}: smoke run exit {res.returncode}")
    save_cases(doc)


def update_steps() -> None:
    sys.path.insert(0, str(HERE.parent.parent))
    from tests.support.cases import measure_fuel  # noqa: E402

    doc = load_cases()
    for case in doc["cases"]:
        case["approx_steps"] = measure_fuel(case)
        line = f"{case['name']}: ~{case['approx_steps']} steps"
        if "smoke_args" in case:
            case["smoke_approx_steps"] = measure_fuel(case, smoke=True)
            line += f" (smoke ~{case['smoke_approx_steps']})"
        print(line)
    save_cases(doc)


# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("programs", nargs="*", help=f"program names (default: all, plus {ZLIB_PROGRAM})")
    ap.add_argument("--no-zlib", action="store_true", help=f"do not rebuild {ZLIB_PROGRAM}.wasm")
    ap.add_argument("--sdist", type=Path, help=f"use this local {ZLIB_SDIST_FILE} instead of pip download")
    ap.add_argument("--expect", action="store_true", help="rewrite expected stdout/exit codes in cases.json")
    ap.add_argument("--steps", action="store_true", help="rewrite approx_steps in cases.json")
    ap.add_argument("--check", action="store_true",
                    help="build into a temp dir and compare with the committed modules")
    args = ap.parse_args(argv)

    names = args.programs or c_programs() + ([] if args.no_zlib else [ZLIB_PROGRAM])
    unknown = [n for n in names if n != ZLIB_PROGRAM and not (SRC / f"{n}.c").is_file()]
    if unknown:
        ap.error(f"no such program: {', '.join(unknown)}")

    with tempfile.TemporaryDirectory(prefix="ttd-build-") as tmp:
        outdir = Path(tmp) if args.check else HERE
        differ = []
        for name in names:
            out = build_zlib(outdir, args.sdist) if name == ZLIB_PROGRAM else build_c(name, outdir)
            print(f"built {out.name} ({out.stat().st_size} bytes)")
            if args.check and not filecmp.cmp(out, HERE / out.name, shallow=False):
                differ.append(out.name)
        if args.check:
            if differ:
                print("differ from the committed modules: " + ", ".join(differ))
                return 1
            print("all modules identical to the committed ones")
    if args.expect:
        update_expectations()
    if args.steps:
        update_steps()
    return 0


if __name__ == "__main__":
    sys.exit(main())
