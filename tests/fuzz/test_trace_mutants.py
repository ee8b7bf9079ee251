"""Hostile traces: a mutated real trace never hurts the machine that opens it.

Real traces are recorded once per session (tests/fuzz/conftest.py), then damaged in four
ways (tests/fuzz/mutators.py): the file's bytes, its SQLite rows, payloads crafted to
decode fine but contradict the module or themselves, and the schema itself (triggers, views,
indexes, generated columns, virtual tables, altered, retyped or renamed tables and columns,
CHECK constraints, sqlite_master edits); the schema group also starts from writable traces of
older schema revisions (tests/fixtures), which ttd would upgrade if it accepted them. Worker
processes (tests/fuzz/worker.py) run `ttd info`, `ttd verify`, a replay session and a
gdb-remote conversation on every mutant, under a 2 GiB address-space limit and a timer. Each
must succeed or fail cleanly: one line on stderr and exit 1 or 2, never a traceback, an
internal error, a hang, a crash or a write to the file it reads. A schema mutant whose
objects differ from ttd's (mutators.SCHEMA_REFUSED) must be refused by every command.

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
from tests.fuzz.mutators import SCHEMA_REFUSED

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
    "schema": {"schema_trigger": 8, "schema_view": 4, "schema_index": 6, "schema_generated_column": 4,
               "schema_virtual_table": 3, "schema_alter": 8, "schema_column_type": 5, "schema_check": 4,
               "schema_stat": 2, "schema_rename": 4, "schema_master": 8},
}
#: which seed trace each mutant of a kind starts from, in turn (heap is the slowest to verify)
ROTATION = ["fib", "trap", "heap", "fib", "trap"]
#: the schema group also starts from writable traces of older schema revisions (the upgrade path)
ROTATIONS = {"schema": ["fib", "old-0002", "trap", "old-0001", "heap"]}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OLD_SEEDS = {"old-0001": FIXTURES / "schema-0001" / "fib.db", "old-0002": FIXTURES / "schema-0002" / "fib.db"}


def jobs_for(groups: list[str], seeds: dict[str, Path]) -> list[dict]:
    seeds = {**OLD_SEEDS, **seeds}
    jobs = []
    for group in groups:
        rotation = ROTATIONS.get(group, ROTATION)
        for kind, count in PLAN[group].items():
            for i in range(max(1, round(count * SCALE))):
                name = rotation[i % len(rotation)]
                seed = seeds[name]
                jobs.append({
                    "id": len(jobs), "group": group, "kind": kind, "seed": str(seed),
                    "rng": random.Random(f"{SEED}:{kind}:{i}").getrandbits(62),
                    "other_wasm": str(PROGRAMS / ("heap.wasm" if "fib" in seed.name else "fib.wasm")),
                    "keep": KEEP, "writable": name in OLD_SEEDS,
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
    if group == "schema":
        # SQL in the file never runs: a schema that is not exactly ttd's is refused by every
        # command, before any statement could fire a trigger or evaluate a column
        accepted = [r for r in results if r["kind"] in SCHEMA_REFUSED and (
            any(v == 0 for k, v in r["outcome"].items() if k != "replay") or r["outcome"].get("replay") != "error"
            or r.get("upgraded"))]
        assert not accepted, (f"{len(accepted)} schema mutants were not refused:\n" + "\n".join(
            f"[{r['kind']} #{r['id']} on {r['seed']}, rng {r['rng']}] {r.get('what', '')}: {r['outcome']}"
            for r in accepted[:25]))
        return
    # the crafted ones must get past the file format into the replay itself
    if group != "file":
        assert any(r["outcome"].get("replay") == "ok" for r in results)
        assert any(r["outcome"].get("replay") == "error" for r in results)
