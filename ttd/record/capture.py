"""Run the original module on wasmtime and keep only what re-executing it cannot reproduce.

Wasm is deterministic given what its imports return, so a capture holds each import call
(its import, arguments, results and the linear-memory bytes the host wrote), the outcome and
hashes of the final exported state; `ttd expand` rebuilds the opcode-level history from it.
The module itself runs uninstrumented at its own speed: WASI calls leave it for Python, which
forwards them to wasmtime's WASI through a small trampoline instance whose exported "memory"
is the program's (WASI finds its memory through the calling instance), then notes what they did.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import signal
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import wasmtime

import ttd
from ttd.record.recorder import (
    Interrupted, RecordError, RecordOptions, _bits, _check_out, _main_thread, _one_line,
    _trap_message, _wt_functype, default_trace_path, frame_offset, read_program, run_info,
    trap_cause_lines,
)
from ttd.record.global_bits import global_bits
from ttd.record.guest_files import GuestFiles
from ttd.record.snapshot import live_digest
from ttd.record.wasi_effects import written_regions
from ttd.record.writer import ChunkWriter
from ttd.store import codec
from ttd.store.errors import TraceError, TraceExists
from ttd.store.recording_lock import OutputRefused

import numpy as np

WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")
#: A batch of calls goes to the writer at this many calls or bytes, or after FLUSH_EVERY.
BATCH_CALLS = 4096
BATCH_BYTES = 1 << 20
FLUSH_EVERY = 0.5
#: Seconds a host call may go on after Ctrl-C (it may be about to return) before the capture
#: is finished without it.
SIGINT_GRACE = 0.5
#: What the capture's engine is configured with; part of the compiled-code cache key.
CAPTURE_ENGINE_KEY = "capture:epoch"


@dataclass
class CaptureResult:
    path: Path
    exit_code: int
    trap: str | None
    calls: int
    seconds: float
    status: str
    steps: int = 0  # a capture has no steps until it is expanded


#: wasmtime's default Wasm stack (`wasmtime run`'s), which the capture runs on.
PLAIN_WASM_STACK = 512 << 10


def capture_engine(max_wasm_stack: int = PLAIN_WASM_STACK) -> wasmtime.Engine:
    """wasmtime run's settings, plus epoch interruption: Ctrl-C must stop a loop that never
    calls the host, and Python's own handler cannot run while Wasm does."""
    cfg = wasmtime.Config()
    cfg.epoch_interruption = True
    cfg.max_wasm_stack = max_wasm_stack
    return wasmtime.Engine(cfg)


def _trampoline_wat(imports: list[tuple[str, str, wasmtime.FuncType]], memory) -> str:
    """A module that calls each WASI function from Wasm, so WASI sees a caller exporting the
    program's memory."""
    lines = ["(module"]
    if memory is not None:
        lines.append(f'  (import "ttd" "memory" (memory {"i64 " if memory.is_64 else ""}0))')
        lines.append('  (export "memory" (memory 0))')
    funcs = []
    for k, (mod, name, ft) in enumerate(imports):
        params = " ".join(str(t) for t in ft.params)
        results = " ".join(str(t) for t in ft.results)
        sig = (f"(param {params})" if params else "") + (f" (result {results})" if results else "")
        lines.append(f'  (import "{mod}" "{name}" (func $i{k} {sig}))')
        args = " ".join(f"(local.get {i})" for i in range(len(ft.params)))
        funcs.append(f'  (func (export "f{k}") {sig} (call $i{k} {args}))')
    lines += funcs
    lines.append(")")
    return "\n".join(lines)


