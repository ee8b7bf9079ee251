"""rn / rs in someone else's optimised code: the Lua 5.4.8 interpreter at -O2.

ltable.c's luaH_resize starts inside two levels of inlined helpers (setlimittosize,
luaH_realasize), and setnodevector's inlined luaM_malloc_ has two address ranges with the
caller's own code between them (the size argument is computed after the first range): the
case where `step` enters an inlined block's later range directly, with no stop at its call
site. Forward moves are made under live `wasmtime run -g`; the reverse moves under `ttd serve`
must land where the forward ones were, frame for frame (function, line, inlined, pc).
"""

from __future__ import annotations

import pytest

from tests.support.cases import get_case
from tests.support.live_moves import live_moves
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import record_case
from tests.support.serve import ttd_serve

CASE = "lua_tables"


@pytest.fixture(scope="module")
def lua_trace(tmp_path_factory):
    require_lldb()
    rec = record_case(get_case(CASE), tmp_path_factory.mktemp("lua") / "t.db")
    assert rec.returncode == 0, rec.stderr
    return rec.trace


def _frames(s):
    return [(f.function, f.line, f.inlined, f.offset) for f in s.stop().frames]


def _to_hit(s, func, hit):
    s.break_name(func)
    for _ in range(hit):
        s.cont()
    s.delete_all_breakpoints()


def _live(func, hit, move, n):
    return live_moves(CASE, func, [move] * n, _frames, hits=hit)


def _back(trace, func, hit, move, n, reverse):
    case = get_case(CASE)
    with ttd_serve(trace) as srv, LLDBSession(case.wasm_path, srv.port) as s:
        out = s.run_command("command script import ttd.lldb")
        assert "error" not in out.lower(), out
        _to_hit(s, func, hit)
        for _ in range(n):
            getattr(s, move)()
        seq = [_frames(s)]
        for _ in range(n):
            out = s.run_command(reverse)
            assert "error" not in out.lower(), out
            seq.append(_frames(s))
        return seq


STEPS = 14


@pytest.fixture(scope="module")
def live_steps():
    require_lldb()
    return _live("luaH_resize", 2, "step", STEPS)


def test_reverse_step_retraces_step_through_split_inlined_block(lua_trace, live_steps):
    n, forward = STEPS, live_steps
    # the program is what this test is about: `step` leaves luaM_malloc_'s first range for
    # setnodevector's own line and then enters its second range in the middle, at once
    split = [i for i in range(1, n)
             if forward[i - 1][0][0] == "luaM_malloc_" and forward[i][0][0] == "setnodevector"
             and forward[i + 1][0][0] == "luaM_malloc_"
             and forward[i + 1][0][3] != forward[i][0][3]]  # a real step, not a virtual one
    assert split, forward
    backward = _back(lua_trace, "luaH_resize", 2, "step", n, "rs")
    assert backward[0] == forward[-1]
    assert backward[1:] == forward[-2::-1]


def test_reverse_next_over_inlined_helpers(lua_trace):
    # the example: next from luaH_resize's first stop goes 251 284 285 560 561 ...
    n = 8
    forward = _live("luaH_resize", 1, "next", n)
    assert forward[0][0][2] and forward[0][0][0] != "luaH_resize"  # stopped inside inlined code
    out_at = next(i for i, fr in enumerate(forward) if not fr[0][2])  # first stop in luaH_resize
    assert 0 < out_at < n, forward
    backward = _back(lua_trace, "luaH_resize", 1, "next", n, "rn")
    assert backward[0] == forward[-1]
    # in luaH_resize's own lines, rn retraces next (never walking into inlined bodies)...
    assert backward[1:n - out_at + 1] == forward[out_at:n][::-1]
    # ...and back from the first of them, over the inlined calls as a whole, to their call
    # site, shown at luaH_resize's own level: the frames the first stop had under the inlined
    levels = next(i for i, fr in enumerate(forward[0]) if not fr[2])
    assert backward[n - out_at + 1] == forward[0][levels:]


def test_reverse_finish_from_a_later_range_goes_to_the_inlined_call(lua_trace, live_steps):
    # at the last step, in luaM_malloc_'s second range; rfinish goes back to where that
    # inlined call began: its call site, shown where forward `step` showed it before
    # entering it (a virtual step at the same pc), not to the caller's code between ranges
    forward = live_steps
    assert forward[-1][0][0] == "luaM_malloc_"
    entered = max(i for i in range(1, len(forward)) if forward[i][0][0] == "luaM_malloc_"
                  and forward[i - 1][0][0] != "luaM_malloc_"
                  and forward[i - 1][0][3] == forward[i][0][3])
    case = get_case(CASE)
    with ttd_serve(lua_trace) as srv, LLDBSession(case.wasm_path, srv.port) as s:
        s.run_command("command script import ttd.lldb")
        _to_hit(s, "luaH_resize", 2)
        for _ in range(STEPS):
            s.step()
        assert _frames(s) == forward[-1]
        out = s.run_command("rfinish")
        assert "error" not in out.lower(), out
        assert _frames(s) == forward[entered - 1]
