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

--expect and --steps rewrite only the cases of the modules named (all cases when no
program is named).

Every src/NAME.c becomes NAME.wasm next to this script, compiled with zig's clang:

    python -m ziglang cc -target wasm32-wasi -g -O0 -fno-sanitize=undefined \
        -fdebug-compilation-dir=. src/NAME.c -o NAME.wasm

(a src/NAME.cpp with `ziglang c++` and the same flags) run from this directory, so the
DWARF names sources relatively (`src/NAME.c`, comp_dir
`.`) and the output does not depend on where the repository is checked out. The programs
in OPTIMISED (opstack, inlined) get -O2 instead of -O0. The VARIANTS are second modules built from
the same source at another -O level: bench_sieve_o2.wasm is src/bench_sieve.c at -O2, and
so on for the four benchmark programs (the same output as the -O0 build for the same
arguments; their DWARF names src/bench_sieve.c).
`-fno-sanitize=undefined` matters: zig turns UBSan on at -O0, which adds ~0.5 MB of
runtime and turns out-of-bounds bugs (trap.c) into an `unreachable` panic instead of a
wasm memory trap. The libc objects (zig's wasi-libc, compiler_rt) carry their own DWARF,
which is most of each module's ~1 MB.

zlib_example.wasm is zlib's own test program (zlib-1.2.11/test/example.c) linked with the
zlib library sources. Neither is kept in this repository: they are taken from the sdist
of the PyPI package `pyminizip` (version and sha256 pinned below), which vendors zlib
1.2.11 complete with its test directory. Only the built module and the zlib licence
(zlib_example.LICENSE.txt, copied from zlib.h) are committed.

sqlite_driver.wasm is SQLite (the amalgamation sqlite3.c + sqlite3.h) driven by our
src/sqlite_driver.c, built at -O2. The amalgamation is not kept in this repository
either: it is taken from the npm package `better-sqlite3` (version and sha256 of the
tarball pinned below; `npm pack` fetches it), which vendors SQLite's amalgamation in
deps/sqlite3/. SQLite is built with SQLITE_OS_OTHER: the driver supplies the OS layer (a
VFS that opens no files, with fixed randomness and clock), so the program runs the same
way every time and needs no WASI file system. Only the built module and SQLite's
public-domain notice (sqlite_driver.LICENSE.txt, from sqlite3.h) are committed.

lua.wasm is the Lua 5.4.8 interpreter (onelua.c: every Lua source in one compile unit) at
-O2, the optimised code of someone else's interpreter for the reverse-stepping tests (inlined
frames in ltable.c's luaH_resize). Lua is taken from the sdist of the PyPI package `lupa`
(version and sha256 pinned below), which vendors it in third-party/lua54/. wasi-libc has no
setjmp without Wasm exception handling, so src/lua_wasi/ compiles Lua's error recovery out
(an error aborts) and stands in for the few C functions WASI lacks. Only the module and Lua's
MIT licence (lua.LICENSE.txt, from lua.h) are committed.

rust_algos.wasm is Rust: three modules of TheAlgorithms/Rust (MIT; Huffman coding,
Aho-Corasick, run-length encoding), used unchanged, driven by our src/rust_algos.rs. The
modules are not kept here either: they are read at a pinned commit (each file's sha256
pinned) from raw.githubusercontent.com, or with `--algorithms-git DIR` from a local clone.
It needs a rustc with the wasm32-wasi standard library (Debian: `apt-get install rustc
libstd-rust-dev-wasm32 wasi-libc lld`, rustc 1.63; `--rustc PATH`, default /usr/bin/rustc),
built at -O0 with `-g -C panic=abort` (a panic prints its message, then aborts with a wasm
`unreachable` trap). The .debug_pubnames/.debug_pubtypes sections (1.9 MB, from the standard
library; LLDB builds its own index and never reads them) are dropped.
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
OPTIMISED = {"opstack": "-O2", "inlined": "-O2"}

# Second builds of a source at another -O level: module name -> (source stem, level).
VARIANTS = {
    f"{stem}_o2": (stem, "-O2")
    for stem in ("bench_sieve", "bench_sort", "bench_recurse", "bench_lz")
}

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

SQLITE_NPM_NAME = "better-sqlite3"
SQLITE_NPM_VERSION = "12.11.1"
SQLITE_NPM_FILE = f"{SQLITE_NPM_NAME}-{SQLITE_NPM_VERSION}.tgz"
SQLITE_NPM_SHA256 = "ebf0ed75a7a59dbcb3b24bbd014ef49d9f15bc328e4adcbf516f2a8fadfa2835"
SQLITE_VERSION = "3.53.2"  # what that package's deps/sqlite3/sqlite3.h says
SQLITE_MEMBERS = ["package/deps/sqlite3/sqlite3.c", "package/deps/sqlite3/sqlite3.h"]
SQLITE_DIR = f"sqlite-{SQLITE_VERSION}"  # where the build puts them (the DWARF names it)
SQLITE_PROGRAM = "sqlite_driver"
SQLITE_OPT = "-O2"
# No threads, no mmap, no WAL (shared memory), no loadable extensions; temporary tables and
# sorts stay in memory; the OS layer (a VFS) comes from src/sqlite_driver.c.
SQLITE_DEFINES = [
    "-DSQLITE_OS_OTHER=1",
    "-DSQLITE_THREADSAFE=0",
    "-DSQLITE_OMIT_LOAD_EXTENSION",
    "-DSQLITE_OMIT_WAL",
    "-DSQLITE_MAX_MMAP_SIZE=0",
    "-DSQLITE_TEMP_STORE=3",
    "-DSQLITE_DEFAULT_MEMSTATUS=0",
    "-DSQLITE_OMIT_SHARED_CACHE",
    "-DSQLITE_OMIT_DEPRECATED",
    "-DSQLITE_DQS=0",
]

RUST_PROGRAM = "rust_algos"
RUST_REPO = "TheAlgorithms/Rust"
RUST_COMMIT = "2c53ddfa4b43da4df34bc2f990c5e806f455cb90"
# path in that repository -> sha256; the driver includes them from src/thealgorithms/
RUST_FILES = {
    "src/general/huffman_encoding.rs": "f7615e6f1bafb9d8d3dd3fc6840f6a1267ba5414b77b5d15290f179c8d8f5c33",
    "src/string/aho_corasick.rs": "69aa2ddb504bb93aeb5c6101fd7fa95eb86ff7c495ab1139b318f3c92446656e",
    "src/string/run_length_encoding.rs": "41daf78a5afad98d3fc2dc308d1c512687481008fc09031509dc886885213d2a",
    "LICENSE": "6d41c4f04905e2c652659b5e466c65603d414bc29dc4ea1086adc7207628166a",
}
RUSTFLAGS = ["--edition", "2021", "--target", "wasm32-wasi", "-C", "opt-level=0", "-g",
             "-C", "panic=abort"]
DROPPED_SECTIONS = {".debug_pubnames", ".debug_pubtypes"}


LUA_SDIST_NAME = "lupa"
LUA_SDIST_VERSION = "2.6"
LUA_SDIST_FILE = f"lupa-{LUA_SDIST_VERSION}.tar.gz"
LUA_SDIST_SHA256 = "9a770a6e89576be3447668d7ced312cd6fd41d3c13c2462c9dc2c2ab570e45d9"
LUA_VERSION = "5.4.8"  # what that sdist's third-party/lua54/lua.h says
LUA_DIR = f"lua-{LUA_VERSION}"  # where the build puts the sources (the DWARF names it)
LUA_PROGRAM = "lua"
LUA_OPT = "-O2"


def zig_cc(args: list[str], cwd: Path, tool: str = "cc") -> None:
    cmd = [sys.executable, "-m", "ziglang", tool, *args]
    subprocess.run(cmd, cwd=cwd, check=True)


def c_programs() -> list[str]:
    """The self-contained programs: every src/*.c and src/*.cpp but the SQLite driver, and
    the VARIANTS."""
    stems = [p.stem for p in [*SRC.glob("*.c"), *SRC.glob("*.cpp")] if p.stem != SQLITE_PROGRAM]
    return sorted(stems + list(VARIANTS))


def cflags(level: str) -> list[str]:
    return [level if f == "-O0" else f for f in CFLAGS]


def build_c(name: str, outdir: Path) -> Path:
    stem, level = VARIANTS.get(name, (name, OPTIMISED.get(name, "-O0")))
    out = outdir / f"{name}.wasm"
    cpp = (SRC / f"{stem}.cpp").exists()
    zig_cc([*cflags(level), f"src/{stem}.{'cpp' if cpp else 'c'}", "-o", str(out)], cwd=HERE,
           tool="c++" if cpp else "cc")
    out.chmod(0o644)
    return out


def fetch_pinned(filename: str, digest: str, download, given: Path | None, workdir: Path) -> Path:
    """The pinned archive: `given`, else the cached copy, else `download(dir)` (cached)."""
    if given is None:
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ttd-programs"
        cached = cache / filename
        if cached.is_file() and sha256(cached) == digest:
            return cached
        dl = workdir / "download"
        dl.mkdir()
        download(dl)
        given = dl / filename
        try:
            cache.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(given, cached)
        except OSError:
            pass
    got = sha256(given)
    if got != digest:
        raise SystemExit(f"{given}: sha256 {got} != pinned {digest}")
    return given


# ---------------------------------------------------------------------------
# zlib from the pyminizip sdist


def fetch_pypi_sdist(name: str, version: str, filename: str, digest: str, workdir: Path,
                     sdist: Path | None) -> Path:
    """Return the path of a pinned PyPI sdist, downloading it with pip."""
    def download(dl: Path) -> None:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
             "--disable-pip-version-check", "-d", str(dl), f"{name}=={version}"],
            check=True,
        )
    return fetch_pinned(filename, digest, download, sdist, workdir)


