"""`ttd dap --port 0` prints where it listens and serves two clients at once, each with its own
trace and its own position in time."""

from __future__ import annotations

import re
import subprocess

from tests.dap.conftest import src
from tests.support.dap_client import DAPClient, TTD_DAP


def test_two_clients_at_once(dap_traces):
    proc = subprocess.Popen([*TTD_DAP, "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.fullmatch(r"ttd dap: listening on 127\.0\.0\.1:(\d+)\n", line)
        assert m, line
        port = int(m.group(1))
        with DAPClient(port=port) as a, DAPClient(port=port) as b:
            a.launch(trace=str(dap_traces["fib_arg"]), breakpoints={src("fib.c"): [15]},
                     stop_reason="entry")
            b.launch(trace=str(dap_traces["wild"]), breakpoints={src("wild.c"): [21]},
                     stop_reason="entry")
            for want_a, want_b in (("12", "10"), ("11", "20"), ("10", "30")):
                assert a.stopped_after("continue")["body"]["reason"] == "breakpoint"
                assert b.stopped_after("continue")["body"]["reason"] == "breakpoint"
                assert a.variables()["n"] == want_a
                assert b.variables()["value"] == want_b
            a.stopped_after("reverseContinue")
            assert a.variables()["n"] == "11" and b.variables()["value"] == "30"
            assert a.where() == ("fib.c", 15) and b.where() == ("wild.c", 21)
        # the clients are gone; the server still takes a new one
        with DAPClient(port=port) as c:
            c.launch(trace=str(dap_traces["trap"]), stopAt="end", stop_reason="exception")
        assert proc.poll() is None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
