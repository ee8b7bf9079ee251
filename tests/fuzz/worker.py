"""The fuzzer's child process: mutate a trace, run ttd on it, say what went wrong.

Reads one JSON job per line on stdin and answers with one JSON line per job on stdout. The
process runs under an address-space limit, so a runaway allocation is a MemoryError rather
than a swapping machine, and every command under a timer, so a loop is reported as a hang.
The parent kills and replaces a worker that stops answering (a hang inside C code) or dies
(a crash), and blames the job it was running.

Per mutant, in this order:
- `ttd info`, `ttd info --json` and `ttd verify -q`, in-process through ttd.cli.main.main with
  stdout and stderr captured: exit 0, or a failure with one line on stderr and no traceback;
- a replay driven through the engine, as the server drives it (ReplaySession: seeks to the
  start, middle and end, stack, locals, globals and memory, steps, breakpoints and a
  watchpoint both ways, the backwards searches): it may only raise TraceError or
  ReplayError (or MemoryError), with a one-line message, and after such an error the session
  must still answer the next request the same way;
- a gdb-remote conversation with a ReplayTarget behind GdbConnection: every reply is a
  well-formed frame, and any exception the target raised was a TraceError or ReplayError;
- the mutant file is byte-for-byte what it was before all of the above, with no sidecar left.

Mutants are read-only files, except for jobs marked writable (old-schema seeds, so that the
upgrade path is taken): one of those may change only by an upgrade (its alembic_version
changed); a schema ttd refuses must leave it as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import random
import resource
import shutil
import signal
import stat
import sys
import time
import traceback
from pathlib import Path

ADDRESS_SPACE = 2 << 30  # bytes
COMMAND_SECONDS = 20.0


class Hang(BaseException):
    """Raised by the timer; a BaseException so `except Exception` in ttd cannot swallow it."""


def _on_alarm(_sig, _frame):
    raise Hang()


@contextlib.contextmanager
def _deadline(seconds: float):
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _revision(path: Path) -> str | None:
    """The schema revision alembic_version names, read without trusting the file (read-only,
    immutable, a second at most); None if it cannot be read."""
    import sqlite3
    from urllib.parse import quote

    deadline = time.monotonic() + 1.0
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
        rows = conn.execute("SELECT version_num FROM alembic_version LIMIT 2").fetchall()
        return rows[0][0] if len(rows) == 1 and isinstance(rows[0][0], str) else None
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _short(text: str, n: int = 400) -> str:
    text = text.strip()
    return text if len(text) <= n else text[:n] + "..."


# ---- the command line ---------------------------------------------------------------------

def run_cli(argv: list[str]) -> tuple[object, str, str, float]:
    from ttd.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            with _deadline(COMMAND_SECONDS):
                rc: object = main(argv)
        except Hang:
            rc = "hang"
        except SystemExit as e:
            rc = e.code
        except BaseException:  # what `python -m ttd.cli.main` would print as a traceback
            rc = "escaped"
            err.write(traceback.format_exc())
    return rc, out.getvalue(), err.getvalue(), time.monotonic() - t0


def cli_problems(name: str, rc: object, out: str, err: str) -> list[str]:
    if rc == "hang":
        return [f"{name}: no answer within {COMMAND_SECONDS:.0f} s"]
    if rc == "escaped":
        return [f"{name}: exception escaped main(): {_short(err, 1500)}"]
    problems = []
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if "Traceback" in err:
        problems.append(f"{name}: traceback on stderr: {_short(err, 1500)}")
    if rc == 0:
        return problems
    if rc not in (1, 2):
        problems.append(f"{name}: exit status {rc}: {_short(err, 1000)}")
    elif not lines and not (name.startswith("verify") and "MISMATCH" in out):
        problems.append(f"{name}: exit status {rc} without a message")
    elif len(lines) > 1:
        problems.append(f"{name}: {len(lines)} lines on stderr: {_short(err)}")
    elif lines and not lines[0].startswith("ttd: error: "):
        problems.append(f"{name}: stderr is not a ttd error: {_short(err)}")
    return problems


# ---- the engine, as the server drives it ------------------------------------------------------

def _clean_types():
    from ttd.replay.machine import ReplayError
    from ttd.store.errors import TraceError

    return (TraceError, ReplayError, MemoryError)


def _store_types():
    """Database errors the store let through unclassified (a store-level bug, reported by
    the test as such: the command line and the server still turn them into one line)."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    return (sqlite3.Error, DBAPIError, UnicodeDecodeError)  # sqlite3 decoding a damaged TEXT


