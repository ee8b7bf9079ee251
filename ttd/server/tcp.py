"""A TCP server for gdb-remote debuggers: each connection its own replay session.

Connections are independent. Each is served on its own thread, so a debugger sitting at a
prompt, or a client that stopped in the middle of a packet, leaves every other one answered.
After a detach the next connection starts again at the position given by --at.

Every session replays the same Trace, which is not thread-safe: one store connection (SQLite
or PostgreSQL), caches of chunks, pages and memory images, and one Machine whose mode a stack
walk toggles. Everything that touches it (building a session, answering packets, freeing a
session) runs under one lock; only the socket I/O runs in parallel. A request is a bounded
search, so another debugger waits for at most one of them. A Trace per session was the other
way: 12-60 ms to open one, and its own caches (up to 32 MiB of pages and 16 decoded chunks)
per connection, for no gain in throughput, the GIL serialising the replay anyway.

What a client cannot do (ServeLimits):
- hold the others up: each waits on its own socket;
- take more than `max_clients` sessions at once: a connection beyond is accepted and closed
  at once (and logged, at most one line per 10 s), unless a session is just ending (a
  debugger that detached and reconnects), whose slot it waits for, half a second at most;
- stall: a packet must be complete within `stall_timeout` of its `$`, and a new connection
  must send its first packet within it too (a debugger speaks first, at once); a client that
  stops reading our replies for as long is closed as well;
- stay forever without a word, if `idle_timeout` is set (off by default: LLDB at a prompt
  sends nothing, for as long as its user thinks). TCP keepalive finds peers that vanished.
- keep memory: a session's state (a copy of linear memory, megabytes) is freed when its
  connection ends, not whenever the cycle collector gets to it.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ttd.gdb.protocol import GdbConnection
from ttd.gdb.target import Target

log = logging.getLogger(__name__)
RECV = 65536
BACKLOG = 64
REFUSAL_LOG_EVERY = 10.0  # seconds between two log lines about refused connections
SLOT_GRACE = 0.5  # seconds a connection may wait for a session that is ending to free its slot
MMAP_THRESHOLD = 8 << 20  # see return_large_frees

EXPOSED_WARNING = ("ttd: warning: listening on {addr}, which is not a loopback address: anyone "
                   "who can reach this port can read the recorded program's memory, the files it "
                   "read, and its arguments and environment as recorded")


@dataclass(frozen=True)
class ServeLimits:
    max_clients: int = 8  # sessions served at once; connections beyond are refused
    stall_timeout: float | None = 10.0  # seconds a packet (or the first one) may take
    idle_timeout: float | None = None  # seconds without a packet; None: no limit

    def __post_init__(self) -> None:
        if self.max_clients < 1:
            raise ValueError("max_clients must be at least 1")


def listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def is_loopback(addr: str) -> bool:
    """Is `addr` (an address a socket is bound to, or a host name) reachable only from this
    machine? Anything not recognised as loopback counts as exposed."""
    if addr.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def exposure_warning(sock: socket.socket) -> str | None:
    """The line to print when `sock` listens on an address other machines can reach."""
    host, port = sock.getsockname()[:2]
    if is_loopback(host):
        return None
    return EXPOSED_WARNING.format(addr=f"[{host}]:{port}" if ":" in host else f"{host}:{port}")


# ---- framing, as far as timeouts care ----------------------------------------------------

_OUT, _IN, _CHECKSUM = range(3)
_IN_STOP = re.compile(rb"[$#]")


class _Framing:
    """Is the client in the middle of a packet? Follows `$ ... #xx` as the protocol's reader
    frames them (a `$` inside a packet starts it again, `#` always ends the payload); the
    reader itself stays free of I/O and of clocks."""

    __slots__ = ("state", "skip")

    def __init__(self) -> None:
        self.state = _OUT
        self.skip = 0

    @property
    def open(self) -> bool:
        return self.state != _OUT

    def feed(self, data: bytes) -> int:
        """Follow `data`; return how many packets it completed."""
        done, i, n = 0, 0, len(data)
        while i < n:
            if self.state == _OUT:
                j = data.find(b"$", i)
                if j < 0:
                    break
                self.state, i = _IN, j + 1
            elif self.state == _IN:
                m = _IN_STOP.search(data, i)
                if m is None:
                    break
                i = m.end()
                if data[m.start()] == 0x23:  # '#'; a '$' starts the packet again
                    self.state, self.skip = _CHECKSUM, 2
            else:
                take = min(self.skip, n - i)
                i += take
                self.skip -= take
                if not self.skip:
                    self.state = _OUT
                    done += 1
        return done


class _Closed(Exception):
    """The server is shutting down."""


def _peer(peer) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[:2]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer)


def _keepalive(conn: socket.socket) -> None:
    """Find a peer that vanished (no FIN will ever come) in about two minutes."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for opt, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
            if hasattr(socket, opt):
                conn.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)
    except OSError:
        pass


