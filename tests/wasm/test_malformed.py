"""Garbage in, WasmError out: no IndexError/struct.error/ValueError may leak.

The debugger loads arbitrary user files; a clean error with an offset is the
contract, so random bytes, truncations and bit flips of real modules must
either parse or raise WasmError, for parsing and for decoding every body.
"""

from __future__ import annotations


import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttd.wasm import WasmError, iter_operators, parse_module

from .conftest import BIG_C_MODULE, WAT_DIR
from .features import FEATURES

HEADER = b"\x00asm\x01\x00\x00\x00"


def _sample_modules() -> list[bytes]:
    wasmtime = pytest.importorskip("wasmtime")
    mods = [wasmtime.wat2wasm((WAT_DIR / f"{n}.wat").read_text()) for n in ("exceptions", "simd", "reftypes")]
    mods += [wasmtime.wat2wasm(FEATURES[k]) for k in ("gc", "memory64", "legacy_exceptions")]
    return mods


@pytest.fixture(scope="module")
def samples() -> list[bytes]:
    return _sample_modules()


def load_everything(data: bytes) -> None:
    """Parse and decode every body; only WasmError may escape."""
    try:
        m = parse_module(data)
        for b in m.bodies:
            for _ in iter_operators(data, b.code_start, b.end):
                pass
    except WasmError as e:
        assert e.offset is None or 0 <= e.offset <= len(data)
        assert "\n" not in str(e)


@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    load_everything(data)


@given(st.binary(max_size=300))
def test_random_bytes_after_header(data: bytes) -> None:
    load_everything(HEADER + data)


@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40)), max_size=6))
def test_random_sections(sections: list[tuple[int, bytes]]) -> None:
    from ttd.wasm.encode import section

    load_everything(HEADER + b"".join(section(i % 14, payload) for i, payload in sections))


def test_every_truncation(samples: list[bytes]) -> None:
    for data in samples[:3]:
        for n in range(len(data)):
            load_everything(data[:n])


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_byte_mutations(samples: list[bytes], data) -> None:
    mod = bytearray(data.draw(st.sampled_from(samples)))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(8, len(mod) - 1))
        mod[pos] = data.draw(st.integers(0, 255))
    load_everything(bytes(mod))


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_code_mutations(samples: list[bytes], data) -> None:
    """Target the code section, where most of the decoder lives."""
    mod = bytearray(data.draw(st.sampled_from(samples)))
    m = parse_module(bytes(mod))
    if not m.bodies:
        return
    b = data.draw(st.sampled_from(m.bodies))
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(b.code_start, b.end - 1))
        mod[pos] = data.draw(st.integers(0, 255))
    load_everything(bytes(mod))


def test_truncated_big_module() -> None:
    data = BIG_C_MODULE.read_bytes()
    for n in (9, 100, 1000, len(data) // 3, len(data) // 2, len(data) - 1):
        load_everything(data[:n])
