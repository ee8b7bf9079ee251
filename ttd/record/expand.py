"""Turn a capture into the opcode-level history, re-executing its module in parallel segments.

A count pass runs the instrumented module through the whole capture with every chunk
discarded (the instrumented code itself costs a few times the plain run; what makes recording
slow is keeping, compressing and indexing its output). Chunk boundaries are deterministic, so
the run is then cut into ranges of chunks, and each worker process re-executes from the start,
fast-forwarding (discarding) up to its range, keeping that range in a file of its own. The
parent merges the files (rows are keyed by chunk and content, so they do not collide), checks
that each segment ended in the state the next one started from, and indexes the whole.
The module runs only inside wasmtime, with imports answered from the capture: no WASI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ttd.record.capture_feed import CaptureFeed, CaptureUnreadable
from ttd.record.recorder import (
    EXPANSION_TIME_LIMIT, STACK_EXHAUSTED, RecordError, RecordOptions, Recorder, Segment,
    define_fed_imports, frame_offset, run_on_big_stack,
)
from ttd.store import codec
from ttd.wasm.errors import WasmError
from ttd.store.errors import TraceError
from ttd.progress import ProgressLine
from ttd.store.recording_lock import RecordingInProgress, RecordingLock, lock_existing
from ttd.store.trace_store import TraceStore, _remove_with_sidecars

#: Fewer chunks than this per worker: one process does it all (spawning costs ~0.3 s).
MIN_CHUNKS_PER_WORKER = 4
#: Worker processes when none are asked for. Measured on 2 cores, 2 workers take 1.5-2.8x the
#: time of 1 (benchmarks/run.py): a worker fast-forwards through every chunk before its
#: segment, and the chunks after the first segment are indexed serially after the merge,
#: where one process walks its stack while it writes (stack_index). Until segments start
#: without the fast-forward, one process is the faster default on any number of cores.
DEFAULT_JOBS = 1
#: Frames wasmtime puts in a trap's backtrace at most: a deeper stack is cut to its innermost.
MAX_BACKTRACE = 20
#: Keys of the capture's info the expanded trace keeps as they are.
KEEP = ("program", "args", "env", "dirs", "invoke", "recorded_at", "ttd_version",
        "wasmtime_version", "module_sha256", "files", "stdin_bytes",
        "invoke_results")


@dataclass
class ExpandResult:
    path: Path
    steps: int
    chunks: int
    status: str
    exit_code: int
    trap: str | None
    seconds: float
    jobs: int


class NotACapture(TraceError):
    pass


def is_capture(info: dict) -> bool:
    return info.get("kind") == "capture"


def _read_capture(path) -> tuple[dict, bytes]:
    with TraceStore.open(path, upgrade=False) as st:
        info = st.info()
        if not is_capture(info):
            raise NotACapture(f"{path}: already expanded (not a capture)")
        mod = st.module(0)
        return info, mod.wasm


def _options(info: dict, out: Path, quiet: bool, use_cache: bool, shadow: bool = False
             ) -> RecordOptions:
    cap = info.get("capture") or {}
    invoke = info.get("invoke")
    return RecordOptions(
        program=Path(str(info.get("program") or "program.wasm")),
        args=[str(a) for a in info.get("args") or []], invoke=invoke if isinstance(invoke, str) else None,
        out=out, quiet=quiet, overwrite=True, reads=bool(cap.get("reads")), use_cache=use_cache,
        id_cap=_clamp(cap.get("id_cap"), 64, 1 << 24, 1 << 18) & ~3,
        val_cap=_clamp(cap.get("val_cap"), 1 << 10, 1 << 26, 1 << 20), shadow=shadow)


def _clamp(v, lo: int, hi: int, default: int) -> int:
    """A layout number from the capture, within what ttd itself would choose."""
    return min(max(v, lo), hi) if isinstance(v, int) and not isinstance(v, bool) else default


def _feed(store: TraceStore, info: dict) -> CaptureFeed:
    cap = info.get("capture") or {}
    imports = [tuple(x) for x in cap.get("imports") or []]
    sizes = {k: tuple(v) for k, v in (cap.get("arg_sizes") or {}).items()}
    host_values = cap.get("host_values") or []
    return CaptureFeed(imports=imports, batches=store.capture_batches(),
                       complete=info.get("status") == "complete",
                       total_calls=info.get("capture_calls"), arg_sizes=sizes,
                       host_values=host_values if isinstance(host_values, list) else [])


def run_segment(capture_path: str, out: str, start: int, end: int | None, quiet: bool,
                use_cache: bool, index: bool, overflow_depth: int | None = None,
                shadow: bool = False) -> dict:
    """Re-execute the capture, keeping chunks [start, end) in out; returns the end state.
    overflow_depth: see overflow_depth(). shadow: run the instrumented variant with a shadow
    stack, so that with `index` a segment after the first has its frames (ttd.record.last_segment)."""
    info, data = _read_capture(capture_path)
    with TraceStore.open(capture_path, upgrade=False) as st:
        feed = _feed(st, info)
        opts = _options(info, Path(out), quiet, use_cache, shadow)
        rec = Recorder(opts, feed=feed, data=data, segment=Segment(start, end), info=info,
                       index=index, overflow_depth=overflow_depth)
        try:
            run_on_big_stack(rec.run)
            state = dict(rec.end_state)
            state["calls_used"] = feed.calls
            # a segment that stopped at its last chunk has not run to the end: nothing to count
            state["calls_left"] = feed.remaining() if not state.get("segment_done") else 0
        except CaptureUnreadable as e:
            raise RecordError(f"{capture_path}: {e}") from None
        except RecordError as e:  # the capture's path first, as the outcome checks say it
            if str(e).startswith(f"{capture_path}: "):
                raise
            raise RecordError(f"{capture_path}: {e}", kept=e.kept) from None
        return state


class _Workers:
    """Expansion worker processes (`python -m ttd.record.expand`), started before the count
    pass so that their interpreters' start-up (~1 s of imports each) overlaps it; each then
    reads one task from stdin and writes its result as JSON on stdout. A new interpreter each,
    so nothing of this process's wasmtime state is shared."""

    def __init__(self, n: int):
        self.procs = [subprocess.Popen([sys.executable, "-m", "ttd.record.expand"],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
                      for _ in range(n)]

    def run(self, tasks: list[list]) -> list[dict]:
        busy = self.procs[:len(tasks)]
        self.close(keep=len(tasks))
        for p, task in zip(busy, tasks):
            try:
                p.stdin.write(json.dumps(task).encode() + b"\n")
                p.stdin.close()
            except OSError:
                pass  # it died starting: its stderr says why, below
            p.stdin = None  # communicate() must not flush it
        results = []
        for p in busy:
            out, err = p.communicate()
            try:
                results.append(json.loads(out.decode().strip().splitlines()[-1]))
            except (ValueError, IndexError):
                tail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {p.returncode}"]
                results.append({"error": f"an expansion worker failed: {tail[0]}"})
        return results

    def close(self, keep: int = 0) -> None:
        """Stop the workers from keep on (idle ones exit when their stdin closes)."""
        for p in self.procs[keep:]:
            if p.poll() is None and p.stdin is not None:
                try:
                    p.stdin.close()
                except OSError:
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            if p.poll() is None:
                p.kill()
                p.wait()
            for f in (p.stdout, p.stderr):
                f.close()
        self.procs = self.procs[:keep]


def _worker_main() -> int:
    line = sys.stdin.readline()
    if not line.strip():
        return 0  # not needed after all
    task = json.loads(line)
    try:
        result = {"ok": run_segment(*task)}
    except (RecordError, TraceError) as e:
        result = {"error": str(e)}
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


def expand_trace(path, *, jobs: int | None = None, quiet: bool = False, use_cache: bool = True,
                 out: Path | None = None, lock: RecordingLock | None = None) -> ExpandResult:
    """Expand the capture at path into a complete trace (in place unless out is given).

    In place, the capture is locked as a recorder locks its trace (`lock`: the caller's, or
    taken here and released at the end), so no recorder or expansion replaces it meanwhile."""
    path = Path(path)
    if lock is None and out is None:
        try:
            lock = lock_existing(path)
        except RecordingInProgress:
            raise TraceError(f"{path}: being captured or expanded by another ttd; expand it when "
                             f"that has ended") from None
        try:
            return _expand(path, jobs, quiet, use_cache, out)
        finally:
            lock.close()
    if out is not None:
        from ttd.store.recording_lock import is_being_recorded

        if is_being_recorded(path):
            raise TraceError(f"{path}: still being captured; expand it when the program has ended")
    return _expand(path, jobs, quiet, use_cache, out)


_TEMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)-\d+\.(expand|count|part\d+)")