class Server:
    """Accepts debuggers on `sock`; `make_target()` makes each one's replay session. Call
    serve_forever() on one thread, close() from another (or after it returns)."""

    def __init__(self, sock: socket.socket, make_target: Callable[[], Target],
                 limits: ServeLimits | None = None, max_connections: int | None = None):
        self.sock = sock
        self.make_target = make_target
        self.limits = limits or ServeLimits()
        self.max_connections = max_connections  # serve this many, then return (tests, runtime)
        self.replay_lock = threading.Lock()  # everything that touches the shared trace
        self._state = threading.Condition()  # the tables below; notified when a slot frees
        self._clients: dict[socket.socket, threading.Thread] = {}
        self._ending: set[socket.socket] = set()  # sessions that detached, soon to free a slot
        self._closing = False
        self._refused = 0
        self._next_refusal_log = 0.0

    @property
    def clients(self) -> int:
        with self._state:
            return len(self._clients)

    # ---- accepting ----------------------------------------------------------------------

    def serve_forever(self) -> None:
        accepted = 0
        while not self._closing and (self.max_connections is None
                                     or accepted < self.max_connections):
            try:
                conn, peer = self.sock.accept()
            except OSError as e:
                if self._closing or self.sock.fileno() < 0 \
                        or e.errno in (errno.EBADF, errno.EINVAL):  # closed under us
                    return
                if e.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EINTR):
                    continue
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.warning("cannot accept a connection: %s", e.strerror or e)
                    time.sleep(0.1)
                    continue
                raise
            with self._state:
                # a debugger that detached and reconnects at once may be a little ahead of
                # its old session's thread: if a session is ending, a moment's grace
                full = not self._state.wait_for(
                    lambda: len(self._clients) < self.limits.max_clients or not self._ending,
                    SLOT_GRACE) or len(self._clients) >= self.limits.max_clients
                if not full and not self._closing:
                    thread = threading.Thread(target=self._serve, args=(conn, peer),
                                              name=f"ttd-client-{_peer(peer)}", daemon=True)
                    self._clients[conn] = thread
            if full or self._closing:
                self._refuse(conn, peer)
                continue
            accepted += 1
            log.info("debugger connected from %s", _peer(peer))
            thread.start()
        self.join()  # served max_connections: wait for the last of them to finish

    def _refuse(self, conn: socket.socket, peer) -> None:
        conn.close()
        if self._closing:
            return
        self._refused += 1
        now = time.monotonic()
        if now >= self._next_refusal_log:
            log.warning("refused a connection from %s: %d debuggers connected, the most "
                        "--max-clients allows%s", _peer(peer), self.limits.max_clients,
                        f" ({self._refused} refused so far)" if self._refused > 1 else "")
            self._next_refusal_log = now + REFUSAL_LOG_EVERY

    def join(self, timeout: float | None = None) -> None:
        """Wait for the sessions being served to end."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._state:
                threads = [t for t in self._clients.values()  # started, and not this one
                           if t.ident is not None and t is not threading.current_thread()]
            if not threads:
                return
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return
            threads[0].join(left)

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, end every session, and return once nothing touches the trace any
        more (a request being answered finishes first): the caller may close it then."""
        with self.replay_lock:
            self._closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
        except OSError:
            pass
        self.sock.close()
        with self._state:
            conns = list(self._clients)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.join(timeout)

    # ---- one connection -----------------------------------------------------------------

    def _end(self, conn: socket.socket) -> None:
        with self._state:
            if conn in self._clients:
                self._ending.add(conn)

    def _serve(self, conn: socket.socket, peer) -> None:
        target = None
        try:
            with conn:
                with self.replay_lock:
                    if self._closing:
                        return
                    target = self.make_target()
                self._converse(conn, peer, target)
        except _Closed:
            pass
        except Exception:  # a bug must not take the server down with the session
            log.exception("session ended by an internal error")
        finally:
            self._end(conn)
            if target is not None:
                close = getattr(target, "close", None)
                if close is not None:
                    with self.replay_lock:
                        close()
            with self._state:
                self._clients.pop(conn, None)
                self._ending.discard(conn)
                self._state.notify_all()
            log.info("debugger disconnected")

    def _converse(self, conn: socket.socket, peer, target: Target) -> None:
        lim = self.limits
        stall, idle = lim.stall_timeout or None, lim.idle_timeout or None
        gdb = GdbConnection(target)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _keepalive(conn)
        framing = _Framing()
        now = time.monotonic()
        first_due = now + stall if stall else None  # a debugger sends its first packet at once
        packet_due = idle_due = None
        spoke = False
        while not gdb.closed:
            due = packet_due if framing.open else first_due if not spoke else idle_due
            conn.settimeout(None if due is None else max(due - time.monotonic(), 0.001))
            try:
                data = conn.recv(RECV)
            except TimeoutError:
                why = (f"stalled in the middle of a packet for {stall:g} s" if framing.open
                       else f"sent no packet within {stall:g} s" if not spoke
                       else f"sent no packet for {idle:g} s")
                log.warning("closed the connection from %s: %s", _peer(peer), why)
                return
            except OSError:
                return
            if not data:
                return
            was_open = framing.open
            done = framing.feed(data)
            now = time.monotonic()
            if done:
                spoke = True
                idle_due = now + idle if idle else None
            if framing.open and (done or not was_open):
                packet_due = now + stall if stall else None
            with self.replay_lock:
                if self._closing:
                    raise _Closed
                out = gdb.feed(data)
            if gdb.closed:  # detached: before the reply, after which the debugger may be back
                self._end(conn)
            if out:
                conn.settimeout(stall)  # a client that stops reading our replies stalls too
                try:
                    conn.sendall(b"".join(out))
                except TimeoutError:
                    log.warning("closed the connection from %s: it read no reply for %g s",
                                _peer(peer), stall)
                    return
                except OSError:
                    return


def return_large_frees() -> None:
    """Have the C allocator give large blocks back to the system when they are freed.

    Every session allocates a copy of linear memory (16 MiB for a small C program). glibc
    raises its mmap threshold to the size of the first such block freed, after which the next
    ones come from its heaps (one per thread), which keep freed memory: a server measured 143
    MB after sequential sessions and 256 MB after bursts of 8 concurrent ones, against 79-80
    MB with a fixed threshold, for about 10 ms more per connection (fresh pages to fault in).
    Process-wide, so only `ttd serve` calls it; does nothing off glibc."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    M_MMAP_THRESHOLD = -3
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def serve_forever(sock: socket.socket, make_target: Callable[[], Target],
                  max_connections: int | None = None, limits: ServeLimits | None = None) -> None:
    """Serve debuggers on `sock` until `max_connections` have come and gone (forever if
    None)."""
    Server(sock, make_target, limits, max_connections).serve_forever()
