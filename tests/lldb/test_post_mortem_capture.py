"""Post-mortem on a capture in a real LLDB: `ttd serve --at end CAPTURE` serves the run's last
segment before the rest is expanded, and every stop, backwards past the segment's start and
forwards again, is the one the fully expanded trace gives."""

from __future__ import annotations

import pytest

from tests.support.cases import get_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import capture_and_expanded_copy
from tests.support.serve import ttd_serve


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    require_lldb()
    return capture_and_expanded_copy(get_case("trap").wasm_path, tmp_path_factory.mktemp("pm"),
                                     chunk_blocks=64)


def _where(s: LLDBSession) -> tuple:
    st = s.stop()
    return st.function, st.line, st.stack(), tuple(sorted(s.variables().items()))


def _session(trace, banner_check) -> list:
    with ttd_serve(trace, at="end") as srv, LLDBSession(get_case("trap").wasm_path, srv.port) as s:
        banner_check(srv.banner)
        out = s.run_command("command script import ttd.lldb")
        assert "error" not in out.lower(), out
        seen = [_where(s), s.run_command("bt")]
        for cmd in ("rn", "rn", "rs"):
            s.run_command(cmd)
            seen.append((cmd, _where(s)))
        s.break_name("read_balance")
        for _ in range(4):  # the loop's four calls: before the segment's first step
            s.run_command("process continue -R")
            seen.append(("rc", _where(s)))
        for cmd in ("rfinish", "rn", "thread step-over", "thread step-over", "thread step-in"):
            s.run_command(cmd)
            seen.append((cmd, _where(s)))
        for _ in range(5):  # forwards through the other calls, into the segment, to the trap
            s.cont()
            seen.append(("c", _where(s)))
        return seen


def test_a_capture_post_mortem_stops_as_the_expanded_trace_does(traces):
    cap, full = traces

    def segment_served(banner):
        assert any("being expanded in the background" in line for line in banner), banner

    def whole_served(banner):
        assert not any("background" in line for line in banner), banner

    mine = _session(cap, segment_served)
    want = _session(full, whole_served)
    assert mine == want
    # the stops the test means: the trap, then the loop's calls, then the trap again
    assert want[0][:2] == ("read_balance", 34) and want[-1][1][:2] == ("read_balance", 34)
    assert [w[1][0] for w in want[5:9]] == ["read_balance"] * 4
    assert [dict(w[1][3])["i"] for w in want[9:11]] == ["0", "0"]
