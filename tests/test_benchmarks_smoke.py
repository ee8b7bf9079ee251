"""The benchmark table runs (small inputs), so it cannot rot; its figures are printed, not
asserted: speed targets live in the benchmark, not in timed tests."""

import json

from benchmarks import run


def test_benchmark_table_smoke(capsys):
    assert run.main(["--smoke", "--json", "--samples", "5"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert {r["program"].split()[0] for r in rows} == {
        name for name, _w, _a in run.bench_cases("smoke")}
    for r in rows:
        assert r["steps"] > 500_000
        assert set(k for k, _h, _f in run.COLUMNS) <= set(r)
    assert run.render(rows).count("\n") == len(rows) + 1
