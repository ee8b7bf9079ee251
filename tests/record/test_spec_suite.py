"""A subset of the WebAssembly spec suite (tests/spec) runs plain and recorded, and agrees:
results bit for bit, traps by message, every trace verified and its operand stacks checked
(tests/support/spec_suite.py; the whole suite: scripts/spec_suite.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.spec_suite import Tally, run_json

SPEC = Path(__file__).resolve().parents[1] / "spec"
FILES = sorted(p.stem for p in SPEC.glob("*.json"))


@pytest.mark.parametrize("name", FILES)
def test_spec_assertions_plain_and_recorded(name):
    tally = Tally()
    run_json(SPEC / f"{name}.json", tally)
    print(tally.report())
    assert not tally.failures, tally.report()
    assert tally.run == tally.passed
    assert tally.run >= 1, tally.report()
