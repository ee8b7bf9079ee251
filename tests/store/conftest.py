from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.store._tracegen import make_trace


def file_state(directory: Path) -> dict[str, str]:
    """name -> sha256 of every file in a directory: proves an operation left it untouched."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture(scope="session")
def real_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred KiB trace, built once; tests copy it before damaging it."""
    return make_trace(tmp_path_factory.mktemp("real") / "real.ttd", n_chunks=60)
