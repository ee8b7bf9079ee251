"""Run a WASI program on wasmtime with the instrumented module and write its trace.

The program behaves as under `wasmtime run`: same argv, stdio passed through, only the
environment and directories given explicitly (a shared trace must not leak the host's
secrets). Python runs only when a trace buffer is full and after each import call.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import signal
import sqlite3
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import wasmtime

import ttd
from ttd.record.instrument import (
    DIRTY_MAP, DIRTY_SHIFT, EXPORT_PREFIX, HOOK_FLUSH, Instrumented, instrument, shadow_pages,
)
from ttd.progress import ProgressLine
from ttd.record.global_bits import global_bits
from ttd.record.guest_files import GuestFiles
from ttd.record.snapshot import MemorySnapshotter, SnapshotPolicy, live_digest, live_view
from ttd.record.wasi_effects import written_regions
from ttd.record.writer import Boundary, ChunkWriter
from ttd.replay.machine import values_from_wire, values_to_wire
from ttd.store import codec
from ttd.store.errors import TraceError, TraceExists
from ttd.store.recording_lock import OutputRefused
from ttd.wasm.errors import UnsupportedOpcode, WasmError
from ttd.wasm.module import parse_module




class RecordError(Exception):
    """A one-line reason the recording could not start or finish.

    kept: when writing failed after some chunks were committed, the trace that keeps them.
    """

    def __init__(self, message: str, kept: RecordResult | None = None):
        super().__init__(message)
        self.kept = kept


class Interrupted(Exception):
    """Raised from a hook to stop the program after Ctrl-C, at a block boundary."""


class ExpansionTimeout(Exception):
    """Raised from the flush hook when a re-execution runs past its time limit."""


#: Seconds a re-execution may run (env TTD_EXPAND_TIME_LIMIT): the capture's own module could
#: loop forever, the capture cannot say how long it should take.
EXPANSION_TIME_LIMIT = float(os.environ.get("TTD_EXPAND_TIME_LIMIT") or 6 * 3600)
#: Bytes one linear memory may grow to in a re-execution; tables' elements.
EXPANSION_MEMORY_LIMIT = 1 << 32
EXPANSION_TABLE_LIMIT = 1 << 24


def _captured_memory_peak(info: dict | None, mod, n_mems: int) -> int:
    """Bytes each linear memory of a re-execution may grow to: as large as the captured run's
    memories ended (memories never shrink, so that is their peak) when the capture says so for
    every memory of the module, else EXPANSION_MEMORY_LIMIT. A capture whose module grows
    further than its run did has diverged, and must not cost gigabytes to find out."""
    final = (info or {}).get("capture_final")
    mems = final.get("memories") if isinstance(final, dict) else None
    if (info or {}).get("status") != "complete":
        # an interrupted run's memories ended where it stopped, which can be mid-computation:
        # its re-execution goes on to the next import call, and may grow them before it
        return EXPANSION_MEMORY_LIMIT
    if not isinstance(mems, dict) or not n_mems:
        return EXPANSION_MEMORY_LIMIT
    exported = {e.index: e.name for e in mod.exports if e.kind == "memory"}
    peak = 0
    for i in range(n_mems):
        entry = mems.get(exported.get(i, ""))
        size = entry[1] if isinstance(entry, list) and len(entry) == 2 else None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return EXPANSION_MEMORY_LIMIT  # a memory the capture did not measure
        peak = max(peak, size)
    return min(peak, EXPANSION_MEMORY_LIMIT)


#: wasmtime's message for a Wasm stack overflow, which a depth-limit trap reports too.
STACK_EXHAUSTED = "call stack exhausted"


class StackTooSmall(RecordError):
    """The instrumented module ran out of Wasm stack where the plain run would not have."""


class SegmentDone(Exception):
    """Raised from the flush hook when a segment's last chunk is recorded."""


#: Wasm stack of a re-execution: instrumented frames are bigger than the plain run's, and the
#: expansion must reach at least the depth the capture reached (wasmtime's default: 512 KiB).
EXPANSION_WASM_STACK = 2 << 20  # wasmtime-py allows no more (async_stack_size, 2 MiB)
#: Native stack of the thread a re-execution runs on (wasmtime needs the Wasm stack in it).
EXPANSION_THREAD_STACK = 64 << 20


@dataclass
class Segment:
    """Record chunks [start, end) of a re-execution; discard the ones before (fast-forward)."""

    start: int = 0
    end: int | None = None


@dataclass
class RecordOptions:
    program: Path
    args: list[str] = field(default_factory=list)
    env: list[tuple[str, str]] = field(default_factory=list)
    dirs: list[tuple[str, str]] = field(default_factory=list)  # (host, guest)
    invoke: str | None = None
    out: Path | None = None
    quiet: bool = False
    overwrite: bool = False
    id_cap: int = 1 << 18
    val_cap: int = 1 << 20
    reads: bool = False  # record load addresses too (read/access watchpoints)
    use_cache: bool = True  # instrumented and compiled modules from the user's cache
    capture_only: bool = False  # keep the capture; `ttd expand` builds the history later
    spectest: bool = False  # provide the spec tests' `spectest` host module (ttd/record/spectest.py)
    links: list = field(default_factory=list)  # [(name, module path)]: ttd/record/links.py
    jobs: int | None = None  # expansion worker processes (None: the number of cores)
    # the instrumented variant that keeps a shadow stack (a segment's frames where it starts)
    shadow: bool = False


@dataclass
class RecordResult:
    path: Path
    exit_code: int
    trap: str | None
    steps: int
    blocks: int
    chunks: int
    bytes_written: int
    seconds: float
    status: str


def default_trace_path(program: Path, directory: Path = Path("traces")) -> Path:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return directory / f"{program.stem}-{stamp}.db"


_VALTYPES = {
    "i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64, "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}


def _wt_functype(ft) -> wasmtime.FuncType:
    def vt(t):
        if not isinstance(t, str) or t not in _VALTYPES:
            raise RecordError(f"import with a {t} parameter or result is not supported")
        return _VALTYPES[t]()
    return wasmtime.FuncType([vt(t) for t in ft.params], [vt(t) for t in ft.results])


