"""`ttd dap --port N`: accept DAP clients on a TCP port; each connection is served by its own
`ttd dap` process on the socket (LLDB holds the GIL in its calls: one slow client must not
block another, and a session's crash stays its own)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading


def serve_tcp(sock: socket.socket, announce) -> None:
    """Accept forever on a listening socket; `announce(host, port)` once before."""
    host, port = sock.getsockname()[:2]
    announce(host, port)
    children: list[subprocess.Popen] = []
    try:
        while True:
            conn, _ = sock.accept()
            with conn:
                child = subprocess.Popen([sys.executable, "-m", "ttd.cli.main", "dap"],
                                         stdin=conn.fileno(), stdout=conn.fileno())
            children.append(child)
            threading.Thread(target=child.wait, daemon=True).start()
            children = [c for c in children if c.poll() is None]
    finally:
        for c in children:
            if c.poll() is None:
                c.terminate()