class Capturer:
    def __init__(self, opts: RecordOptions, *, plain_module: wasmtime.Module | None = None,
                 engine: wasmtime.Engine | None = None):
        self.opts = opts
        self.engine = engine
        self.plain_module = plain_module
        self.interrupted = False
        self._lock = None
        self.lock = None  # the capture's lock, kept for the caller (run(keep_lock=True))
        self._out: Path | None = None  # the file, once created
        self._head_committed = False  # the program and its info are in the file
        self._started = False  # the program was called (a Ctrl-C from then on keeps the calls)
        self._writer: ChunkWriter | None = None

    def run(self, keep_lock: bool = False) -> CaptureResult:
        """The capture; with keep_lock its file stays locked (`self.lock`, the caller closes
        it) so that nobody replaces it before its expansion."""
        try:
            res = self._run()
            if keep_lock:
                self.lock, self._lock = self._lock, None
            return res
        except BaseException as exc:
            if self._writer is not None:
                try:
                    self._writer.finish()
                except BaseException:
                    pass
            if isinstance(exc, KeyboardInterrupt) and not self._started:
                raise self._nothing_ran() from exc
            error = self._abandon(exc)
            if error is exc:
                raise
            raise error from exc
        finally:
            if self._lock is not None:
                self._lock.close()
                self._lock = None

    def _nothing_ran(self) -> KeyboardInterrupt:
        """Ctrl-C before the program started (loading, creating the trace): nothing ran, so
        nothing is kept; the file, if ours already, is removed."""
        if self._out is not None:
            from ttd.store.trace_store import _remove_with_sidecars

            try:
                _remove_with_sidecars(self._out)  # still ours: we hold its lock
            except OSError:
                pass
        return KeyboardInterrupt("before the program started: no trace written")

    def _abandon(self, exc: BaseException) -> BaseException:
        """After a failure with the file created: a capture without its program (the first
        commit) is removed, as the recorder removes a trace without a chunk; one with calls
        committed is kept, a partial capture that expands up to its last committed call."""
        out = self._out
        if out is None or not isinstance(exc, (RecordError, TraceError, OSError, sqlite3.Error)):
            return exc  # Ctrl-C twice, a bug: as it is (a killed capture keeps its file too)
        reason = _one_line(exc)
        if not isinstance(exc, RecordError):
            reason = f"writing {out} failed: {reason.removeprefix(f'{out}: ')}"
        if self._head_committed:
            return exc if isinstance(exc, RecordError) else RecordError(
                f"{reason}; the capture keeps the calls committed before (`ttd expand` builds "
                f"their history)")
        from ttd.store.trace_store import _remove_with_sidecars

        try:
            _remove_with_sidecars(out)  # still ours: we hold its lock
        except (OSError, TraceError):
            return RecordError(reason)
        return RecordError(f"{reason}; no trace written")

    def _load(self) -> tuple[bytes, wasmtime.Engine, wasmtime.Module]:
        path = self.opts.program
        data = read_program(path)
        engine = self.engine or capture_engine()
        if self.plain_module is not None:
            return data, engine, self.plain_module
        try:
            from ttd.record.module_cache import compile_plain

            module = compile_plain(data, engine=engine, engine_key=CAPTURE_ENGINE_KEY,
                                   use_cache=self.opts.use_cache)
        except wasmtime.WasmtimeError as e:
            raise RecordError(f"{path}: not a valid WebAssembly module: {_invalid(data, e)}")
        return data, engine, module

    def _run(self) -> CaptureResult:
        o = self.opts
        t0 = time.perf_counter()
        data, engine, module = self._load()
        out = o.out or default_trace_path(o.program)
        _check_out(out, o.program)
        from ttd.record.recorder import Recorder

        wasi, arg_sizes = Recorder(o)._wasi()
        store = wasmtime.Store(engine)
        store.set_epoch_deadline(1)
        store.set_wasi(wasi)

        wasi_imports = [(i, imp) for i, imp in enumerate(module.imports)
                        if imp.module in WASI_MODULES and isinstance(imp.type, wasmtime.FuncType)]
        n_wasi = len(wasi_imports)
        host_values: list = []
        host_funcs: list = []  # after WASI's: (spectest name, None) or (None, linked Func)
        kinds = [(imp.module, imp.name, _kind(imp.type)) for imp in module.imports]
        if o.spectest:  # the spec tests' host module
            from ttd.record import spectest
            spec_funcs = [(i, imp) for i, imp in enumerate(module.imports)
                          if spectest.provides(imp.module, imp.name, kinds[i][2])
                          and kinds[i][2] == "func"]
            wasi_imports += spec_funcs
            host_funcs += [(imp.name, None) for _i, imp in spec_funcs]
            host_values = spectest.described_for(kinds)
        if o.links:  # other modules' exports, as host
            from ttd.record import links as _links
            linked = _links.instantiate(store, engine, list(o.links), o.spectest)
            for i, imp in enumerate(module.imports):
                if imp.module not in linked:
                    continue
                ext = _links.check_import(imp, linked, store)
                if kinds[i][2] == "func":
                    wasi_imports.append((i, imp))
                    host_funcs.append((None, ext))
                else:
                    host_values.append(_links.describe_global(imp.module, imp.name, ext, store))
        state = {"calls": 0, "pending": [], "pending_bytes": 0, "exit": None,
                 "last_flush": time.monotonic()}
        guest = GuestFiles([g for _h, g in o.dirs])
        lock = threading.Lock()
        box: dict = {}

        writer = ChunkWriter(out, np.zeros(0, dtype=np.int64), None)

        def read_mem(addr: int, n: int) -> bytes:
            mem = box.get("memory")
            if mem is None:
                return b""
            size = mem.data_len(store)
            if addr >= size or n <= 0:
                return b""
            return bytes(mem.read(store, addr, min(size, addr + n)))

        def flush_pending() -> None:
            with lock:
                events, state["pending"], state["pending_bytes"] = state["pending"], [], 0
                first = state["calls"] - len(events)
                seq = box.setdefault("batch_seq", 0)
                if not events:
                    return
                box["batch_seq"] = seq + 1
                state["last_flush"] = time.monotonic()
            blob = codec.compress(codec.pack(events))

            def job(st) -> None:
                st.add_capture_events(seq, first, len(events), blob)
                writer._dirty = True
                if time.monotonic() - writer.committed >= FLUSH_EVERY:
                    writer._commit()
            writer.jobs.put(lambda: job(writer.store))

        def make_hook(k: int, name: str, ft: wasmtime.FuncType):
            ptypes = [str(t) for t in ft.params]
            rtypes = [str(t) for t in ft.results]

            def hook(*vals):
                if self.interrupted:
                    raise Interrupted()
                args = [_bits(v, t) for v, t in zip(vals, ptypes)]
                if k >= n_wasi:  # spectest's or a linked module's: it writes nothing of ours
                    printer, func = host_funcs[k - n_wasi]
                    if printer is not None:
                        box["spectest"][printer](*vals)
                        self._note(state, lock, [k, args, [], []])
                        return None
                    try:
                        result = func(store, *vals)
                    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
                        self._note(state, lock, [k, args, None, [], ["trap", _one_line(e)]])
                        state["import_trap"] = True
                        raise
                    results = list(result) if isinstance(result, (list, tuple)) else (
                        [] if result is None else [result])
                    self._note(state, lock, [k, args, [_bits(v, t) for v, t in zip(results, rtypes)], []])
                    return result
                fn = box["tramp"][f"f{k}"]
                with lock:
                    box["in_call"] = state["calls"]  # a Ctrl-C now: see _stop_blocked
                try:
                    result = fn(store, *vals)
                except wasmtime.ExitTrap as e:
                    self._note(state, lock, [k, args, None, [], ["exit", e.code]])
                    state["exit"] = e.code
                    raise
                except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
                    self._note(state, lock, [k, args, None, [], ["trap", _one_line(e)]])
                    state["import_trap"] = True  # its innermost frame is the trampoline's
                    raise
                finally:
                    with lock:
                        box["in_call"] = None
                        abandoned = box.get("abandoned")
                    if abandoned:  # finished by the Ctrl-C watcher, which exits the process
                        threading.Event().wait()
                results = list(result) if isinstance(result, (list, tuple)) else (
                    [] if result is None else [result])
                bits = [_bits(v, t) for v, t in zip(results, rtypes)]
                guest.call(name, args, bits, read_mem)  # names, not contents
                regions = []
                mem = box.get("memory")
                if mem is not None:
                    for addr, n in written_regions(name, args, read_mem, mem.data_len(store), arg_sizes):
                        chunk = read_mem(addr, n)
                        if chunk:
                            regions.append((addr, chunk))
                size = self._note(state, lock, [k, args, bits, regions])
                if (len(state["pending"]) >= BATCH_CALLS or size >= BATCH_BYTES
                        or time.monotonic() - state["last_flush"] >= FLUSH_EVERY):
                    flush_pending()
                return result
            return hook

        linker = wasmtime.Linker(engine)
        for k, (_i, imp) in enumerate(wasi_imports):
            ft = imp.type
            try:
                _wt_functype(_ft_names(ft))
            except RecordError as e:
                raise RecordError(f"{o.program}: import {imp.module}::{imp.name}: {e}")
            try:
                linker.define(store, imp.module, imp.name, wasmtime.Func(store, ft, make_hook(k, imp.name, ft)))
            except wasmtime.WasmtimeError:
                pass  # the same import twice: one definition serves both
        if o.spectest:
            box["spectest"] = spectest.printers()
        if host_values:
            from ttd.record import spectest as _host
            _host.define_values(store, linker, host_values)
        try:
            instance = linker.instantiate(store, module)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            raise RecordError(f"{o.program}: {_one_line(e)}")
        exports = instance.exports(store)
        memory = _export(exports, "memory")
        if not isinstance(memory, wasmtime.Memory):
            memory = None
        box["memory"] = memory
        tlinker = wasmtime.Linker(engine)
        tlinker.define_wasi()
        if memory is not None:
            tlinker.define(store, "ttd", "memory", memory)
        tramp_imports = [(imp.module, imp.name, imp.type) for _i, imp in wasi_imports[:n_wasi]]
        tramp = wasmtime.Module(engine, wasmtime.wat2wasm(
            _trampoline_wat(tramp_imports, memory.type(store) if memory is not None else None)))
        try:
            box["tramp"] = tlinker.instantiate(store, tramp).exports(store)
        except wasmtime.WasmtimeError as e:  # an import WASI does not have: as wasmtime run says
            raise RecordError(f"{o.program}: {_one_line(e)}")

        entry = Recorder(o)._entry(store, exports)
        self._writer = writer
        existed = out.exists()
        try:
            self._lock = writer.open(o.overwrite)
            self._out = out
        except KeyboardInterrupt:
            # Ctrl-C while the file was being created: ours to remove, unless it was another
            # file that we were not asked to replace
            if o.overwrite or not existed:
                self._out = out
            raise
        except TraceExists:
            raise RecordError(f"{out}: already exists (use --force to replace it)")
        except OutputRefused as e:
            raise RecordError(str(e))
        except TraceError as e:
            raise RecordError(f"{e}; no trace written")
        if self._lock is not None and self._lock.replaced_empty:
            sys.stderr.write(f"ttd: note: {out}: replaced the empty file a killed recorder left "
                             f"(it held nothing)\n")
        program_info = {
            **run_info(o, data),
            "status": "recording",
            "kind": "capture",
            "capture": {"imports": [[imp.module, imp.name] for _i, imp in wasi_imports],
                        "arg_sizes": arg_sizes, "reads": o.reads, "host_values": host_values,
                        "id_cap": o.id_cap, "val_cap": o.val_cap},
        }
        def head(st) -> None:
            st.set_info(**program_info)
            st.add_module(o.program.name, data, b"")
            st.commit()
            self._head_committed = True
        writer.call(head)

        def stop_blocked() -> None:
            """Ctrl-C while the program waits in a host call (e.g. reading stdin): wasmtime's
            WASI cannot be woken from Python, so after a grace period the capture is finished
            from here, up to the calls that returned, and the process exits with 130."""
            with lock:
                waiting = box.get("in_call")
            if waiting is None:
                return
            time.sleep(SIGINT_GRACE)
            with lock:
                if box.get("in_call") != waiting:
                    return  # the call returned: the program stops at its next call or loop
                box["abandoned"] = True
            stop_timer.set()
            flush_pending()
            summary = {"status": "interrupted", "exit_code": 130, "trap": None,
                       "trap_frames": None, "invoke_results": None, **guest.info(),
                       "capture_calls": state["calls"],
                       "capture_seconds": round(time.perf_counter() - t0, 3)}
            writer.call(lambda st: (st.set_info(**summary), st.commit()))
            try:
                writer.finish()
            except (TraceError, OSError) as e:
                sys.stderr.write(f"ttd: error: writing {out} failed: {_one_line(e)}\n")
                os._exit(1)
            if self._lock is not None:
                self._lock.close()
            sys.stderr.write(f"trace: {out} (capture: {state['calls']:,} import calls, "
                             f"interrupted; `ttd expand` builds its history)\n")
            sys.stderr.flush()
            os._exit(130)
        self._stop_blocked = stop_blocked

        stop_timer = threading.Event()

        def timer() -> None:  # a program that computes long after a call still gets it stored
            while not stop_timer.wait(FLUSH_EVERY):
                if state["pending"] and time.monotonic() - state["last_flush"] >= FLUSH_EVERY:
                    flush_pending()
        threading.Thread(target=timer, name="ttd-capture-flush", daemon=True).start()

        exit_code, trap, trap_frames, status = 0, None, None, "complete"
        restore = self._install_sigint(engine) if _main_thread() else None
        self._started = True
        invoke_results = None
        t_run = time.perf_counter()
        try:
            try:
                results = Recorder._call(store, entry)
                invoke_results = results if o.invoke is not None else None
            except wasmtime.ExitTrap as e:
                exit_code = e.code
            except Interrupted:
                status, exit_code = "interrupted", 130
            except wasmtime.Trap as e:
                if self.interrupted and e.trap_code == wasmtime.TrapCode.INTERRUPT:
                    status, exit_code = "interrupted", 130
                else:
                    trap = _trap_message(e)
                    exit_code = 134
                    trap_frames = [[f.func_index, f.module_offset] for f in e.frames or []]
                    _print_trap(e, data)
            except wasmtime.WasmtimeError as e:
                if state["exit"] is not None:
                    exit_code = state["exit"]
                else:
                    trap = _one_line(e)
                    exit_code = 134
                    sys.stderr.write(f"Error: {trap}\n")
        finally:
            run_seconds = time.perf_counter() - t_run
            if restore is not None:
                restore()
            stop_timer.set()
        flush_pending()
        from ttd.wasm.module import parse_module
        parsed = parse_module(data)
        global_vt = {e.name: parsed.global_type(e.index).valtype for e in parsed.exports
                     if e.kind == "global"}
        final = {
            "memories": {name: [live_digest(m, store), m.data_len(store)]
                         for name, m in _exports_of(module, exports, wasmtime.Memory)},
            "globals": {name: global_bits(g, store, global_vt.get(name))
                        for name, g in _exports_of(module, exports, wasmtime.Global)},
        }
        summary = {
            "status": status,
            "exit_code": exit_code,
            "trap": trap,
            "trap_frames": trap_frames,
            "trap_in_import": bool(trap and state.get("import_trap")),
            "invoke_results": invoke_results,
            **guest.info(),
            "capture_calls": state["calls"],
            "capture_final": final,
            "capture_seconds": round(time.perf_counter() - t0, 3),
            # the program's own run (no compile): how much there is to expand, roughly
            "capture_run_seconds": round(run_seconds, 4),
        }
        writer.call(lambda st: (st.set_info(**summary), st.commit()))
        self._writer = None
        writer.finish()  # a failure: see _abandon
        return CaptureResult(out, exit_code, trap, state["calls"], time.perf_counter() - t0, status)

    @staticmethod
    def _note(state: dict, lock: threading.Lock, event: list) -> int:
        size = 64 + sum(len(r[1]) for r in event[3])
        with lock:
            state["pending"].append(event)
            state["calls"] += 1
            state["pending_bytes"] += size
            return state["pending_bytes"]

    def _install_sigint(self, engine: wasmtime.Engine):
        """Ctrl-C: raise the epoch from a thread (the Wasm loop never returns to Python),
        then stop at the next import call or loop header."""
        rfd, wfd = os.pipe()
        os.set_blocking(wfd, False)
        old_fd = signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                try:
                    b = os.read(rfd, 16)
                except OSError:
                    return
                if not b:
                    return
                if signal.SIGINT in b and not done.is_set():
                    self.interrupted = True
                    engine.increment_epoch()
                    stop = getattr(self, "_stop_blocked", None)
                    if stop is not None:
                        threading.Thread(target=stop, name="ttd-capture-stop", daemon=True).start()
        threading.Thread(target=watch, name="ttd-capture-sigint", daemon=True).start()

        def restore() -> None:
            done.set()
            signal.signal(signal.SIGINT, old_handler)
            signal.set_wakeup_fd(old_fd)
            os.close(wfd)  # the watcher's read returns
            try:
                os.close(rfd)
            except OSError:
                pass
        return restore

    def _on_sigint(self, signum, frame) -> None:
        if self.interrupted and getattr(self, "_second", False):
            raise KeyboardInterrupt
        self._second = self.interrupted
        self.interrupted = True


