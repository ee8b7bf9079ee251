"""The benchmark tables run (small inputs), so they cannot rot; their figures are printed, not
asserted: speed targets live in the benchmark (printed under the table), not in timed tests."""

import json

from benchmarks import run


def test_benchmark_cases_include_the_big_module_and_the_o2_builds():
    names = [name for name, _w, _a in run.bench_cases("default")]
    assert "sqlite_driver" in names
    assert {"bench_sort", "bench_sort_o2", "bench_lz_o2"} <= set(names)
    smoke = [name for name, _w, _a in run.bench_cases("smoke")]
    assert "sqlite_driver" not in smoke and "bench_sort_o2" in smoke
    assert ("sqlite_driver" in [n for n, _w, _a in run.bench_cases("smoke", big=True)])
    assert "sqlite_driver" not in [n for n, _w, _a in run.bench_cases("large")]  # no large_args


def test_benchmark_table_smoke(capsys):
    # two rows at once: ~30 s on 2 cores instead of ~40 (the timings are not looked at)
    assert run.main(["--smoke", "--json", "--samples", "5", "--parallel", "2"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["name"] for r in rows] == [name for name, _w, _a in run.bench_cases("smoke")]
    for r in rows:
        assert r["steps"] > 500_000
        assert r["replay_steps"] == r["steps"]  # the expanded trace replays whole
        for k, _h, _f in run.COLUMNS:
            assert r.get(k) is not None, k
    table = run.render(rows)
    for _k, h, _f in run.COLUMNS:
        assert h in table
    # two tables: a title, a header and its rule, a line per row; a blank line between
    assert len(table.splitlines()) == 2 * (len(rows) + 3) + 1
    assert all(r["program"] in table for r in rows)
    footer = run.targets(rows)
    assert footer in err
    assert footer.count("\n[") == 9  # every target, each with its figure or why it is not


def test_postmortem_table_smoke(capsys):
    from benchmarks import postmortem_bench

    assert postmortem_bench.main(["--smoke", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(rows) == 1 and rows[0]["steps"] > 900_000
    assert rows[0]["first_stop"][0] == "TRAP" and rows[0]["first_stop"][1] == rows[0]["steps"] - 1
    table = postmortem_bench.render(rows)
    for _k, h, _f in postmortem_bench.COLUMNS:
        assert h in table
    assert "not measured" in postmortem_bench.targets(rows)
