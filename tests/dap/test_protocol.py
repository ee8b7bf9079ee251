"""The sans-I/O DAP framing: bytes in, requests or protocol errors out; never an exception."""

from __future__ import annotations

import json

import pytest

from ttd.dap.protocol import DapConnection, ProtocolError


def frame(obj) -> bytes:
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


REQ = {"seq": 1, "type": "request", "command": "threads"}


def test_a_request_split_anywhere_parses_once():
    data = frame(REQ) + frame({**REQ, "seq": 2, "arguments": {"x": 1}})
    for cut in range(len(data) + 1):
        c = DapConnection()
        got = c.receive(data[:cut]) + c.receive(data[cut:])
        assert [m["seq"] for m in got] == [1, 2]
    assert got[0]["arguments"] == {}  # a missing arguments object reads as empty


def test_byte_at_a_time():
    c = DapConnection()
    out = []
    for b in frame(REQ):
        out += c.receive(bytes([b]))
    assert out == [{**REQ, "arguments": {}}]


@pytest.mark.parametrize("body,seq,why", [
    (b'{"seq": 7, "type": "request", "command": "next", ', 7, "bad JSON"),
    (b'[1, 2]', None, "JSON object"),
    (b'{"type": "request", "command": "x"}', None, "integer seq"),
    (b'{"seq": "1", "type": "request", "command": "x"}', None, "integer seq"),
    (b'{"seq": 3, "type": "event", "event": "x"}', 3, "only requests"),
    (b'{"seq": 4, "type": "request"}', 4, "needs a command"),
    (b'{"seq": 5, "type": "request", "command": "x", "arguments": [1]}', 5, "must be an object"),
    (b'\xff\xfe garbage', None, "bad JSON"),
    (b'[' * 100000 + b']' * 100000, None, ""),
])
def test_malformed_bodies_are_errors_with_the_seq_when_readable(body, seq, why):
    c = DapConnection()
    got = c.receive(frame(body) + frame(REQ))
    assert isinstance(got[0], ProtocolError) and why in got[0].message
    assert got[0].seq == seq
    assert got[1]["seq"] == 1  # and the next message is read


@pytest.mark.parametrize("header,why", [
    (b"Content-Length: 99999999999\r\n\r\n", "over the limit"),
    (b"Content-Length: -5\r\n\r\n", "bad Content-Length"),
    (b"Content-Length: 1e3\r\n\r\n", "bad Content-Length"),
    (b"Content-Type: x\r\n\r\n", "without Content-Length"),
    (b"hello world\r\n\r\n", "garbage header"),
    (b"X" * 10000, "header longer"),
])
def test_bad_headers_resync_on_the_next_message(header, why):
    c = DapConnection(max_body=1 << 20)
    got = c.receive(header + frame(REQ))
    assert isinstance(got[0], ProtocolError) and why in got[0].message, got
    assert got[1:] == [{**REQ, "arguments": {}}]


def test_garbage_without_a_header_is_dropped_but_a_partial_mark_is_kept():
    c = DapConnection()
    assert c.receive(b"junk\r\n\r\n") and len(c._buf) == 0
    assert c.receive(b"Content-Le") == []
    assert len(c._buf) == len(b"Content-Le")
    assert c.receive(frame(REQ)[len(b"Content-Le"):]) == [{**REQ, "arguments": {}}]


def test_a_lying_content_length_costs_only_its_own_bytes():
    c = DapConnection()
    got = c.receive(b"Content-Length: 5\r\n\r\n{\"seq\"" + frame(REQ))
    assert isinstance(got[0], ProtocolError)
    # the 5 bytes were taken as the body; the rest (`: ...` tail and the real message)
    assert got[-1] == {**REQ, "arguments": {}}


def test_outgoing_messages_are_numbered_and_framed():
    c = DapConnection()
    a = c.response(1, "threads", {"threads": []})
    b = c.event("stopped", {"reason": "step"})
    e = c.response(2, "next", success=False, message="no")
    msgs = [json.loads(x.split(b"\r\n\r\n", 1)[1]) for x in (a, b, e)]
    assert [m["seq"] for m in msgs] == [1, 2, 3]
    assert msgs[0] == {"type": "response", "request_seq": 1, "success": True,
                       "command": "threads", "body": {"threads": []}, "seq": 1}
    assert msgs[2]["success"] is False and msgs[2]["message"] == "no"
    for x in (a, b, e):
        head, body = x.split(b"\r\n\r\n", 1)
        assert int(head.split(b":")[1]) == len(body)


def test_non_ascii_bodies_count_bytes():
    c = DapConnection()
    out = c.event("output", {"output": "é→𝄞"})
    head, body = out.split(b"\r\n\r\n", 1)
    assert int(head.split(b":")[1]) == len(body) > len("é→𝄞")
    got = c.receive(frame({**REQ, "arguments": {"s": "é→𝄞"}}))
    assert got[0]["arguments"]["s"] == "é→𝄞"