def _bits(value, vt: str) -> int:
    """A wasmtime-py value as the unsigned integer of its bits."""
    if value is None:
        return 0
    if vt == "i32":
        return int(value) & 0xFFFFFFFF
    if vt == "i64":
        return int(value) & 0xFFFFFFFFFFFFFFFF
    if vt == "f32":
        return struct.unpack("<I", struct.pack("<f", float(value)))[0]
    if vt == "f64":
        return struct.unpack("<Q", struct.pack("<d", float(value)))[0]
    return 0


class Progress:
    def __init__(self, quiet: bool, label: str):
        self.line = ProgressLine(label, quiet, delay=0.5)  # short runs print no progress at all

    def __call__(self, steps: int, nbytes: int, force: bool = False) -> None:
        self.line.show(f"{steps / 1e6:,.1f}M steps, {nbytes / 1e6:,.1f} MB written", force)

    def done(self) -> None:
        self.line.done()


class Recorder:
    """Records by running the instrumented module: on WASI (direct), or with every import
    answered from a capture (feed), which is how a capture is expanded."""

    def __init__(self, opts: RecordOptions, *, feed=None, data: bytes | None = None,
                 segment: Segment | None = None, info: dict | None = None,
                 index: bool = True, overflow_depth: int | None = None):
        self.opts = opts
        #: the captured run overflowed its Wasm stack entering a function this many frames
        #: deep (after its last import call): the re-execution traps there too
        self.overflow_depth = overflow_depth
        self.feed = feed
        self.data = data
        self.segment = segment
        self.base_info = info
        self.index = index
        #: after run(): the state at the end (count pass: chunks, steps, blocks)
        self.end_state: dict = {}
        #: Wasm frames at a trap, the trapping function's included (the depth counter's)
        self.trap_depth: int | None = None
        #: a re-execution stops after this many seconds (a crafted capture burns bounded CPU)
        self.deadline: float | None = None
        self.interrupted = False
        self._writer: ChunkWriter | None = None
        self._out = None
        self._lock = None  # the trace file's recording lock, held until the end of run()
        self._progress: Progress | None = None

    def run(self) -> RecordResult:
        """Record; a recording that fails before it committed a chunk leaves no file."""
        try:
            return self._run()
        except BaseException as exc:
            if self._writer is None:
                raise
            error = self._abandon(exc)
            if error is exc:
                raise
            raise error from exc
        finally:
            # last, when no SQLite connection of ours has the file open (see recording_lock)
            if self._lock is not None:
                self._lock.close()
                self._lock = None

    def _abandon(self, exc: BaseException) -> BaseException:
        """After a failure with the trace created: keep what was committed, or remove the file."""
        writer, out = self._writer, self._out
        if self._progress is not None:
            self._progress.done()
        try:
            writer.finish()  # what was queued; the store is closed afterwards
        except BaseException:
            pass
        kept = writer.committed_chunks > 0  # a chunk: something to replay
        removed = False
        if not kept and isinstance(out, Path):
            from ttd.store.trace_store import _remove_with_sidecars

            try:
                _remove_with_sidecars(out)  # still ours: we hold its lock
                removed = True
            except (OSError, TraceError):
                pass
        if isinstance(exc, RecordError):
            # an expansion writes a file of its own beside the capture, which it keeps: saying
            # "no trace written" would read as if the capture were lost
            return RecordError(f"{exc}; no trace written") if removed and self.feed is None else exc
        if not isinstance(exc, (TraceError, OSError, sqlite3.Error)):
            return exc  # Ctrl-C twice, a bug: as it is (a killed recorder keeps its trace too)
        reason = _one_line(exc)
        if reason.startswith(f"{out}: "):
            reason = reason[len(f"{out}: "):]
        reason = f"writing {out} failed: {reason}"
        if not kept:
            return RecordError(f"{reason}; no trace written" if removed else reason)
        return RecordError(reason, kept=RecordResult(
            out, 1, None, writer.committed_steps, 0, writer.committed_chunks, writer.bytes, 0.0,
            "partial: the recording failed; kept up to its last commit"))

    # ---- setup ----------------------------------------------------------------------------

    def _load(self) -> tuple[bytes, Instrumented, wasmtime.Engine, wasmtime.Module]:
        path = self.opts.program
        data = self.data
        if data is None:
            data = read_program(path)
        return (data,) + prepare(data, path, self.opts, expansion=self.feed is not None)

    def _wasi(self) -> tuple[wasmtime.WasiConfig, dict[str, tuple[int, int]]]:
        o = self.opts
        argv = [o.program.name] + list(o.args)
        env = [(k, v) for k, v in o.env]
        cfg = wasmtime.WasiConfig()
        cfg.argv = argv
        cfg.env = env
        for host, guest in o.dirs:
            if not Path(host).is_dir():
                raise RecordError(f"--dir {host}: not a directory")
            cfg.preopen_dir(host, guest)
        cfg.inherit_stdin()
        cfg.inherit_stdout()
        cfg.inherit_stderr()
        envs = [f"{k}={v}" for k, v in env]
        sizes = {
            "args": (len(argv), sum(len(a.encode()) + 1 for a in argv)),
            "environ": (len(envs), sum(len(e.encode()) + 1 for e in envs)),
        }
        return cfg, sizes

    # ---- the run --------------------------------------------------------------------------

    def _run(self) -> RecordResult:
        o = self.opts
        t0 = time.perf_counter()
        data, inst, engine, module = self._load()
        out = o.out or default_trace_path(o.program)
        _check_out(out, o.program)
        store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        feed = self.feed
        box: dict = {}
        if feed is None:
            wasi, arg_sizes = self._wasi()
            store.set_wasi(wasi)
            linker.define_wasi()
            if o.spectest:
                from ttd.record import spectest
                spectest.define(store, linker)
            if o.links:
                from ttd.record import links as _links
                linked = _links.instantiate(store, engine, list(o.links), o.spectest)
                for imp in inst.module.imports:
                    if imp.module in linked:
                        _links.check_import(imp, linked, store)
                for name, exports in linked.items():
                    for export_name, ext in exports.items():
                        linker.define(store, name, export_name, ext)
        else:  # no WASI, no host: every import is answered from the capture
            arg_sizes = {k: tuple(v) for k, v in feed.arg_sizes.items()}
            peak = _captured_memory_peak(self.base_info, inst.module, len(inst.schedule.memories))
            shadow = shadow_pages(inst.layout.shadow_stride) << 16 if inst.layout.shadow_memory >= 0 else 0
            store.set_limits(memory_size=max(peak, inst.layout.pages << 16, shadow),
                             table_elements=EXPANSION_TABLE_LIMIT)
            self.deadline = time.monotonic() + EXPANSION_TIME_LIMIT
            define_fed_imports(store, linker, inst.module, feed, box, self._on_answered)
        try:
            instance = linker.instantiate(store, module)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            raise RecordError(f"{o.program}: {_one_line(e)}")

        sched = inst.schedule
        mod = inst.module
        exports = instance.exports(store)
        trace_mem = exports[EXPORT_PREFIX + "trace"]
        self._trace_mem = trace_mem
        tpi = exports[EXPORT_PREFIX + "tpi"]
        tpv = exports[EXPORT_PREFIX + "tpv"]
        hooks = exports[EXPORT_PREFIX + "hooks"]
        self._depth_g = exports[EXPORT_PREFIX + "depth"]
        self._limit_g = exports[EXPORT_PREFIX + "limit"]
        box["arm"] = lambda: self._arm_limit(store)
        if feed is not None and feed.total_calls == 0:
            self._arm_limit(store)
        mems = [exports[f"{EXPORT_PREFIX}mem{i}"] for i in range(len(sched.memories))]
        glob_types = [mod.global_type(i).valtype for i in range(len(sched.globals))]
        globs = [exports[f"{EXPORT_PREFIX}g{i}"] for i in range(len(sched.globals))]
        wasi_mem_index = next((e.index for e in mod.exports if e.kind == "memory"
                               and e.name == "memory"), 0)
        self.memory_exports = {e.name: e.index for e in mod.exports if e.kind == "memory"}
        layout = inst.layout
        block_steps = np.array([len(b.pcs) for b in sched.blocks], dtype=np.int64)
        if mems:
            box["memory"] = mems[wasi_mem_index]
        box["store"] = store
        seg = self.segment or Segment()
        recording = seg.start == 0  # chunks before seg.start are run through, not kept

        entry = self._entry(store, exports)
        progress = self._progress = Progress(o.quiet, "recording" if self.feed is None else "expanding")
        stack = None
        shadow_mem = exports[EXPORT_PREFIX + "shadow"] if layout.shadow_memory >= 0 else None
        # the frames are walked from the run's start, or from the segment's start (the shadow
        # stack says what they are there)
        if self.index and (seg.start == 0 or shadow_mem is not None):
            from ttd.record.stack_index import StackIndex

            stack = StackIndex(sched, [bytes(data[d.data_start:d.data_end]) for d in mod.data_segments],
                               wasi_mem_index)
        writer = ChunkWriter(out, block_steps, progress, stack=stack)
        try:
            self._lock = writer.open(o.overwrite)  # before the program runs: refusals first
        except TraceExists:
            raise RecordError(f"{out}: already exists (use --force to replace it)")
        except OutputRefused as e:  # nothing created: e.g. another ttd is recording it
            raise RecordError(str(e))
        except TraceError as e:
            raise RecordError(f"{e}; no trace written")
        self._writer, self._out = writer, out
        if self._lock is not None and self._lock.replaced_empty:
            sys.stderr.write(f"ttd: note: {out}: replaced the empty file a killed recorder left "
                             f"(it held nothing)\n")
        program_info = dict(self.base_info or {}, **run_info(o, data), **{
            "functions": len(mod.bodies),
            "status": "recording",
            "wasi_memory": wasi_mem_index,
            "layout": {"id_cap": layout.id_cap, "val_cap": layout.val_cap},
            "values_layout": codec.VALUES_LAYOUT,  # what compress_values() stores
            "reads": o.reads,
        })
        if self.base_info is not None:  # the capture's, which the expansion completes
            for key in ("recorded_at", "ttd_version", "wasmtime_version", "args", "env", "dirs",
                        "invoke"):
                if key in self.base_info:
                    program_info[key] = self.base_info[key]
            program_info.pop("kind", None)
        writer.call(lambda st: (st.set_info(**program_info),
                                st.add_module(o.program.name, data, codec.pack(sched.to_wire())),
                                st.commit()))

        snap = MemorySnapshotter(len(mems))
        state = {"seq": 0, "blocks": 0, "host": [], "last_id": None, "all_dirty": False,
                 "pending_all": False, "steps": 0}
        self._state = state
        guest = GuestFiles(program_info.get("dirs") or [])

        def read_globals() -> list:  # as the trace keeps them (values_to_wire)
            return values_to_wire([global_bits(g, store, t) or 0 if isinstance(t, str) else 0
                                   for g, t in zip(globs, glob_types)])

        trace_view = live_view(trace_mem.data_ptr(store), trace_mem.data_len(store))
        dirty_maps = [None if base is None else trace_view[base:base + DIRTY_MAP]
                      for base in layout.dirty_maps]

        # 64 KiB pages written since the last memory snapshot, per memory (None: not tracked)
        pending = [None if dm is None else np.zeros(DIRTY_MAP, dtype=bool) for dm in dirty_maps]
        policy = SnapshotPolicy()

        def capture(seq: int, full: bool = False, recorded: int = 0, snapshot_all: bool = False) -> Boundary:
            views = [live_view(m.data_ptr(store), m.data_len(store)) for m in mems]
            # a store beyond the memory's end traps before it writes: only its pages count
            spans = [min(DIRTY_MAP, (v.shape[0] >> DIRTY_SHIFT) + 1) for v in views]
            written = None  # written in this chunk: what "who wrote this" searches skip by
            if snapshot_all:  # a segment's first boundary: every page, for a replay starting here
                full = False
                state["all_dirty"] = False
                state["pending_all"] = True
            if not full:
                written = []
                for dm, pend, n in zip(dirty_maps, pending, spans):
                    if dm is None or state["all_dirty"]:
                        written.append(None)
                    else:
                        w = np.flatnonzero(dm[:n])
                        pend[w] = True
                        written.append(w)
            for dm, n in zip(dirty_maps, spans):
                if dm is not None:
                    dm[:n] = 0
            all_dirty = state["all_dirty"] or state["pending_all"]
            candidates = None if full or all_dirty else \
                [None if pend is None else np.flatnonzero(pend) for pend in pending]
            dirty_bytes = sum(v.shape[0] if c is None else c.size << DIRTY_SHIFT
                              for v, c in zip(views, candidates or [None] * len(views)))
            state["all_dirty"] = False
            if snapshot_all:  # stored whatever the policy says: the segment replays alone
                policy.recorded = policy.gap = 0
            if full or snapshot_all or policy.take(dirty_bytes, recorded):
                versions, pages, sizes = snap.capture(views, candidates)
                for pend in pending:
                    if pend is not None:
                        pend[:] = False
                state["pending_all"] = False
                taken = True
            else:
                # memory here is rebuilt on replay from the last snapshot and the chunks since
                versions, pages, sizes = [], {}, [v.shape[0] for v in views]
                state["pending_all"] = all_dirty
                taken = False
            bitmaps = None
            if written is not None:
                bitmaps = []
                for w, size in zip(written, sizes):
                    if w is None:
                        bitmaps.append(None)
                        continue
                    bits = np.zeros(((size + (1 << DIRTY_SHIFT) - 1) >> DIRTY_SHIFT) or 1, dtype=bool)
                    bits[w[w < bits.shape[0]]] = True
                    bitmaps.append(np.packbits(bits).tobytes())
            return Boundary(seq, read_globals(), sizes, versions, pages, bitmaps, taken)

        def take_buffers() -> tuple[bytes, bytes]:
            n_ids = tpi.value(store) - layout.id_base
            vend = tpv.value(store)
            ids = bytes(trace_mem.read(store, layout.id_base, layout.id_base + n_ids))
            vals = bytes(trace_mem.read(store, layout.val_base, vend))
            tpi.set_value(store, layout.id_base)
            tpv.set_value(store, layout.val_base)
            return ids, vals

        def skip_buffers() -> tuple[int, int]:
            """A fast-forwarded chunk: its block count and steps, read in place, not copied."""
            n = (tpi.value(store) - layout.id_base) >> 2
            if n:
                view = live_view(trace_mem.data_ptr(store), layout.id_base + 4 * n)
                arr = view[layout.id_base:].view("<u4")
                state["last_id"] = int(arr[-1])
                steps = int(block_steps[arr].sum())
            else:
                steps = 0
            tpi.set_value(store, layout.id_base)
            tpv.set_value(store, layout.val_base)
            return n, steps

        def flush() -> None:
            nonlocal recording
            if writer.error is not None:
                raise writer.error
            seq = state["seq"]
            if not recording and seq + 1 != seg.start:  # fast-forwarding: nothing kept
                n_blocks, n_steps = skip_buffers()
                for dm in dirty_maps:
                    if dm is not None:
                        dm[:] = 0
                state["seq"] = seq + 1
                state["blocks"] += n_blocks
                state["steps"] += n_steps
                state["host"] = []
                if self.interrupted:
                    raise Interrupted()
                if self.deadline is not None and time.monotonic() > self.deadline:
                    raise ExpansionTimeout()
                return
            ids, vals = take_buffers()
            if ids:
                state["last_id"] = struct.unpack_from("<I", ids, len(ids) - 4)[0]
            arr = np.frombuffer(ids, dtype="<u4")
            n_steps = int(block_steps[arr].sum()) if arr.size else 0
            if recording:
                writer.chunk(seq, ids, vals, state["host"], capture(seq + 1, recorded=len(ids) + len(vals)))
            elif seq + 1 == seg.start:  # fast-forwarded to the segment: record from here
                writer.steps, writer.blocks = state["steps"] + n_steps, state["blocks"] + arr.size
                writer.chunks = seq + 1
                writer.boundary(capture(seq + 1, snapshot_all=True))
                # frames live where the segment starts (their locals are not in the segment)
                depth = state["start_depth"] = self._depth_g.value(store) & 0xFFFFFFFF
                if shadow_mem is not None and writer.stack is not None:
                    stride = layout.shadow_stride
                    end = min(shadow_mem.data_len(store), (depth + 2) * stride)
                    writer.stack.start_from_shadow(
                        depth, state["last_id"], bytes(shadow_mem.read(store, 0, end)), stride)
                recording = True
            else:
                for dm in dirty_maps:
                    if dm is not None:
                        dm[:] = 0
            state["seq"] = seq + 1
            state["blocks"] += arr.size
            state["steps"] += n_steps
            state["host"] = []
            if self.interrupted:
                raise Interrupted()
            if seg.end is not None and seq + 1 >= seg.end:
                raise SegmentDone()
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise ExpansionTimeout()

        def make_hook(k: int):
            imp_module, imp_name = sched.imports[k]
            ft = mod.types[mod.imported_funcs[k].desc]
            ptypes, rtypes = list(ft.params), list(ft.results)
            np_ = len(ptypes)
            mem = mems[wasi_mem_index] if mems else None
            host_dirty = dirty_maps[wasi_mem_index] if mems else None

            def read(addr: int, n: int) -> bytes:
                size = mem.data_len(store)
                if addr >= size or n <= 0:
                    return b""
                return bytes(mem.read(store, addr, min(size, addr + n)))

            def hook(*vals) -> None:
                args = [_bits(v, t) for v, t in zip(vals[:np_], ptypes)]
                results = [_bits(v, t) for v, t in zip(vals[np_:], rtypes)]
                if mem is not None and imp_module.startswith("wasi"):
                    guest.call(imp_name, args, results, read)  # names, not contents
                regions = []
                if mem is not None and imp_module.startswith("wasi"):
                    for addr, n in written_regions(imp_name, args, read, mem.data_len(store), arg_sizes):
                        chunk = read(addr, n)
                        if chunk:
                            regions.append((addr, chunk))
                            if host_dirty is not None:
                                host_dirty[addr >> DIRTY_SHIFT:((addr + len(chunk) - 1) >> DIRTY_SHIFT) + 1] = 1
                elif mem is not None:
                    regions.append((0, read(0, mem.data_len(store))))
                    state["all_dirty"] = True
                ordinal = state["blocks"] + (tpi.value(store) - layout.id_base) // 4 - 1
                state["host"].append([ordinal, k, results, regions])
                if self.interrupted:
                    raise Interrupted()
            return hook

        hooks.set(store, HOOK_FLUSH, wasmtime.Func(store, wasmtime.FuncType([], []), flush))
        for k, ht in enumerate(layout.hook_types):
            hooks.set(store, 1 + k, wasmtime.Func(store, _wt_functype(ht), make_hook(k)))

        if recording:
            writer.boundary(capture(0, full=True))

        from ttd.record.capture_feed import (
            CapturedExit, CapturedTrap, CaptureExhausted, CaptureUnreadable, Divergence,
        )

        exit_code, trap, trap_pc, status = 0, None, None, "complete"
        old_handler = None
        if _main_thread():
            old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        invoke_results = None
        segment_done = False
        try:
            try:
                if inst.start_func is not None:
                    exports[EXPORT_PREFIX + "start"](store)
                results = self._call(store, entry, quiet=feed is not None)
                invoke_results = results if o.invoke is not None else None
                self.invoke_results = invoke_results  # for a segment's end state
            except wasmtime.ExitTrap as e:
                exit_code = e.code
            except CapturedExit as e:
                exit_code = e.code
            except SegmentDone:
                segment_done = True
            except Interrupted:
                status, exit_code = "interrupted", 130
            except CaptureExhausted:
                status, exit_code = "partial", 130
            except ExpansionTimeout:
                raise RecordError(f"the expansion ran past its time limit ({EXPANSION_TIME_LIMIT:.0f} s) "
                                  f"at step {self._step_now(block_steps, layout, tpi, store):,}; "
                                  f"the capture's run took {((self.base_info or {}).get('capture_seconds') or 0):.2f} s")
            except Divergence as e:
                # raised inside an import call: the block that ends with the call instruction
                # is the last one started, and the call is its last step
                step = max(self._step_now(block_steps, layout, tpi, store) - 1, 0)
                raise RecordError(f"the expansion diverged from the capture at step {step:,}: {e}")
            except CaptureUnreadable as e:
                raise RecordError(str(e))
            except CapturedTrap as e:  # in an import call, as the capture's was
                trap = _trap_text(str(e))
                exit_code = 134
                self.trap_depth = (self._depth_g.value(store) & 0xFFFFFFFF) + 1
            except wasmtime.Trap as e:
                trap, trap_pc = self._on_trap(e, inst, store)
                exit_code = 134
                if feed is None:
                    self._print_trap(e, inst, trap)
            except wasmtime.WasmtimeError as e:
                trap = str(e).strip().splitlines()[0]
                exit_code = 134
                if feed is None:
                    sys.stderr.write(f"Error: {trap}\n")
        finally:
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)

        # the last, partial buffer: with a trap its final block stops at the trapping step
        ids, vals = take_buffers()
        last_steps = None
        if trap is not None and ids:
            last_id = struct.unpack_from("<I", ids, len(ids) - 4)[0]
            pcs = sched.blocks[last_id].pcs
            if trap_pc is not None and trap_pc in pcs:
                last_steps = pcs.index(trap_pc) + 1
            else:
                trap_pc = pcs[-1]
        if ids:
            state["last_id"] = struct.unpack_from("<I", ids, len(ids) - 4)[0]
        live_last_pc = trap_pc if trap is not None else (
            sched.blocks[state["last_id"]].pcs[-1] if state["last_id"] is not None else None)
        seq = state["seq"]
        if segment_done or not recording:  # a segment's end, or a count pass: nothing more kept
            return self._segment_end(writer, store, mems, read_globals, segment_done, ids,
                                     exit_code, trap, status, live_last_pc, t0, out, block_steps,
                                     last_steps)
        final = capture(seq + 1, full=True)
        if ids or seq == 0:
            writer.chunk(seq, ids, vals, state["host"], final, last_steps)
            n_chunks = seq + 1
        else:
            n_chunks = seq
        final_info = {
            "mem_sha256": [live_digest(m, store) for m in mems],
            "mem_sizes": final.mem_sizes,
            "globals": values_from_wire(final.globals),  # JSON: integers of any size
        }
        writer.finish()  # a failure: see _abandon
        progress(writer.steps, writer.bytes, force=True)
        progress.done()

        from ttd.record.indexer import index_trace  # after the writer closed the file

        self.end_state = {"chunks": n_chunks, "steps": writer.steps, "blocks": writer.blocks,
                          "exit_code": exit_code, "trap": trap, "status": status,
                          "last_pc": live_last_pc, "final": final_info,
                          "trap_depth": self.trap_depth, "start_depth": state.get("start_depth"),
                          "memory_exports": self.memory_exports,
                          "invoke_results": invoke_results}
        if self.index:
            replayed_last_pc = writer.stack.last_pc() if writer.stack is not None else \
                index_trace(out, quiet=o.quiet)
            if replayed_last_pc != live_last_pc:
                raise RecordError(f"internal error: replay ends at pc {replayed_last_pc}, "
                                  f"the recording at {live_last_pc}")
        summary = {
            "status": status,
            "exit_code": exit_code,
            "trap": trap,
            "trap_pc": trap_pc,
            "steps": writer.steps,
            "blocks": writer.blocks,
            "chunks": n_chunks,
            "final": dict(final_info, last_pc=live_last_pc),
            "invoke_results": invoke_results,
            **guest.info(),
            "record_seconds": round(time.perf_counter() - t0, 3),
        }
        from ttd.store.trace_store import TraceStore

        with TraceStore.open(out, writable=True) as st:
            st.set_info(**summary)
            st.commit()
        return RecordResult(out, exit_code, trap, writer.steps, writer.blocks, n_chunks,
                            writer.bytes, time.perf_counter() - t0, status)

    def _segment_end(self, writer, store, mems, read_globals, segment_done, ids, exit_code, trap,
                     status, last_pc, t0, out, block_steps, last_steps) -> RecordResult:
        """A segment ended at its last chunk, or a count pass ran through: what it saw."""
        state = self._state
        seq = state["seq"]
        arr = np.frombuffer(ids, dtype="<u4")
        steps = state["steps"] + (int(block_steps[arr].sum()) if arr.size else 0)
        if last_steps is not None and arr.size:
            steps -= int(block_steps[arr[-1]]) - last_steps
        chunks = seq if segment_done else (seq + 1 if ids or seq == 0 else seq)
        self.end_state = {
            "chunks": chunks, "steps": steps, "blocks": state["blocks"] + int(arr.size),
            "exit_code": exit_code, "trap": trap, "status": status, "last_pc": last_pc,
            "segment_done": segment_done, "globals": read_globals(),
            "start_depth": state.get("start_depth"),
            "invoke_results": getattr(self, "invoke_results", None),
            "memory_exports": self.memory_exports, "trap_depth": self.trap_depth,
            "mem_sizes": [m.data_len(store) for m in mems],
            "final": {"mem_sha256": [live_digest(m, store) for m in mems]},
        }
        writer.finish()
        if self._progress is not None:
            self._progress.done()
        return RecordResult(out, exit_code, trap, writer.steps, writer.blocks, chunks,
                            writer.bytes, time.perf_counter() - t0, status)

    def _step_now(self, block_steps, layout, tpi, store) -> int:
        """The step the program is at (the last block started), for a divergence report."""
        state = getattr(self, "_state", None) or {"steps": 0}
        try:
            n = (tpi.value(store) - layout.id_base) // 4
            mem = self._trace_mem_bytes(store, layout, n)
            arr = np.frombuffer(mem, dtype="<u4")
            return state["steps"] + int(block_steps[arr].sum())
        except Exception:
            return state["steps"]

    def _trace_mem_bytes(self, store, layout, n: int) -> bytes:
        return bytes(self._trace_mem.read(store, layout.id_base, layout.id_base + 4 * n))

    def _on_answered(self, feed, box) -> None:
        """After each import call answered from the capture: past the last one, the run is
        where the captured run overflowed its stack (if it did), so the limit goes on."""
        if feed.total_calls is not None and feed.calls >= feed.total_calls and "arm" in box:
            box.pop("arm")()

    def _arm_limit(self, store) -> None:
        """Trap entering a function past the depth the captured run overflowed at."""
        if self.overflow_depth is not None:
            self._limit_g.set_value(store, self.overflow_depth - 1)

    def _on_trap(self, e: wasmtime.Trap, inst: Instrumented, store) -> tuple[str, int | None]:
        """The trap's message and original pc; notes its depth. A depth-limit trap is the
        captured run's stack overflow: the function being entered ran nothing, so the last
        step is the call (as the plain run's backtrace has it, the callee with no pc)."""
        depth = self._depth_g.value(store) & 0xFFFFFFFF
        limit = self._limit_g.value(store) & 0xFFFFFFFF
        frames = e.frames or []
        if e.trap_code == wasmtime.TrapCode.UNREACHABLE and depth > limit:
            self.trap_depth = depth
            return STACK_EXHAUSTED, None
        if e.trap_code == wasmtime.TrapCode.STACK_OVERFLOW:
            self.trap_depth = depth + 1  # the function being entered had not counted itself
            overflowed = (self.base_info or {}).get("trap") == STACK_EXHAUSTED
            why = (f"the instrumented module ran out of Wasm stack entering a function "
                   f"{depth + 1:,} frames deep ({_stack_note(self.feed is not None, overflowed)})")
            if self.feed is not None:
                raise StackTooSmall(why)
            sys.stderr.write(f"ttd: note: {why}\n")
            return STACK_EXHAUSTED, None
        self.trap_depth = depth
        pc = frame_offset(frames[0]) if frames else None
        return _trap_message(e), inst.original_pc(pc) if pc is not None else None

    def _entry(self, store, exports) -> tuple[list, "wasmtime.Func", list]:
        """What to call, as `wasmtime run` would: _start, or --invoke EXPORT ARGS.

        Resolved before the trace file is created, so a wrong export or argument leaves
        nothing behind.
        """
        o = self.opts

        def export(name: str):
            try:
                return exports[name]
            except KeyError:
                return None

        if o.invoke is None:
            start = export("_start")
            if start is None:
                raise RecordError(f"{o.program}: no _start export; use --invoke EXPORT")
            return [], start, []
        func = export(o.invoke)
        if func is None:
            raise RecordError(f"{o.program}: no export named {o.invoke!r}")
        if not isinstance(func, wasmtime.Func):
            raise RecordError(f"{o.program}: export {o.invoke!r} is not a function")
        init = export("_initialize")
        ptypes = [str(t) for t in func.type(store).params]
        if len(ptypes) != len(o.args):
            raise RecordError(f"{o.invoke} takes {len(ptypes)} arguments, {len(o.args)} given")
        params = []
        for a, t in zip(o.args, ptypes):
            try:
                params.append(float(a) if t.startswith("f") else int(a, 0))
            except ValueError:
                raise RecordError(f"argument {a!r} is not a {t}")
        return ([init] if isinstance(init, wasmtime.Func) else []), func, params

    @staticmethod
    def _call(store, entry, quiet: bool = False) -> list[str]:
        """Run the entry point; print its results as `wasmtime run --invoke` does (not when
        re-executing a capture: the program's output was the capture's)."""
        before, func, params = entry
        for f in before:
            f(store)
        result = func(store, *params)
        results = list(result) if isinstance(result, (list, tuple)) else (
            [] if result is None else [result])
        if not quiet:
            for r in results:
                print(r, flush=True)
        return [str(r) for r in results]

    def _on_sigint(self, signum, frame) -> None:
        if self.interrupted:  # a second Ctrl-C: stop waiting for a boundary
            raise KeyboardInterrupt
        self.interrupted = True

    def _print_trap(self, e: wasmtime.Trap, inst: Instrumented, message: str) -> None:
        from ttd.wasm.demangle import backtrace_name

        lines = ["Error: failed to run main module", "", "Caused by:",
                 "    0: error while executing at wasm backtrace:"]
        for i, f in enumerate(e.frames):
            off = frame_offset(f)
            pc = None if off is None or (i == 0 and message == STACK_EXHAUSTED) \
                else inst.original_pc(off)
            name = backtrace_name(inst.module.func_names, f.func_index) \
                if f.func_index is not None else "?"
            lines.append(f"           {i}: {pc:>#8x} - {name}" if pc is not None
                         else f"           {i}: {name}")
        sys.stderr.write("\n".join(lines + trap_cause_lines(e, message)) + "\n")


