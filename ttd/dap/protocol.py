"""The Debug Adapter Protocol's wire format, sans I/O (like h11): bytes in, messages out.

`DapConnection.receive(data)` returns what the bytes completed: requests (dicts) and
`ProtocolError`s for input that is not a valid request. A bad header or an oversized
Content-Length throws away input up to the next `Content-Length:` header (resync), so one
garbled message never ends the session. `DapConnection.response`/`event` number outgoing
messages and frame them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_HEADER = 8 * 1024         # all headers of one message
MAX_BODY = 16 * 1024 * 1024   # one message's JSON body
_MARK = b"Content-Length:"
_SEQ = re.compile(rb'"seq"\s*:\s*(\d{1,15})')
_COMMAND = re.compile(rb'"command"\s*:\s*"([A-Za-z0-9_]{1,64})"')


@dataclass
class ProtocolError:
    """Input that is not a request. `seq`/`command` when they could be read from it, so
    that the error can be answered as a failed response to that request."""

    message: str
    seq: int | None = None
    command: str = ""


class DapConnection:
    """Content-Length framing in both directions and the adapter's own seq numbers."""

    def __init__(self, max_header: int = MAX_HEADER, max_body: int = MAX_BODY):
        self.max_header = max_header
        self.max_body = max_body
        self._buf = bytearray()
        self._seq = 0

    # ---- incoming ----------------------------------------------------------------------
    def receive(self, data: bytes) -> list[dict | ProtocolError]:
        """Feed bytes; returns every message they complete, in order."""
        self._buf += data
        out: list[dict | ProtocolError] = []
        while True:
            item = self._next()
            if item is None:
                return out
            out.append(item)

    def _resync(self, start: int) -> bool:
        """Drop input up to the next header mark at or after `start`. False if none yet
        (keeps a tail that may be the start of one)."""
        i = self._buf.find(_MARK, start)
        if i < 0:  # keep only a tail that may begin the next mark
            keep = next((k for k in range(len(_MARK) - 1, 0, -1)
                         if self._buf.endswith(_MARK[:k])), 0)
            del self._buf[:len(self._buf) - keep]
            return False
        del self._buf[:i]
        return True

    def _next(self) -> dict | ProtocolError | None:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > self.max_header:
                self._resync(1)
                return ProtocolError(f"header longer than {self.max_header} bytes")
            return None
        if end > self.max_header:
            self._resync(1)
            return ProtocolError(f"header longer than {self.max_header} bytes")
        length, problem = None, None
        for line in bytes(self._buf[:end]).split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if not sep:
                problem = f"garbage header line {line[:40]!r}"
                break
            if name.strip().lower() == b"content-length":
                v = value.strip()
                if not v.isdigit() or len(v) > 15:
                    problem = f"bad Content-Length {v[:20]!r}"
                    break
                length = int(v)
        if problem is None and length is None:
            problem = "a message without Content-Length"
        if problem is None and length > self.max_body:
            problem = f"Content-Length {length} over the limit of {self.max_body} bytes"
        if problem is not None:
            # skip to the next message's header (the bad header's own mark is passed over)
            self._resync(1)
            return ProtocolError(problem)
        body_start = end + 4
        if len(self._buf) < body_start + length:
            return None
        body = bytes(self._buf[body_start:body_start + length])
        del self._buf[:body_start + length]
        return parse_request(body)

    # ---- outgoing ----------------------------------------------------------------------
    def _frame(self, msg: dict) -> bytes:
        self._seq += 1
        msg["seq"] = self._seq
        body = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode()
        return b"Content-Length: %d\r\n\r\n" % len(body) + body

    def response(self, request_seq: int, command: str, body: Any = None,
                 success: bool = True, message: str | None = None) -> bytes:
        msg: dict[str, Any] = {"type": "response", "request_seq": request_seq,
                               "success": success, "command": command}
        if message is not None:
            msg["message"] = message
        if body is not None:
            msg["body"] = body
        return self._frame(msg)

    def event(self, event: str, body: Any = None) -> bytes:
        msg: dict[str, Any] = {"type": "event", "event": event}
        if body is not None:
            msg["body"] = body
        return self._frame(msg)


def parse_request(body: bytes) -> dict | ProtocolError:
    """One message body as a request dict, or why it is not one."""
    seq_m, cmd_m = _SEQ.search(body), _COMMAND.search(body)
    seq = int(seq_m.group(1)) if seq_m else None
    command = cmd_m.group(1).decode() if cmd_m else ""
    try:
        msg = json.loads(body)
    except (ValueError, RecursionError) as e:
        return ProtocolError(f"bad JSON: {str(e).splitlines()[0][:200]}", seq, command)
    if not isinstance(msg, dict):
        return ProtocolError("a message must be a JSON object", seq, command)
    seq = msg.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return ProtocolError("a message needs an integer seq", None, command)
    command = msg.get("command")
    if msg.get("type") != "request":
        return ProtocolError(f"only requests are accepted, not {str(msg.get('type'))[:40]!r}",
                             seq, command if isinstance(command, str) else "")
    if not isinstance(command, str) or not command:
        return ProtocolError("a request needs a command", seq, "")
    args = msg.get("arguments")
    if args is None:
        msg["arguments"] = {}
    elif not isinstance(args, dict):
        return ProtocolError("arguments must be an object", seq, command)
    return msg
