"""The per-user cache of instrumented modules and compiled code (ttd.record.module_cache)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import wasmtime

from ttd.record import module_cache as mc
from ttd.record.instrument import instrument
from ttd.wasm.errors import UnsupportedOpcode, WasmError

WAT = """
(module
  (import "env" "log" (func $log (param i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "add") (param i32 i32) (result i32)
    (global.set $g (i32.add (local.get 0) (local.get 1)))
    (i32.store (i32.const 16) (global.get $g))
    (i32.load (i32.const 16)))
  (func (export "twice") (param i32) (result i32)
    (call $log (local.get 0))
    (call $dbl (local.get 0)))
  (func $dbl (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))
"""
DATA = wasmtime.wat2wasm(WAT)
OPTS = dict(id_cap=1 << 16, val_cap=1 << 16, reads=False)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("TTD_CACHE_DIR", str(d))
    return d


def entries(d: Path, suffix: str = "") -> dict[str, bytes]:
    if not d.exists():
        return {}
    return {p.name: p.read_bytes() for p in d.iterdir() if p.name.endswith(suffix or "")}


def prepare(engine=None, key="k", data=DATA, **kw):
    opts = {**OPTS, **kw}
    return mc.prepare_instrumented(data, engine=engine or wasmtime.Engine(), engine_key=key,
                                   **opts)


def run_add(engine, module, a=2, b=3):
    """Instantiate the (instrumented or plain) test module and call its exports."""
    store = wasmtime.Store(engine)
    logged = []
    log = wasmtime.Func(store, wasmtime.FuncType([wasmtime.ValType.i32()], []),
                        lambda x: logged.append(x))
    imports = []
    for imp in module.imports:
        assert (imp.module, imp.name) == ("env", "log")
        imports.append(log)
    inst = wasmtime.Instance(store, module, imports)
    exports = inst.exports(store)
    if "__ttd_hooks" in exports:  # instrumented: a flush hook, and one after the import
        hooks = exports["__ttd_hooks"]
        hooks.set(store, 0, wasmtime.Func(store, wasmtime.FuncType([], []), lambda: None))
        hooks.set(store, 1, wasmtime.Func(
            store, wasmtime.FuncType([wasmtime.ValType.i32()], []), lambda x: None))
    return exports["add"](store, a, b), exports["twice"](store, 21), logged


def same_instrumented(a, b) -> None:
    assert a.wasm == b.wasm
    assert a.schedule.to_wire() == b.schedule.to_wire()
    assert a.schedule == b.schedule  # down to tuples staying tuples
    assert a.layout == b.layout
    assert a.map_new == b.map_new and a.map_orig == b.map_orig
    assert a.start_func == b.start_func
    assert a.module.data == b.module.data == DATA


def count_instrument(monkeypatch) -> list:
    calls = []

    def counting(*a, **kw):
        calls.append(1)
        return instrument(*a, **kw)

    monkeypatch.setattr(mc, "instrument", counting)
    return calls


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("TTD_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mc.cache_dir() == tmp_path / "home" / ".cache" / "ttd"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mc.cache_dir() == tmp_path / "xdg" / "ttd"
    monkeypatch.setenv("TTD_CACHE_DIR", str(tmp_path / "own"))
    assert mc.cache_dir() == tmp_path / "own"


def test_hit_returns_the_same_instrumented_module_and_a_working_compiled_one(cache, monkeypatch):
    calls = count_instrument(monkeypatch)
    engine = wasmtime.Engine()
    miss, module = prepare(engine)
    assert calls == [1]
    same_instrumented(miss, instrument(DATA, **OPTS))
    assert run_add(engine, module) == (5, 42, [21])
    assert (cache.stat().st_mode & 0o777) == 0o700
    files = entries(cache)
    assert sorted(Path(n).suffix for n in files) == [".code", ".inst"]
    inodes = {p.name: p.stat().st_ino for p in cache.iterdir()}

    engine2 = wasmtime.Engine()  # a new process would have a new engine
    hit, module2 = prepare(engine2)
    assert calls == [1]  # not instrumented again
    same_instrumented(hit, miss)
    assert run_add(engine2, module2) == (5, 42, [21])
    assert hit.original_pc(hit.map_new[5]) == miss.map_orig[5]
    # nothing rewritten: both came from the cache
    assert {p.name: p.stat().st_ino for p in cache.iterdir()} == inodes
    assert entries(cache) == files


def test_compile_plain_hit(cache):
    engine = wasmtime.Engine()
    m1 = mc.compile_plain(DATA, engine=engine, engine_key="plain")
    assert run_add(engine, m1) == (5, 42, [21])
    (code,) = cache.iterdir()
    ino = code.stat().st_ino
    engine2 = wasmtime.Engine()
    m2 = mc.compile_plain(DATA, engine=engine2, engine_key="plain")
    assert run_add(engine2, m2) == (5, 42, [21])
    assert code.stat().st_ino == ino


def flip(p: Path, at: int) -> None:
    b = bytearray(p.read_bytes())
    b[at] ^= 0x55
    p.write_bytes(bytes(b))


@pytest.mark.parametrize("damage", ["flip-payload", "flip-head", "truncate", "empty",
                                    "garbage"])
@pytest.mark.parametrize("which", [".inst", ".code"])
def test_damaged_entry_is_redone_and_rewritten(cache, monkeypatch, damage, which):
    calls = count_instrument(monkeypatch)
    engine = wasmtime.Engine()
    good, _ = prepare(engine)
    (p,) = [q for q in cache.iterdir() if q.suffix == which]
    intact = p.read_bytes()
    if damage == "flip-payload":
        flip(p, len(intact) // 2)
    elif damage == "flip-head":
        flip(p, 3)
    elif damage == "truncate":
        p.write_bytes(intact[: len(intact) // 3])
    elif damage == "empty":
        p.write_bytes(b"")
    else:
        p.write_bytes(os.urandom(len(intact)))
    again, module = prepare(engine)
    same_instrumented(again, good)
    assert run_add(engine, module) == (5, 42, [21])
    assert calls == ([1, 1] if which == ".inst" else [1])
    # rewritten whole (compiled code need not be byte-identical between compilations)
    assert mc._read(p) is not None
    if which == ".inst":
        assert p.read_bytes() == intact
    ino = p.stat().st_ino
    engine2 = wasmtime.Engine()
    hit, module = prepare(engine2)  # and a hit again
    assert calls == ([1, 1] if which == ".inst" else [1])
    assert p.stat().st_ino == ino
    same_instrumented(hit, good)
    assert run_add(engine2, module) == (5, 42, [21])


def test_entry_with_a_good_checksum_but_foreign_content_is_a_miss(cache, monkeypatch):
    calls = count_instrument(monkeypatch)
    engine = wasmtime.Engine()
    good, _ = prepare(engine)
    for p in cache.iterdir():  # checksums that check out over payloads that are not ours
        payload = b"not an entry" * 100
        p.write_bytes(mc._MAGIC + hashlib.sha256(payload).digest() + payload)
    again, module = prepare(engine)
    same_instrumented(again, good)
    assert run_add(engine, module) == (5, 42, [21])
    assert calls == [1, 1]
    hit, _ = prepare(wasmtime.Engine())
    assert calls == [1, 1]


def test_code_compiled_for_another_engine_config_is_recompiled(cache):
    # Same engine_key (a caller's mistake) but a config the artefact does not fit: wasmtime
    # refuses it, and the cache recompiles instead of failing.
    prepare(wasmtime.Engine(), key="same")
    (code,) = [p for p in cache.iterdir() if p.suffix == ".code"]
    before = code.read_bytes()
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    fuel = wasmtime.Engine(cfg)
    inst, module = prepare(fuel, key="same")
    store = wasmtime.Store(fuel)
    store.set_fuel(10_000)
    log = wasmtime.Func(store, wasmtime.FuncType([wasmtime.ValType.i32()], []), lambda x: None)
    exports = wasmtime.Instance(store, module, [log]).exports(store)
    assert exports["add"](store, 2, 3) == 5
    assert store.get_fuel() < 10_000
    assert code.read_bytes() != before  # rewritten for the engine that asked last


def test_unusable_cache_dir_works_without_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"x")
    monkeypatch.setenv("TTD_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    engine = wasmtime.Engine()
    inst, module = prepare(engine)
    assert run_add(engine, module) == (5, 42, [21])
    assert run_add(engine, mc.compile_plain(DATA, engine=engine, engine_key="k")) \
        == (5, 42, [21])
    monkeypatch.setenv("TTD_CACHE_DIR", str(blocker))  # a file, not a directory
    inst, module = prepare(engine)
    assert run_add(engine, module) == (5, 42, [21])
    assert blocker.read_bytes() == b"x"


def test_unwritable_cache_dir_works_without_cache(cache, monkeypatch):
    def refuse(*a, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(mc.tempfile, "mkstemp", refuse)  # what a read-only directory says
    engine = wasmtime.Engine()
    inst, module = prepare(engine)
    same_instrumented(inst, instrument(DATA, **OPTS))
    assert run_add(engine, module) == (5, 42, [21])
    assert entries(cache) == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the directory away")
def test_someone_elses_cache_dir_is_not_used(cache):
    cache.mkdir(mode=0o700)
    os.chown(cache, 65534, 65534)
    engine = wasmtime.Engine()
    inst, module = prepare(engine)
    assert run_add(engine, module) == (5, 42, [21])
    assert entries(cache) == {}


def test_an_open_cache_dir_is_made_private(cache):
    cache.mkdir()
    os.chmod(cache, 0o755)
    prepare()
    assert (cache.stat().st_mode & 0o777) == 0o700
    assert all((p.stat().st_mode & 0o077) == 0 for p in cache.iterdir())


def test_use_cache_false_writes_nothing(cache):
    engine = wasmtime.Engine()
    inst, module = prepare(engine, use_cache=False)
    assert run_add(engine, module) == (5, 42, [21])
    mc.compile_plain(DATA, engine=engine, engine_key="k", use_cache=False)
    assert not cache.exists()


def test_use_cache_false_reads_nothing(cache, monkeypatch):
    prepare()
    calls = count_instrument(monkeypatch)
    prepare(use_cache=False)
    assert calls == [1]


def test_engine_key_and_options_make_separate_entries(cache, monkeypatch):
    calls = count_instrument(monkeypatch)
    prepare(key="a")
    assert len(entries(cache, ".inst")) == 1 and len(entries(cache, ".code")) == 1
    prepare(key="b")  # same instrumented module, compiled for another engine config
    assert calls == [1]
    assert len(entries(cache, ".inst")) == 1 and len(entries(cache, ".code")) == 2
    prepare(key="a", id_cap=1 << 17)
    prepare(key="a", val_cap=1 << 17)
    prepare(key="a", reads=True)
    assert calls == [1, 1, 1, 1]
    assert len(entries(cache, ".inst")) == 4
    # every one of them is a hit now
    for kw in ({}, {"key": "b"}, {"id_cap": 1 << 17}, {"val_cap": 1 << 17}, {"reads": True}):
        inst, _ = prepare(**kw)
        same_instrumented(inst, instrument(DATA, **{**OPTS, **{k: v for k, v in kw.items()
                                                             if k != "key"}}))
    assert calls == [1, 1, 1, 1]
    # a different module is a different entry
    other = wasmtime.wat2wasm('(module (func (export "f") (result i32) (i32.const 7)))')
    prepare(data=other)
    assert calls == [1, 1, 1, 1, 1]


def test_instrument_errors_propagate_unchanged_and_are_not_cached(cache):
    atomics = wasmtime.wat2wasm(
        '(module (memory 1 1 shared) (func (export "f") (drop (i32.atomic.load (i32.const 0)))))')
    with pytest.raises(UnsupportedOpcode) as got:
        prepare(data=atomics)
    with pytest.raises(UnsupportedOpcode) as want:
        instrument(atomics, **OPTS)
    assert str(got.value) == str(want.value)
    with pytest.raises(WasmError, match="bad magic"):
        prepare(data=b"\0asX\1\0\0\0")
    assert entries(cache) == {}


def test_cache_is_bounded(cache, monkeypatch):
    prepare(key="old")
    (inst,) = [p.name for p in cache.iterdir() if p.suffix == ".inst"]
    (old_code,) = [p.name for p in cache.iterdir() if p.suffix == ".code"]
    for p in cache.iterdir():  # used long ago
        os.utime(p, (1_000_000, 1_000_000))
    (cache / ".tmp-leftover.code").write_bytes(b"half")
    os.utime(cache / ".tmp-leftover.code", (1_000_000, 1_000_000))
    total = sum(p.stat().st_size for p in cache.iterdir() if not p.name.startswith(".tmp"))
    monkeypatch.setattr(mc, "MAX_BYTES", total + 10)
    # One more .code entry: the least recently used entry must go to stay under the bound.
    # That is the old code: the instrumented entry was just used again (a hit).
    prepare(key="new")
    names = {p.name for p in cache.iterdir()}
    assert sum(p.stat().st_size for p in cache.iterdir()) <= total + 10
    assert inst in names and old_code not in names and len(names) == 2
    assert ".tmp-leftover.code" not in names  # a killed writer's leftover goes too


def test_concurrent_writers_leave_whole_entries(cache):
    # Two recorders caching the same module at once: each write is atomic, so whichever lands
    # last is a whole entry, and readers never see half of one.
    import threading

    errors = []

    def work():
        try:
            for _ in range(3):
                engine = wasmtime.Engine()
                inst, module = prepare(engine)
                assert run_add(engine, module) == (5, 42, [21])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(p.suffix for p in cache.iterdir()) == [".code", ".inst"]
    for p in cache.iterdir():
        assert mc._read(p) is not None


def test_entries_others_could_have_written_are_not_used(cache, monkeypatch):
    calls = count_instrument(monkeypatch)
    prepare()
    (inst,) = [p for p in cache.iterdir() if p.suffix == ".inst"]
    os.chmod(inst, 0o666)  # anyone could have put anything there
    again, _ = prepare()
    assert calls == [1, 1]
    assert (inst.stat().st_mode & 0o777) == 0o600  # replaced by one of our own
    if os.geteuid() == 0:
        os.chown(inst, 65534, 65534)  # planted by someone else
        prepare()
        assert calls == [1, 1, 1]
        assert inst.stat().st_uid == 0
