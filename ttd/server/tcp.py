"""A blocking TCP server: one debugger at a time, each connection a fresh replay session.

Replay resumes are bounded (a search, not a run), so a plain socket loop is enough; no
threads, no event loop. The server outlives its clients: after a detach the next connection
starts again at the position given by --at.
"""

from __future__ import annotations

import logging
import socket
from typing import Callable

from ttd.gdb.protocol import GdbConnection
from ttd.server.replay_target import ReplayTarget

log = logging.getLogger(__name__)
RECV = 65536


def listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1)
    return sock


def serve_connection(conn: socket.socket, target: ReplayTarget) -> None:
    gdb = GdbConnection(target)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while not gdb.closed:
        try:
            data = conn.recv(RECV)
        except (ConnectionResetError, TimeoutError, OSError):
            return
        if not data:
            return
        for out in gdb.feed(data):
            try:
                conn.sendall(out)
            except OSError:
                return


def serve_forever(sock: socket.socket, make_target: Callable[[], ReplayTarget],
                  max_connections: int | None = None) -> None:
    served = 0
    while max_connections is None or served < max_connections:
        conn, peer = sock.accept()
        served += 1
        log.info("debugger connected from %s", peer)
        with conn:
            try:
                serve_connection(conn, make_target())
            except Exception:  # a bug must not take the server down with the session
                log.exception("session ended by an internal error")
        log.info("debugger disconnected")
