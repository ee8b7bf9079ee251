"""Other modules linked in as hosts (`ttd record --link NAME=MODULE.wasm`), as the spec tests'
`register` makes one module's exports importable under a name by the next ones.

A linked module runs unrecorded, beside the recorded one: what the recorded module imports
from it is host, like WASI. Its functions' calls go into the capture (arguments, results, a
trap) and its immutable globals' values are described in it, so an expansion answers them
from the capture alone. Only numeric values cross (i32, i64, f32, f64); a linked memory,
table or mutable global would be state the recorded module shares with code the capture does
not see: refused.
"""

from __future__ import annotations

from pathlib import Path

import wasmtime

from ttd.record.recorder import RecordError, _bits, _one_line

NUMERIC = ("i32", "i64", "f32", "f64")


def parse_link(text: str) -> tuple[str, Path]:
    """NAME=MODULE.wasm"""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise ValueError(f"--link {text}: expected NAME=MODULE.wasm")
    return name, Path(path)


def instantiate(store: wasmtime.Store, engine: wasmtime.Engine,
                links: list[tuple[str, Path]], spectest: bool) -> dict[str, dict]:
    """Each linked module instantiated, in order, with the spectest host (if asked for) and
    the modules linked before it: name -> its exports."""
    from ttd.record import spectest as spectest_host
    import io

    linker = wasmtime.Linker(engine)
    if spectest:
        spectest_host.define(store, linker, out=io.StringIO())
    out: dict[str, dict] = {}
    for name, path in links:
        try:
            module = wasmtime.Module(engine, Path(path).read_bytes())
            inst = linker.instantiate(store, module)
        except OSError as e:
            raise RecordError(f"--link {name}={path}: {e.strerror or e}")
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            raise RecordError(f"--link {name}={path}: {_one_line(e)}")
        linker.define_instance(store, name, inst)
        out[name] = {n: inst.exports(store)[n] for n, _ in _export_names(module)}
    return out


def _export_names(module: wasmtime.Module):
    return [(e.name, e.type) for e in module.exports]


def check_import(imp, linked: dict[str, dict], store: wasmtime.Store):
    """The linked export an import of the recorded module names, after checking that it can
    be recorded as host; RecordError otherwise."""
    where = f"import {imp.module}::{imp.name}"
    ext = linked[imp.module].get(imp.name)
    if ext is None:
        raise RecordError(f"{where}: the linked module {imp.module} has no such export")
    if isinstance(ext, wasmtime.Func):
        ft = ext.type(store)
        bad = [str(t) for t in (*ft.params, *ft.results) if str(t) not in NUMERIC]
        if bad:
            raise RecordError(f"{where}: a function with {bad[0]} values: only numbers are "
                              f"recorded from a linked module")
        return ext
    if isinstance(ext, wasmtime.Global):
        gt = ext.type(store)
        if gt.mutable or str(gt.content) not in NUMERIC:
            raise RecordError(f"{where}: a mutable or non-numeric global: the linked module "
                              f"could change it unseen")
        return ext
    raise RecordError(f"{where}: a linked memory or table is state shared with unrecorded "
                      f"code: not recorded")


def describe_global(module: str, name: str, g: wasmtime.Global, store: wasmtime.Store) -> list:
    gt = g.type(store)
    vt = str(gt.content)
    return ["global", module, name, vt, False, _bits(g.value(store), vt)]