def _stack_note(expansion: bool, captured_overflow: bool = True) -> str:
    if expansion and captured_overflow:
        return (f"its frames are bigger than the plain module's, and {EXPANSION_WASM_STACK >> 20} "
                f"MiB of Wasm stack did not reach the depth the captured run reached")
    if expansion:
        return (f"the captured run never overflowed: either the re-execution diverged from the "
                f"capture, recursing where the captured run did not, or its frames are bigger "
                f"than the plain module's and {EXPANSION_WASM_STACK >> 20} MiB did not hold a "
                f"depth the captured run reached")
    return (f"on {EXPANSION_WASM_STACK >> 20} MiB, 4x wasmtime run's; `wasmtime run` overflows "
            f"at another depth: `ttd record` without --direct traps where it does")


def frame_offset(frame) -> int | None:
    """A backtrace frame's module offset; None where wasmtime has none (a function that
    overflowed the stack in its prologue: 2**64 - 1)."""
    off = frame.module_offset
    return None if off is None or off >= 1 << 63 else off


def define_fed_imports(store, linker, mod, feed, box: dict, on_answered=None) -> None:
    """Each import of the module, answered from the capture (no WASI, no host); the program's
    memory is box["memory"]. on_answered(feed, box) runs after each call."""
    from ttd.record.capture_feed import Divergence

    def write(addr: int, data: bytes) -> None:
        mem = box.get("memory")
        if mem is None or addr + len(data) > mem.data_len(store):
            raise Divergence(f"the capture writes {len(data)} bytes at {addr:#x}, outside memory")
        mem.write(store, data, addr)

    from ttd.record import spectest
    try:  # the host's globals, tables and memories, as the capture describes them
        spectest.define_values(store, linker, feed.host_values)
    except (ValueError, TypeError, IndexError, KeyError, OverflowError,
            wasmtime.WasmtimeError) as e:
        raise Divergence(f"the capture's host values are unusable: {_one_line(e)}") from None
    seen = set()
    for imp in mod.imported_funcs:
        key = (imp.module, imp.name)
        if key in seen:
            continue
        seen.add(key)
        ft = mod.types[imp.desc]
        ptypes, rtypes = list(ft.params), list(ft.results)

        def fake(*vals, _m=imp.module, _n=imp.name, _p=ptypes, _r=rtypes):
            args = [_bits(v, t) for v, t in zip(vals, _p)]
            result = feed.answer(_m, _n, args, _r, write)
            if on_answered is not None:
                on_answered(feed, box)
            return result
        linker.define(store, imp.module, imp.name, wasmtime.Func(store, _wt_functype(ft), fake))


