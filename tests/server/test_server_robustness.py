"""Nothing a client sends takes the server down, and Ctrl-C stops it cleanly."""

from __future__ import annotations

import random
import signal
import socket
import subprocess

import pytest

from tests.support.cases import get_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import TTD, record_case, ttd
from tests.support.serve import ttd_serve


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    return record_case(get_case("fib"), tmp_path_factory.mktemp("fib") / "t.db").trace


def _packet(payload: bytes) -> bytes:
    return b"$" + payload + b"#" + f"{sum(payload) & 0xFF:02x}".encode()


def _hostile(port: int, rng: random.Random) -> None:
    attacks = [
        bytes(rng.randrange(256) for _ in range(100_000)),
        b"$" + b"A" * 300_000,  # a packet that never ends
        _packet(b"m0,ffffffffffffffff") + _packet(b"m4000000000000000,7fffffff"),
        _packet(b"qXfer:libraries:read::ffffffffffff,ffffffff"),
        _packet(b"Z0,zz,1") + _packet(b"qWasmLocal:-1;99999999999999999999"),
        _packet(b"vCont;s:-1") + _packet(b"bc") + _packet(b"bs") * 50 + b"\x03" * 10,
        b"$qSupported:" + "\u00e9".encode() * 50 + b"#00",
        _packet(b"QStartNoAckMode") + _packet(b"D"),
    ]
    for data in attacks:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(data)
            s.settimeout(0.5)
            try:
                while s.recv(65536):
                    pass
            except (TimeoutError, ConnectionResetError, OSError):
                pass


def test_hostile_clients_then_a_real_session(trace):
    require_lldb()
    with ttd_serve(trace) as srv:
        _hostile(srv.port, random.Random(3))
        assert srv.proc.poll() is None
        with LLDBSession(get_case("fib").wasm_path, srv.port) as s:
            s.break_name("fib")
            assert s.cont().function == "fib"


def test_ctrl_c_stops_the_server_cleanly(trace):
    with ttd_serve(trace) as srv:
        srv.proc.send_signal(signal.SIGINT)
        rc = srv.proc.wait(timeout=20)
        err = srv.proc.stderr.read()
    assert rc == 0 and "Traceback" not in err and "stopped" in err


def test_serve_refuses_bad_input(tmp_path, trace):
    bad = tmp_path / "x.db"
    bad.write_text("hello")
    p = ttd("serve", str(bad))
    assert p.returncode != 0 and p.stderr.decode().startswith("ttd: error:")
    p = ttd("serve", "--at", "999999999999", str(trace))
    assert p.returncode != 0 and b"--at" in p.stderr


def _exchange(s: socket.socket, payload: bytes) -> bytes:
    """Send one packet (no-ack mode) and return the payload of the reply."""
    s.sendall(_packet(payload))
    data = b""
    while not (b"#" in data and len(data) >= data.index(b"#") + 3):
        chunk = s.recv(65536)
        assert chunk, "server closed the connection"
        data += chunk
    start = data.index(b"$")
    return data[start + 1:data.index(b"#", start)]


def test_instance_form_of_qwasmglobal_reads_the_same_global(trace):
    """The qWasmInstance+ form, which LLDB 23 never sends, over a real socket."""
    with ttd_serve(trace) as srv, socket.create_connection(("127.0.0.1", srv.port),
                                                           timeout=10) as s:
        assert _exchange(s, b"QStartNoAckMode") == b"OK"
        s.sendall(b"+")  # the last ack: no-ack mode from here on
        assert b"qWasmInstance+" in _exchange(s, b"qSupported:xmlRegisters=i386")
        frame_form = _exchange(s, b"qWasmGlobal:0;0")
        assert len(frame_form) == 8 and frame_form != b"E03"  # __stack_pointer, an i32
        assert _exchange(s, b"qWasmGlobal:0;instance:0;") == frame_form
        assert _exchange(s, b"qWasmGlobal:0;instance:1;").startswith(b"E")
