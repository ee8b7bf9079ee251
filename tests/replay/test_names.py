"""Which function a name means (ttd.replay.names.resolve): raw, demangled, without the hash,
a path suffix, the DWARF name; several fits are an error naming them."""

from __future__ import annotations

import pytest

from ttd.replay.names import AmbiguousName, display_name, resolve

RAW = {
    3: "_ZN7panicky7Catalog4find17h0123456789abcdefE",  # Rust, legacy mangling
    4: "_RNvMNtCs1234_7panicky7catalogNtB2_7Catalog6lookup",  # Rust, v0
    5: "_ZNK7panicky5Index4findEi",  # C++
    6: "c.string.strcmp",  # zig's libc: DWARF says strcmp
    7: "panicky::lookup(panicky::Catalog const&, int)",  # already demangled by the linker
    8: "panicky::lookup(panicky::Catalog const&, char const*)",
    9: "main",
}
DWARF = {6: ["strcmp"], 9: ["main"]}


def dwarf(i: int) -> list[str]:
    return DWARF.get(i, [])


@pytest.mark.parametrize("name,index", [
    ("_ZN7panicky7Catalog4find17h0123456789abcdefE", 3),  # raw
    ("panicky::Catalog::find::h0123456789abcdef", 3),  # demangled, as wasmtime prints it
    ("panicky::Catalog::find", 3),  # without the hash
    ("Catalog::find", 3),  # a path suffix
    ("<panicky::catalog::Catalog>::lookup", 4),
    ("Catalog>::lookup", 4),
    ("panicky::Index::find(int) const", 5),
    ("panicky::Index::find", 5),
    ("Index::find", 5),
    ("strcmp", 6),  # DWARF
    ("c.string.strcmp", 6),
    ("panicky::lookup(panicky::Catalog const&, int)", 7),
    ("main", 9),
])
def test_every_form_names_its_function(name, index):
    assert resolve(name, RAW, dwarf) == index


@pytest.mark.parametrize("name,fits", [("find", 2), ("panicky::lookup", 2), ("lookup", 3)])
def test_a_name_that_fits_several_is_an_error_naming_them(name, fits):
    with pytest.raises(AmbiguousName) as e:
        resolve(name, RAW, dwarf)
    msg = str(e.value)
    assert "\n" not in msg and f"names {fits} functions" in msg
    if name == "find":
        assert "panicky::Catalog::find::h0123456789abcdef" in msg  # listed demangled
        assert "panicky::Index::find(int) const" in msg


def test_unknown_and_dwarf_only_names():
    with pytest.raises(ValueError, match="no function named 'nope'"):
        resolve("nope", RAW, dwarf)
    with pytest.raises(ValueError):
        resolve("strcmp", RAW)  # without DWARF names, zig's libc name is all there is


def test_display_name_is_wasmtimes():
    assert display_name(RAW[3]) == "panicky::Catalog::find::h0123456789abcdef"
    assert display_name(RAW[4]) == "<panicky[3c1c0]::catalog::Catalog>::lookup"
    assert display_name(RAW[5]) == "panicky::Index::find(int) const"
    assert display_name(RAW[6]) == "c.string.strcmp"
