"""Moving in time through `ttd dap`: stepping forwards then back retraces the same lines and
values, reverseContinue finds the previous hit, reverse step in/out, instruction steps, goto."""

from __future__ import annotations

from tests.dap.conftest import src
from tests.support.dap_client import DAPClient

THREAD = 1


def _at(c: DAPClient) -> tuple:
    """Where we are and what the top frame sees: (file, line, function, locals)."""
    f = c.stack(1)[0]
    return (c.where(), f["name"], c.all_variables(f["id"]))


def _when(c: DAPClient) -> int:
    body = c.request("ttdWhen", {})
    assert 0 <= body["step"] <= body["total"], body
    return body["step"]


def test_next_then_step_back_retraces_lines_and_values(dap_traces):
    with DAPClient() as c:
        c.launch(trace=str(dap_traces["fib_arg"]), breakpoints={src("fib.c"): [25]},
                 stop_reason="entry")
        assert c.stopped_after("continue")["body"]["reason"] == "breakpoint"
        c.set_breakpoints(src("fib.c"), [])  # stepping back onto it would report a hit
        forward = [_at(c)]
        for _ in range(12):
            assert c.stopped_after("next")["body"]["reason"] == "step"
            forward.append(_at(c))
        lines = [w[0][1] for w in forward]
        assert set(lines) >= {25, 26, 27, 28, 29, 30}, lines  # went round the loop
        assert forward[0][0] == ("fib.c", 25) and forward[0][1] == "print_table"
        backward = [forward[-1]]
        for _ in range(12):
            assert c.stopped_after("stepBack")["body"]["reason"] == "step"
            backward.append(_at(c))
        assert backward == forward[::-1]


def test_reverse_continue_lands_on_the_previous_hit(dap_traces):
    with DAPClient() as c:
        c.launch(trace=str(dap_traces["fib_arg"]), breakpoints={src("fib.c"): [15]},
                 stop_reason="entry")
        forward = []
        for _ in range(5):
            assert c.stopped_after("continue")["body"]["reason"] == "breakpoint"
            forward.append((_when(c), _at(c), [f["name"] for f in c.stack()]))
        assert [f[1][2]["n"] for f in forward] == ["12", "11", "10", "9", "8"]
        backward = [forward[-1]]
        for _ in range(4):
            assert c.stopped_after("reverseContinue")["body"]["reason"] == "breakpoint"
            backward.append((_when(c), _at(c), [f["name"] for f in c.stack()]))
        assert backward == forward[::-1]


def test_function_breakpoint_with_condition_and_hit_count(dap_traces):
    with DAPClient() as c:
        c.launch(trace=str(dap_traces["fib_arg"]), stop_reason="entry",
                 function_breakpoints=[{"name": "fib", "condition": "n == 3"}])
        ns = []
        for _ in range(3):
            ev = c.stopped_after("continue")
            assert ev["body"]["reason"] == "function breakpoint", ev
            ns.append(c.variables()["n"])
        assert ns == ["3", "3", "3"]
        c.request("setFunctionBreakpoints", {"breakpoints": []})
        c.set_breakpoints(src("fib.c"), [{"line": 15, "hitCondition": "3"}])
        c.request("ttdGoto", {"step": "start"})
        assert c.wait_event("stopped")["body"]["reason"] == "goto"
        assert c.stopped_after("continue")["body"]["reason"] == "breakpoint"
        assert c.variables()["n"] == "10"  # the third call: fib(12), fib(11), fib(10)