def fetch_zlib_sdist(workdir: Path, sdist: Path | None) -> Path:
    return fetch_pypi_sdist(ZLIB_SDIST_NAME, ZLIB_SDIST_VERSION, ZLIB_SDIST_FILE,
                            ZLIB_SDIST_SHA256, workdir, sdist)


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
# SQLite from the better-sqlite3 npm package


def fetch_sqlite_tarball(workdir: Path, tarball: Path | None) -> Path:
    """Return the path of the pinned better-sqlite3 tarball, fetching it with `npm pack`."""
    def download(dl: Path) -> None:
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(f"npm is needed to fetch {SQLITE_NPM_FILE} (or pass --sqlite-tgz)")
        subprocess.run(
            [npm, "pack", "--ignore-scripts", "--silent", "--pack-destination", str(dl),
             f"{SQLITE_NPM_NAME}@{SQLITE_NPM_VERSION}"],
            check=True, stdout=subprocess.DEVNULL, cwd=dl,
        )
    return fetch_pinned(SQLITE_NPM_FILE, SQLITE_NPM_SHA256, download, tarball, workdir)


def build_sqlite(outdir: Path, tarball: Path | None) -> Path:
    with tempfile.TemporaryDirectory(prefix="ttd-sqlite-") as tmp:
        work = Path(tmp)
        archive = fetch_sqlite_tarball(work, tarball)
        (work / SQLITE_DIR).mkdir()
        with tarfile.open(archive) as tar:
            for name in SQLITE_MEMBERS:
                data = tar.extractfile(name).read()
                (work / SQLITE_DIR / Path(name).name).write_bytes(data)
        header = (work / SQLITE_DIR / "sqlite3.h").read_text(encoding="utf-8")
        if f'#define SQLITE_VERSION        "{SQLITE_VERSION}"' not in header:
            raise SystemExit(f"{archive}: sqlite3.h is not SQLite {SQLITE_VERSION}")
        # The driver is compiled from a copy in the same tree, so that the DWARF names
        # src/sqlite_driver.c and sqlite-X.Y.Z/sqlite3.c relative to comp_dir ".".
        (work / "src").mkdir()
        shutil.copyfile(SRC / f"{SQLITE_PROGRAM}.c", work / "src" / f"{SQLITE_PROGRAM}.c")
        out = outdir / f"{SQLITE_PROGRAM}.wasm"
        zig_cc([*cflags(SQLITE_OPT), *SQLITE_DEFINES, f"-I{SQLITE_DIR}",
                f"src/{SQLITE_PROGRAM}.c", f"{SQLITE_DIR}/sqlite3.c", "-o", str(out)], cwd=work)
        out.chmod(0o644)
        (outdir / f"{SQLITE_PROGRAM}.LICENSE.txt").write_text(sqlite_licence(header))
    return out


