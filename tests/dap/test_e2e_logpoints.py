"""A logpoint prints every hit of a recorded loop (fib.c:28 in print_table) without stopping."""

from __future__ import annotations

from tests.dap.conftest import src
from tests.support.dap_client import DAPClient


def test_logpoint_prints_every_hit_of_the_loop(dap_traces):
    with DAPClient() as c:
        c.launch(trace=str(dap_traces["fib_arg"]), stop_reason="entry",
                 breakpoints={src("fib.c"): [{"line": 28, "logMessage": "i={i} prev={prev}"},
                                             41]})
        assert c.capabilities.get("supportsLogPoints")
        ev = c.stopped_after("continue")  # the logpoints do not stop; line 41 does
        # line 41 comes before the loop: nothing logged yet
        assert ev["body"]["reason"] == "breakpoint" and c.where() == ("fib.c", 41)
        assert not [o for o in c.outputs() if o.startswith("i=")]
        c.request("continue", {"threadId": 1})
        # the end of the recording: a stop there, or the session ends
        c.wait_event(["stopped", "terminated"], timeout=60)
        logged = [o.strip() for o in c.outputs() if o.startswith("i=")]
        fib = [0, 1]
        while len(fib) < 13:
            fib.append(fib[-1] + fib[-2])
        assert logged == [f"i={i} prev={fib[i]}" for i in range(13)]
