"""The real `ttd` command line and server, as subprocesses, on hand-crafted hostile traces.

The mutation fuzzer runs the command line in-process for speed; this checks what a user
really sees for a few representative crafted traces: an exit status of 1 and one line on
stderr, no traceback, and the file untouched. And a server whose trace turns out to be
damaged in the middle of a session answers with an error stop, keeps serving, and logs one
line per failed request.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import sqlite3
import subprocess
from pathlib import Path

import numpy as np

from tests.fuzz.mutators import fix_checksums, zstd_frame_declaring
from tests.gdb.wire import frame, unframe
from tests.support.recording import TTD
from ttd.store import codec


def _sql(path: Path, fn) -> None:
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        fn(conn)
        fix_checksums(conn)
    finally:
        conn.close()


def _last_chunk_values_cut(conn):
    seq, vals = conn.execute("SELECT seq, vals FROM chunks ORDER BY seq DESC LIMIT 1").fetchone()
    raw = codec.decompress(vals, 1 << 30)
    conn.execute("UPDATE chunks SET vals=? WHERE seq=?", (codec.compress(raw[: len(raw) // 2]), seq))


def _ids_bomb(conn):
    conn.execute("UPDATE chunks SET ids=? WHERE seq=0", (zstd_frame_declaring(2**40),))


def _memory_2_40(conn):
    cp = codec.unpack(conn.execute("SELECT state FROM checkpoints WHERE chunk_seq=0").fetchone()[0])
    cp["mem_sizes"] = [2**40]
    conn.execute("UPDATE checkpoints SET state=? WHERE chunk_seq=0", (codec.pack(cp),))


def _shuffled_ids(conn):
    ids = np.frombuffer(codec.decompress(
        conn.execute("SELECT ids FROM chunks WHERE seq=1").fetchone()[0], 1 << 30), "<u4")
    conn.execute("UPDATE chunks SET ids=? WHERE seq=1", (codec.compress(ids[::-1].tobytes()),))


def _deep_info(conn):
    conn.execute("UPDATE trace_info SET value=? WHERE key='final'", ("[" * 100_000 + "]" * 100_000,))


def _unknown_values_layout(conn):
    conn.execute("UPDATE trace_info SET value='\"zigzag9\"' WHERE key='values_layout'")


def _values_layout_forgotten(conn):  # the values are byte planes, read as recorded bytes
    assert conn.execute("DELETE FROM trace_info WHERE key='values_layout'").rowcount == 1


CASES = {
    "last chunk's values cut short": _last_chunk_values_cut,
    "values in a layout ttd does not know": _unknown_values_layout,
    "values in planes, said to be as recorded": _values_layout_forgotten,
    "block ids declaring 2**40 bytes": _ids_bomb,
    "a 2**40-byte memory": _memory_2_40,
    "block ids out of order": _shuffled_ids,
    "trace_info nested 100000 deep": _deep_info,
}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_clean_line(err: str) -> bool:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return len(lines) == 1 and lines[0].startswith("ttd: error: ") and "Traceback" not in err


def test_command_line_on_crafted_traces(seed_traces, tmp_path):
    runs = []
    for i, (name, craft) in enumerate(CASES.items()):
        path = tmp_path / f"case{i}.db"
        shutil.copyfile(seed_traces["fib"], path)
        _sql(path, craft)
        before = _digest(path)
        for cmd in (["info", str(path)], ["verify", "-q", str(path)]):
            runs.append((name, path, before, cmd[0], subprocess.Popen(
                [*TTD, *cmd], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)))
    for name, path, before, cmd, proc in runs:
        out, err = proc.communicate(timeout=120)
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
        assert "Traceback" not in err, (name, cmd, err)
        if cmd == "verify":
            # every case is damage verify must report: a one-line error, or a mismatch
            assert proc.returncode == 1, (name, proc.returncode, out, err)
            assert _one_clean_line(err) or (not err.strip() and "MISMATCH" in out), (name, out, err)
        else:
            assert proc.returncode in (0, 1), (name, proc.returncode, err)
            assert proc.returncode == 0 or _one_clean_line(err), (name, err)
        assert _digest(path) == before, f"{name}: ttd {cmd} modified the trace"


# ---- the server ------------------------------------------------------------------------------

class _Client:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""
        self.sock.sendall(frame(b"QStartNoAckMode"))
        assert self._frame() == b"OK"

    def _frame(self) -> bytes:
        while True:
            m = re.search(rb"\$[^#]*#[0-9a-f]{2}", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return unframe(m.group(0))
            data = self.sock.recv(65536)
            assert data, "server closed the connection"
            self.buf += data

    def ask(self, payload: bytes) -> list[bytes]:
        """Reply payloads; a monitor command's O packets come before its final reply."""
        self.sock.sendall(frame(payload))
        replies = [self._frame()]
        while payload.startswith(b"qRcmd,") and replies[-1].startswith(b"O") and replies[-1] != b"OK":
            replies.append(self._frame())
        return replies

    def close(self) -> None:
        self.ask(b"D")
        self.sock.close()


