"""Record test programs through the real `ttd` command line, as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tests.support.cases import Case, prepared_dirs

TTD = [sys.executable, "-m", "ttd.cli.main"]


@dataclass
class Recorded:
    trace: Path
    returncode: int
    stdout: str
    stderr: str


def ttd(*args: str, stdin: str | bytes | None = None, cwd: Path | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run([*TTD, *args], input=data if data is not None else b"",
                          capture_output=True, cwd=cwd, timeout=timeout)


def record(wasm: Path, out: Path, args: Sequence[str] = (), *, env: dict | None = None,
           dirs: Sequence[tuple[str, str]] = (), stdin: str | None = None,
           cwd: Path | None = None, extra: Sequence[str] = ()) -> Recorded:
    cmd = ["record", "--quiet", "--force", "--out", str(out), *extra]
    for k, v in (env or {}).items():
        cmd += ["--env", f"{k}={v}"]
    for host, guest in dirs:
        cmd += ["--dir", f"{host}::{guest}"]
    cmd += [str(wasm), "--", *args]
    p = ttd(*cmd, stdin=stdin, cwd=cwd)
    return Recorded(out, p.returncode, p.stdout.decode(errors="replace"),
                    p.stderr.decode(errors="replace"))


def record_case(case: Case, out: Path, smoke: bool = False) -> Recorded:
    with prepared_dirs(case) as dirs:
        cwd = Path(dirs[0][0]) if any(g == "." for _, g in dirs) else None
        return record(case.wasm_path.resolve(), out, case.run_args(smoke), env=dict(case.env),
                      dirs=dirs, stdin=case.stdin, cwd=cwd)


def info_json(trace: Path) -> dict:
    p = ttd("info", "--json", str(trace))
    assert p.returncode == 0, p.stderr.decode()
    return json.loads(p.stdout)




def capture_and_expanded_copy(wasm: Path, folder: Path, args: Sequence[str] = (), *,
                              chunk_blocks: int, code: int = 134) -> tuple[Path, Path]:
    """A capture (`--capture-only`, small chunks) and a fully expanded copy of it: what a
    post-mortem served from the capture's last segment is compared with."""
    import shutil

    cap = record(wasm, folder / "cap.db", args,
                 extra=["--capture-only", "--chunk-blocks", str(chunk_blocks)])
    assert cap.returncode == code, cap.stderr
    full = folder / "full.db"
    shutil.copyfile(cap.trace, full)
    p = ttd("expand", "--quiet", str(full))
    assert p.returncode == 0, p.stderr.decode()
    return cap.trace, full
