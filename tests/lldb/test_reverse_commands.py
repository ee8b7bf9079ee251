"""ttd's reverse-stepping commands in a real LLDB, against a real `ttd serve`."""

from __future__ import annotations

import pytest

from tests.support.cases import get_case
from tests.support.live import live_case
from tests.support.live_moves import live_moves
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
        # forward `step` out of fib's last line stops in main right after the call returned
        # (the rest of the call line: storing `result`), then on the next line: backwards,
        # that stop first, then fib's last line
        s.run_command("rs")
        line, func, vars_ = _where(s)
        assert (func, line) == ("main", call_line) and s.stop().frames[0].offset > \
            s.breakpoint_addresses(s.break_line("fib.c", call_line))[0] & 0xFFFFFFFF
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


# ---- the selected frame, inlined frames, prologues (issue 15) ---------------------------------

def _frames(s):
    """Every frame LLDB shows, inlined ones included: (function, line, inlined, pc offset)."""
    return [(f.function, f.line, f.inlined, f.offset) for f in s.stop().frames]


def _live_sequence(case_name, start, moves, where=_frames):
    return live_moves(case_name, start, moves, where)


@pytest.fixture(scope="module")
def inline_trace(tmp_path_factory):
    require_lldb()
    case = get_case("inlined")
    rec = record_case(case, tmp_path_factory.mktemp("inline") / "t.db")
    assert rec.returncode == 0, rec.stderr
    return rec.trace


def _replay_to(s, start, n_moves, move):
    s.run_command("ttd goto start")
    s.break_name(start)
    s.cont()
    s.delete_all_breakpoints()
    for _ in range(n_moves):
        getattr(s, move)()


def test_inlined_frames_are_there(inline_trace):
    # the program is what the tests below need: LLDB shows two levels of inlined frames
    # (update, then clamp or mix in it) inside main, on the same wasm frame
    seq = _live_sequence("inlined", "main", ["step"] * 12)
    inlined = [fr for fr in seq if fr[0][2]]
    assert any(fr[0][0] == "clamp" and fr[1][:3] == ("update", 35, True) for fr in inlined), seq
    assert any(fr[0][0] == "mix" and fr[1][0] == "update" for fr in inlined), seq


@pytest.mark.parametrize("start,skip,n", [
    ("main", 0, 24),     # main's loop: each update() inlined and stepped over
    ("main", 5, 3),      # inside the inlined update(): clamp and mix stepped over
])
def test_reverse_next_retraces_next_with_inlined_frames(inline_trace, start, skip, n):
    moves = ["step"] * skip + ["next"] * n
    forward = _live_sequence("inlined", start, moves)[skip:]
    with ttd_serve(inline_trace) as srv, _connect("inlined", srv.port) as s:
        _replay_to(s, start, skip, "step")
        assert _frames(s) == forward[0]
        for _ in range(n):
            s.next()
        assert _frames(s) == forward[-1]
        backward = []
        for _ in range(n):
            out = s.run_command("rn")
            assert "error" not in out.lower(), out
            backward.append(_frames(s))
        assert backward == forward[-2::-1]


def test_reverse_step_retraces_step_into_inlined_frames(inline_trace):
    n = 24
    forward = _live_sequence("inlined", "main", ["step"] * n)
    with ttd_serve(inline_trace) as srv, _connect("inlined", srv.port) as s:
        _replay_to(s, "main", n, "step")
        assert _frames(s) == forward[-1]
        backward = []
        for _ in range(n):
            out = s.run_command("rs")
            assert "error" not in out.lower(), out
            backward.append(_frames(s))
        assert backward == forward[-2::-1]


def test_reverse_finish_leaves_one_inline_level(inline_trace):
    # forward: `step` enters update, then clamp, at the same pc (LLDB's virtual steps);
    # `finish` from clamp leaves clamp only. Backwards, rfinish from inside clamp lands
    # where clamp was entered, in update (not in main: one inline level)
    forward = _live_sequence("inlined", "main", ["step"] * 6 + ["thread step-inst"] * 2)
    in_update, in_clamp = forward[5], forward[6]
    assert in_update[0][:3] == ("update", 35, True) and in_clamp[0][0] == "clamp"
    with ttd_serve(inline_trace) as srv, _connect("inlined", srv.port) as s:
        _replay_to(s, "main", 6, "step")
        s.run_command("thread step-inst")
        s.run_command("thread step-inst")
        assert _frames(s)[0][0] == "clamp"
        s.run_command("rfinish")
        assert _frames(s) == in_update
        s.run_command("rfinish")  # and from update: its call site in main, same pc
        assert _frames(s) == forward[4]
        # the selected frame: from clamp, `frame select 1` (update) + rfinish leaves update
        _replay_to(s, "main", 6, "step")
        s.run_command("thread step-inst")
        s.run_command("frame select 1")
        s.run_command("rfinish")
        assert _frames(s) == forward[4]


def _fib_p(s):
    """Stop in fib(0), called from fib(2) at line 19: fib(0) fib(2) fib(3) fib(4) ... main."""
    s.break_name("fib")
    while True:
        stop = s.cont()
        if len(stop.frames) > 1 and stop.frames[1].line == 19:
            break
    s.delete_all_breakpoints()
    return stop