def run_info(o: RecordOptions, data: bytes) -> dict:
    """What `ttd info` shows of a run, the same for a recording and a capture."""
    return {
        "program": o.program.name,
        "args": list(o.args),
        "env": [f"{k}={v}" for k, v in o.env],
        "dirs": [guest for _host, guest in o.dirs],
        "invoke": o.invoke,
        "recorded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "ttd_version": ttd.__version__,
        "wasmtime_version": _wasmtime_version(),
        "module_sha256": hashlib.sha256(data).hexdigest(),
    }


def read_program(path: Path) -> bytes:
    """The module's binary; a text module (.wat) is converted, as `wasmtime run` accepts it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RecordError(f"{path}: no such file")
    except IsADirectoryError:
        raise RecordError(f"{path}: is a directory")
    except OSError as e:
        raise RecordError(f"{path}: cannot read: {e.strerror or e}")
    return wat_to_wasm(path, data)


def wat_to_wasm(path: Path, data: bytes) -> bytes:
    if data.startswith(b"\0asm"):
        return data
    text = data.lstrip()
    if not (path.suffix == ".wat" or text.startswith((b"(", b";;"))):
        return data  # neither binary nor text: refused as an invalid module
    try:
        return wasmtime.wat2wasm(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise RecordError(f"{path}: not a valid WebAssembly text module: not UTF-8 text")
    except wasmtime.WasmtimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        where = next((ln[4:].replace("<anon>", path.name) for ln in lines if ln.startswith("--> ")), None)
        why = lines[0] if lines else "cannot parse"
        raise RecordError(f"{path}: not a valid WebAssembly text module: {why}"
                          + (f" (at {where})" if where else ""))


def expansion_engine() -> wasmtime.Engine:
    """The engine a re-execution runs on: a deeper Wasm stack (see EXPANSION_WASM_STACK)."""
    cfg = wasmtime.Config()
    cfg.max_wasm_stack = EXPANSION_WASM_STACK
    return wasmtime.Engine(cfg)


EXPANSION_ENGINE_KEY = f"expand:stack={EXPANSION_WASM_STACK}"
DIRECT_ENGINE_KEY = f"direct:stack={EXPANSION_WASM_STACK}"


def prepare(data: bytes, path: Path, opts: RecordOptions, *, expansion: bool,
            engine: wasmtime.Engine | None = None) -> tuple[Instrumented, wasmtime.Engine, wasmtime.Module]:
    """Validate, instrument and compile (both cached per module sha256 unless told not to)."""
    engine = engine or expansion_engine()  # direct recordings too: see record()
    key = EXPANSION_ENGINE_KEY if expansion else DIRECT_ENGINE_KEY
    from ttd.record.module_cache import prepare_instrumented

    try:
        inst, module = prepare_instrumented(data, engine=engine, engine_key=key, id_cap=opts.id_cap,
                                            val_cap=opts.val_cap, reads=opts.reads,
                                            use_cache=opts.use_cache, shadow=opts.shadow)
        return inst, engine, module
    except UnsupportedOpcode as e:
        raise RecordError(f"{path}: {e}")
    except (WasmError, wasmtime.WasmtimeError) as e:
        try:
            parse_module(data)  # our own reader names the offset of what is wrong
            wasmtime.Module.validate(engine, data)
        except WasmError as w:
            raise RecordError(f"{path}: not a valid WebAssembly module: {w}")
        except wasmtime.WasmtimeError as w:
            raise RecordError(f"{path}: not a valid WebAssembly module: {_one_line(w)}")
        if isinstance(e, WasmError):
            raise RecordError(f"{path}: {e}")
        raise RecordError(f"internal error: wasmtime rejected the instrumented module: {_one_line(e)}")


def _check_out(out, program: Path) -> None:
    """Refuse an --out that is the program itself (the same file by any name: a symlink, a
    hard link), which --force would replace by the trace."""
    if not isinstance(out, Path):  # a trace in a database
        return
    try:
        same = os.path.samefile(out, program)
    except OSError:  # out does not exist (yet), or cannot be looked at: create() will say
        return
    if same:
        raise RecordError(f"{out}: is the program being recorded; write the trace somewhere else")


def _one_line(e: BaseException) -> str:
    """wasmtime errors span lines ('... Caused by: ...'); keep the meaningful ones on one."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    lines = [ln for ln in lines if ln not in ("Caused by:",)]
    return "; ".join(dict.fromkeys(lines)) or type(e).__name__


