"""Which function a user means by a name, and the name to show for one.

The name section holds what the linker wrote: mangled Rust (`_ZN...17h<hash>E`, `_R...`),
sometimes mangled C++, or zig's libc names (`c.string.strcmp`). A user types what LLDB and
wasmtime show: the demangled name, without the hash, a path suffix (`Catalog::find`), or the
DWARF name (`strcmp`). Every form is accepted; a name that fits several functions is an
error naming them, never a guess.
"""

from __future__ import annotations

from typing import Callable, Iterable

from ttd.wasm.demangle import demangle, demangle_short


class AmbiguousName(ValueError):
    """A name that fits more than one function."""


def display_name(raw: str) -> str:
    """The name to print: demangled, as wasmtime's backtrace prints it."""
    return demangle(raw)


def _no_params(name: str) -> str:
    """A C++ name without its parameter list and qualifiers: `ns::f(int) const` -> `ns::f`."""
    depth = 0
    for i, ch in enumerate(name):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0 and i > 0:
            return name[:i]
    return name


def _forms(names: Iterable[str]) -> set[str]:
    out = set()
    for n in names:
        out |= {n, demangle(n), demangle_short(n)}
    return out | {_no_params(n) for n in out}


def resolve(name: str, raw: dict[int, str],
            dwarf: Callable[[int], list[str]] | None = None) -> int:
    """The function index `name` means among `raw` (index -> name-section name).

    Tried in order, the first that fits exactly one function wins: the raw name; any
    demangled or DWARF form; a `::`-path suffix of one. `dwarf(index)` gives the DWARF names
    (asked only when the raw name fits nothing). Raises ValueError (AmbiguousName when several
    fit).
    """
    exact = [i for i, n in raw.items() if n == name]
    if len(exact) == 1:
        return exact[0]
    forms = {i: _forms([n, *(dwarf(i) if dwarf else ())]) for i, n in raw.items()}
    suffix = "::" + _no_params(name)
    tiers = (exact,
             [i for i, fs in forms.items() if name in fs],
             [i for i, fs in forms.items() if any(f.endswith(suffix) or f.endswith("::" + name)
                                                    for f in fs)])
    for found in tiers:
        if len(found) == 1:
            return found[0]
        if found:
            listed = ", ".join(sorted(display_name(raw[i]) for i in found))
            raise AmbiguousName(f"{name!r} names {len(found)} functions: {listed}")
    raise ValueError(f"no function named {name!r} in the module")
