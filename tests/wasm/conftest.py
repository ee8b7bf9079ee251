"""Shared fixtures for the Wasm binary layer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .wasm_tools import wasm_tools_path

WAT_DIR = Path(__file__).resolve().parent.parent / "wat"
# the largest committed C program (SQLite with a SQL driver, 4.7 MB, ~446,000 instructions)
BIG_C_MODULE = Path(__file__).resolve().parent.parent / "programs" / "sqlite_driver.wasm"


@pytest.fixture(scope="session")
def wasm_tools() -> str:
    """Path of wasm-tools, or skip the test (CI may not have it)."""
    tool = wasm_tools_path()
    if tool is None:
        pytest.skip("wasm-tools not installed")
    return tool


@pytest.fixture(scope="session")
def wat2wasm():
    """wasmtime's WAT -> binary converter, or skip."""
    wasmtime = pytest.importorskip("wasmtime")
    return wasmtime.wat2wasm
