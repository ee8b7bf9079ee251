"""One DAP session on a byte stream: the loop that feeds the protocol layer and the adapter.
stdio.py and tcp.py give it their streams."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable

from ttd.dap.adapter import Adapter
from ttd.dap.protocol import DapConnection, ProtocolError


def default_backend(trace: Path, at: str):
    from ttd.dap.lldb_backend import LLDBBackend

    return LLDBBackend(trace, at)


def default_record(args: dict, output) -> Path:
    from ttd.dap.launch import record_program

    return record_program(args, output)


def run_session(read: Callable[[int], bytes], write: Callable[[bytes], Any],
                make_backend=default_backend, record=default_record) -> None:
    """Serve requests from `read` until disconnect or end of input; every reply, event and
    error goes to `write` (one thread at a time)."""
    conn = DapConnection()
    lock = threading.Lock()

    def send(data: bytes) -> None:
        with lock:
            write(data)

    def respond(req: dict, body, success: bool, message: str | None) -> None:
        with lock:
            write(conn.response(req["seq"], req["command"], body, success, message))

    def event(name: str, body) -> None:
        with lock:
            write(conn.event(name, body))

    adapter = Adapter(make_backend, respond, event, record)
    try:
        while not adapter.done:
            data = read(65536)
            if not data:
                break
            for msg in conn.receive(data):
                if isinstance(msg, ProtocolError):
                    if msg.seq is not None:
                        respond({"seq": msg.seq, "command": msg.command}, None, False, msg.message)
                    else:
                        event("output", {"category": "stderr",
                                         "output": f"ttd dap: bad message: {msg.message}\n"})
                    continue
                try:
                    adapter.handle(msg)
                except Exception as e:  # never a traceback: the request fails, the session goes on
                    if os.environ.get("TTD_DEBUG"):
                        raise
                    respond(msg, None, False, f"internal error: {type(e).__name__}: "
                                              f"{' '.join(str(e).split())}")
                if adapter.done:
                    break
    finally:
        adapter.close()
