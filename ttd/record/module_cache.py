"""Per-user cache of what a recording costs before the program runs: the instrumented module
(with its schedule, layout and pc maps) and wasmtime's compiled code.

Compiling the instrumented module is most of that cost (14 s for the 1,300-function SQLite of
tests/programs, 30 ms to deserialize), instrumenting the rest. wasmtime's own cache
(`Config.cache`) covers only compiling, needs the instrumented bytes before it can be asked,
and is set up on the caller's Config; so we serialize/deserialize ourselves, both artefacts
keyed by what decides them.

`Module.deserialize` trusts its input (a flipped byte can load and run as native code), so an
entry carries the sha256 of its payload, checked before use, and only a 0700 directory and
files of our own are read. Anything that does not check out (corrupt, truncated, compiled for
another engine config) is a miss, redone and rewritten, never an error; a cache that cannot be
created or written (read-only home) is done without.

Instrumented entries are keyed by the module's sha256, the options, ttd's version and a hash of
the instrumenter's source, so no code change meets an entry made before it, version bump or
not. Compiled entries are keyed by the sha256 of the bytes compiled, wasmtime's version, the
platform and the caller's engine_key: compiled code depends on Config settings an Engine does
not tell. The least recently used entries go when the directory passes MAX_BYTES.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import marshal
import operator
import os
import platform
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

import wasmtime

import ttd
from ttd.record.instrument import Instrumented, TraceLayout, hook_types, instrument
from ttd.record.schedule import Block, FuncInfo, Schedule
from ttd.wasm.module import parse_module

MAX_BYTES = 2 << 30  # 2 GiB: some dozens of big modules with their compiled code
_MAGIC = b"ttd-cache\x01"  # then the sha256 of the payload, then the payload
_HEAD = len(_MAGIC) + 32
_FORMAT = 4  # of the instrumented entry's payload (4: catches to a function's label)
_STALE_TMP = 3600.0  # seconds after which a temp file is a killed writer's leftover


def cache_dir() -> Path:
    """$TTD_CACHE_DIR if set, else $XDG_CACHE_HOME/ttd, else ~/.cache/ttd."""
    d = os.environ.get("TTD_CACHE_DIR")
    if d:
        return Path(d)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "ttd"
    return Path.home() / ".cache" / "ttd"


def prepare_instrumented(data: bytes, *, engine: wasmtime.Engine, engine_key: str, id_cap: int,
                         val_cap: int, reads: bool, use_cache: bool = True, shadow: bool = False
                         ) -> tuple[Instrumented, wasmtime.Module]:
    """Instrument `data` and compile the result for `engine`, each from the cache if there
    (the shadow-stack variant: its compiled code only).

    Errors are those of instrument() (WasmError) and of compiling (wasmtime.WasmtimeError)."""
    d = _usable_dir() if use_cache else None
    if shadow:
        inst = instrument(data, id_cap=id_cap, val_cap=val_cap, reads=reads, shadow=True)
        return inst, (_compile(d, inst.wasm, engine, engine_key) if d is not None
                      else wasmtime.Module(engine, inst.wasm))
    if d is None:
        inst = instrument(data, id_cap=id_cap, val_cap=val_cap, reads=reads)
        return inst, wasmtime.Module(engine, inst.wasm)
    inst = None
    code = _code_fingerprint()
    if code is not None:
        key = _key("inst", hashlib.sha256(data).hexdigest(), ttd.__version__, code,
                   id_cap, val_cap, reads, marshal.version)
        path = d / f"{key}.inst"
        payload = _read(path)
        if payload is not None:
            inst = _decode(payload, data, id_cap, val_cap)
    if inst is None:
        inst = instrument(data, id_cap=id_cap, val_cap=val_cap, reads=reads)
        if code is not None:
            _write(d, path, _encode(inst))
    return inst, _compile(d, inst.wasm, engine, engine_key)


def compile_plain(data: bytes, *, engine: wasmtime.Engine, engine_key: str,
                  use_cache: bool = True) -> wasmtime.Module:
    """Compile the original, uninstrumented module for `engine`, from the cache if there."""
    d = _usable_dir() if use_cache else None
    if d is None:
        return wasmtime.Module(engine, data)
    return _compile(d, data, engine, engine_key)


# ---- entries --------------------------------------------------------------------------------

def _compile(d: Path, wasm: bytes, engine: wasmtime.Engine, engine_key: str) -> wasmtime.Module:
    key = _key("code", hashlib.sha256(wasm).hexdigest(), ttd.__version__, _wasmtime_version(),
               sys.platform, platform.machine(), engine_key)
    path = d / f"{key}.code"
    payload = _read(path)
    if payload is not None:
        try:
            return wasmtime.Module.deserialize(engine, payload)
        except (wasmtime.WasmtimeError, ValueError, TypeError):
            pass  # made for another engine config: compile and replace it
    module = wasmtime.Module(engine, wasm)
    try:
        artefact = module.serialize()
    except wasmtime.WasmtimeError:
        return module
    _write(d, path, artefact)
    return module


# The schedule is stored as its blocks' and functions' fields in order rather than as
# Schedule.to_wire(): loading that back (and freeing it) took 0.5 s of a 0.8 s hit on a
# 73,000-block module, this 0.1 s. The code fingerprint in the key covers a change of fields.
_block_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(Block)))
_func_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(FuncInfo)))


def _encode(inst: Instrumented) -> bytes:
    lay = inst.layout
    layout = [lay.id_cap, lay.val_base, lay.val_cap, lay.pages, lay.trace_memory,
              lay.tpi_global, lay.tpv_global, lay.hook_table, lay.id_base, list(lay.dirty_maps),
              lay.depth_global, lay.limit_global]
    s = inst.schedule
    schedule = (list(map(_block_fields, s.blocks)), list(map(_func_fields, s.funcs.values())),
                s.globals, s.memories, s.landings, s.imports)
    with _no_gc():
        return marshal.dumps((_FORMAT, inst.wasm, schedule, layout, inst.start_func,
                              inst.map_new, inst.map_orig))


def _decode(payload: bytes, data: bytes, id_cap: int, val_cap: int) -> Instrumented | None:
    """The Instrumented an entry holds, None if it does not hold one for these options."""
    try:
        with _no_gc():
            fmt, wasm, sched, layout, start_func, map_new, map_orig = marshal.loads(payload)
            if fmt != _FORMAT or layout[0] != id_cap or layout[2] != val_cap:
                return None
            blocks, funcs, globals_, memories, landings, imports = sched
            schedule = Schedule(blocks=[Block(*b) for b in blocks],
                                funcs={f[0]: FuncInfo(*f) for f in funcs}, globals=globals_,
                                memories=memories, landings=landings, imports=imports)
        module = parse_module(data)
        (lay_id_cap, val_base, lay_val_cap, pages, trace_memory, tpi, tpv, hook_table, id_base,
         dirty_maps, depth_global, limit_global) = layout
        return Instrumented(
            wasm=wasm, schedule=schedule,
            layout=TraceLayout(lay_id_cap, val_base, lay_val_cap, pages, trace_memory, tpi, tpv,
                               hook_table, hook_types(module), id_base, list(dirty_maps),
                               depth_global, limit_global),
            module=module, start_func=start_func, map_new=map_new, map_orig=map_orig)
    except Exception:  # a payload that checks out but is not ours to read: a miss
        return None


class _no_gc:
    """Building millions of small objects sets off the cycle collector over and over."""

    def __enter__(self):
        self.enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.enabled:
            gc.enable()


# ---- files ----------------------------------------------------------------------------------

def _usable_dir() -> Path | None:
    """The cache directory, created 0700 if need be; None if it cannot be used safely."""
    d = cache_dir()
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = d.stat()
    except OSError:
        return None
    if st.st_uid != os.getuid():
        return None  # someone else's: their artefacts would run as our code
    if st.st_mode & 0o077:
        try:
            os.chmod(d, 0o700)
        except OSError:  # a read-only file system, say: only others' writing matters
            if st.st_mode & 0o022:
                return None
    return d


def _read(path: Path) -> bytes | None:
    """An entry's payload if it is there and intact (the file's mtime then marks it used)."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                return None  # not written by us (planted before the directory was ours)
            blob = f.read()
    except OSError:
        return None
    if len(blob) < _HEAD or not blob.startswith(_MAGIC):
        return None
    payload = blob[_HEAD:]
    if hashlib.sha256(payload).digest() != blob[len(_MAGIC):_HEAD]:
        return None
    try:
        os.utime(path)
    except OSError:
        pass
    return payload


