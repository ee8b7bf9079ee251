"""`ttd query`: who wrote this, every call of a function, and one step, on a real program."""

from __future__ import annotations

import json

import pytest

from tests.support.cases import get_case
from tests.support.recording import record_case, ttd


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
