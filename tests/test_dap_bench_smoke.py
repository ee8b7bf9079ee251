"""benchmarks/dap_bench.py runs (a ~10^6-step trace, few samples) so it cannot rot; its
latencies are printed, not asserted: the 100 ms p50 target is checked by the benchmark."""

import json

from benchmarks import dap_bench


def test_dap_bench_smoke(capsys):
    assert dap_bench.main(["--smoke", "--json", "--samples", "2"]) == 0
    out, err = capsys.readouterr()
    r = json.loads(out)
    assert r["steps"] > 500_000 and 0 < r["sort_steps"] < r["steps"]
    for kind in dap_bench.KINDS:
        assert r[kind]["n"] >= 2, kind
        assert 0 < r[kind]["p50_ms"] <= r[kind]["p99_ms"], (kind, r[kind])
    # a move to a breakpoint that stops for another reason is shown, not hidden
    assert sum(r["continue"]["stops"].values()) == r["continue"]["n"]
    table = dap_bench.render(r)
    assert all(k in table for k in dap_bench.KINDS)
    assert dap_bench.target(r) in err