class Probe:
    """Runs requests one by one; a clean error is an answer, anything else is a finding."""

    def __init__(self, name: str):
        self.name = name
        self.problems: list[str] = []
        self.clean_errors: list[str] = []
        self.store_errors: list[str] = []
        self.requests = 0

    def __call__(self, what: str, fn, *args):
        if self.problems:
            return None
        self.requests += 1
        try:
            with _deadline(COMMAND_SECONDS):
                return fn(*args)
        except Hang:
            self.problems.append(f"{self.name}: {what}: no answer within {COMMAND_SECONDS:.0f} s")
        except _clean_types() as e:
            msg = str(e)
            if "\n" in msg.strip():
                self.problems.append(f"{self.name}: {what}: {type(e).__name__} message is "
                                     f"not one line: {msg[:300]!r}")
            elif not msg.strip() and not isinstance(e, MemoryError):
                self.problems.append(f"{self.name}: {what}: {type(e).__name__} with no message")
            else:
                self.clean_errors.append(f"{what}: {type(e).__name__}: {msg[:200]}")
        except _store_types() as e:
            self.store_errors.append(f"{self.name}: {what}: {type(e).__name__}: "
                                     f"{str(getattr(e, 'orig', None) or e)[:200]}")
        except BaseException as e:
            self.problems.append(f"{self.name}: {what}: {type(e).__name__}: {str(e)[:300]}\n"
                                 + _short(traceback.format_exc(), 3000))
        return None


