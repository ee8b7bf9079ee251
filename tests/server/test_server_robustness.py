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
