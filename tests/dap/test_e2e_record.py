"""Launch with `program`: `ttd dap` records the run first, then debugs the new trace."""

from __future__ import annotations

from tests.dap.conftest import src
from tests.support.cases import get_case
from tests.support.dap_client import DAPClient
from tests.support.lldb_session import require_lldb
from tests.support.recording import info_json


def test_record_then_debug(tmp_path):
    require_lldb()
    out = tmp_path / "fib7.db"
    with DAPClient() as c:
        c.launch(program=str(get_case("fib").wasm_path.resolve()), args=["7"], out=str(out),
                 breakpoints={src("fib.c"): [40]}, stop_reason="entry")
        assert out.is_file()
        # what the program printed while it was recorded, in the Debug Console
        assert "fib(7) = 13\n" in c.outputs("stdout")
        assert c.stopped_after("continue")["body"]["reason"] == "breakpoint"
        assert c.variables()["result"] == "13"  # fib(7)
        assert c.variables()["n"] == "7"
    assert info_json(out)["steps"] > 1000


def test_stop_on_entry_false_runs_to_the_first_breakpoint(dap_traces):
    with DAPClient() as c:
        ev = c.launch(trace=str(dap_traces["fib_arg"]), stopOnEntry=False,
                      breakpoints={src("fib.c"): [15]}, stop_reason="breakpoint")
        assert c.where() == ("fib.c", 15) and c.variables()["n"] == "12"
        assert ev["body"]["hitBreakpointIds"]
