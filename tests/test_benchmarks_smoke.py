"""The benchmark runs (small inputs), so it cannot rot; its figures are printed, not asserted."""

from benchmarks import record_bench


def test_record_bench_smoke(capsys):
    assert record_bench.main(["--smoke", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2
    for line in out:
        assert '"steps_per_s"' in line and '"bytes_per_step"' in line


def test_replay_bench_smoke(capsys):
    import json

    from benchmarks import replay_bench

    assert replay_bench.main(["--smoke"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bc_stop"] == "begin" and out["steps"] > 100_000