def _remove_stale_temporaries(final: Path) -> None:
    """The temporary files of an expansion of `final` that was killed (its process is gone)."""
    try:
        names = os.listdir(final.parent)
    except OSError:
        return
    for name in names:
        m = _TEMP.fullmatch(name)
        if m is None or m["name"] != final.name or int(m["pid"]) == os.getpid():
            continue
        try:
            os.kill(int(m["pid"]), 0)
            continue  # alive (or another user's): not ours to remove
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        try:
            _remove_with_sidecars(final.parent / name)
        except TraceError:
            pass


def _expand(path: Path, jobs: int | None, quiet: bool, use_cache: bool, out: Path | None
            ) -> ExpandResult:
    if out is None:
        _remove_stale_temporaries(path)
    tmp = (out or path).parent / f".{(out or path).name}.{os.getpid()}-{int(time.time() * 1000) % 100000}"
    try:
        return _expand_into(path, jobs, quiet, use_cache, out, tmp)
    except RecordError as e:
        msg = str(e)
        if str(tmp) not in msg:
            raise
        # a temporary file the user never named: say what failed in their terms
        msg = msg.replace(f"writing {tmp}.expand failed: ", "").removesuffix("; no trace written")
        raise RecordError(f"{path}: the expansion failed writing the history: {msg}") from None


