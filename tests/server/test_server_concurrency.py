"""Clients on the port cannot hurt the machine, nor each other (issue 13).

Each connection is served on its own, with its own replay session: an idle debugger, or a
client that stopped in the middle of a packet, leaves the others answered; stalled clients are
closed; at most --max-clients are served at once; the server's memory does not grow with the
number of sessions it served; listening off loopback says who can read the recording.
"""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from tests.support.cases import get_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import TTD, record_case
from tests.support.serve import ttd_serve
from ttd.server.tcp import _Framing, exposure_warning, is_loopback, listen


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    return record_case(get_case("fib"), tmp_path_factory.mktemp("fib") / "t.db").trace


def _packet(payload: bytes) -> bytes:
    return b"$" + payload + b"#" + f"{sum(payload) & 0xFF:02x}".encode()


def _reply(s: socket.socket) -> bytes:
    data = b""
    while True:
        start = data.find(b"$")
        end = data.find(b"#", start) if start >= 0 else -1
        if end >= 0 and len(data) >= end + 3:
            return data[start + 1:end]
        chunk = s.recv(65536)
        assert chunk, "server closed the connection"
        data += chunk


def _ask(s: socket.socket, payload: bytes) -> bytes:
    s.sendall(_packet(payload))
    return _reply(s)