def _ft_names(ft: wasmtime.FuncType):
    class _FT:
        params = [str(t) for t in ft.params]
        results = [str(t) for t in ft.results]
    return _FT


def _kind(t) -> str:
    if isinstance(t, wasmtime.FuncType):
        return "func"
    if isinstance(t, wasmtime.GlobalType):
        return "global"
    if isinstance(t, wasmtime.TableType):
        return "table"
    if isinstance(t, wasmtime.MemoryType):
        return "memory"
    return "other"


def _export(exports, name: str):
    try:
        return exports[name]
    except KeyError:
        return None


def _exports_of(module: wasmtime.Module, exports, kind) -> list[tuple[str, object]]:
    out = []
    for e in module.exports:
        ext = _export(exports, e.name)
        if isinstance(ext, kind):
            out.append((e.name, ext))
    return out




def _invalid(data: bytes, e: Exception) -> str:
    """Our own reader names the offset of what is wrong; wasmtime's message otherwise."""
    from ttd.wasm.errors import WasmError
    from ttd.wasm.module import parse_module

    try:
        parse_module(data)
    except WasmError as w:
        return str(w)
    except Exception:
        pass
    return _one_line(e)


def _print_trap(e: wasmtime.Trap, data: bytes) -> None:
    """The trap as `wasmtime run` prints it: the frames are the original module's pcs, the
    names demangled as wasmtime demangles them."""
    from ttd.wasm.demangle import backtrace_name
    from ttd.wasm.module import parse_module

    try:
        names = parse_module(data).func_names
    except Exception:
        names = {}
    lines = ["Error: failed to run main module", "", "Caused by:",
             "    0: error while executing at wasm backtrace:"]
    for i, f in enumerate(e.frames or []):
        off = frame_offset(f)  # none: the function overflowed the stack in its prologue
        name = backtrace_name(names, f.func_index) if f.func_index is not None else "?"
        lines.append(f"           {i}: {off:>#8x} - {name}" if off is not None
                     else f"           {i}: {name}")
    sys.stderr.write("\n".join(lines + trap_cause_lines(e, _trap_message(e))) + "\n")


def capture(opts: RecordOptions) -> CaptureResult:
    return Capturer(opts).run()