def sqlite_licence(header: str) -> str:
    start = header.index("/*") + 2
    end = header.index("***", start)
    body = "\n".join(line[2:] if line.startswith("**") else line
                     for line in header[start:end].strip("\n").splitlines())
    return (
        f"sqlite_driver.wasm is built from SQLite {SQLITE_VERSION} (the amalgamation sqlite3.c\n"
        f"and sqlite3.h, taken from the npm package {SQLITE_NPM_NAME} {SQLITE_NPM_VERSION}, which\n"
        "vendors it) and tests/programs/src/sqlite_driver.c.\n"
        "SQLite is in the public domain. From sqlite3.h:\n\n" + body.rstrip() + "\n"
    )


# ---------------------------------------------------------------------------
# Rust: TheAlgorithms/Rust modules + src/rust_algos.rs


def fetch_rust_file(path: str, git_dir: Path | None) -> bytes:
    """One pinned file of RUST_REPO at RUST_COMMIT, checked against its sha256."""
    if git_dir is not None:
        data = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{RUST_COMMIT}:{path}"],
                              check=True, capture_output=True).stdout
    else:
        import urllib.request
        url = f"https://raw.githubusercontent.com/{RUST_REPO}/{RUST_COMMIT}/{path}"
        with urllib.request.urlopen(url, timeout=60) as resp:
            data = resp.read()
    got = hashlib.sha256(data).hexdigest()
    if got != RUST_FILES[path]:
        raise SystemExit(f"{RUST_REPO}@{RUST_COMMIT[:12]}:{path}: sha256 {got} != pinned {RUST_FILES[path]}")
    return data