def _client(port: int, timeout: float = 5.0) -> socket.socket:
    """A connected raw client in no-ack mode."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    assert _ask(s, b"QStartNoAckMode") == b"OK"
    s.sendall(b"+")
    return s


def _closed_within(s: socket.socket, seconds: float) -> float | None:
    """How long until the server closes `s` (None: still open after `seconds`)."""
    t0 = time.monotonic()
    s.settimeout(seconds)
    try:
        while s.recv(65536):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - t0


def test_idle_and_stalled_clients_do_not_hold_up_a_debugger(trace):
    require_lldb()
    with ttd_serve(trace) as srv:
        idle = socket.create_connection(("127.0.0.1", srv.port))
        stalled = socket.create_connection(("127.0.0.1", srv.port))
        stalled.sendall(b"$qSuppor")  # and nothing more
        time.sleep(0.2)
        t0 = time.monotonic()
        with LLDBSession(get_case("fib").wasm_path, srv.port, packet_timeout=5) as s:
            s.break_name("fib")
            stop = s.cont()
            assert stop.reason == "breakpoint" and stop.function == "fib"
            assert s.cont().function == "fib"
        took = time.monotonic() - t0
        # a second debugger meanwhile, while the first two are still there
        with _client(srv.port, timeout=1) as c:
            assert _ask(c, b"?").startswith(b"T05")
        idle.close()
        stalled.close()
        assert srv.proc.poll() is None
    print(f"\nLLDB session beside an idle and a stalled client: {took:.2f} s")
    assert took < 20


def test_a_second_client_is_answered_within_a_second_while_the_first_idles(trace):
    with ttd_serve(trace) as srv:
        first = _client(srv.port)
        assert _ask(first, b"qSupported:xmlRegisters=i386").startswith(b"PacketSize=")
        # the first one now sits there, as LLDB does at a prompt
        t0 = time.monotonic()
        with _client(srv.port, timeout=1) as second:
            assert _ask(second, b"?").startswith(b"T05")
            assert len(_ask(second, b"m0,10")) == 32
        took = time.monotonic() - t0
        # and the idle one was not dropped: idling is what debuggers do
        assert _ask(first, b"?").startswith(b"T05")
        first.close()
    print(f"\nsecond client's handshake and two reads while the first idles: {took * 1000:.0f} ms")
    assert took < 1


def test_stalled_clients_are_closed_after_the_stall_timeout(trace):
    with ttd_serve(trace, extra=["--stall-timeout", "0.5"]) as srv:
        slowloris = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        slowloris.sendall(b"$qSuppor")
        silent = socket.create_connection(("127.0.0.1", srv.port), timeout=5)  # never speaks
        trickle = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        debugger = _client(srv.port)  # spoke, then sits at a prompt
        t0 = time.monotonic()
        for byte in b"$qSupported:xmlRegisters=i386":  # a byte every 0.1 s: never completes
            try:
                trickle.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)
        for name, s in (("slowloris", slowloris), ("silent", silent), ("trickle", trickle)):
            took = _closed_within(s, 5)
            assert took is not None, f"the {name} client is still connected"
            s.close()
        closed_at = time.monotonic() - t0
        time.sleep(0.3)
        assert _ask(debugger, b"?").startswith(b"T05"), "an idle debugger was closed"
        debugger.close()
        srv.proc.terminate()
        err = srv.proc.communicate(timeout=10)[1]
    print(f"\nthree stalled clients closed {closed_at:.2f} s after connecting "
          "(--stall-timeout 0.5)")
    assert 0.4 < closed_at < 4
    assert "stalled in the middle of a packet" in err and "sent no packet within" in err, err


def test_idle_timeout_when_asked_for(trace):
    with ttd_serve(trace, extra=["--idle-timeout", "0.5"]) as srv, _client(srv.port) as c:
        assert _ask(c, b"?").startswith(b"T05")
        took = _closed_within(c, 5)
    assert took is not None and 0.3 < took < 4, took


def test_max_clients_is_honoured(trace):
    with ttd_serve(trace, extra=["--max-clients", "2"]) as srv:
        a, b = _client(srv.port), _client(srv.port)
        third = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        try:
            third.sendall(_packet(b"QStartNoAckMode"))
        except OSError:
            pass
        assert _closed_within(third, 5) is not None, "a third client was served"
        third.close()
        assert _ask(a, b"?").startswith(b"T05") and _ask(b, b"?").startswith(b"T05")
        _ask(a, b"D")
        a.close()
        with _client(srv.port) as c:  # a slot is free again
            assert _ask(c, b"?").startswith(b"T05")
        b.close()
        srv.proc.terminate()
        err = srv.proc.communicate(timeout=10)[1]
    refused = [ln for ln in err.splitlines() if "refused" in ln]
    assert len(refused) == 1 and refused[0].startswith("ttd: ") and "--max-clients" in refused[0]


def test_a_debugger_that_detaches_can_reconnect_at_once(trace):
    """At the limit, the slot of a session that just detached is not held against the next."""
    with ttd_serve(trace, extra=["--max-clients", "1"]) as srv:
        for _ in range(20):
            with _client(srv.port) as c:
                assert _ask(c, b"?").startswith(b"T05")
                assert _ask(c, b"D") == b"OK"


def test_memory_does_not_grow_with_sessions(trace):
    def session(port: int) -> None:
        with _client(port) as s:
            assert _ask(s, b"qSupported:xmlRegisters=i386").startswith(b"PacketSize=")
            assert _ask(s, b"?").startswith(b"T05")
            assert _ask(s, b"qWasmCallStack:1")
            assert len(_ask(s, b"m1000,100")) == 0x200
            assert _ask(s, b"qWasmGlobal:0;0")
            assert _ask(s, b"D") == b"OK"

    with ttd_serve(trace) as srv:
        def rss() -> float:
            time.sleep(0.2)  # the last session's thread frees it just after the detach reply
            return srv.rss_mb()

        start = rss()
        for _ in range(50):
            session(srv.port)
        after_50 = rss()
        for _ in range(100):
            session(srv.port)
        after_150 = rss()
    print(f"\nserver VmRSS: {start:.1f} MB at start, {after_50:.1f} MB after 50 sessions, "
          f"{after_150:.1f} MB after 150")
    # each session holds a copy of linear memory (16 MiB here): a few kept would show
    assert after_50 - start < 30 and after_150 - start < 30, (start, after_50, after_150)


# ---- listening off loopback ---------------------------------------------------------------


@pytest.mark.parametrize("addr", ["127.0.0.1", "127.1.2.3", "::1", "localhost",
                                  "::ffff:127.0.0.1"])
def test_loopback_addresses(addr):
    assert is_loopback(addr)


@pytest.mark.parametrize("addr", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "fe80::1%eth0",
                                  "2001:db8::1", "example.com", ""])
def test_other_addresses_are_exposed(addr):
    assert not is_loopback(addr)


def test_no_warning_on_loopback():
    sock = listen("127.0.0.1", 0)
    try:
        assert exposure_warning(sock) is None
    finally:
        sock.close()


def test_serving_on_all_interfaces_warns_once(trace):
    """Listens on 0.0.0.0 only to read its banner and warning: nothing is sent to it."""
    proc = subprocess.Popen([*TTD, "serve", "--host", "0.0.0.0", "--port", "0", str(trace)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        banner = proc.stdout.readline()
        assert "0.0.0.0:" in banner, (banner, proc.stderr.read() if proc.poll() is not None else "")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ttd: warning: listening on 0.0.0.0:"), err
    assert "anyone who can reach this port" in lines[0] and "memory" in lines[0]


def test_serving_on_loopback_does_not_warn(trace):
    with ttd_serve(trace) as srv:
        srv.proc.terminate()
        err = srv.proc.communicate(timeout=10)[1]
    assert err == ""


def test_framing_follows_packets():
    f = _Framing()
    assert f.feed(b"+") == 0 and not f.open
    assert f.feed(b"$qSuppor") == 0 and f.open
    assert f.feed(b"ted#") == 0 and f.open  # the checksum is still to come
    assert f.feed(b"3") == 0 and f.open
    assert f.feed(b"7+$?#3f$g") == 2 and f.open
    assert f.feed(b"#67") == 1 and not f.open
    assert f.feed(b"$a}#00") == 1 and not f.open  # `#` ends a packet even after an escape
    assert f.feed(b"$abc$d#64") == 1 and not f.open  # a `$` inside starts it again
    assert f.feed(b"garbage\x03-") == 0 and not f.open