def _description(stop: bytes) -> str:
    m = re.search(rb"description:([0-9a-f]+);", stop)
    return bytes.fromhex(m.group(1).decode()).decode(errors="replace") if m else ""


def test_server_keeps_serving_a_trace_damaged_mid_session(seed_traces, tmp_path):
    path = tmp_path / "damaged.db"
    shutil.copyfile(seed_traces["fib"], path)
    _sql(path, _last_chunk_values_cut)
    before = _digest(path)
    proc = subprocess.Popen([*TTD, "serve", "--port", "0", "--max-connections", "2", str(path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        banner = proc.stdout.readline().decode()
        m = re.search(r"on 127\.0\.0\.1:(\d+)", banner)
        assert m, (banner, proc.stderr.read() if proc.poll() is not None else "")
        port = int(m.group(1))

        c = _Client(port)
        assert c.ask(b"?")[0].startswith(b"T05")
        # running forward reaches the damaged chunk: an error stop where the session still is
        stop = c.ask(b"c")[0]
        assert stop.startswith(b"T05") and b"reason:exception" in stop, stop
        assert "continue failed" in _description(stop) and "chunk" in _description(stop), stop
        # the session still answers, and can still move where the trace is sound
        when = c.ask(b"qRcmd," + b"when".hex().encode())
        assert when[-1] == b"OK" and b"step 0 of" in bytes.fromhex(when[0][1:].decode()), when
        assert c.ask(b"s")[0].startswith(b"T05thread:1;")
        assert c.ask(b"qWasmCallStack:1")[0]
        assert c.ask(b"m0,10")[0]
        c.close()

        c = _Client(port)  # the next debugger gets a fresh session
        assert c.ask(b"?")[0].startswith(b"T05")
        c.close()
        assert proc.wait(timeout=60) == 0
        err = proc.stderr.read().decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("ttd: ") for ln in lines), err
    assert any("CONTINUE failed: CorruptTrace: chunk" in ln for ln in lines), err
    assert _digest(path) == before


def test_no_escape_sequences_from_a_trace_reach_the_terminal(seed_traces, tmp_path):
    """Strings in a trace reach the terminal: `ttd info` escapes control characters, and
    --json stays exact and machine-readable whatever they hold."""
    path = tmp_path / "t.db"
    shutil.copyfile(seed_traces["trap"], path)
    name = "a\nb\x1b]0;owned\x07\x1b[2J\"c\u202e"
    _sql(path, lambda c: c.execute(
        "UPDATE trace_info SET value=? WHERE key='program'", (json.dumps(name),)))
    runs = [subprocess.Popen([*TTD, "info", *flag, str(path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE) for flag in (["--json"], [])]
    (js, err1), (text, err2) = (p.communicate(timeout=120) for p in runs)
    assert [p.returncode for p in runs] == [0, 0], (err1, err2)
    assert json.loads(js)["program"] == name
    assert b"\x1b" not in text and b"\x07" not in text and "\u202e".encode() not in text, text
    assert b"program:   a\\nb\\x1b]0;owned" in text, text
