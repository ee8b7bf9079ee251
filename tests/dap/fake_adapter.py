"""A tiny DAP adapter over stdio (or `--port N`), to test the test client before `ttd dap`.

It "debugs" a program of `lines` lines with one variable `x` equal to the line number: `next`
and `stepBack` move one line, `continue` runs to the next breakpoint (or terminates), a
`logMessage` breakpoint prints instead of stopping. Unknown requests get an error response.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import BinaryIO


def read_message(inp: BinaryIO) -> dict | None:
    length = None
    while True:
        line = inp.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    if length is None:
        return None
    return json.loads(inp.read(length))


class Fake:
    def __init__(self, out: BinaryIO):
        self.out = out
        self.seq = 1
        self.lines = 10
        self.line = 1
        self.breakpoints: dict[int, dict] = {}
        self.path = "/fake/prog.c"

    def write(self, msg: dict) -> None:
        msg["seq"] = self.seq
        self.seq += 1
        data = json.dumps(msg).encode()
        self.out.write(b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
        self.out.flush()

    def event(self, name: str, body: dict | None = None) -> None:
        self.write({"type": "event", "event": name, "body": body or {}})

    def reply(self, req: dict, body: dict | None = None, error: str | None = None) -> None:
        msg = {"type": "response", "request_seq": req["seq"], "command": req["command"],
               "success": error is None}
        if error is not None:
            msg["message"] = error
            msg["body"] = {"error": {"id": 1, "format": error}}
        elif body is not None:
            msg["body"] = body
        self.write(msg)

    def stop(self, reason: str) -> None:
        self.event("stopped", {"reason": reason, "threadId": 1, "allThreadsStopped": True})

    def handle(self, req: dict) -> bool:
        cmd, args = req["command"], req.get("arguments") or {}
        if cmd == "initialize":
            self.reply(req, {"supportsConfigurationDoneRequest": True, "supportsStepBack": True,
                             "supportsLogPoints": True})
            self.event("initialized")
        elif cmd == "launch":
            if not isinstance(args.get("lines", 10), int):
                self.reply(req, error="lines must be an integer")
                return True
            self.lines = args.get("lines", 10)
            self.reply(req)
        elif cmd == "setBreakpoints":
            self.breakpoints = {b["line"]: b for b in args.get("breakpoints", [])}
            self.reply(req, {"breakpoints": [{"verified": 1 <= b["line"] <= self.lines,
                                              "line": b["line"]}
                                             for b in args.get("breakpoints", [])]})
        elif cmd == "configurationDone":
            self.reply(req)
            self.stop("entry")
        elif cmd == "threads":
            self.reply(req, {"threads": [{"id": 1, "name": "main"}]})
        elif cmd == "next":
            self.reply(req)
            self.line = min(self.line + 1, self.lines)
            self.stop("step")
        elif cmd == "stepBack":
            self.reply(req)
            self.line = max(self.line - 1, 1)
            self.stop("step")
        elif cmd == "continue":
            self.reply(req, {"allThreadsContinued": True})
            while self.line < self.lines:
                self.line += 1
                bp = self.breakpoints.get(self.line)
                if bp and "logMessage" in bp:
                    self.event("output", {"category": "console",
                                          "output": bp["logMessage"].replace("{x}", str(self.line))
                                          + "\n"})
                elif bp:
                    self.stop("breakpoint")
                    return True
            self.event("terminated")
        elif cmd == "stackTrace":
            self.reply(req, {"stackFrames": [
                {"id": 1, "name": "main", "line": self.line, "column": 1,
                 "source": {"name": "prog.c", "path": self.path}}], "totalFrames": 1})
        elif cmd == "scopes":
            self.reply(req, {"scopes": [{"name": "Locals", "variablesReference": 7,
                                         "expensive": False}]})
        elif cmd == "variables":
            self.reply(req, {"variables": [{"name": "x", "value": str(self.line),
                                            "variablesReference": 0}]})
        elif cmd == "disconnect":
            self.reply(req)
            return False
        else:
            self.reply(req, error=f"unknown request {cmd!r}")
        return True


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    fake = Fake(out)
    while (msg := read_message(inp)) is not None:
        if not fake.handle(msg):
            break


def main(argv: list[str]) -> None:
    if argv[:1] == ["--port"]:
        srv = socket.create_server(("127.0.0.1", int(argv[1])))
        print(f"fake dap: listening on 127.0.0.1:{srv.getsockname()[1]}", flush=True)
        conn, _ = srv.accept()
        with conn, conn.makefile("rb") as inp, conn.makefile("wb") as out:
            serve(inp, out)
        return
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main(sys.argv[1:])