def replay_probe(path: Path, rng: random.Random) -> Probe:
    from ttd.replay.session import ReplaySession
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    p = Probe("replay")
    store = p("open the store", TraceStore.open, path)
    if store is None:
        return p
    try:
        trace = p("read the trace", Trace, store)
        if trace is None or trace.total_steps <= 0:
            return p
        total = trace.total_steps
        s = p("start a session", ReplaySession, trace, 0)
        if s is None:
            return p
        cur = s.cursor

        def look():
            cur.call_stack()
            cur.functions()
            for fr in range(min(len(cur.st.frames), 4)):
                cur.locals(fr)
            cur.globals()
            cur.read_memory(0, 64)
            cur.read_memory(1024, 4096)
            cur.read_memory(2**32 - 4, 8)

        p("inspect", look)
        for step in sorted({total - 1, total // 2, 1 % total, rng.randrange(total)}):
            p(f"goto {step}", s.goto, step)
            p(f"inspect at {step}", look)
        p("step forward", s.step_forward)
        p("step backward", s.step_backward)
        p("inspect", look)
        blocks = trace.schedule.blocks if trace.schedule else []
        pcs = [b.pcs[0] for b in (rng.sample(blocks, min(3, len(blocks))) if blocks else [])
               if isinstance(getattr(b, "pcs", None), list) and b.pcs]
        for pc in pcs:
            p("add a breakpoint", s.add_breakpoint, pc)
        p("goto 0", s.goto, 0)
        p("continue", s.continue_forward)
        p("inspect", look)
        p("continue", s.continue_forward)
        p("reverse continue", s.continue_backward)
        p("inspect", look)
        for pc in pcs:
            p("remove a breakpoint", s.remove_breakpoint, pc)
        p("add a watchpoint", s.add_watchpoint, rng.choice([0, 1024, 65536, 2**20]), 4)
        p("goto end", s.goto, total - 1)
        p("reverse continue to the watchpoint", s.continue_backward)
        p("continue to the watchpoint", s.continue_forward)
        p("last write", s.last_write, 1024, 8)
        p("goto middle", s.goto, total // 2)
        from ttd.replay.source_moves import PcFacts, SourceFacts, SourceMoves

        facts = SourceFacts()  # fake line facts: a line per 16 bytes, no inlined blocks
        for b in blocks:
            for pc in getattr(b, "pcs", None) or ():
                if isinstance(pc, int):
                    facts.pcs[pc] = PcFacts(pc // 16, pc % 16 == 0, True, ())
        moves = SourceMoves(s, facts)
        p("reverse finish", moves.reverse_finish, 0, 0)
        p("reverse next", moves.reverse_next, 0, 0, 1)
        p("reverse step", moves.reverse_step, 0, 0, 1)
        if s.depth > 1:
            p("reverse next in the caller", moves.reverse_next, 1, 0, 1, (0, 0))
    finally:
        with contextlib.suppress(Exception):
            store.close()
    return p


# ---- gdb-remote -------------------------------------------------------------------------------

class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def _packets(rng: random.Random, wasm_len: int) -> list[bytes]:
    code = (1 << 62)
    pc = code | rng.randrange(max(wasm_len, 1))
    out = [b"QStartNoAckMode", b"?", b"qWasmCallStack:1", b"qWasmLocal:0;0", b"qWasmLocal:1;2",
           b"qWasmGlobal:0;0", b"m0,40", b"m%x,20" % pc, b"qMemoryRegionInfo:0",
           b"qXfer:libraries:read::0,fff", b"qXfer:memory-map:read::0,fff",
           b"Z0,%x,1" % pc, b"c", b"qWasmCallStack:1", b"bc", b"s", b"bs", b"vCont;s:1",
           b"qRcmd," + b"goto end".hex().encode(), b"c", b"qRcmd," + b"when".hex().encode(),
           b"Z2,%x,4" % rng.choice([0, 1024, 65536]), b"bc", b"c", b"z0,%x,1" % pc,
           b"qRcmd," + b"rfinish".hex().encode(), b"c",
           b"qRcmd," + b"last-write 0x400 8".hex().encode(), b"c",
           b"qRcmd," + b"rsi 3".hex().encode(), b"bs", b"g", b"p0", b"qWasmLocal:0;1",
           b"qWasmStackValue:0;0", b"qWasmStackValue:1;1", b"s", b"qWasmStackValue:0;2"]
    return out


def gdb_probe(path: Path, rng: random.Random) -> Probe:
    from tests.gdb.wire import check_output, frame
    from ttd.gdb.protocol import GdbConnection
    from ttd.replay.session import ReplaySession
    from ttd.replay.trace import Trace
    from ttd.server.replay_target import ReplayTarget
    from ttd.store.trace_store import TraceStore

    p = Probe("gdb")
    clean = _clean_types()
    try:
        store = TraceStore.open(path)
    except Exception:
        return p  # the replay probe reports what opening does
    handler = _Records()
    root = logging.getLogger("ttd")
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.ERROR)
    try:
        try:
            trace = Trace(store)
            if trace.total_steps <= 0:
                return p
            target = ReplayTarget(ReplaySession(trace, 0))
        except Exception:
            return p  # clean or not, the replay probe reports what opening does
        conn = GdbConnection(target)
        for pkt in _packets(rng, len(trace.wasm)):
            if conn.closed:
                break
            out = p(f"packet {pkt[:30]!r}", conn.feed, frame(pkt))
            if out is None:
                break
            try:
                check_output(out)
            except AssertionError as e:
                p.problems.append(f"gdb: reply to {pkt[:30]!r} malformed: {e}")
                break
        for rec in handler.records:
            exc = rec.exc_info[1] if rec.exc_info else None
            if isinstance(exc, _store_types()):
                p.store_errors.append(f"gdb: {type(exc).__name__}: "
                                      f"{str(getattr(exc, 'orig', None) or exc)[:200]}")
            elif exc is not None and not isinstance(exc, clean):
                p.problems.append(
                    f"gdb: target raised {type(exc).__name__}: {str(exc)[:300]} ({rec.getMessage()[:80]})\n"
                    + _short("".join(traceback.format_exception(exc)), 3000))
                break
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        with contextlib.suppress(Exception):
            store.close()
    return p


# ---- one job ---------------------------------------------------------------------------------

def run_job(job: dict) -> dict:
    from tests.fuzz.mutators import mutate

    scratch = Path(job["scratch"]) / f"job-{job['id']}"  # its own folder: sidecars are visible
    scratch.mkdir(parents=True, exist_ok=True)
    mutant = scratch / f"mutant-{job['id']}.db"
    shutil.copyfile(job["seed"], mutant)
    rng = random.Random(job["rng"])
    other = Path(job["other_wasm"]).read_bytes() if job.get("other_wasm") else None
    result = {"id": job["id"], "kind": job["kind"], "seed": Path(job["seed"]).name,
              "rng": job["rng"], "problems": [], "outcome": {}}
    try:
        result["what"] = mutate(mutant, job["kind"], rng, other)
    except Exception as e:  # the mutator, not ttd: report it, it is a harness bug
        result["what"] = "mutation failed"
        result["problems"].append(f"mutator {job['kind']} failed: {type(e).__name__}: {e}\n"
                                  + traceback.format_exc())
        shutil.rmtree(scratch, ignore_errors=True)
        return result
    for side in scratch.glob(f"{mutant.name}-*"):
        side.unlink()
    # read-only, unless the job asks for a writable file: an old-schema seed, so that ttd
    # would take the upgrade path if it accepted the mutant
    writable = bool(job.get("writable"))
    if not writable:
        os.chmod(mutant, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    before = _sha(mutant)
    revision = _revision(mutant) if writable else None
    before_files = sorted(p.name for p in scratch.iterdir())
    t0 = time.monotonic()

    for argv in (["info", str(mutant)], ["info", "--json", str(mutant)],
                 ["verify", "-q", str(mutant)]):
        name = " ".join(argv[:-1])
        rc, out, err, secs = run_cli(argv)
        result["outcome"][name] = rc if rc in (0, 1, 2) else str(rc)
        if rc not in (0,) and err.strip():
            result.setdefault("messages", {})[name] = _short(err, 200)
        result["problems"] += cli_problems(name, rc, out, err)

    probe_rng = random.Random(job["rng"] ^ 0x5EED)
    rp = replay_probe(mutant, probe_rng)
    result["problems"] += rp.problems
    result["outcome"]["replay"] = ("error" if rp.clean_errors else "ok") if not rp.problems else "bad"
    if rp.clean_errors:
        result.setdefault("messages", {})["replay"] = rp.clean_errors[0]
    gp = gdb_probe(mutant, probe_rng)
    result["problems"] += gp.problems
    if rp.store_errors or gp.store_errors:
        result["store_level"] = (rp.store_errors + gp.store_errors)[:3]

    if _sha(mutant) != before:
        # a writable old-schema trace may have been upgraded (its revision changed), even if
        # what the upgrade left then turned out corrupt; any other change is a write by a reader
        upgraded = writable and _revision(mutant) not in (None, revision)
        result["upgraded"] = upgraded
        if not upgraded:
            result["problems"].append("the mutant file was modified by reading it"
                                      + (" (and not upgraded)" if writable else ""))
    after_files = sorted(p.name for p in scratch.iterdir())
    if after_files != before_files:
        result["problems"].append(f"files appeared next to the mutant: "
                                  f"{sorted(set(after_files) - set(before_files))}")
        for name in set(after_files) - set(before_files):
            with contextlib.suppress(OSError):
                (scratch / name).unlink()
    result["seconds"] = round(time.monotonic() - t0, 3)
    if result["problems"] and job.get("keep"):
        keep = Path(job["keep"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mutant, keep / f"{job['kind']}-{job['id']}.db")
    os.chmod(mutant, stat.S_IRUSR | stat.S_IWUSR)
    shutil.rmtree(scratch, ignore_errors=True)
    return result


def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > ADDRESS_SPACE:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, hard))
    signal.signal(signal.SIGALRM, _on_alarm)
    os.environ.pop("TTD_DEBUG", None)
    import ttd.cli.main  # noqa: F401 - imported once, before the first job
    import ttd.replay.session  # noqa: F401
    import ttd.server.replay_target  # noqa: F401

    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        print(json.dumps({"begin": job["id"]}), flush=True)
        try:
            result = run_job(job)
        except BaseException as e:  # a failure of the harness itself: report, keep going
            result = {"id": job["id"], "kind": job["kind"], "seed": Path(job["seed"]).name,
                      "rng": job["rng"], "outcome": {},
                      "problems": [f"worker failed: {type(e).__name__}: {e}\n{traceback.format_exc()}"]}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