def test_commands_act_on_the_selected_frame(traces):
    case = get_case("fib_arg")
    with live_case(case) as port, LLDBSession(case.wasm_path, port) as live:
        p = _fib_p(live)
        live.run_command("frame select 2")
        live.run_command("thread step-out")  # forward `finish` of frame 2 (fib(3))
        finished = _frames(live)
    with ttd_serve(traces["fib_arg"]) as srv, _connect("fib_arg", srv.port) as s:
        assert _fib_p(s).stack() == p.stack()
        at_p = _frames(s)
        # rfinish from frame 2: back to where fib(3) was called, in fib(4)
        s.run_command("frame select 2")
        s.run_command("rfinish")
        got = _frames(s)
        assert got[1:] == finished[1:] and got[0][:3] == finished[0][:3]
        assert got[0][3] < finished[0][3]  # the call, before the return address
        assert s.variables()["n"] == "4"
        # ... whose forward mirror is `finish` of the frame it enters
        s.run_command("thread step-inst")
        assert _frames(s)[0][0] == "fib" and len(_frames(s)) == len(at_p) - 2
        s.run_command("thread step-out")
        assert _frames(s) == finished
        # rn in frame 1 (fib(2), at line 19): its previous line, 18, in the same frame
        s.run_command("ttd goto start")
        _fib_p(s)
        s.run_command("frame select 1")
        s.run_command("rn")
        got = _frames(s)
        assert got[0][:2] == ("fib", 18) and got[1:] == at_p[2:]
        assert s.variables()["n"] == "2"
        # rs in frame 1: `step` out of fib(1) (called at line 18) stopped in fib(2) right
        # after the call returned; backwards, that stop, then fib(1)'s last line
        _fib_p(s)
        s.run_command("frame select 1")
        s.run_command("rs")
        got = _frames(s)
        assert got[0][:2] == ("fib", 18) and got[1:] == at_p[2:] and got[0][3] > at_p[1][3] - 40
        s.run_command("rs")
        got = _frames(s)
        assert got[0][0] == "fib" and got[1][:2] == ("fib", 18) and s.variables()["n"] == "1"


def test_reverse_moves_and_the_prologue(traces):
    # fib's arguments are stored by its prologue (at -O0, into the stack frame): before
    # that LLDB shows n = 0. `next` never stops in the prologue, so rn from fib's first line
    # leaves fib for the call line. `step` into fib does stop there, at its first
    # instruction (LLDB skips the prologue only when it arrives at the function's start
    # address, in wasm its locals declaration), so rs goes back there first, as live.
    src = (get_case("fib_arg").wasm_path.parent / "src" / "fib.c").read_text().splitlines()
    call_line = next(i + 1 for i, t in enumerate(src) if "int result = fib(n);" in t)
    with ttd_serve(traces["fib_arg"]) as srv, _connect("fib_arg", srv.port) as s:
        s.break_name("fib")
        s.cont()
        s.delete_all_breakpoints()
        first = (s.stop().line, s.variables())
        assert first[1]["n"] == "12"
        seen = [first]
        for _ in range(3):
            s.next()
            seen.append((s.stop().line, s.variables()))
        for want in seen[-2::-1]:  # back through fib: the values forward stepping showed
            s.run_command("rn")
            assert (s.stop().line, s.variables()) == want
        s.run_command("ttd goto start")
        s.break_name("fib")
        s.cont()
        s.delete_all_breakpoints()
        s.run_command("rn")
        line, func, vars_ = _where(s)
        assert (func, line) == ("main", call_line) and vars_["n"] == "12", (line, func)
    case = get_case("fib_arg")
    with live_case(case) as port, LLDBSession(case.wasm_path, port) as live:
        live.break_line("fib.c", call_line)
        live.cont()
        live.delete_all_breakpoints()
        forward = [_where(live)]
        for _ in range(3):
            live.step()
            forward.append(_where(live))
    assert forward[1][1] == "fib" and forward[1][2]["n"] == "0"  # in the prologue
    assert forward[2][1] == "fib" and forward[2][2]["n"] == "12"
    with ttd_serve(traces["fib_arg"]) as srv, _connect("fib_arg", srv.port) as s:
        s.break_line("fib.c", call_line)
        s.cont()
        s.delete_all_breakpoints()
        for _ in range(3):
            s.step()
        assert _where(s) == forward[-1]
        back = []
        for _ in range(3):
            s.run_command("rs")
            back.append(_where(s))
        assert back == forward[-2::-1]


def test_reverse_next_retraces_next_out_of_a_function(traces):
    # `next` from fib's last line returns into main, mid-line (right after the call): rn
    # from there goes back to fib's last line, the only place `next` came from
    with ttd_serve(traces["fib_arg"]) as srv, _connect("fib_arg", srv.port) as s:
        s.break_name("fib")
        s.cont()
        s.delete_all_breakpoints()
        forward = [_where(s)]
        while forward[-1][1] == "fib":
            s.next()
            forward.append(_where(s))
            assert len(forward) < 20, forward
        assert forward[-1][1] == "main" and forward[-2][1] == "fib"
        backward = []
        for _ in range(len(forward) - 1):
            s.run_command("rn")
            backward.append(_where(s))
        assert backward == forward[-2::-1]
