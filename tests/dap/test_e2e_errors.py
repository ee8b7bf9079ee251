"""Malformed requests get a DAP error response with a one-line message, and `ttd dap` keeps
serving the session; bad launch arguments fail the launch, not the adapter."""

from __future__ import annotations

import pytest

from tests.dap.conftest import src
from tests.support.dap_client import DAPClient, DAPError

BAD = [
    ("frobnicate", {"x": 1}),
    ("stackTrace", {"threadId": "one"}),
    ("variables", {"variablesReference": 987654}),
    ("variables", {}),
    ("scopes", {"frameId": 987654}),
    ("setBreakpoints", {"breakpoints": [{"line": 3}]}),          # no source
    ("setBreakpoints", {"source": {"path": src("fib.c")}, "breakpoints": [{"line": "x"}]}),
    ("ttdGoto", {"step": "sideways"}),
    ("ttdGoto", {"step": 10**12}),
    ("ttdGoto", {}),
    ("ttdLastWrite", {"expression": "no_such_variable", "frameId": 1}),
    ("evaluate", {"expression": "n +* 3", "context": "watch"}),
    ("readMemory", {"memoryReference": "not-an-address", "count": 4}),
    ("disassemble", {"memoryReference": "zzz", "instructionCount": 3}),
    ("dataBreakpointInfo", {"name": "nope", "variablesReference": 987654}),
    ("setDataBreakpoints", {"breakpoints": [{"dataId": "garbage"}]}),
]


@pytest.mark.parametrize("command,arguments", BAD, ids=[f"{c}-{i}" for i, (c, _a) in enumerate(BAD)])
def test_malformed_request_gets_an_error_and_the_session_goes_on(dap_traces, command, arguments):
    with DAPClient() as c:
        c.launch(trace=str(dap_traces["fib_arg"]), breakpoints={src("fib.c"): [15]},
                 stop_reason="entry")
        c.stopped_after("continue")
        before = (c.where(), c.variables(), c.request("ttdWhen", {}))
        resp = c.raw(command, arguments)
        if resp["success"]:
            # a few requests answer "nothing there" instead: then the answer must say so
            body = resp.get("body") or {}
            assert command == "setDataBreakpoints", resp
            assert all(not b.get("verified") for b in body.get("breakpoints", [])), resp
        else:
            msg = DAPError(command, resp).message
            assert msg and "\n" not in msg.strip() and "Traceback" not in msg, resp
        assert (c.where(), c.variables(), c.request("ttdWhen", {})) == before
        assert c.stopped_after("continue")["body"]["reason"] == "breakpoint"
        assert c.variables()["n"] == "11"
        assert "Traceback" not in c.stderr()


@pytest.mark.parametrize("args,needle", [
    ({"trace": "/nonexistent/trace.db"}, "trace.db"),
    ({}, "trace"),
    ({"trace": 42}, "trace"),
    ({"program": "/nonexistent/prog.wasm"}, "prog.wasm"),
    ({"trace": "TRACE", "stopAt": "middle"}, "stopAt"),
])
def test_bad_launch_arguments_fail_the_launch_with_a_message(dap_traces, args, needle):
    args = {k: (str(dap_traces["fib_arg"]) if v == "TRACE" else v) for k, v in args.items()}
    with DAPClient() as c:
        with pytest.raises(DAPError) as err:
            c.launch(**args)
        assert needle.lower() in err.value.message.lower(), err.value.message
        assert "Traceback" not in err.value.message and "Traceback" not in c.stderr()


def test_a_trace_that_is_not_a_trace(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with DAPClient() as c:
        with pytest.raises(DAPError) as err:
            c.launch(trace=str(junk))
        assert "junk.db" in err.value.message
        assert "Traceback" not in c.stderr()
