"""DAP round trips on a large trace: what a VS Code user waits for per button press.

Records bench_sort (its `large_args`: ~10^9 steps; --smoke: ~10^6) as `ttd record` does, or
takes --trace, starts `ttd dap` on stdio and, from random points inside the sort, times every
request that moves in time (from sending it to the `stopped` event) and the requests a stop
view sends (stackTrace, scopes, variables). Printed, not asserted: the target is 100 ms p50.

    python -m benchmarks.dap_bench [--trace PATH] [--smoke] [--samples N] [--json]

The client is a minimal DAP wire client (Content-Length framing over the adapter's pipes), so
the figures are the adapter's, without an editor or a node process in between.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SOURCE = ROOT / "tests" / "programs" / "src" / "bench_sort.c"
LINE_SORT_CALL = 74     # main: quicksort(a, 0, n - 1)
LINE_INNER = 24         # insertion_sort: while (j >= lo && a[j] > key), hit all through the sort
THREAD = 1
TARGET_MS = 100.0

# Every row of the table, in order: moves in time, then what a stop view asks.
MOVES = ["ttdGoto", "continue", "reverseContinue", "next", "stepIn", "stepOut", "stepBack",
         "ttdReverseStepIn", "ttdReverseStepOut", "next (instruction)",
         "stepIn (instruction)", "stepBack (instruction)"]
VIEWS = ["stackTrace", "scopes", "variables"]
KINDS = MOVES + VIEWS


class DAPError(Exception):
    pass


class WireClient:
    """Just enough DAP for timing: requests in order, events kept until asked for."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, cwd=ROOT)
        self.seq = 1
        self.events: list[dict] = []
        self.responses: dict[int, dict] = {}  # answers read while waiting for something else

    def _write(self, msg: dict) -> None:
        data = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.proc.stdin.flush()

    def _read(self) -> dict:
        length = None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise DAPError("ttd dap exited")
            line = line.strip()
            if not line:
                if length is not None:
                    break
                continue
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return json.loads(self.proc.stdout.read(length))

    def send(self, command: str, arguments: dict | None = None) -> int:
        seq = self.seq
        self.seq += 1
        msg = {"seq": seq, "type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = arguments
        self._write(msg)
        return seq

    def _keep(self, msg: dict) -> None:
        if msg.get("type") == "event":
            self.events.append(msg)
        elif msg.get("type") == "response":
            self.responses[msg.get("request_seq")] = msg

    def response(self, seq: int) -> dict:
        while True:
            msg = self.responses.pop(seq, None) or self._read()
            if msg.get("type") != "response" or msg.get("request_seq") != seq:
                self._keep(msg)
            else:
                if not msg.get("success"):
                    err = (msg.get("body") or {}).get("error") or {}
                    raise DAPError(f"{msg.get('command')}: "
                                   f"{err.get('format') or msg.get('message')}")
                return msg.get("body") or {}

    def request(self, command: str, arguments: dict | None = None) -> dict:
        return self.response(self.send(command, arguments))

    def event(self, name: str) -> dict:
        for i, ev in enumerate(self.events):
            if ev["event"] == name:
                return self.events.pop(i)
        while True:
            msg = self._read()
            if msg.get("type") == "event" and msg["event"] == name:
                return msg
            self._keep(msg)

    def move(self, command: str, arguments: dict | None = None) -> tuple[float, dict]:
        """Send a request that moves in time; (seconds until its stopped event, the event)."""
        self.events = [e for e in self.events if e["event"] != "stopped"]
        t = time.perf_counter()
        self.request(command, {"threadId": THREAD, **(arguments or {})})
        ev = self.event("stopped")
        return time.perf_counter() - t, ev

    def close(self) -> None:
        try:
            self.request("disconnect", {})
        except (DAPError, OSError, ValueError):
            pass
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _ms(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"n": len(xs), "p50_ms": round(statistics.median(xs) * 1e3, 2),
            "p99_ms": round(xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1e3, 2)}


def _when(c: WireClient) -> int:
    return c.request("ttdWhen", {})["step"]


def _breakpoints(c: WireClient, lines: list[int]) -> None:
    c.request("setBreakpoints", {"source": {"path": str(SOURCE)},
                                 "breakpoints": [{"line": n} for n in lines]})


def _view(c: WireClient, times: dict[str, list[float]]) -> None:
    """What VS Code asks at every stop: the stack, the top frame's scopes, their variables."""
    t = time.perf_counter()
    frames = c.request("stackTrace", {"threadId": THREAD, "startFrame": 0, "levels": 20})
    times["stackTrace"].append(time.perf_counter() - t)
    t = time.perf_counter()
    scopes = c.request("scopes", {"frameId": frames["stackFrames"][0]["id"]})["scopes"]
    times["scopes"].append(time.perf_counter() - t)
    for s in scopes:
        if not s.get("expensive"):
            t = time.perf_counter()
            c.request("variables", {"variablesReference": s["variablesReference"]})
            times["variables"].append(time.perf_counter() - t)


def measure(trace: Path, samples: int, seed: int = 1) -> dict:
    c = WireClient([sys.executable, "-m", "ttd.cli.main", "dap"])
    times: dict[str, list[float]] = {k: [] for k in KINDS}
    reasons: dict[str, dict[str, int]] = {k: {} for k in MOVES}  # how each move stopped

    def note(kind: str, dt: float, ev: dict) -> None:
        times[kind].append(dt)
        why = ev["body"].get("reason", "?")
        if ev["body"].get("description") == "history boundary":
            why = "end of the recording"  # e.g. no earlier hit than the first one
        reasons[kind][why] = reasons[kind].get(why, 0) + 1
    try:
        t = time.perf_counter()
        c.request("initialize", {"clientID": "dap_bench", "adapterID": "ttd",
                                 "linesStartAt1": True, "columnsStartAt1": True,
                                 "pathFormat": "path"})
        launch = c.send("launch", {"type": "ttd", "request": "launch", "trace": str(trace),
                                   "stopAt": "start"})
        c.event("initialized")
        _breakpoints(c, [LINE_SORT_CALL])
        c.request("configurationDone", {})
        c.response(launch)
        c.event("stopped")
        open_s = time.perf_counter() - t
        total = c.request("ttdWhen", {})["total"]
        # the sort: from the call in main to the line after it
        c.move("continue")
        sort_start = _when(c)
        _breakpoints(c, [])
        c.move("next")
        sort_end = _when(c)
        rng = random.Random(seed)
        for _ in range(samples):
            note("ttdGoto", *c.move("ttdGoto", {"step": rng.randrange(sort_start, sort_end)}))
            _view(c, times)
            _breakpoints(c, [LINE_INNER])
            for kind in ("continue", "reverseContinue", "continue"):
                note(kind, *c.move(kind))
                _view(c, times)
            _breakpoints(c, [])
            for kind, args in (("next", {}), ("next", {}), ("stepIn", {}), ("stepBack", {}),
                               ("stepBack", {}), ("next (instruction)", {}),
                               ("stepIn (instruction)", {}), ("stepBack (instruction)", {}),
                               ("stepOut", {}), ("ttdReverseStepIn", {}),
                               ("ttdReverseStepOut", {})):
                command = kind.split()[0]
                if kind.endswith("(instruction)"):
                    args = {"granularity": "instruction"}
                note(kind, *c.move(command, args))
                _view(c, times)
    finally:
        c.close()
    out = {"steps": total, "samples": samples, "open_first_stop_ms": round(open_s * 1e3, 1),
           "sort_steps": sort_end - sort_start}
    for k in KINDS:
        out[k] = _ms(times[k])
        if k in reasons:
            out[k]["stops"] = reasons[k]
    return out


def render(r: dict) -> str:
    lines = [f"ttd dap on bench_sort: {r['steps']:,} steps ({r['sort_steps']:,} in the sort), "
             f"{r['samples']} random points; opening + first stop {r['open_first_stop_ms']} ms",
             f"{'request':26s} {'n':>5s} {'p50 ms':>9s} {'p99 ms':>9s}  stopped as"]
    lines.append("-" * len(lines[-1]))
    for k in KINDS:
        stops = ", ".join(f"{why} x{n}" for why, n in sorted(r[k].get("stops", {}).items()))
        lines.append(f"{k:26s} {r[k]['n']:5d} {r[k]['p50_ms']:9.2f} {r[k]['p99_ms']:9.2f}  {stops}")
    return "\n".join(lines)


def target(r: dict) -> str:
    worst = max(KINDS, key=lambda k: r[k]["p50_ms"])
    ok = r[worst]["p50_ms"] <= TARGET_MS
    return (f"[{'met' if ok else 'missed'}] p50 of every request at most {TARGET_MS:.0f} ms: "
            f"worst {worst} {r[worst]['p50_ms']:.2f} ms")


def main(argv: list[str] | None = None) -> int:
    from benchmarks.record_bench import complete_run
    from benchmarks.run import bench_cases

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", type=Path, help="a recording of bench_sort to use")
    ap.add_argument("--smoke", action="store_true", help="a ~10^6-step trace")
    ap.add_argument("--samples", type=int, help="random points (default 30; --smoke 3)")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    a = ap.parse_args(argv)
    samples = a.samples or (3 if a.smoke else 30)
    with tempfile.TemporaryDirectory(prefix="ttd-dapbench-") as tmp:
        trace = a.trace
        if trace is None:
            scale = "smoke" if a.smoke else "large"
            _name, wasm, args = next(c for c in bench_cases(scale, big=False)
                                     if c[0] == "bench_sort")
            trace = Path(tmp) / "bench_sort.db"
            t = time.perf_counter()
            complete_run(wasm, args, trace, jobs=None)
            print(f"recorded bench_sort {' '.join(args)}: {time.perf_counter() - t:.1f} s",
                  file=sys.stderr)
        result = measure(trace, samples)
    if a.json:
        print(json.dumps(result))
    else:
        print(render(result))
    print(target(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
