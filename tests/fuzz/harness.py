"""Run fuzz jobs on a few worker processes (tests/fuzz/worker.py), with a watchdog.

Each worker takes one job at a time. A worker that does not answer within the job timeout
is killed (a hang, possibly inside C code where the worker's own timer cannot reach), one
that exits is a crash; either way the job it held is reported with what the worker wrote on
stderr, and a fresh worker takes the remaining jobs.
"""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JOB_TIMEOUT = 90.0  # seconds for one mutant, all its commands together


class _Worker:
    def __init__(self, scratch: Path):
        self.errlog = tempfile.NamedTemporaryFile(prefix="fuzz-worker-", suffix=".log",
                                                  dir=scratch, delete=False)
        env = dict(os.environ)
        env.pop("TTD_DEBUG", None)
        env["PYTHONFAULTHANDLER"] = "1"
        # BLAS thread pools reserve address space per core: keep them out of the 2 GiB limit
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz.worker"], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errlog)
        self.buf = b""

    def line(self, deadline: float) -> dict | None:
        """The next JSON line, or None on timeout or end of output."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            data = os.read(fd, 65536)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, job: dict) -> None:
        self.proc.stdin.write((json.dumps(job) + "\n").encode())
        self.proc.stdin.flush()

    def stderr_tail(self) -> str:
        self.errlog.flush()
        try:
            return Path(self.errlog.name).read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.errlog.close()
        Path(self.errlog.name).unlink(missing_ok=True)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _start(scratch: Path) -> _Worker:
    w = _Worker(scratch)
    ready = w.line(time.monotonic() + 60)
    if not ready or "ready" not in ready:
        tail = w.stderr_tail()
        w.kill()
        raise RuntimeError(f"fuzz worker did not start: {tail}")
    return w


@dataclass
class Run:
    results: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[dict]:
        return [r for r in self.results if r.get("problems")]


def run_jobs(jobs: list[dict], scratch: Path, workers: int = 2,
             job_timeout: float = JOB_TIMEOUT) -> Run:
    todo: queue.Queue = queue.Queue()
    for j in jobs:
        todo.put(dict(j, scratch=str(scratch / "work")))
    run = Run()
    lock = threading.Lock()
    errors: list[BaseException] = []
    t0 = time.monotonic()

    def loop() -> None:
        w = _start(scratch)
        try:
            while True:
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                w.send(job)
                deadline = time.monotonic() + job_timeout
                result = None
                while True:
                    msg = w.line(deadline)
                    if msg is None or msg.get("id") == job["id"]:
                        result = msg
                        break
                if result is None:
                    try:  # a dying worker may still be writing its fatal-error report
                        died = w.proc.wait(timeout=2)
                    except subprocess.TimeoutExpired:
                        died = None
                    if died is None:
                        w.kill()
                        why = f"no result within {job_timeout:.0f} s (worker killed)"
                    else:
                        why = f"worker died with status {died}"
                    result = {"id": job["id"], "kind": job["kind"], "seed": Path(job["seed"]).name,
                              "rng": job["rng"], "outcome": {},
                              "problems": [f"{why}; its stderr: {w.stderr_tail()}"]}
                    w.stop()
                    w = _start(scratch)
                with lock:
                    run.results.append(result)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(e)
        finally:
            w.stop()

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(max(1, workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    run.results.sort(key=lambda r: r["id"])
    run.seconds = time.monotonic() - t0
    return run


def summary(run: Run) -> str:
    """Mutants per kind with their outcomes, and the time taken."""
    by_kind: dict[str, dict[str, int]] = {}
    for r in run.results:
        k = by_kind.setdefault(r["kind"], {"mutants": 0, "all ok": 0, "clean errors": 0,
                                           "problems": 0})
        k["mutants"] += 1
        if r.get("problems"):
            k["problems"] += 1
        elif any(v != 0 for v in r.get("outcome", {}).values() if v != "ok"):
            k["clean errors"] += 1
        else:
            k["all ok"] += 1
    lines = [f"{len(run.results)} mutants in {run.seconds:.1f} s"]
    store = [r for r in run.results if r.get("store_level")]
    if store:
        lines.append(f"  {len(store)} raised a database error the store did not classify "
                     f"(a store-level bug), e.g. {store[0]['store_level'][0][:160]}")
    for kind, k in sorted(by_kind.items()):
        lines.append(f"  {kind:<22} {k['mutants']:>4} mutants: {k['all ok']:>3} accepted, "
                     f"{k['clean errors']:>3} refused cleanly, {k['problems']:>3} with problems")
    return "\n".join(lines)


def describe(r: dict) -> str:
    head = f"[{r['kind']} #{r['id']} on {r['seed']}, rng {r['rng']}] {r.get('what', '')}"
    return head + "\n    " + "\n    ".join(p.replace("\n", "\n      ") for p in r["problems"])
