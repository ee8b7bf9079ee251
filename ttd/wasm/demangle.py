"""Function names as wasmtime and LLDB print them, out of the mangled names in the name section.

wasmtime demangles a name with the rustc-demangle crate (Rust, legacy `_ZN...17h<hash>E` and
v0 `_R...`), else the cpp_demangle crate (C++, Itanium `_Z...`), else keeps it. pyderust and
cpp-demangle are Python bindings of those same two crates, so a name prints here exactly as
in `wasmtime run`'s trap backtrace; an Itanium demangler of our own would be thousands of
lines that could only approximate it. Without them (a platform with no wheel) names stay raw.
"""

from __future__ import annotations

try:
    from pyderust import demangle as _rust
except ImportError:  # pragma: no cover - a platform without the wheel
    _rust = None
try:
    from cpp_demangle import demangle as _cpp
except ImportError:  # pragma: no cover
    _cpp = None


def demangle(name: str) -> str:
    """`name` as wasmtime prints it (a Rust legacy name keeps its `::h<hash>`)."""
    return _demangle(name, True)


def demangle_short(name: str) -> str:
    """`name` demangled without what a user does not type: a Rust hash, v0 crate ids."""
    return _demangle(name, False)


def _demangle(name: str, full: bool) -> str:
    if _rust is not None:
        try:
            return _rust(name, include_hash=full)
        except Exception:  # not a name of that language (or a malformed one)
            pass
    if _cpp is not None and name.startswith("_Z"):
        try:
            return _cpp(name)
        except Exception:  # not a name of that language (or a malformed one)
            pass
    return name


def backtrace_name(func_names: dict[int, str], index: int) -> str:
    """A function as wasmtime's trap backtrace names it: its name-section name demangled,
    else `<wasm function N>` (an export name is not used)."""
    name = func_names.get(index)
    return demangle(name) if name is not None else f"<wasm function {index}>"
