"""What a new user trips over first: bad options, option order, what `info` says."""

from __future__ import annotations

import json

import pytest

from tests.support.cases import get_case
from tests.support.recording import record_case, ttd


@pytest.fixture(scope="module")
def fib(tmp_path_factory):
    return record_case(get_case("fib_arg"), tmp_path_factory.mktemp("fib") / "t.db").trace


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(fib, port):
    p = ttd("serve", "--port", port, str(fib), timeout=60)
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert err.splitlines()[-1].startswith("ttd serve: error: argument --port: "), err
    assert "not a port number" in err


@pytest.mark.parametrize("where", ["before the trace", "before the query", "after the query",
                                   "at the end"])
def test_query_json_anywhere_on_the_line(fib, where):
    line = {"before the trace": ["--json", str(fib), "at", "100"],
            "before the query": [str(fib), "--json", "at", "100"],
            "after the query": [str(fib), "at", "--json", "100"],
            "at the end": [str(fib), "at", "100", "--json"]}[where]
    p = ttd("query", *line)
    assert p.returncode == 0, p.stderr.decode()
    assert json.loads(p.stdout)["step"] == 100


def test_query_without_json_is_a_table(fib):
    p = ttd("query", str(fib), "at", "100")
    assert p.returncode == 0 and p.stdout.decode().startswith("step 100: pc 0x")
