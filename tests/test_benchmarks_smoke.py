"""The benchmark runs (small inputs), so it cannot rot; its figures are printed, not asserted."""

from benchmarks import record_bench


def test_record_bench_smoke(capsys):
    assert record_bench.main(["--smoke", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2
    for line in out:
        assert '"steps_per_s"' in line and '"bytes_per_step"' in line
