"""ttd's reverse-stepping commands in a real LLDB, against a real `ttd serve`."""

from __future__ import annotations

import pytest

from tests.support.cases import get_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import record_case
from tests.support.serve import ttd_serve


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    require_lldb()
    return {name: record_case(get_case(name), tmp_path_factory.mktemp(name) / "t.db").trace
            for name in ("fib_arg", "trap", "strings")}


def _connect(case_name, port) -> LLDBSession:
    s = LLDBSession(get_case(case_name).wasm_path, port)
    out = s.run_command("command script import ttd.lldb")
    assert "error" not in out.lower(), out
    return s


def _where(s):
    st = s.stop()
    return st.line, st.function, s.variables()


@pytest.mark.parametrize("name,func,n", [("fib_arg", "main", 6), ("strings", "main", 12)])
def test_reverse_next_retraces_next(traces, name, func, n):
    with ttd_serve(traces[name]) as srv, _connect(name, srv.port) as s:
        s.break_name(func)
        s.cont()
        forward = [_where(s)]
        for _ in range(n):
            s.next()
            forward.append(_where(s))
        backward = []
        for _ in range(n):
            out = s.run_command("rn")
            assert "error" not in out.lower(), out
            backward.append(_where(s))
        assert backward == forward[-2::-1]


def test_reverse_step_enters_the_callee_at_its_last_line(traces):
    src = (get_case("fib_arg").wasm_path.parent / "src" / "fib.c").read_text().splitlines()
    call_line = next(i + 1 for i, t in enumerate(src) if "int result = fib(n);" in t)
    last_line = next(i + 1 for i, t in enumerate(src) if t.startswith("}") and i > 12)
    with ttd_serve(traces["fib_arg"]) as srv, _connect("fib_arg", srv.port) as s:
        s.break_line("fib.c", call_line + 1)
        s.cont()
        s.run_command("rs")
        line, func, vars_ = _where(s)
        assert (func, line) == ("fib", last_line)
        assert vars_["n"] == "12" and vars_["a"] == "89" and vars_["b"] == "55"
        s.run_command("rs")
        assert _where(s)[0] == last_line - 1  # return a + b;


def test_reverse_finish_lands_on_the_call_line(traces):
    with ttd_serve(traces["fib_arg"]) as srv, _connect("fib_arg", srv.port) as s:
        s.break_name("fib")
        s.cont()
        s.cont()  # fib(11), called from fib(12) at `int a = fib(n - 1);`
        s.run_command("rfinish")
        line, func, vars_ = _where(s)
        assert func == "fib" and vars_["n"] == "12"
        src = (get_case("fib_arg").wasm_path.parent / "src" / "fib.c").read_text().splitlines()
        assert "fib(n - 1)" in src[line - 1]
        assert len(s.stop().frames) == 4  # fib(12), main, __main_void, _start


def test_reverse_stepi_retraces_stepi(traces):
    with ttd_serve(traces["fib_arg"]) as srv, _connect("fib_arg", srv.port) as s:
        s.break_name("fib")
        s.cont()
        stacks = [s.stop().stack()]
        for _ in range(40):
            stacks.append(s.step_inst().stack())
        s.run_command("rsi -c 40")
        assert s.stop().stack() == stacks[0]
        s.run_command("ttd goto +40")
        assert s.stop().stack() == stacks[40]
        for i in range(39, 19, -1):
            s.run_command("rsi")
            assert s.stop().stack() == stacks[i]


def test_reverse_continue_leaves_lldb_going_forward(traces):
    with ttd_serve(traces["fib_arg"]) as srv, _connect("fib_arg", srv.port) as s:
        s.break_name("fib")
        ns = []
        for _ in range(3):
            s.cont()
            ns.append(s.variables()["n"])
        s.run_command("rc")
        assert s.stop().reason == "breakpoint" and s.variables()["n"] == ns[1]
        s.cont()  # a plain continue goes forward again
        assert s.variables()["n"] == ns[2]
        when = s.run_command("ttd when")
        assert "step" in when and "of" in when


def test_post_mortem_walks_back_to_the_bad_pointer(traces):
    src = (get_case("trap").wasm_path.parent / "src" / "trap.c").read_text().splitlines()
    bad_line = next(i + 1 for i, t in enumerate(src) if "BAD POINTER computed here" in t)
    with ttd_serve(traces["trap"], at="end") as srv, _connect("trap", srv.port) as s:
        stop = s.stop()
        assert stop.function == "read_balance" and "out of bounds" in stop.description
        s.run_command("rfinish")  # main, at `total += read_balance(bad);`
        assert _where(s)[1] == "main"
        after_lookup = next(i + 1 for i, t in enumerate(src) if "about to read record" in t)
        for _ in range(5):  # back over fflush and printf, to the line after the lookup
            if _where(s)[0] == after_lookup:
                break
            s.run_command("rn")
        assert _where(s)[:2] == (after_lookup, "main")
        seen = []
        for _ in range(6):
            s.run_command("rs")
            line, func, vars_ = _where(s)
            seen.append((func, line))
            if (func, line) == ("lookup", bad_line):
                assert int(vars_["index"]) == 0x07EFF000
                break
        assert ("lookup", bad_line) in seen, seen


def test_last_write_lands_on_the_wild_write(tmp_path):
    src = (get_case("wild").wasm_path.parent / "src" / "wild.c").read_text().splitlines()
    wild_line = next(i + 1 for i, t in enumerate(src) if "wild write when" in t)
    report = next(i + 1 for i, t in enumerate(src) if "total after scale" in t)
    trace = record_case(get_case("wild"), tmp_path / "t.db").trace
    with ttd_serve(trace) as srv, _connect("wild", srv.port) as s:
        s.break_line("wild.c", report)
        s.cont()
        out = s.run_command("ttd last-write stats.total")
        assert "error" not in out.lower(), out
        line, func, vars_ = _where(s)
        assert (func, line) == ("scale", wild_line)
        assert vars_["i"] == "8" and vars_["n"] == "8"  # the off-by-one iteration
