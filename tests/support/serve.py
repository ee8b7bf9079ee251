"""Run the real `ttd serve` on a loopback port for end-to-end tests."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from pathlib import Path
from typing import Iterator, Sequence

from tests.support.recording import TTD


class Server:
    def __init__(self, proc: subprocess.Popen, port: int, banner: list[str]):
        self.proc = proc
        self.port = port
        self.banner = banner

    def rss_mb(self) -> float:
        """The server's resident memory (VmRSS), in MB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS for the server")


@contextlib.contextmanager
def ttd_serve(trace: Path, at: str = "start", timeout: float = 60.0,
              extra: Sequence[str] = ()) -> Iterator[Server]:
    """`extra`: more `ttd serve` options (--max-clients, --stall-timeout, ...)."""
    proc = subprocess.Popen([*TTD, "serve", "--port", "0", "--at", at, *extra, str(trace)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    banner: list[str] = []
    port = None
    deadline = time.monotonic() + timeout
    try:
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"ttd serve exited: {proc.stderr.read()}")
            banner.append(line.rstrip("\n"))
            m = re.search(r"connect://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
        if port is None:
            raise RuntimeError("ttd serve did not print its address")
        yield Server(proc, port, banner)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
