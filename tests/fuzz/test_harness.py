"""The fuzz harness itself notices what it is there to notice: a crash, a hang, a bug."""

from __future__ import annotations

from tests.fuzz.harness import run_jobs
from tests.fuzz.worker import cli_problems


def test_it_reports_a_crash_a_hang_and_a_traceback(seed_traces, tmp_path):
    jobs = [{"id": i, "kind": kind, "seed": str(seed_traces["trap"]), "rng": i}
            for i, kind in enumerate(["selftest_crash", "selftest_hang", "file_append",
                                      "selftest_bug", "file_append"])]
    run = run_jobs(jobs, tmp_path, workers=1, job_timeout=4)
    crash, hang, fine, bug, after_bug = run.results
    assert "worker died" in crash["problems"][0]
    assert "no result within" in hang["problems"][0]
    assert not fine["problems"], fine  # a fresh worker took over after each
    assert any("internal error: IndexError: planted" in p for p in bug["problems"]), bug
    assert any(p.startswith("replay: read the trace: IndexError") for p in bug["problems"]), bug
    assert after_bug["problems"]  # the planted bug stays in that worker


def test_cli_problems():
    assert cli_problems("info", 0, "program: x", "") == []
    assert cli_problems("info", 1, "", "ttd: error: corrupt trace: chunk 3\n") == []
    assert cli_problems("verify -q", 1, "MISMATCH: memory", "") == []
    assert cli_problems("info", 70, "", "ttd: internal error: KeyError: 3\n")
    assert cli_problems("info", 1, "", "ttd: error: a\nb\n")
    assert cli_problems("info", 1, "", "")
    assert cli_problems("info", 1, "", "Traceback (most recent call last):\n")
    assert cli_problems("info", "hang", "", "")
    assert cli_problems("info", "escaped", "", "Traceback")
