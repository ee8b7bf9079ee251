"""Post-mortem on a capture: serve the run's last segment at once, the whole history later.

The last chunks are expanded first (last_segment.py), so the first stop at a trap comes
after a count pass and a short expansion; the whole history is expanded meanwhile by a
separate process (the server keeps its CPU and its GIL), into a temporary trace the replay
session moves onto when it is done or when a move needs history before the segment.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from ttd.record.last_segment import expand_last_segment
from ttd.replay.trace import Trace
from ttd.store.errors import TraceError
from ttd.store.trace_store import TraceStore


class WholeHistory:
    """The whole history of a capture, expanded by a background process into `out`.

    Called with wait=False it answers the trace if it is ready, else None; with wait=True
    it waits for it. Thread-safe: each connection of a server asks on its own thread."""

    def __init__(self, capture: Path, out: Path, quiet: bool):
        self.out = out
        self._lock = threading.Lock()
        self._trace: Trace | None = None
        self._error: str | None = None
        cmd = [sys.executable, "-m", "ttd.record.post_mortem", str(capture), str(out)]
        if quiet:
            cmd.append("--quiet")
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL if quiet else None,
                                      preexec_fn=_die_with_parent if sys.platform == "linux" else None)

    def __call__(self, wait: bool) -> Trace | None:
        if wait:
            status = self._proc.wait()  # (not under the lock: other sessions only poll)
        elif (status := self._proc.poll()) is None:
            return None
        with self._lock:
            if self._trace is None and self._error is None:
                self._finish(status)
            if self._error is not None:
                raise TraceError(self._error)
            return self._trace

    def _finish(self, status: int) -> None:
        if status != 0:
            self._error = (f"expanding the whole history failed (status {status}): only the "
                           f"last segment can be replayed")
            return
        self._trace = _open(self.out)

    def close(self) -> None:
        """Stop the expansion if it still runs; close the whole trace."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._trace is not None:
            self._trace.store.close()
            self._trace = None


def _open(path: Path) -> Trace:
    store = TraceStore.open(path)
    try:
        return Trace(store)
    except BaseException:
        store.close()
        raise


def _die_with_parent() -> None:
    """A server killed outright takes its background expansion with it (Linux)."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def open_post_mortem(capture: Path, workdir: Path, quiet: bool
                     ) -> tuple[Trace, WholeHistory | None] | None:
    """The capture's last segment, opened for replay, and its whole history on the way (None
    when the run is the segment). None when a segment cannot be replayed on its own: a module
    with exceptions, whose frames where the segment starts only the whole walk knows."""
    from ttd.record.depth import has_tags
    from ttd.record.expand import _read_capture
    from ttd.wasm.module import parse_module

    if has_tags(parse_module(_read_capture(capture)[1])):
        return None
    seg = expand_last_segment(capture, workdir / f"last-{capture.name}", quiet=True)
    if not seg.frames:
        return None
    with TraceStore.open(seg.path, writable=True) as st:
        st.set_info(segment={"first_chunk": seg.start_chunk, "first_step": seg.first_step,
                             "start_depth": seg.start_depth,
                             "count_seconds": round(seg.count_seconds, 4),
                             "seconds": round(seg.segment_seconds, 4)})
        st.commit()
    trace = _open(seg.path)
    whole = WholeHistory(capture, workdir / capture.name, quiet) if seg.start_chunk else None
    return trace, whole


def _main(argv: list[str]) -> int:
    """The background expansion: capture, out [--quiet]."""
    from ttd.record.expand import expand_trace

    try:
        expand_trace(Path(argv[0]), out=Path(argv[1]), quiet="--quiet" in argv[2:])
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - one line, the server says the rest
        sys.stderr.write(f"ttd: expanding the whole history: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