def _expand_into(path: Path, jobs: int | None, quiet: bool, use_cache: bool, out: Path | None,
                 stem: Path) -> ExpandResult:
    t0 = time.perf_counter()
    info, _data = _read_capture(path)
    jobs = max(1, jobs or DEFAULT_JOBS)
    final = out or path
    tmp = stem.with_name(stem.name + ".expand")
    parts: list[Path] = []
    line = ProgressLine("expanding", quiet, delay=0.0)

    def progress(stage: str) -> None:
        line.show(stage, force=True)
    workers = _Workers(jobs) if jobs > 1 else None
    try:
        depth = None
        if _overflowed(info):
            progress("re-running the plain module to its stack overflow")
            depth = overflow_depth(path, info, _data)
        n = 1
        if workers is not None:
            progress("fast-forward pass")
            count = run_segment(str(path), str(stem.with_name(stem.name + ".count")), 1 << 62,
                                None, True, use_cache, False, depth)
            _remove_with_sidecars(stem.with_name(stem.name + ".count"))
            _check_outcome(path, info, count, depth, _data)
            n = min(jobs, max(1, count["chunks"] // MIN_CHUNKS_PER_WORKER))
        if n == 1:
            if workers is not None:
                workers.close()
            progress("re-executing the capture")
            state = run_segment(str(path), str(tmp), 0, None, quiet, use_cache, True, depth)
            _check_outcome(path, info, state, depth, _data)
            chunks = state["chunks"]
        else:
            chunks = count["chunks"]
            bounds = [chunks * i // n for i in range(n + 1)]
            parts = [stem.with_name(f"{stem.name}.part{i}") for i in range(n)]
            progress(f"expanding {chunks} chunks in {n} workers")
            # the first segment walks its frames as it records (from the run's start); the
            # rest are indexed after the merge, from where it ended
            tasks = [[str(path), str(parts[i]), bounds[i], bounds[i + 1] if i + 1 < n else None,
                      True, use_cache, i == 0, depth] for i in range(n)]
            results = workers.run(tasks)
            for r in results:
                if "error" in r:
                    raise RecordError(r["error"])
            states = [r["ok"] for r in results]
            _check_outcome(path, info, states[-1], depth, _data)
            walked = _walked_to(parts[0], bounds[1])
            _merge(parts, tmp, states, bounds)
            progress("indexing")
            from ttd.record.indexer import index_trace

            last_pc = index_trace(tmp, quiet=quiet, start=(bounds[1], *walked))
            if last_pc != states[-1].get("last_pc"):
                raise RecordError(f"internal error: the merged trace ends at pc {last_pc}, "
                                  f"the expansion at {states[-1].get('last_pc')}")
            state = states[-1]
            with TraceStore.open(tmp, writable=True) as st:
                st.set_info(status=state["status"], exit_code=state["exit_code"], trap=state["trap"],
                            trap_pc=state["last_pc"] if state["trap"] else None,
                            steps=state["steps"], blocks=state["blocks"], chunks=chunks,
                            final=dict(state["final"], last_pc=state["last_pc"]),
                            record_seconds=round(time.perf_counter() - t0, 3))
                st.commit()
        with TraceStore.open(tmp, writable=True) as st:
            st.set_info(**{k: info[k] for k in KEEP if k in info},
                        capture_calls=info.get("capture_calls"),
                        capture_seconds=info.get("capture_seconds"),
                        expand_seconds=round(time.perf_counter() - t0, 3), expand_jobs=n)
            if state["status"] == "partial":
                st.set_info(status="partial")
            st.commit()
            steps = int(st.info().get("steps") or 0)
        os.replace(tmp, final)
        line.done()
        return ExpandResult(final, steps, chunks, state["status"], state["exit_code"],
                            state["trap"], time.perf_counter() - t0, n)
    finally:
        if workers is not None:
            workers.close()
        for p in parts + [tmp]:
            try:
                _remove_with_sidecars(p)
            except TraceError:
                pass


def _overflowed(info: dict) -> bool:
    """The captured run overflowed its stack in its own code (in an import call, the
    trap is answered from the capture at that call: nothing to stop at)."""
    return (info.get("status") == "complete" and info.get("trap") == STACK_EXHAUSTED
            and not info.get("trap_in_import"))


#: Stack sizes the probe tries around the capture's, 16 bytes (a frame's alignment) apart.
PROBE_TRIES = 64


def overflow_depth(path: Path, info: dict, data: bytes) -> int | None:
    """How many Wasm frames deep the captured run was when it overflowed its stack (the
    function being entered included). wasmtime's backtrace keeps only the innermost 20
    frames, so the plain module is re-run, imports answered from the capture, with a depth
    counter added (ttd.record.depth.depth_probe). The counter's code can cost a function a
    few bytes of frame (Cranelift's choice, seen in outer functions, not in recursing ones),
    so the probe runs on the capture's stack size, then 16, 32, ... bytes more and less,
    until it overflows where the capture did: the same innermost 20 functions, at the same
    calls. None: the capture overflowed in an import call (from before trap_in_import was
    noted)."""
    import wasmtime

    from ttd.record.capture import PLAIN_WASM_STACK
    from ttd.record.depth import depth_probe_mapped

    probe, original = depth_probe_mapped(data)
    want = [_plain_frame(f) for f in info.get("trap_frames") or []]
    compiled = None
    first = None
    for k in range(PROBE_TRIES):
        delta = 16 * ((k + 1) // 2) * (1 if k % 2 else -1)
        engine = _probe_engine(PLAIN_WASM_STACK + delta)
        module = None
        if compiled is not None:
            try:
                module = wasmtime.Module.deserialize(engine, compiled)
            except (wasmtime.WasmtimeError, ValueError, TypeError):
                module = None
        if module is None:
            module = wasmtime.Module(engine, probe)
            compiled = compiled or module.serialize()
        outcome, frames, depth = _probe_run(path, info, data, engine, module)
        if outcome is None:
            return None
        frames = [(f, None if pc is None else original(pc)) for f, pc in frames]
        if outcome == "overflow" and frames == want:
            return depth
        if first is None:
            first = outcome if outcome != "overflow" else \
                f"overflowing entering function {frames[0][0] if frames else '?'}"
        if outcome != "overflow":
            break  # not a matter of stack size
    raise RecordError(f"{path}: cannot tell how deep the captured run was when it ran out of "
                      f"Wasm stack: re-running the plain module, {first}, not where the capture "
                      f"did (entering function {want[0][0] if want else '?'})")


def _plain_frame(frame) -> tuple:
    """A captured backtrace frame as (function, module offset or None)."""
    try:
        func, off = frame
    except (TypeError, ValueError):
        return (None, None)
    return (func, off if isinstance(off, int) and 0 <= off < 1 << 63 else None)


def _probe_engine(stack: int):
    from ttd.record.capture import capture_engine

    return capture_engine(max_wasm_stack=stack)


def _probe_run(path: Path, info: dict, data: bytes, engine, module
               ) -> tuple[str | None, list, int]:
    """One re-run of the probe: ("overflow", frames, depth with the callee), or how else it
    ended; (None, ...) for a trap in an import call (answered from the capture)."""
    import wasmtime

    from ttd.record.capture_feed import CapturedTrap
    from ttd.wasm.module import parse_module

    mod = parse_module(data)
    wasi_mem = next((e.index for e in mod.exports if e.kind == "memory" and e.name == "memory"), 0)
    with TraceStore.open(path, upgrade=False) as st:
        feed = _feed(st, info)
        store = wasmtime.Store(engine)
        store.set_epoch_deadline(1)
        box: dict = {}
        linker = wasmtime.Linker(engine)
        define_fed_imports(store, linker, mod, feed, box)
        try:
            exports = linker.instantiate(store, module).exports(store)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            return f"it did not start ({str(e).strip().splitlines()[0]})", [], 0
        box["memory"] = _export(exports, f"__ttd_mem{wasi_mem}")
        opts = _options(info, path, True, False)
        timer = threading.Timer(EXPANSION_TIME_LIMIT, engine.increment_epoch)
        timer.daemon = True
        timer.start()
        try:
            run_on_big_stack(lambda: Recorder._call(store, Recorder(opts)._entry(store, exports),
                                                 quiet=True))
            return "it finished", [], 0
        except CapturedTrap:
            return None, [], 0
        except wasmtime.Trap as e:
            frames = [[f.func_index, frame_offset(f)] for f in e.frames or []]
            if e.trap_code != wasmtime.TrapCode.STACK_OVERFLOW:
                return f"it trapped ({_one_line_trap(e)})", frames, 0
            return "overflow", frames, (exports["__ttd_depth"].value(store) & 0xFFFFFFFF) + 1
        except Exception as e:  # an exit, a divergence: not the captured run
            text = str(e).strip().splitlines()[0] if str(e).strip() else ""
            return f"it ended otherwise ({type(e).__name__}: {text})", [], 0
        finally:
            timer.cancel()


def _export(exports, name: str):
    try:
        return exports[name]
    except KeyError:
        return None


def _one_line_trap(e) -> str:
    from ttd.record.recorder import _trap_message
    return _trap_message(e)


def _frames_agree(n_frames: int, depth: int) -> bool:
    """A backtrace of n frames (at most MAX_BACKTRACE kept) from a run `depth` frames deep."""
    return depth == n_frames if n_frames < MAX_BACKTRACE else depth >= n_frames


def _captured_trap_pc(frames: list, in_import: bool) -> int | None:
    """The pc the captured run trapped at: its innermost frame's, or for a function that
    overflowed the stack in its prologue (no pc), the call to it; in an import call, the
    call (the innermost frame is the capture's trampoline)."""
    for f in frames[1:2] if in_import else frames[:2]:
        if isinstance(f, list) and len(f) == 2 and isinstance(f[1], int) and 0 <= f[1] < 1 << 63:
            return f[1]
    return None


def _same_function(data: bytes, captured: int, got: int) -> bool:
    """Whether the captured trap pc lies in the function the re-execution trapped in.

    wasmtime names the machine instruction that trapped, and Cranelift moves trap checks:
    an `unreachable` before any other effect is reported at the function's start (spec
    select.wast's select-trap-left, with the capture's epoch interruption), a `br_if` to an
    `unreachable` at the `br_if`. The instrumented module traps where Wasm semantics say;
    the same trap message in the same function, as deep, is the same trap."""
    from ttd.wasm.module import parse_module

    try:
        body = parse_module(data).function_at(got)
    except WasmError:
        return False
    return body is not None and body.offset <= captured < body.end


def _check_outcome(path: Path, info: dict, state: dict, overflow_depth: int | None = None,
                   data: bytes = b"") -> None:
    """The re-execution must end as the capture did: same exit or trap, every call used; a
    trap at the same pc, as deep (exactly as deep, for a stack overflow)."""
    # the run's last step (the trapping one after a trap): where it ended
    where = f"at step {max(int(state.get('steps') or 0) - 1, 0):,}"
    left = int(state.get("calls_left") or 0)
    if left:  # also in a partial capture: its run made every call it holds
        used = int(state.get("calls_used") or 0)
        raise RecordError(f"{path}: the expansion diverged from the capture {where}: the program "
                          f"ended after {used:,} import call{'s' if used != 1 else ''}, the "
                          f"capture has {used + left:,} (import call {used:,} was not made)")
    if info.get("status") != "complete":
        return  # interrupted or killed: expanded up to the capture's last call
    want = (info.get("exit_code"), info.get("trap"))
    got = (state.get("exit_code"), state.get("trap"))
    if want != got:
        def show(o):
            return f"trap '{o[1]}'" if o[1] else f"exit {o[0]}"
        raise RecordError(f"{path}: the expansion diverged from the capture {where}: it ends with "
                          f"{show(got)}, the capture with {show(want)}")
    frames = info.get("trap_frames")
    depth = state.get("trap_depth")
    if depth is not None and overflow_depth is None and _tail_call_at(data, state.get("last_pc")):
        depth += 1  # the counter left the frame before the tail call, which trapped in it
    if isinstance(frames, list) and depth is not None:
        wanted = overflow_depth if overflow_depth is not None else len(frames)
        if (depth != overflow_depth) if overflow_depth is not None \
                else not _frames_agree(len(frames), depth):
            raise RecordError(f"{path}: the expansion diverged from the capture {where}: the "
                              f"captured run trapped ({info.get('trap')}) {wanted} Wasm frames "
                              f"deep, the re-execution {depth} deep")
        pc = _captured_trap_pc(frames, bool(info.get("trap_in_import")))
        if pc is not None and state.get("last_pc") is not None and state["last_pc"] != pc \
                and not _same_function(data, pc, state["last_pc"]):
            raise RecordError(f"{path}: the expansion diverged from the capture {where}: the "
                              f"captured run trapped at pc {pc:#x}, the re-execution at "
                              f"{state['last_pc']:#x}")
    want_results = info.get("invoke_results")
    if want_results is not None and not got[1] and state.get("invoke_results") != want_results:
        raise RecordError(f"{path}: the expansion diverged from the capture {where}: the "
                          f"invoked export returns {_shown(state.get('invoke_results'))}, the "
                          f"captured run {_shown(want_results)}")
    final = info.get("capture_final") or {}
    mems = final.get("memories") or {}
    got_mem = (state.get("final") or {}).get("mem_sha256") or []
    export_index = state.get("memory_exports") or {}
    for name, (digest, _size) in mems.items():
        idx = export_index.get(name, 0 if name == "memory" else None)
        if idx is not None and idx < len(got_mem) and got_mem[idx] != digest:
            raise RecordError(f"{path}: the expansion diverged from the capture {where}: exported "
                              f"memory '{name}' ends with other contents")


def _tail_call_at(data: bytes, pc) -> bool:
    """Whether the instruction at module offset `pc` is return_call_indirect or
    return_call_ref (which trap in the caller's frame: undefined element, type mismatch, null)."""
    return isinstance(pc, int) and 0 <= pc < len(data) and data[pc] in (0x13, 0x15)


def _shown(results) -> str:
    text = " ".join(str(r) for r in results) if isinstance(results, list) else repr(results)
    return (text[:60] + "...") if len(text) > 60 else (text or "nothing")


def _walked_to(part: Path, seq: int) -> tuple[list, int]:
    """The frames and previous block the first segment walked to at its end (our own file)."""
    with TraceStore.open(part) as st:
        raw = st.checkpoint(seq)
    cp = codec.unpack(raw) if raw is not None else {}
    if "frames" not in cp or "prev" not in cp:
        raise RecordError(f"internal error: the first segment has no frames at chunk {seq}")
    return cp["frames"], cp["prev"]


def _merge(parts: list[Path], out: Path, states: list[dict], bounds: list[int]) -> None:
    """One trace from the segment files (all ours: written by the workers just now)."""
    import shutil

    shutil.copyfile(parts[0], out)
    con = sqlite3.connect(out)
    try:
        for i, part in enumerate(parts[1:], start=1):
            con.execute("ATTACH DATABASE ? AS seg", (str(part),))
            start = bounds[i]
            row = con.execute("SELECT state FROM seg.checkpoints WHERE chunk_seq = ?", (start,)).fetchone()
            first = con.execute("SELECT first_step FROM seg.chunks WHERE seq = ?", (start,)).fetchone()
            prev = states[i - 1]
            if row is None or first is None:
                raise RecordError(f"internal error: segment {i} has no chunk {start}")
            if codec.unpack(row[0]).get("globals") != prev["globals"] or first[0] != prev["steps"]:
                raise RecordError(f"the expansion diverged at step {prev['steps']:,}: segment {i} "
                                  f"starts in another state than segment {i - 1} ended in")
            for table, how in (("chunks", "IGNORE"), ("pages", "IGNORE"), ("page_versions", "IGNORE"),
                               ("page_keyframes", "REPLACE"), ("checkpoints", "REPLACE")):
                con.execute(f"INSERT OR {how} INTO main.{table} SELECT * FROM seg.{table}")
            con.commit()
            con.execute("DETACH DATABASE seg")
        con.commit()
    finally:
        con.close()


if __name__ == "__main__":
    sys.exit(_worker_main())
