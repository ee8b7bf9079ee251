"""`ttd query`: who wrote this, every call of a function, and one step, on a real program."""

from __future__ import annotations

import json

import pytest
import wasmtime

from tests.support.cases import get_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import info_json, record, record_case, ttd
from tests.support.serve import ttd_serve


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    return {n: record_case(get_case(n), tmp_path_factory.mktemp(n) / "t.db").trace
            for n in ("wild", "fib_arg")}


def test_writes_find_the_legitimate_and_the_wild_write(traces):
    calls = json.loads(ttd("query", str(traces["wild"]), "calls", "accumulate", "--json").stdout)
    assert [c["args"][1] for c in calls] == [10 * v for v in range(1, 9)]
    # the stats struct's address: accumulate's first argument
    base = calls[0]["args"][0]
    total = base + 8 * 4  # samples[8] aliases total
    rows = json.loads(ttd("query", str(traces["wild"]), "writes", f"{total:#x}:4", "--json").stdout)
    funcs = [r["function"] for r in rows]
    assert funcs.count("accumulate") == 8
    wild = next(r for r in rows if r["function"] == "scale")
    assert int.from_bytes(bytes.fromhex(wild["old"]), "little") == 360
    assert int.from_bytes(bytes.fromhex(wild["new"]), "little") == 1080
    assert all(a["step"] < b["step"] for a, b in zip(rows, rows[1:]))
    bounded = json.loads(ttd("query", str(traces["wild"]), "writes", f"{total:#x}:4",
                             "--from", str(wild["step"]), "--json").stdout)
    assert bounded[0] == wild
    table = ttd("query", str(traces["wild"]), "writes", f"{total:#x}:4").stdout.decode()
    assert "scale" in table and "0x00000438" in table


def test_calls_and_at(traces):
    calls = json.loads(ttd("query", str(traces["fib_arg"]), "calls", "fib", "--json").stdout)
    assert [c["args"][0] for c in calls[:4]] == [12, 11, 10, 9]
    assert calls[0]["step_out"] > calls[1]["step_out"] > calls[1]["step_in"] > calls[0]["step_in"]
    fibs = [0, 1]
    while len(fibs) < 13:
        fibs.append(fibs[-1] + fibs[-2])
    # every call's result is fib(n), recorded where the caller resumes
    assert all(c["result"] == fibs[c["args"][0]] for c in calls), calls[:5]
    assert calls[0]["result"] == 144
    table = ttd("query", str(traces["fib_arg"]), "calls", "fib", "--limit", "3").stdout.decode()
    assert "result" in table.splitlines()[0] and "144" in table
    here = json.loads(ttd("query", str(traces["fib_arg"]), "at", str(calls[1]["step_in"]),
                          "--json").stdout)
    assert here["function"] == "fib"
    assert [f["function"] for f in here["stack"]][:2] == ["fib", "fib"]
    p = ttd("query", str(traces["fib_arg"]), "calls", "nope")
    assert p.returncode != 0 and p.stderr.decode().startswith("ttd: error:")


@pytest.fixture(scope="module")
def names_trace(tmp_path_factory):
    rec = record_case(get_case("names"), tmp_path_factory.mktemp("names") / "t.db")
    assert rec.returncode == 134, rec.stderr
    return rec.trace


def _calls(trace, name: str) -> list[dict]:
    p = ttd("query", str(trace), "calls", name, "--json")
    assert p.returncode == 0, p.stderr.decode()
    return json.loads(p.stdout)


@pytest.mark.parametrize("name", ["panicky::Catalog::find(int) const", "panicky::Catalog::find",
                                  "Catalog::find", "find"])
def test_calls_by_the_names_a_user_types(names_trace, name):
    calls = _calls(names_trace, name)
    assert [c["args"][1] for c in calls] == [5, 7, 4]  # the third never returns: the trap
    assert [c["result"] for c in calls] == [1, 2, None]
    assert {c["function"] for c in calls} == {"panicky::Catalog::find(int) const"}


def test_calls_by_dwarf_name_and_ambiguous_names(names_trace):
    require_lldb()
    by_dwarf = _calls(names_trace, "strcmp")  # the name section says c.string.strcmp
    assert by_dwarf == _calls(names_trace, "c.string.strcmp")
    assert len(by_dwarf) == 1 and by_dwarf[0]["function"] == "strcmp" and by_dwarf[0]["result"] == 0
    p = ttd("query", str(names_trace), "calls", "panicky::lookup")
    err = p.stderr.decode()
    assert p.returncode != 0 and err.count("\n") == 1 and "Traceback" not in err
    assert "names 2 functions" in err and "panicky::lookup(panicky::Catalog const&, int)" in err


def test_rust_mangled_names(tmp_path):
    """rustc's names: the mangled one, the demangled one, without the hash, a suffix."""
    from tests.record.test_trap_names import MANGLED

    wasm = tmp_path / "panicky.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(MANGLED))
    trace = record(wasm, tmp_path / "t.db").trace
    raw = _calls(trace, "_ZN7panicky7Catalog4find17h0123456789abcdefE")
    assert [c["args"] for c in raw] == [[1], [7]]
    assert raw[0]["function"] == "panicky::Catalog::find::h0123456789abcdef"
    for name in ("panicky::Catalog::find::h0123456789abcdef", "panicky::Catalog::find",
                 "Catalog::find"):
        assert _calls(trace, name) == raw
    assert [c["args"] for c in _calls(trace, "Catalog>::lookup")] == [[1], [7]]


def test_at_names_frames_as_lldb_does(names_trace):
    """`query at` on the trapping step: the functions of LLDB's backtrace on `ttd serve`."""
    require_lldb()
    last = info_json(names_trace)["steps"] - 1
    at = json.loads(ttd("query", str(names_trace), "at", str(last), "--json").stdout)
    with ttd_serve(names_trace, at="end") as srv, \
            LLDBSession(get_case("names").wasm_path, srv.port) as s:
        frames = s.stop().frames
    assert [f["function"] for f in at["stack"]] == [f.function for f in frames]
    assert [f["pc"] for f in at["stack"]] == [f.offset for f in frames]
    assert at["stack"][0]["function"] == "panicky::Catalog::find(int) const"
    assert "main" in [f["function"] for f in at["stack"]]  # DWARF's name of __original_main