def drop_custom_sections(wasm: bytes, names: set[str]) -> bytes:
    """The module without the custom sections called `names` (nothing else changes)."""
    def leb(pos: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = wasm[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, pos
    out = bytearray(wasm[:8])
    pos = 8
    while pos < len(wasm):
        start = pos
        size, body = leb(pos + 1)
        end = body + size
        if wasm[start] == 0:
            name_len, name_at = leb(body)
            if wasm[name_at:name_at + name_len].decode("utf-8", "replace") in names:
                pos = end
                continue
        out += wasm[start:end]
        pos = end
    return bytes(out)


def build_rust(outdir: Path, rustc: str, git_dir: Path | None) -> Path:
    with tempfile.TemporaryDirectory(prefix="ttd-rust-") as tmp:
        work = Path(tmp)
        files = {path: fetch_rust_file(path, git_dir) for path in RUST_FILES}
        # the driver and the modules in one tree, so the DWARF names src/rust_algos.rs and
        # src/thealgorithms/... relative to "." wherever the build ran
        (work / "src").mkdir()
        shutil.copyfile(SRC / f"{RUST_PROGRAM}.rs", work / "src" / f"{RUST_PROGRAM}.rs")
        for path, data in files.items():
            if path.startswith("src/"):
                dest = work / "src" / "thealgorithms" / path[len("src/"):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        raw = work / "raw.wasm"
        subprocess.run([rustc, *RUSTFLAGS, f"--remap-path-prefix={work}=.",
                        f"src/{RUST_PROGRAM}.rs", "-o", str(raw)], cwd=work, check=True)
        out = outdir / f"{RUST_PROGRAM}.wasm"
        out.write_bytes(drop_custom_sections(raw.read_bytes(), DROPPED_SECTIONS))
        out.chmod(0o644)
        version = subprocess.run([rustc, "--version"], capture_output=True, text=True).stdout.strip()
        (outdir / f"{RUST_PROGRAM}.LICENSE.txt").write_text(
            f"rust_algos.wasm is built ({version}) from tests/programs/src/rust_algos.rs and\n"
            f"these files of {RUST_REPO} at commit {RUST_COMMIT}, unchanged:\n"
            + "".join(f"  {p}\n" for p in RUST_FILES if p.startswith("src/"))
            + "Their licence (the repository's LICENSE file):\n\n"
            + files["LICENSE"].decode("utf-8").rstrip() + "\n")
    return out


# ---------------------------------------------------------------------------
# Lua from the lupa sdist


def fetch_lua_sdist(workdir: Path, sdist: Path | None) -> Path:
    return fetch_pypi_sdist(LUA_SDIST_NAME, LUA_SDIST_VERSION, LUA_SDIST_FILE,
                            LUA_SDIST_SHA256, workdir, sdist)


def build_lua(outdir: Path, sdist: Path | None) -> Path:
    with tempfile.TemporaryDirectory(prefix="ttd-lua-") as tmp:
        work = Path(tmp)
        archive = fetch_lua_sdist(work, sdist)
        top = f"lupa-{LUA_SDIST_VERSION}/third-party/lua54/"
        with tarfile.open(archive) as tar:
            for m in tar.getmembers():
                rest = m.name[len(top):]
                if m.isfile() and m.name.startswith(top) and "/" not in rest \
                        and rest.endswith((".c", ".h")):
                    dest = work / LUA_DIR / rest
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(tar.extractfile(m).read())
        header = (work / LUA_DIR / "lua.h").read_text(encoding="latin-1")
        major, minor, release = LUA_VERSION.split(".")
        if f'#define LUA_VERSION_RELEASE\t"{release}"' not in header:
            raise SystemExit(f"{archive}: lua.h is not Lua {LUA_VERSION}")
        shutil.copytree(SRC / "lua_wasi", work / "lua_wasi")
        out = outdir / f"{LUA_PROGRAM}.wasm"
        zig_cc([*cflags(LUA_OPT), "-Ilua_wasi", "-include", "wasi_lua.h",
                "-D_WASI_EMULATED_SIGNAL", "-D_WASI_EMULATED_PROCESS_CLOCKS",
                f"{LUA_DIR}/onelua.c", "-lwasi-emulated-signal",
                "-lwasi-emulated-process-clocks", "-o", str(out)], cwd=work)
        out.chmod(0o644)
        start = header.index("* Copyright (C)")
        body = header[start:header.index("*****", start)]
        text = "\n".join(ln[2:] if ln.startswith("* ") else ln.lstrip("*")
                         for ln in body.splitlines()).strip()
        (outdir / f"{LUA_PROGRAM}.LICENSE.txt").write_text(
            f"lua.wasm is built from Lua {LUA_VERSION} (onelua.c), taken from the sdist of the\n"
            f"PyPI package {LUA_SDIST_NAME} {LUA_SDIST_VERSION}, which vendors it. Its licence, "
            f"from lua.h:\n\n{text}\n")
    return out


# ---------------------------------------------------------------------------
# expectations and step counts


def load_cases() -> dict:
    return json.loads(CASES.read_text())


def save_cases(doc: dict) -> None:
    CASES.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def selected(case: dict, modules: set[str] | None) -> bool:
    return modules is None or case["wasm"] in modules


def update_expectations(modules: set[str] | None = None) -> None:
    sys.path.insert(0, str(HERE.parent.parent))
    from tests.support.cases import run_case_cli  # noqa: E402

    doc = load_cases()
    for case in doc["cases"]:
        if not selected(case, modules):
            continue
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


def update_steps(modules: set[str] | None = None) -> None:
    sys.path.insert(0, str(HERE.parent.parent))
    from tests.support.cases import measure_fuel  # noqa: E402

    doc = load_cases()
    for case in doc["cases"]:
        if not selected(case, modules):
            continue
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
    ap.add_argument("programs", nargs="*",
                    help=f"program names (default: all, {ZLIB_PROGRAM}, {SQLITE_PROGRAM}, {RUST_PROGRAM} and "
                    f"{LUA_PROGRAM} included)")
    ap.add_argument("--no-zlib", action="store_true", help=f"do not rebuild {ZLIB_PROGRAM}.wasm")
    ap.add_argument("--no-sqlite", action="store_true",
                    help=f"do not rebuild {SQLITE_PROGRAM}.wasm")
    ap.add_argument("--no-lua", action="store_true", help=f"do not rebuild {LUA_PROGRAM}.wasm")
    ap.add_argument("--lua-sdist", type=Path,
                    help=f"use this local {LUA_SDIST_FILE} instead of pip download")
    ap.add_argument("--sdist", type=Path, help=f"use this local {ZLIB_SDIST_FILE} instead of pip download")
    ap.add_argument("--sqlite-tgz", type=Path,
                    help=f"use this local {SQLITE_NPM_FILE} instead of npm pack")
    ap.add_argument("--no-rust", action="store_true", help=f"do not rebuild {RUST_PROGRAM}.wasm")
    ap.add_argument("--rustc", default="/usr/bin/rustc",
                    help="a rustc with the wasm32-wasi standard library (default /usr/bin/rustc)")
    ap.add_argument("--algorithms-git", type=Path,
                    help=f"read the {RUST_REPO} files from this git directory instead of GitHub")
    ap.add_argument("--expect", action="store_true", help="rewrite expected stdout/exit codes in cases.json")
    ap.add_argument("--steps", action="store_true", help="rewrite approx_steps in cases.json")
    ap.add_argument("--check", action="store_true",
                    help="build into a temp dir and compare with the committed modules")
    args = ap.parse_args(argv)

    names = args.programs or (c_programs() + ([] if args.no_zlib else [ZLIB_PROGRAM])
                              + ([] if args.no_sqlite else [SQLITE_PROGRAM])
                              + ([] if args.no_lua else [LUA_PROGRAM])
                              + ([] if args.no_rust else [RUST_PROGRAM]))
    known = set(c_programs()) | {ZLIB_PROGRAM, SQLITE_PROGRAM, LUA_PROGRAM, RUST_PROGRAM}
    unknown = [n for n in names if n not in known]
    if unknown:
        ap.error(f"no such program: {', '.join(unknown)}")

    with tempfile.TemporaryDirectory(prefix="ttd-build-") as tmp:
        outdir = Path(tmp) if args.check else HERE
        differ = []
        for name in names:
            if name == ZLIB_PROGRAM:
                out = build_zlib(outdir, args.sdist)
            elif name == SQLITE_PROGRAM:
                out = build_sqlite(outdir, args.sqlite_tgz)
            elif name == LUA_PROGRAM:
                out = build_lua(outdir, args.lua_sdist)
            elif name == RUST_PROGRAM:
                out = build_rust(outdir, args.rustc, args.algorithms_git)
            else:
                out = build_c(name, outdir)
            print(f"built {out.name} ({out.stat().st_size} bytes)")
            if args.check and not filecmp.cmp(out, HERE / out.name, shallow=False):
                differ.append(out.name)
        if args.check:
            if differ:
                print("differ from the committed modules: " + ", ".join(differ))
                return 1
            print("all modules identical to the committed ones")
    modules = {f"{n}.wasm" for n in args.programs} if args.programs else None
    if args.expect:
        update_expectations(modules)
    if args.steps:
        update_steps(modules)
    return 0


if __name__ == "__main__":
    sys.exit(main())
