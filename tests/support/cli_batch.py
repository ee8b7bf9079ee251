"""Run many `ttd` command lines in one fresh Python process, through ttd.cli.main.main, as
`python -m ttd.cli.main` would (same exit status, same stdout and stderr), to spare a
Python start-up per command when a test runs dozens of them.

    python -m tests.support.cli_batch < commands.json > results.json

reads a JSON list of argv lists and writes a JSON list of {argv, returncode, stdout, stderr,
seconds}; a command still running after TTD_BATCH_TIMEOUT seconds (default 30) is stopped
with returncode "timeout", one that lets an exception escape main() gets "escaped" and the
traceback on its stderr.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[2]


class _Timeout(BaseException):
    pass


def _alarm(_sig, _frame):
    raise _Timeout()


def _run_one(argv: list[str], timeout: float) -> dict:
    from ttd.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    rc: object
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            rc = main(argv)
        except _Timeout:
            rc = "timeout"
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            rc = "escaped"
            err.write(traceback.format_exc())
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return {"argv": argv, "returncode": rc, "stdout": out.getvalue(), "stderr": err.getvalue(),
            "seconds": time.monotonic() - t0}


def run_batch(argvs: Sequence[Sequence[str]], timeout: float = 30.0) -> list[dict]:
    """Run the commands in a fresh process (from the repository root), one after another."""
    env = dict(os.environ, TTD_BATCH_TIMEOUT=str(timeout))
    env.pop("TTD_DEBUG", None)
    p = subprocess.run([sys.executable, "-m", "tests.support.cli_batch"], input=json.dumps([list(a) for a in argvs]),
                       capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=60 + timeout * len(argvs))
    if p.returncode != 0:
        raise RuntimeError(f"cli_batch failed ({p.returncode}): {p.stderr[-3000:]}")
    return json.loads(p.stdout)


def main() -> None:
    timeout = float(os.environ.get("TTD_BATCH_TIMEOUT", "30"))
    signal.signal(signal.SIGALRM, _alarm)
    argvs = json.load(sys.stdin)
    import ttd.cli.main  # noqa: F401 - imported before the first command's clock starts
    import ttd.replay.session  # noqa: F401
    import ttd.store.trace_store  # noqa: F401

    real_stdout = sys.stdout
    results = [_run_one(list(a), timeout) for a in argvs]
    real_stdout.write(json.dumps(results))
    real_stdout.flush()


if __name__ == "__main__":
    main()
