"""A small Python DAP client over a real `ttd dap` (stdio or TCP), for the end-to-end tests."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.support.recording import TTD

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
SRC = str(PROGRAMS / "src")


def launch(trace: Path, **extra) -> dict:
    """A launch configuration whose DWARF names (src/x.c) map to tests/programs/src."""
    return {"type": "ttd", "request": "launch", "trace": str(trace),
            "sourceMap": {"src": SRC}, **extra}


class DapError(Exception):
    pass


class WireClient:
    """Sends requests, collects responses and events in arrival order."""

    def __init__(self, send, recv, close):
        self._send, self._recv, self._close = send, recv, close
        self.seq = 0
        self.buf = b""
        self.events: list[dict] = []
        self.responses: dict[int, dict] = {}

    @classmethod
    def stdio(cls, cwd=None) -> "WireClient":
        proc = subprocess.Popen([*TTD, "dap"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=cwd)
        c = cls(lambda b: (proc.stdin.write(b), proc.stdin.flush()),
                lambda: os.read(proc.stdout.fileno(), 65536) if select.select(
                    [proc.stdout], [], [], 0.2)[0] else None, lambda: _stop(proc))
        c.proc = proc
        return c

    @classmethod
    def tcp(cls, port: int) -> "WireClient":
        s = socket.create_connection(("127.0.0.1", port), timeout=60)

        def recv():
            if not select.select([s], [], [], 0.2)[0]:
                return None
            return s.recv(65536)
        return cls(s.sendall, recv, s.close)

    def close(self) -> None:
        self._close()

    def raw(self, data: bytes) -> None:
        self._send(data)

    def send(self, command: str, arguments: Any = None, **extra) -> int:
        self.seq += 1
        msg = {"seq": self.seq, "type": "request", "command": command, **extra}
        if arguments is not None:
            msg["arguments"] = arguments
        body = json.dumps(msg).encode()
        self._send(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def _pump(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self._recv()
            if data is None:
                continue
            if data == b"":
                raise DapError("the adapter closed the connection")
            self.buf += data
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                n = int(self.buf[:end].split(b":")[1])
                if len(self.buf) < end + 4 + n:
                    break
                msg = json.loads(self.buf[end + 4:end + 4 + n])
                self.buf = self.buf[end + 4 + n:]
                if msg["type"] == "response":
                    self.responses[msg["request_seq"]] = msg
                else:
                    self.events.append(msg)
            return

    def response(self, seq: int, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while seq not in self.responses:
            if time.monotonic() > deadline:
                raise DapError(f"no response to request {seq}")
            self._pump(0.5)
        return self.responses.pop(seq)

    def request(self, command: str, arguments: Any = None, ok: bool = True, **kw) -> dict:
        r = self.response(self.send(command, arguments), **kw)
        if ok and not r["success"]:
            raise DapError(f"{command} failed: {r.get('message')}")
        return r

    def event(self, name: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    return self.events.pop(i).get("body") or {}
            if time.monotonic() > deadline:
                raise DapError(f"no {name} event")
            self._pump(0.5)

    def drain_output(self) -> list[str]:
        """Every output event so far (reading until the adapter is quiet for 0.5 s)."""
        while True:
            before = len(self.buf), len(self.events)
            self._pump(0.5)
            if (len(self.buf), len(self.events)) == before:
                break
        out = [e["body"]["output"] for e in self.events if e["event"] == "output"]
        self.events = [e for e in self.events if e["event"] != "output"]
        return out

    # ---- a session, as a DAP client runs it --------------------------------------------
    def start(self, launch: dict, breakpoints: dict | None = None) -> dict:
        """initialize, launch, (breakpoints), configurationDone: the first stopped event."""
        self.request("initialize", {"adapterID": "ttd", "linesStartAt1": True,
                                    "columnsStartAt1": True, "pathFormat": "path"})
        self.request("launch", launch)
        self.event("initialized")
        for path, lines in (breakpoints or {}).items():
            self.request("setBreakpoints", {"source": {"path": path},
                                            "breakpoints": [{"line": n} for n in lines]})
        self.request("configurationDone")
        return self.event("stopped")

    def move(self, command: str, **args) -> dict:
        self.request(command, {"threadId": self.thread(), **args})
        return self.event("stopped")

    def thread(self) -> int:
        return self.request("threads")["body"]["threads"][0]["id"]

    def frames(self) -> list[dict]:
        return self.request("stackTrace", {"threadId": self.thread()})["body"]["stackFrames"]

    def locals(self, frame: int = 0) -> dict[str, str]:
        fid = self.frames()[frame]["id"]
        scopes = self.request("scopes", {"frameId": fid})["body"]["scopes"]
        ref = scopes[0]["variablesReference"]
        return {v["name"]: v["value"] for v in
                self.request("variables", {"variablesReference": ref})["body"]["variables"]}

    def where(self) -> list[tuple[str, str | None, int]]:
        return [(f["name"], (f.get("source") or {}).get("name"), f["line"]) for f in self.frames()]


def _stop(proc: subprocess.Popen) -> None:
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
