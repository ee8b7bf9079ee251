"""Run many `ttd` command lines at once (as subprocesses, the way a user runs them) and
judge what each printed: the attack tests run a matrix of commands on many crafted files."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tests.support.recording import TTD


@dataclass
class Run:
    argv: list[str]
    returncode: int | str  # "timeout" when it had to be killed (e.g. a server that listened)
    stdout: str
    stderr: str
    seconds: float
    in_process: bool = False  # run through ttd.cli.main.main in a batch (tests/support/cli_batch.py)

    @property
    def lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]

    def show(self) -> str:
        return (f"ttd {' '.join(self.argv)} -> {self.returncode} in {self.seconds:.1f} s\n"
                f"  stdout: {self.stdout[-600:]!r}\n  stderr: {self.stderr[-1200:]!r}")


def run_parallel(argvs: Sequence[Sequence[str]], timeout: float = 60.0, jobs: int | None = None,
                 cwd: Path | None = None) -> list[Run]:
    """Run the commands, `jobs` at a time (default: one per CPU, at least 2), each killed
    after `timeout` seconds of its own; results in the order given. Each run's time is its
    own wall time, from its start to its exit."""
    jobs = jobs or max(2, os.cpu_count() or 2)
    todo = list(enumerate(argvs))
    running: list[tuple[int, list[str], float, subprocess.Popen, object, object]] = []
    done: dict[int, Run] = {}
    while todo or running:
        while todo and len(running) < jobs:
            i, argv = todo.pop(0)
            out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
            proc = subprocess.Popen([*TTD, *argv], stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd)
            running.append((i, list(argv), time.monotonic(), proc, out, err))
        time.sleep(0.02)
        for entry in list(running):
            i, argv, started, proc, out, err = entry
            rc: int | str | None = proc.poll()
            if rc is None and time.monotonic() - started > timeout:
                proc.kill()
                proc.wait()
                rc = "timeout"
            if rc is None:
                continue
            seconds = time.monotonic() - started
            texts = []
            for f in (out, err):
                f.seek(0)  # type: ignore[attr-defined]
                texts.append(f.read().decode(errors="replace"))  # type: ignore[attr-defined]
                f.close()  # type: ignore[attr-defined]
            done[i] = Run(argv, rc, texts[0], texts[1], seconds)
            running.remove(entry)
    return [done[i] for i in range(len(argvs))]


def reading_commands(trace: Path, export_to: Path) -> dict[str, list[str]]:
    """Every command that opens an existing trace to read it, by a short name."""
    t = str(trace)
    return {
        "info": ["info", t],
        "info --json": ["info", "--json", t],
        "verify": ["verify", t],
        "query": ["query", t, "at", "0"],
        "export": ["export", t, str(export_to)],
        "serve": ["serve", "--port", "0", t],
    }


def one_error_line(run: Run, *needles: str) -> bool:
    """Failed with exactly one line on stderr, no traceback, holding every needle."""
    lines = run.lines
    return (run.returncode not in (0, "timeout") and len(lines) == 1 and "Traceback" not in run.stderr
            and all(n in lines[0] for n in needles))