def _write(d: Path, path: Path, payload: bytes) -> None:
    """Write an entry atomically (a reader sees the old one or the new one, whole); then keep
    the directory under MAX_BYTES. Failing to is not an error: the cache is only a cache."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=path.suffix)
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC)
            f.write(hashlib.sha256(payload).digest())
            f.write(payload)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        return
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _prune(d, keep=path)


def _prune(d: Path, keep: Path) -> None:
    """Remove the least recently used entries (but `keep`) while the directory holds more
    than MAX_BYTES, and temp files a killed writer left behind."""
    limit = MAX_BYTES
    entries = []
    total = 0
    now = time.time()
    try:
        with os.scandir(d) as it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if e.name.startswith(".tmp-"):
                    if now - st.st_mtime > _STALE_TMP:
                        _unlink(e.path)
                    continue
                if not e.is_file(follow_symlinks=False) or not e.name.endswith((".inst", ".code")):
                    continue
                total += st.st_size
                if e.name != keep.name:
                    entries.append((st.st_mtime, st.st_size, e.path))
    except OSError:
        return
    entries.sort()
    for _mtime, size, p in entries:
        if total <= limit:
            break
        if _unlink(p):
            total -= size


def _unlink(p: str) -> bool:
    try:
        os.unlink(p)
        return True
    except OSError:
        return False


# ---- keys -----------------------------------------------------------------------------------

def _key(*parts) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()


@cache
def _wasmtime_version() -> str:
    try:
        from importlib.metadata import version
        return version("wasmtime")
    except Exception:
        return "unknown"


@cache
def _code_fingerprint() -> str | None:
    """A hash of the source of everything that decides the instrumenter's output; None if
    it cannot be read (then instrumented modules are not cached)."""
    import ttd.record.depth
    import ttd.record.instrument
    import ttd.record.schedule
    import ttd.wasm

    files = [Path(ttd.record.instrument.__file__), Path(ttd.record.schedule.__file__),
             Path(ttd.record.depth.__file__)]
    files += sorted(Path(ttd.wasm.__file__).parent.glob("*.py"))
    h = hashlib.sha256()
    try:
        for f in files:
            h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    except OSError:
        return None
    return h.hexdigest()