def _trap_message(e: wasmtime.Trap) -> str:
    return _trap_text(e.message if hasattr(e, "message") else str(e))


def _trap_causes(text: str) -> list[str]:
    """wasmtime's chain of causes (its 'Caused by:' lines), outermost first: for a memory
    fault, "memory fault at wasm address 0x... in linear memory of size 0x...", then
    "wasm trap: out of bounds memory access"."""
    lines = str(text).splitlines()
    heads = [i for i, ln in enumerate(lines) if ln.strip() == "Caused by:"]
    if not heads:
        return []
    causes = [ln.strip().split(": ", 1) for ln in lines[heads[-1] + 1:]]
    return [c[1] for c in causes if len(c) == 2 and c[0].isdigit()]


def trap_cause_lines(e: wasmtime.Trap, message: str) -> list[str]:
    """The numbered cause lines `wasmtime run` prints under a trap's backtrace."""
    causes = _trap_causes(getattr(e, "message", str(e)))
    if not causes or _trap_text(getattr(e, "message", str(e))) != message:
        causes = [message]
    return [f"    {i}: {c}" for i, c in enumerate(causes, 1)]


def _trap_text(text: str) -> str:
    """The trap's message out of wasmtime's text (backtrace, 'Caused by', ...), on one line:
    its causes joined as wasmtime joins them, the memory fault's address kept."""
    causes = _trap_causes(text)
    if causes and causes[-1].startswith("wasm trap:"):
        return ": ".join(causes[:-1] + [causes[-1].split("wasm trap:", 1)[1].strip()])
    if "wasm trap:" in text and "\n" not in text:  # _one_line's: "...; wasm trap: MESSAGE"
        return text.rsplit("wasm trap:", 1)[1].strip()
    for line in str(text).splitlines()[::-1]:
        if "wasm trap:" in line:
            return line.split("wasm trap:", 1)[1].strip()
    return str(text).strip().splitlines()[-1] if str(text).strip() else "trap"


