"""Hostile traces: a mutated real trace never hurts the machine that opens it.

Real traces are recorded once per session (tests/fuzz/conftest.py), then damaged in three
ways (tests/fuzz/mutators.py): the file's bytes, its SQLite rows, and payloads crafted to
decode fine but contradict the module or themselves. Worker processes (tests/fuzz/worker.py)
run `ttd info`, `ttd verify`, a replay session and a gdb-remote conversation on every mutant,
under a 2 GiB address-space limit and a timer. Each must succeed or fail cleanly: one line on
stderr and exit 1 or 2, never a traceback, an internal error, a hang, a crash or a write to
the file it reads.

Deterministic: every mutation is drawn from random.Random seeded by TTD_FUZZ_SEED (fixed by
default), the mutant's kind and its number. TTD_FUZZ_SCALE multiplies the number of mutants
(e.g. 20 for a long local run); TTD_FUZZ_KEEP=DIR keeps every failing mutant there.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.fuzz.conftest import PROGRAMS
from tests.fuzz.harness import describe, run_jobs, summary

SEED = int(os.environ.get("TTD_FUZZ_SEED", "20261121"))
SCALE = float(os.environ.get("TTD_FUZZ_SCALE", "1"))
KEEP = os.environ.get("TTD_FUZZ_KEEP")

#: mutants of each kind per run (times TTD_FUZZ_SCALE); about 0.2 s each on two workers
PLAN = {
    "file": {"file_truncate": 4, "file_flip": 6, "file_zero": 4, "file_append": 2,
             "file_page_copy": 4, "file_header": 3},
    "row": {"row_blob_flip": 16, "row_int_extreme": 14, "row_delete": 8, "row_swap_chunks": 6,
            "row_swap_checkpoints": 4},
    "crafted": {"craft_schedule": 24, "craft_schedule_shape": 3, "craft_checkpoint": 16,
                "craft_host": 10, "craft_ids": 12, "craft_vals": 8, "craft_zstd": 10,
                "craft_info": 8, "craft_module": 5, "craft_pages": 8, "craft_chunk_index": 8},
}
#: which seed trace each mutant of a kind starts from, in turn (heap is the slowest to verify)
ROTATION = ["fib", "trap", "heap", "fib", "trap"]


def jobs_for(groups: list[str], seeds: dict[str, Path]) -> list[dict]:
    jobs = []
    for group in groups:
        for kind, count in PLAN[group].items():
            for i in range(max(1, round(count * SCALE))):
                seed = seeds[ROTATION[i % len(ROTATION)]]
                jobs.append({
                    "id": len(jobs), "group": group, "kind": kind, "seed": str(seed),
                    "rng": random.Random(f"{SEED}:{kind}:{i}").getrandbits(62),
                    "other_wasm": str(PROGRAMS / ("heap.wasm" if "fib" in seed.name else "fib.wasm")),
                    "keep": KEEP,
                })
    return jobs


@pytest.fixture(scope="module")
def fuzz_run(seed_traces, tmp_path_factory):
    """Every mutant of every group, on one pool of two workers."""
    run = run_jobs(jobs_for(list(PLAN), seed_traces), tmp_path_factory.mktemp("fuzz"))
    print(f"\ntrace mutants: {summary(run)}")
    return run


@pytest.mark.parametrize("group", list(PLAN))
def test_mutated_traces_fail_cleanly(group, fuzz_run):
    results = [r for r in fuzz_run.results if r["kind"] in PLAN[group]]
    failures = [r for r in results if r.get("problems")]
    assert not failures, (f"{len(failures)} of {len(results)} {group}-level mutants were not "
                          f"refused cleanly:\n" + "\n".join(describe(r) for r in failures[:25])
                          + f"\n\n{summary(fuzz_run)}")
    # the crafted ones must get past the file format into the replay itself
    if group != "file":
        assert any(r["outcome"].get("replay") == "ok" for r in results)
        assert any(r["outcome"].get("replay") == "error" for r in results)
