"""`program` launches: run `ttd record` as a subprocess, stream what it prints as DAP output
and hand back the new trace (the adapter then debugs it like any trace)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable

from ttd.dap.backend import BackendError


def record_command(args: dict, out: Path) -> list[str]:
    """The `ttd record` command line of a launch configuration (checked by the adapter)."""
    cmd = [sys.executable, "-m", "ttd.cli.main", "record", "--force", "--out", str(out)]
    for k, v in (args.get("env") or {}).items():
        cmd += ["--env", f"{k}={v}"]
    for host, guest in (args.get("dirs") or {}).items():
        cmd += ["--dir", f"{host}::{guest}"]
    return cmd + [str(args["program"]), "--", *args.get("args", [])]


def record_program(args: dict, output: Callable[[str, str], None]) -> Path:
    """Record the launch's program; its stdout and stderr arrive as output events."""
    if args.get("out"):
        out = Path(args["out"])
    else:
        tmp = Path(tempfile.mkdtemp(prefix="ttd-dap-"))
        out = tmp / (re.sub(r"[^\w.-]", "_", Path(args["program"]).stem) + ".db")
    stdin = subprocess.DEVNULL
    if args.get("stdin"):
        try:
            stdin = open(args["stdin"], "rb")
        except OSError as e:
            raise BackendError(f"stdin {args['stdin']}: {e.strerror}")
    try:
        proc = subprocess.Popen(record_command(args, out), stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=os.environ.copy())
    finally:
        if stdin is not subprocess.DEVNULL:
            stdin.close()
    lock = threading.Lock()
    errors: list[str] = []

    def pump(stream, category):
        for raw in iter(lambda: stream.readline(), b""):
            text = raw.decode(errors="replace").replace("\r", "\n")
            if category == "stderr":
                errors.append(text.strip())
            with lock:
                output(category, text)
    t = threading.Thread(target=pump, args=(proc.stderr, "stderr"), daemon=True)
    t.start()
    pump(proc.stdout, "stdout")
    t.join()
    proc.wait()
    written = any(ln.startswith("trace: ") for ln in errors)
    if not written or not out.exists():
        why = next((ln for ln in reversed(errors) if ln.startswith("ttd: ")), None) or \
            next((ln for ln in reversed(errors) if ln), f"ttd record exited with {proc.returncode}")
        raise BackendError(why.removeprefix("ttd: error: "))
    output("console", f"ttd: recorded {out} (the program exited with {proc.returncode})\n")
    return out
