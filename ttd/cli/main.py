"""The `ttd` command: wires the recorder, the trace store and the replay together.

Every failure a user can cause ends as one line on stderr and a non-zero exit; set TTD_DEBUG=1
to see the traceback of an internal error.
"""

from __future__ import annotations

from ttd.cli import quiet_interrupts, raise_interrupts

if __name__ == "__main__":  # `python -m ttd.cli.main`: from the first import on
    quiet_interrupts()

import argparse  # noqa: E402
import gc
import json
import os
import signal
import sys
import threading
from pathlib import Path

from ttd.replay.summary import (
    format_rows, printable as _printable, run_facts, run_rows, trace_rows, trace_summary,
)

EXIT_USAGE = 2
EXIT_FAILURE = 1


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILURE):
        super().__init__(message)
        self.code = code


def _env_pair(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--env wants K=V, got {text!r}")
    k, v = text.split("=", 1)
    return k, v


def _dir_pair(text: str) -> tuple[str, str]:
    host, sep, guest = text.partition("::")
    return (host, guest if sep else host)


def _chunk_blocks(text: str) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    if not 16 <= n <= 1 << 22:
        raise argparse.ArgumentTypeError("must be between 16 and 4194304")
    return n


def _link(text: str):
    from ttd.record.links import parse_link

    try:
        return parse_link(text)
    except ValueError as e:
        raise CliError(str(e), EXIT_USAGE)


def cmd_record(a: argparse.Namespace) -> int:
    from ttd.record.recorder import RecordError, RecordOptions, record

    if a.direct and (a.capture_only or a.expand):
        raise CliError("--direct records without a capture: not with --capture-only or --expand",
                       EXIT_USAGE)
    if a.db and a.capture_only:
        raise CliError("--capture-only writes a file: a capture is expanded from a file, not "
                       "from a database", EXIT_USAGE)
    opts = RecordOptions(
        program=Path(a.program), args=list(a.args), env=list(a.env or []),
        dirs=list(a.dir or []), invoke=a.invoke, out=_record_out(a),
        quiet=a.quiet, overwrite=a.force, id_cap=4 * a.chunk_blocks,
        reads=a.reads, use_cache=not a.no_cache, capture_only=a.capture_only,
        jobs=a.jobs, spectest=a.spectest, links=[_link(t) for t in a.link or []])
    try:
        if a.direct or a.db:  # one instrumented run on WASI (a database takes no capture)
            res = record(opts)
        else:
            from ttd.record.pipeline import capture_and_expand

            res = capture_and_expand(opts)
    except RecordError as e:
        if e.kept is not None:  # writing failed midway: what the trace keeps, then why
            sys.stderr.write(f"trace: {e.kept.path} ({e.kept.steps:,} steps, {e.kept.status})\n")
        raise CliError(str(e))
    # stdout belongs to the program; the trace path goes to stderr, even with --quiet
    if getattr(res, "calls", None) is not None and opts.capture_only:
        sys.stderr.write(f"trace: {res.path} (capture: {res.calls:,} import calls, {res.status}; "
                         f"`ttd expand` builds its history)\n")
    else:
        sys.stderr.write(f"trace: {res.path} ({res.steps:,} steps, {res.status})\n")
    return res.exit_code


def cmd_expand(a: argparse.Namespace) -> int:
    """Complete a capture in place: the opcode-level history, from re-executing its module."""
    from ttd.record.expand import expand_trace
    from ttd.record.recorder import RecordError

    try:
        res = expand_trace(Path(a.trace), jobs=a.jobs, quiet=a.quiet, use_cache=not a.no_cache)
    except RecordError as e:
        raise CliError(str(e))
    sys.stderr.write(f"trace: {res.path} ({res.steps:,} steps, {res.status}; expanded in "
                     f"{res.seconds:.2f} s by {res.jobs} worker{'s' if res.jobs != 1 else ''})\n")
    return 0


def _location(trace: str, db: str | None):
    """A trace file's path, or with --db the trace of that name in a PostgreSQL database."""
    if not db:
        return trace
    from ttd.store.postgres import PostgresTrace

    return PostgresTrace(db, trace)


def _record_out(a: argparse.Namespace):
    """record's --out: a path, or with --db a trace name (default <program>-<UTC time>)."""
    if not a.db:
        return Path(a.out) if a.out else None
    if a.out is None:
        import time

        stem = "".join(c if c.isalnum() or c in "_.-" else "_" for c in Path(a.program).stem) or "trace"
        a.out = f"{stem.lstrip('.-') or 'trace'}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    return _location(a.out, a.db)


def _open_trace(path: str, db: str | None = None, quiet: bool = False):
    """The trace to replay; a capture is first expanded into a temporary trace (removed at
    exit: the capture itself is not written to; `ttd expand` completes it in place)."""
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    store = TraceStore.open(_location(path, db))
    try:
        if _is_capture(store):
            store.close()
            store = TraceStore.open(_expanded_copy(path, quiet))
        trace = Trace(store)
    except Exception:
        store.close()
        raise
    if trace.is_segment:  # only ttd's own temporary files are: this one was handed over
        store.close()
        raise CliError(f"{path}: holds only the steps from {trace.first_step:,} on of a run, "
                       f"not a whole trace")
    return trace


def _open_replay(path: str, db: str | None, at, quiet: bool = False, shared_terminal: bool = False):
    """The trace to serve and, for a post-mortem (`--at end`) on a capture, how to get its
    whole history: the capture's last segment is expanded first and served at once, the rest
    in the background (`WholeHistory`; silent on a terminal LLDB shares)."""
    if at != "end" or db:
        return _open_trace(path, db, quiet), None
    from ttd.store.trace_store import TraceStore

    with TraceStore.open(_location(path, db)) as store:
        capture = _is_capture(store)
    if not capture or _being_recorded(path):
        return _open_trace(path, db, quiet), None
    import atexit
    import shutil
    import tempfile

    from ttd.record.post_mortem import open_post_mortem
    from ttd.record.recorder import RecordError

    tmp = Path(tempfile.mkdtemp(prefix="ttd-expanded-"))
    atexit.register(shutil.rmtree, tmp, True)
    if not quiet:
        sys.stderr.write(f"ttd: {_printable(path)} is a capture: expanding its last steps first, "
                         f"the rest in the background (`ttd expand` keeps the history in the "
                         f"file)\n")
    try:
        got = open_post_mortem(Path(path), tmp, quiet or shared_terminal)
    except RecordError as e:
        raise CliError(str(e))
    if got is None:
        return _open_trace(path, db, quiet), None
    trace, whole = got
    if whole is not None:
        atexit.register(whole.close)  # (registered after the rmtree: runs before it)
    return trace, whole


def _is_capture(store) -> bool:
    from ttd.record.expand import is_capture

    return is_capture(store.info())


def _expanded_copy(path: str, quiet: bool) -> Path:
    import atexit
    import shutil
    import tempfile

    from ttd.record.expand import expand_trace
    from ttd.record.recorder import RecordError

    if _being_recorded(path):  # (no connection of ours is open on it here)
        raise CliError(f"{path}: still being captured; its history can be built when the "
                       f"program has ended")
    tmp = Path(tempfile.mkdtemp(prefix="ttd-expanded-"))
    atexit.register(shutil.rmtree, tmp, True)
    if not quiet:
        sys.stderr.write(f"ttd: {_printable(path)} is a capture: expanding it into a temporary trace "
                         f"(`ttd expand` keeps the history in the file)\n")
    try:
        res = expand_trace(Path(path), out=tmp / Path(path).name, quiet=quiet)
    except RecordError as e:
        raise CliError(str(e))
    return res.path


def cmd_info(a: argparse.Namespace) -> int:
    if a.trace is None:  # `ttd info --db URL`: what the team store holds
        if not a.db:
            raise CliError("info wants a TRACE (or --db URL alone, to list a database's traces)", EXIT_USAGE)
        from ttd.store.postgres import list_traces

        names = list_traces(a.db)
        print(json.dumps(names) if a.json else "\n".join(names) or "(no traces)")
        return 0
    from ttd.store.trace_store import TraceStore

    store = TraceStore.open(_location(a.trace, a.db))
    if _is_capture(store):
        try:
            return _capture_info(store, a)
        finally:
            store.close()
    store.close()
    trace = _open_trace(a.trace, a.db)
    try:
        s = trace_summary(trace, str(trace.store.location) if a.db else a.trace)
        s["kind"] = "expanded"
    finally:
        trace.store.close()
    # a live recorder holds its file's lock; a killed one left the same "recording" status
    s["in_progress"] = not a.db and s["status"] == "recording" and _being_recorded(a.trace)
    if a.json:
        print(json.dumps(s, sort_keys=True))
        return 0
    sys.stdout.write(format_rows(trace_rows(s)))
    return 0


def _capture_info(store, a: argparse.Namespace) -> int:
    """What a capture holds: the run's inputs and outcome, no steps until it is expanded."""
    import hashlib

    info = store.info()
    wasm = store.module(0).wasm
    s = {
        **run_facts(info), "path": a.trace, "kind": "capture",
        "calls": (info["capture_calls"] if isinstance(info.get("capture_calls"), int)
                  else store.capture_calls_stored()),
        "module_sha256": hashlib.sha256(wasm).hexdigest(),
        "size_bytes": store.size_bytes(), "steps": None,
    }
    s["in_progress"] = s["status"] == "recording" and _being_recorded(a.trace)
    if a.json:
        print(json.dumps(s, sort_keys=True))
        return 0
    outcome = (f"trap: {s['trap']}" if s["trap"] else f"exit {s['exit_code']}"
               if s["status"] != "recording" else "unknown (capture did not finish)")
    calls = s["calls"]
    rows = [("kind", "capture (not expanded: `ttd expand` builds the step-level history)"),
            *run_rows(s),
            ("status", "capturing (in progress)" if s["in_progress"]
                       else str(s["status"]) + (" (partial capture)" if s["partial"] else "")),
            ("calls", f"{calls:,} import calls" if isinstance(calls, int) else "unknown"),
            ("outcome", outcome),
            ("module", s["module_sha256"]),
            ("size", f"{(s['size_bytes'] or 0) / 1e6:,.2f} MB")]
    sys.stdout.write(format_rows(rows))
    return 0


def _being_recorded(path: str) -> bool:
    from ttd.store.recording_lock import is_being_recorded

    return is_being_recorded(path)


def cmd_verify(a: argparse.Namespace) -> int:
    from ttd.replay.verify import verify

    trace = _open_trace(a.trace, a.db)
    try:
        rep = verify(trace, quiet=a.quiet)
    finally:
        trace.store.close()
    if rep.ok:
        note = ("" if not rep.problems else (" (" if rep.complete else " (partial trace: ")
                + "; ".join(rep.problems) + ")")
        print(f"OK: {rep.steps:,} steps in {rep.chunks} chunks replayed; memory, globals and "
              f"last pc match the recording{note}")
        return 0
    for p in rep.problems:
        print(f"MISMATCH: {p}")
    return EXIT_FAILURE


def _position(text: str) -> str:
    if text in ("start", "end") or text.lstrip("-").isdigit():
        return text
    raise argparse.ArgumentTypeError(f"--at wants start, end or a step number, got {text!r}")


def cmd_serve(a: argparse.Namespace) -> int:
    from ttd.replay.session import ReplaySession
    from ttd.server.replay_target import ReplayTarget
    from ttd.server.tcp import Server, ServeLimits, listen, return_large_frees

    # SIGTERM (a DAP adapter ending its server, a service manager) unwinds: the temporary
    # traces are removed and a background expansion is stopped
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return_large_frees()  # sessions come and go, each with a copy of linear memory
    trace, whole = _open_replay(a.trace, a.db, a.at, a.quiet)
    total = trace.total_steps
    if not a.db and trace.info.get("status") == "recording" and _being_recorded(a.trace):
        sys.stderr.write(f"ttd: {_printable(a.trace)} is still being recorded: serving the {total:,} "
                         f"steps recorded so far\n")
    if total == 0:
        raise CliError(f"{a.trace}: the trace has no steps to replay")
    at = _resolve_at(a, total)
    ReplaySession(trace, at)  # builds the indexes before the first client (then freed)
    # Everything alive now (the modules, the trace's indexes) lives as long as the server: out
    # of the collector's sight, a full collection no longer walks it (one cost 50-60 ms in
    # the middle of a seek).
    gc.freeze()
    _one_line_log()
    try:
        sock = listen(a.host, a.port)
    except OSError as e:
        raise CliError(f"cannot listen on {a.host}:{a.port}: {e.strerror or e}")
    server = None
    try:  # from here on, Ctrl-C is how a user stops the server: a clean exit
        host, port = sock.getsockname()[:2]
        url = f"connect://{'[' + host + ']' if ':' in host else host}:{port}"
        _warn_if_exposed(sock)  # before the banner: whoever reads the address sees it
        print(f"ttd: serving {_printable(trace.module_name)} ({total:,} steps) on {host}:{port}, "
              f"starting at step {at}", flush=True)
        if trace.is_segment:
            print(f"ttd: steps {trace.first_step:,} to {total - 1:,} are expanded; the earlier "
                  f"ones are being expanded in the background (a move back past step "
                  f"{trace.first_step:,} waits for them)", flush=True)
        print(f"(lldb) process connect --plugin wasm {url}", flush=True)
        limits = ServeLimits(max_clients=a.max_clients, stall_timeout=a.stall_timeout or None,
                             idle_timeout=a.idle_timeout or None)
        server = Server(sock, lambda: ReplayTarget(ReplaySession(trace, at), whole), limits,
                        max_connections=a.max_connections)
        server.serve_forever()
    except KeyboardInterrupt:
        if not a.quiet:
            sys.stderr.write("ttd: server stopped\n")
    finally:
        if server is not None:
            server.close()  # every session ended: nothing reads the trace any more
        sock.close()
        trace.store.close()
    return 0


def cmd_dap(a: argparse.Namespace) -> int:
    """The Debug Adapter Protocol on stdio, or for clients that connect to --port."""
    # a client ends an adapter with SIGTERM: unwind, so that its LLDB and server end too
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if a.port is None:
        if a.host is not None:
            raise CliError("--host goes with --port", EXIT_USAGE)
        from ttd.dap.stdio import serve_stdio

        serve_stdio()
        return 0
    from ttd.dap.tcp import serve_tcp
    from ttd.server.tcp import listen

    host = a.host or "127.0.0.1"
    try:
        sock = listen(host, a.port)
    except OSError as e:
        raise CliError(f"cannot listen on {host}:{a.port}: {e.strerror or e}")
    _warn_if_exposed(sock)

    def announce(h, port):
        print(f"ttd dap: listening on {h}:{port}", flush=True)
    try:
        serve_tcp(sock, announce)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def _warn_if_exposed(sock) -> None:
    """One line on stderr when the server listens where other machines can reach it."""
    from ttd.server.tcp import exposure_warning

    warning = exposure_warning(sock)
    if warning:
        sys.stderr.write(warning + "\n")
        sys.stderr.flush()


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _port(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number")
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"{n} is not a port number (0 to 65535; 0 picks a free one)")
    return n


def _seconds(text: str) -> float:
    try:
        t = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    if not 0 <= t < 1e9:
        raise argparse.ArgumentTypeError("must be 0 (no limit) or a positive number of seconds")
    return t


def _one_line_log() -> None:
    """What a session logs while serving (a request a damaged trace cannot answer, a bug)
    goes to stderr as one line per event; TTD_DEBUG=1 keeps the tracebacks."""
    import logging

    log = logging.getLogger("ttd")
    if os.environ.get("TTD_DEBUG") or any(getattr(h, "ttd_one_line", False) for h in log.handlers):
        return

    class OneLine(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            text = f"ttd: {record.getMessage()}"
            exc = record.exc_info[1] if record.exc_info else None
            if exc is not None:
                text += f": {type(exc).__name__}: {_one_line(exc)}"
            return _one_line(text)

    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(OneLine())
    handler.ttd_one_line = True  # type: ignore[attr-defined]
    log.addHandler(handler)


def _resolve_at(a: argparse.Namespace, total: int) -> int:
    at = 0 if a.at == "start" else total - 1 if a.at == "end" else int(a.at)
    if not 0 <= at < total:
        raise CliError(f"--at {a.at}: the trace has steps 0 to {total - 1}")
    return at


def _start_server_thread(trace, at: int, host: str, port: int, connections: int | None,
                         whole=None):
    """Listen now, serve on a daemon thread: for ttd lldb and the LLDB platform runtime."""
    import threading

    from ttd.replay.session import ReplaySession
    from ttd.server.replay_target import ReplayTarget
    from ttd.server.tcp import Server, listen

    ReplaySession(trace, at)  # indexes built before the debugger connects
    _one_line_log()
    try:
        sock = listen(host, port)
    except OSError as e:
        raise CliError(f"cannot listen on {host}:{port}: {e.strerror or e}")
    _warn_if_exposed(sock)
    server = Server(sock, lambda: ReplayTarget(ReplaySession(trace, at), whole),
                    max_connections=connections)
    thread = threading.Thread(target=server.serve_forever, name="ttd-server", daemon=True)
    thread.start()
    return sock, thread


def _lldb_binary() -> str | None:
    import shutil

    here = Path(sys.executable).with_name("lldb")
    return str(here) if here.exists() else shutil.which("lldb")


def cmd_lldb(a: argparse.Namespace) -> int:
    """Serve the trace and start LLDB connected to it, ttd's commands loaded."""
    import subprocess

    lldb_bin = _lldb_binary()
    if lldb_bin is None:
        raise CliError("lldb not found: pip install lldb-for-pwndbg (LLDB 23 with wasm support)")
    extra = list(a.lldb_args)
    ours: list[str] = []
    if extra[:1] and extra[0].startswith("--at"):  # `ttd lldb TRACE --at end [-- LLDB_ARGS]`
        cut = extra.index("--") if "--" in extra else len(extra)
        ours, extra = extra[:cut], extra[cut + 1:]
    elif extra[:1] == ["--"]:
        extra = extra[1:]
    if ours:
        more = argparse.ArgumentParser(prog="ttd lldb")
        more.add_argument("--at", type=_position, default=a.at)
        try:
            a.at = more.parse_args(ours).at
        except SystemExit:
            raise CliError(f"unexpected arguments {' '.join(ours)}: LLDB arguments go after --")
    trace, whole = _open_replay(a.trace, a.db, a.at, shared_terminal=True)
    at = _resolve_at(a, trace.total_steps)
    sock, _thread = _start_server_thread(trace, at, "127.0.0.1", 0, None, whole)
    port = sock.getsockname()[1]
    cmd = [lldb_bin, "-o", "command script import ttd.lldb",
           "-o", f"process connect --plugin wasm connect://127.0.0.1:{port}", *extra]
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130
    finally:
        sock.close()


def cmd_runtime(a: argparse.Namespace) -> int:
    """LLDB's wasm platform runs this as its "runtime": serve one debugging session of a trace
    on the port LLDB chose, then exit."""
    import hashlib

    trace_path = a.trace or _latest_trace(a.program)
    trace, whole = _open_replay(trace_path, None, a.at, shared_terminal=True)
    if a.program and Path(a.program).is_file():
        digest = hashlib.sha256(Path(a.program).read_bytes()).hexdigest()
        if digest != trace.info.get("module_sha256"):
            sys.stderr.write(f"ttd: warning: {a.program} is not the module recorded in "
                             f"{trace_path}; serving the recorded one\n")
    at = _resolve_at(a, trace.total_steps)
    sock, thread = _start_server_thread(trace, at, a.host, a.port, 1, whole)
    try:
        thread.join()
    except KeyboardInterrupt:
        return 130
    finally:
        sock.close()
    return 0


def _latest_trace(program: str | None) -> str:
    if not program:
        raise CliError("no --trace, and no program to find a trace for")
    found = sorted(Path("traces").glob(f"{Path(program).stem}-*.db"))
    if not found:
        raise CliError(f"no --trace, and no traces/{Path(program).stem}-*.db")
    return str(found[-1])


def _addr_len(text: str) -> tuple[int, int]:
    addr, _, length = text.partition(":")
    try:
        return int(addr, 0), int(length, 0) if length else 4
    except ValueError:
        raise argparse.ArgumentTypeError(f"want ADDR[:LEN], got {text!r}")


def cmd_query(a: argparse.Namespace) -> int:
    from ttd.replay import queries
    from ttd.replay.session import ReplaySession

    trace = _open_trace(a.trace, a.db)
    if trace.total_steps == 0:
        trace.store.close()
        raise CliError(f"{a.trace}: the trace has no steps to query")
    try:
        session = ReplaySession(trace, 0)
        if a.what == "writes":
            addr, length = a.target
            rows = queries.writes(session, addr, length, a.from_step or 0, a.to_step, a.limit)
            head = ["step", "pc", "function", "old", "new"]
        elif a.what == "calls":
            try:
                rows = queries.calls(session, a.target, a.limit)
            except ValueError as e:
                raise CliError(str(e))
            head = ["function", "step_in", "step_out", "args", "result"]
        else:
            if not 0 <= a.target < trace.total_steps:
                raise CliError(f"step {a.target} outside the trace (0..{trace.total_steps - 1})")
            rows = [queries.at(session, a.target)]
            head = ["step", "pc", "function", "source"]
    finally:
        trace.store.close()
    if a.json:
        print(json.dumps(rows if a.what != "at" else rows[0]))
        return 0
    if a.what == "at":
        r = rows[0]
        print(_printable(f"step {r['step']}: pc {r['pc']:#x} in {r['function']}"
                         + (f" at {r['source']}" if r.get("source") else "")))
        for i, f in enumerate(r["stack"]):
            print(_printable(f"  #{i} {f['pc']:#x} {f['function']}"
                             + (f" at {f['source']}" if f.get("source") else "")))
        return 0

    def cell(row, h):
        v = row[h]
        if h == "pc":
            return f"{v:#x}"
        if h in ("old", "new") and v is not None:
            return "0x" + bytes.fromhex(v)[::-1].hex() if len(v) <= 16 else v
        return "-" if v is None else _printable(v)
    table = [[cell(r, h) for h in head] for r in rows]
    widths = [max([len(h)] + [len(row[i]) for row in table]) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    if not rows:
        print("(none)")
    return 0


def cmd_recover(a: argparse.Namespace) -> int:
    """Roll back what a killed writer left beside a trace: only when the user asks for it."""
    from ttd.store.trace_store import recover

    print(_printable(recover(a.trace)))
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    """A compact SQLite copy of a trace (a file or a --db trace) to share."""
    from ttd.store.export import export_trace

    res = export_trace(_location(a.trace, a.db), a.out, force=a.force)
    was = f" (source {res.source_bytes / 1e6:,.2f} MB)" if res.source_bytes else ""
    print(f"exported {_location(a.trace, a.db)} to {res.out}: {res.size_bytes / 1e6:,.2f} MB{was}")
    return 0


_DB_HELP = ("PostgreSQL database holding the trace (postgresql://user@host:port/dbname); "
            "TRACE is then the trace's name in it")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ttd", description="Time-travel debugging for WebAssembly.")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("record", help="run a WASI program and record its execution")
    r.add_argument("--out", "-o", metavar="PATH", help="trace file (default traces/<program>-<time>.db); "
                   "with --db, the trace's name in the database (default <program>-<time>)")
    r.add_argument("--db", metavar="URL", help="record into this PostgreSQL database instead of a file")
    r.add_argument("--env", action="append", type=_env_pair, metavar="K=V",
                   help="environment variable for the program (the host's is not copied)")
    r.add_argument("--dir", action="append", type=_dir_pair, metavar="HOST[::GUEST]",
                   help="preopen a host directory")
    r.add_argument("--invoke", metavar="EXPORT", help="call this export instead of _start")
    r.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    r.add_argument("--reads", action="store_true",
                   help="also record every load's address: read and access watchpoints "
                        "(a larger trace)")
    r.add_argument("--chunk-blocks", type=_chunk_blocks, default=1 << 16, metavar="N",
                   help="blocks per chunk (default 65536): smaller chunks seek faster, "
                        "cost more to record")
    r.add_argument("--capture-only", action="store_true",
                   help="keep only the capture (the run's import calls, at the program's own "
                        "speed); `ttd expand` builds the step-level history later")
    r.add_argument("--jobs", "-j", type=_count, metavar="N",
                   help="expansion worker processes (default 1: on 2 cores, 2 were measured "
                        "1.5-2.8x slower than 1)")
    r.add_argument("--no-cache", action="store_true",
                   help="instrument and compile afresh, neither reading nor writing the cache")
    r.add_argument("--expand", action="store_true", help=argparse.SUPPRESS)  # the default now
    r.add_argument("--spectest", action="store_true",
                   help="provide the WebAssembly spec tests' `spectest` host module (print "
                        "functions, globals 666/666.6, a 10-element table, a 1-page memory)")
    r.add_argument("--link", action="append", metavar="NAME=MODULE.wasm",
                   help="instantiate MODULE.wasm (unrecorded, after the spectest host and the "
                        "modules linked before it) and let the program import its functions "
                        "and constant globals under NAME, recorded as host calls")
    r.add_argument("--direct", action="store_true",
                   help="one instrumented run on WASI instead of a capture and its expansion "
                        "(the program runs under the instrumentation; --db records this way)")
    r.add_argument("program", metavar="PROGRAM.wasm")
    r.add_argument("args", nargs=argparse.REMAINDER, metavar="-- ARGS")
    r.set_defaults(func=cmd_record)

    e = sub.add_parser("expand", help="complete a capture in place: its step-level history")
    e.add_argument("--jobs", "-j", type=_count, metavar="N",
                   help="worker processes (default 1: on 2 cores, 2 were measured 1.5-2.8x "
                        "slower than 1)")
    e.add_argument("--no-cache", action="store_true", help="instrument and compile afresh")
    e.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    e.add_argument("trace")
    e.set_defaults(func=cmd_expand)

    i = sub.add_parser("info", help="what a trace holds")
    i.add_argument("--json", action="store_true")
    i.add_argument("--db", metavar="URL", help=_DB_HELP + "; without TRACE, list the database's traces")
    i.add_argument("trace", nargs="?")
    i.set_defaults(func=cmd_info)

    v = sub.add_parser("verify", help="rebuild the final state from the trace and compare")
    v.add_argument("--quiet", "-q", action="store_true")
    v.add_argument("--db", metavar="URL", help=_DB_HELP)
    v.add_argument("trace")
    v.set_defaults(func=cmd_verify)

    s = sub.add_parser("serve", help="replay a trace to LLDB over gdb-remote")
    s.add_argument("--port", type=_port, default=0, help="TCP port (0 picks a free one)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--at", type=_position, default="start", metavar="start|end|STEP",
                   help="where each connection starts (end: the trap, for post-mortem)")
    s.add_argument("--max-clients", type=_count, default=8, metavar="N",
                   help="debuggers served at once (default 8); more connections are refused")
    s.add_argument("--stall-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                   help="close a connection that stops in the middle of a packet, or sends no "
                        "packet on connecting, after this long (default 10; 0: never)")
    s.add_argument("--idle-timeout", type=_seconds, default=0.0, metavar="SECONDS",
                   help="close a connection that sends no packet for this long (default 0: "
                        "never, as LLDB at a prompt sends nothing)")
    s.add_argument("--max-connections", type=int, default=None, help=argparse.SUPPRESS)
    s.add_argument("--quiet", "-q", action="store_true")
    s.add_argument("--db", metavar="URL", help=_DB_HELP)
    s.add_argument("trace")
    s.set_defaults(func=cmd_serve)

    d = sub.add_parser("dap", help="a Debug Adapter Protocol server (stdio, or --port for TCP)")
    d.add_argument("--port", type=_port, default=None,
                   help="serve DAP clients on this TCP port instead of stdio (0 picks a free one)")
    d.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    d.set_defaults(func=cmd_dap)

    q = sub.add_parser("query", help="who wrote this, every call of a function, a step")
    q.add_argument("--db", metavar="URL", help=_DB_HELP)
    q.add_argument("--json", action="store_true", help="JSON instead of a table (anywhere on the line)")
    q.add_argument("trace")
    qs = q.add_subparsers(dest="what", required=True)
    qw = qs.add_parser("writes", help="every write to ADDR[:LEN] (LEN default 4)")
    qw.add_argument("target", type=_addr_len, metavar="ADDR[:LEN]")
    qw.add_argument("--from", dest="from_step", type=int, metavar="STEP")
    qw.add_argument("--to", dest="to_step", type=int, metavar="STEP")
    qc = qs.add_parser("calls", help="every call of FUNC: step in, step out, arguments, result")
    qc.add_argument("target", metavar="FUNC")
    qa = qs.add_parser("at", help="pc, function, source line and call stack at STEP")
    qa.add_argument("target", type=int, metavar="STEP")
    for sp in (qw, qc, qa):
        sp.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
        sp.add_argument("--limit", type=int, default=1000)
        sp.add_argument("--db", metavar="URL", default=argparse.SUPPRESS, help=_DB_HELP)
    q.set_defaults(func=cmd_query)

    lb = sub.add_parser("lldb", help="serve a trace and start LLDB connected to it")
    lb.add_argument("--at", type=_position, default="start", metavar="start|end|STEP")
    lb.add_argument("--db", metavar="URL", help=_DB_HELP)
    lb.add_argument("trace")
    lb.add_argument("lldb_args", nargs=argparse.REMAINDER, metavar="-- LLDB_ARGS")
    lb.set_defaults(func=cmd_lldb)

    ex = sub.add_parser("export", help="write a compact SQLite copy of a trace to share")
    ex.add_argument("--db", metavar="URL", help=_DB_HELP)
    ex.add_argument("--force", action="store_true", help="replace OUT if it exists")
    ex.add_argument("trace")
    ex.add_argument("out", metavar="OUT")
    ex.set_defaults(func=cmd_export)

    rc = sub.add_parser("recover", help="roll back the unfinished write a killed recorder left beside a trace")
    rc.add_argument("trace", metavar="TRACE")
    rc.set_defaults(func=cmd_recover)

    rt = sub.add_parser("runtime", help="serve one session for LLDB's wasm platform (see README)")
    rt.add_argument("--trace", help="the trace (default: the newest traces/<program>-*.db)")
    rt.add_argument("--at", type=_position, default="start", metavar="start|end|STEP")
    rt.add_argument("--port", type=_port, required=True)
    rt.add_argument("--host", default="127.0.0.1")
    rt.add_argument("program", nargs="?", help="the module LLDB launched (checked against the trace)")
    rt.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    rt.set_defaults(func=cmd_runtime)
    return p


def _version() -> str:
    import ttd
    return f"ttd {ttd.__version__}"


def main(argv: list[str] | None = None) -> int:
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        quiet_interrupts()
    try:
        return _main(argv, main_thread)
    finally:
        if main_thread:  # the command is done: a Ctrl-C during the interpreter's exit changes
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # nothing, its status stands


def _main(argv: list[str] | None, main_thread: bool) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # LLDB's wasm platform puts its port argument before the runtime arguments:
    # `ttd --port=N runtime --trace T PROGRAM ARGS`
    if argv and argv[0].startswith("--port") and "runtime" in argv:
        i = argv.index("runtime")
        argv = argv[i:i + 1] + argv[:i] + argv[i + 1:]
    a = parser.parse_args(argv)
    if getattr(a, "args", None) and a.args[:1] == ["--"]:
        a.args = a.args[1:]
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    from ttd.replay.machine import ReplayError
    from ttd.replay.trace import HistoryNotExpanded
    from ttd.store.errors import TraceError
    from ttd.wasm.errors import WasmError

    try:
        if main_thread:
            raise_interrupts()
        return a.func(a)
    except CliError as e:
        sys.stderr.write(f"ttd: error: {_one_line(e)}\n")
        return e.code
    except (TraceError, WasmError) as e:
        sys.stderr.write(f"ttd: error: {_one_line(e)}\n")
        return EXIT_FAILURE
    except ReplayError as e:  # the trace contradicts its own schedule
        sys.stderr.write(f"ttd: error: corrupt trace: {_one_line(e)}\n")
        return EXIT_FAILURE
    except (sqlite3.Error, DBAPIError, UnicodeDecodeError) as e:  # what the store did not classify
        sys.stderr.write(f"ttd: error: cannot read the trace: {_one_line(getattr(e, 'orig', None) or e)}\n")
        return EXIT_FAILURE
    except HistoryNotExpanded:  # a segment given where a whole trace is needed
        sys.stderr.write("ttd: error: the trace holds only the last part of a run: this needs "
                         "the history before it\n")
        return EXIT_FAILURE
    except MemoryError:
        sys.stderr.write("ttd: error: out of memory (a damaged trace, or one too large for this "
                         "machine)\n")
        return EXIT_FAILURE
    except RecursionError:
        sys.stderr.write("ttd: error: input nested too deeply (a damaged trace?)\n")
        return EXIT_FAILURE
    except KeyboardInterrupt as e:
        if os.environ.get("TTD_DEBUG"):
            import traceback
            traceback.print_exc()
        sys.stderr.write(f"ttd: interrupted{' ' + _one_line(e) if str(e) else ''}\n")
        return 130
    except BrokenPipeError:
        return EXIT_FAILURE
    except Exception as e:  # never a traceback for the user
        if os.environ.get("TTD_DEBUG"):
            raise
        sys.stderr.write(f"ttd: internal error: {type(e).__name__}: {_one_line(e)}\n")
        return 70


def _one_line(e: object) -> str:
    return _printable(" ".join(part.strip() for part in str(e).splitlines() if part.strip()))


if __name__ == "__main__":
    sys.exit(main())