def test_reverse_step_out_and_in(dap_traces):
    with DAPClient() as c:
        c.launch(trace=str(dap_traces["fib_arg"]), breakpoints={src("fib.c"): [15]},
                 stop_reason="entry")
        c.stopped_after("continue")
        c.stopped_after("continue")  # fib(11), called from fib(12) at line 18
        assert c.variables()["n"] == "11" and len(c.stack()) >= 3
        depth = len(c.stack())
        c.request("ttdReverseStepOut", {"threadId": THREAD})
        c.wait_event("stopped")
        assert c.where() == ("fib.c", 18)
        assert c.variables()["n"] == "12" and len(c.stack()) == depth - 1
        # in main after fib(12) returned: stepping back (the inverse of step in: first the
        # store of the result on line 39, then into the call) lands on fib(12)'s last line
        c.set_breakpoints(src("fib.c"), [40])
        assert c.stopped_after("continue")["body"]["reason"] == "breakpoint"
        assert c.stack(1)[0]["name"] == "main"
        for _ in range(2):
            c.stopped_after("ttdReverseStepIn")
            if c.stack(1)[0]["name"] == "fib":
                break
            assert c.where() == ("fib.c", 39)
        top = c.stack()
        assert top[0]["name"] == "fib" and top[1]["name"] == "main"
        assert c.where() == ("fib.c", 21) and c.variables()["n"] == "12"


def test_step_in_and_out_forwards(dap_traces):
    with DAPClient() as c:
        c.launch(trace=str(dap_traces["fib_arg"]), breakpoints={src("fib.c"): [39]},
                 stop_reason="entry")
        c.stopped_after("continue")
        assert c.where() == ("fib.c", 39)
        c.stopped_after("stepIn")
        # LLDB's step in stops on the function's first line, `{` (fib.c:14) at -O0, before the
        # prologue stored n; the next line has it
        assert c.stack(1)[0]["name"] == "fib" and c.where() in (("fib.c", 14), ("fib.c", 15))
        if c.where()[1] == 14:
            c.stopped_after("next")
        assert c.where() == ("fib.c", 15) and c.variables()["n"] == "12"
        c.stopped_after("stepOut")
        assert c.stack(1)[0]["name"] == "main" and c.where()[1] == 39
        c.stopped_after("next")
        assert c.where() == ("fib.c", 40)
        assert c.variables()["result"] == "144"  # fib(12)


def test_instruction_granularity_moves_one_step(dap_traces):
    with DAPClient() as c:
        c.launch(trace=str(dap_traces["fib_arg"]), breakpoints={src("fib.c"): [15]},
                 stop_reason="entry")
        c.stopped_after("continue")
        s0 = _when(c)
        c.stopped_after("stepIn", {"granularity": "instruction"})
        assert _when(c) == s0 + 1
        c.stopped_after("stepIn", {"granularity": "instruction"})
        assert _when(c) == s0 + 2
        c.stopped_after("stepBack", {"granularity": "instruction"})
        assert _when(c) == s0 + 1
        c.stopped_after("stepBack", {"granularity": "instruction"})
        assert _when(c) == s0
        assert c.where() == ("fib.c", 15)


def test_goto_and_when(dap_traces):
    with DAPClient() as c:
        c.launch(trace=str(dap_traces["fib_arg"]), stop_reason="entry")
        first = c.request("ttdWhen", {})
        assert first["step"] == 0 and first["total"] > 10_000
        total = first["total"]
        c.request("ttdGoto", {"step": total // 2})
        assert c.wait_event("stopped")["body"]["reason"] == "goto"
        assert c.request("ttdWhen", {}) == {"step": total // 2, "total": total}
        c.request("ttdGoto", {"step": "end"})
        c.wait_event("stopped")
        assert _when(c) in (total - 1, total)
        c.request("ttdGoto", {"step": "start"})
        c.wait_event("stopped")
        assert _when(c) == 0


def test_debug_console_lldb_commands_move_in_time(dap_traces):
    with DAPClient() as c:
        c.launch(trace=str(dap_traces["fib_arg"]), stop_reason="entry")
        c.request("evaluate", {"expression": "-exec ttd goto 1000", "context": "repl"})
        c.wait_event("stopped")
        assert _when(c) == 1000
        out = c.request("evaluate", {"expression": "`ttd when", "context": "repl"})["result"]
        assert "1000" in out.replace(",", "")
        # the stack the client asks for next is the one at step 1000
        frames = c.stack()
        c.request("ttdGoto", {"step": 1000})
        c.wait_event("stopped")
        assert c.stack() == frames