def _wasmtime_version() -> str:
    try:
        from importlib.metadata import version
        return version("wasmtime")
    except Exception:
        return "unknown"


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def record(opts: RecordOptions) -> RecordResult:
    """A direct recording: the instrumented module on WASI. Its frames are bigger than the
    plain module's, so it runs on the expansion's Wasm stack (EXPANSION_WASM_STACK, 4x
    `wasmtime run`'s), on a thread with the native stack for it: it gets at least as deep as
    `wasmtime run` unless a frame grew more than 4x. It has no plain run to stop where that
    one would overflow: a runaway recursion traps deeper than under `wasmtime run` (a note
    says so); `ttd record --expand` traps at the same call."""
    rec = Recorder(opts)
    return run_on_big_stack(rec.run, rec._on_sigint if _main_thread() else None)


def run_on_big_stack(fn, on_sigint=None):
    """Run fn on a thread whose native stack holds EXPANSION_WASM_STACK of Wasm stack (and
    wasmtime's own frames); on_sigint handles Ctrl-C meanwhile (the main thread's to get)."""
    import threading

    box: dict = {}

    def body() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:  # re-raised on the caller's thread
            box["error"] = e
    old = threading.stack_size()
    threading.stack_size(EXPANSION_THREAD_STACK)
    try:
        t = threading.Thread(target=body, name="ttd-record", daemon=True)
        t.start()
    finally:
        threading.stack_size(old)
    old_handler = signal.signal(signal.SIGINT, on_sigint) if on_sigint is not None else None
    try:
        while t.is_alive():
            t.join(0.2)
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)
    if "error" in box:
        raise box["error"]
    return box["result"]
