"""`ttd dap` on stdin/stdout. stdout is the DAP channel: the process's own fd 1 is pointed at
stderr first, so nothing else (LLDB, a stray print) can write into the protocol."""

from __future__ import annotations

import os
import sys


def serve_stdio(in_fd: int = 0, out_fd: int = 1) -> None:
    channel = os.dup(out_fd)
    os.dup2(2, out_fd)
    sys.stdout = sys.stderr
    from ttd.dap.session import run_session

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(channel, view):]

    try:
        run_session(lambda n: os.read(in_fd, n), write)
    finally:
        os.close(channel)
