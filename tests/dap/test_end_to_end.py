"""`ttd dap` over its real stdio and --port, with real traces and the real LLDB, driven by a
small Python wire client (tests/dap/wire.py)."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.dap.wire import PROGRAMS, SRC, WireClient, launch
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import TTD, record
from tests.support.serve import ttd_serve

FIB_C = f"{SRC}/fib.c"


def _record(factory, name: str, args=()):
    require_lldb()
    rec = record(PROGRAMS / f"{name}.wasm", factory.mktemp(name) / f"{name}.db", list(args))
    assert rec.trace.exists(), rec.stderr
    return rec.trace


@pytest.fixture(scope="module")
def fib_trace(tmp_path_factory):
    return _record(tmp_path_factory, "fib")


@pytest.fixture(scope="module")
def trap_trace(tmp_path_factory):
    return _record(tmp_path_factory, "trap")


@pytest.fixture
def dap():
    require_lldb()
    c = WireClient.stdio()
    yield c
    try:
        c.send("disconnect")
    except OSError:
        pass
    c.close()


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def test_breakpoint_hit_shows_the_frames_and_variables_lldb_shows(dap, fib_trace):
    first = dap.start(launch(fib_trace), {FIB_C: [15]})
    assert first["reason"] == "entry"
    for _ in range(3):
        stop = dap.move("continue")
        assert stop["reason"] == "breakpoint" and stop["hitBreakpointIds"]
    frames = dap.frames()
    assert frames[0]["source"]["path"] == FIB_C  # the sourceMap, applied to the DWARF name
    ours = [(f["name"], f["line"]) for f in frames]
    ours_vars = [dap.locals(i) for i in range(2)]
    with ttd_serve(fib_trace) as srv, LLDBSession(PROGRAMS / "fib.wasm", srv.port) as s:
        s.break_line("fib.c", 15)
        for _ in range(3):
            stop = s.cont()
        theirs = [(f.function, f.line or 0) for f in stop.frames]
        assert [(n.split("(")[0], ln) for n, ln in ours] == theirs
        assert ours_vars == [s.variables(0), s.variables(1)]
    assert ours_vars[0]["n"] == "8"  # fib(10) -> fib(9) -> fib(8)


def test_next_then_step_back_retraces_lines_and_values(dap, fib_trace):
    dap.start(launch(fib_trace))
    dap.request("setFunctionBreakpoints", {"breakpoints": [{"name": "main"}]})
    assert dap.move("continue")["reason"] == "function breakpoint"
    dap.request("setFunctionBreakpoints", {"breakpoints": []})
    seen = [(dap.where(), dap.locals())]
    for _ in range(6):  # main's lines, over fib(10) and print_table
        assert dap.move("next")["reason"] == "step"
        seen.append((dap.where(), dap.locals()))
    assert [w[0][2] for w, _ in seen] == [36, 37, 39, 40, 41, 42, 43]
    assert seen[3][1]["result"] == "55"
    back = []
    for _ in range(6):
        assert dap.move("stepBack")["reason"] == "step"
        back.append((dap.where(), dap.locals()))
    assert back == seen[-2::-1]


def test_instruction_granularity_both_ways(dap, fib_trace):
    dap.start(launch(fib_trace, stopAt=300))
    assert dap.request("ttdWhen")["body"]["step"] == 300
    pcs = [dap.frames()[0]["instructionPointerReference"]]
    for _ in range(5):
        dap.move("stepIn", granularity="instruction")
        pcs.append(dap.frames()[0]["instructionPointerReference"])
    assert dap.request("ttdWhen")["body"]["step"] == 305
    for i in range(5):
        dap.move("stepBack", granularity="instruction")
        assert dap.frames()[0]["instructionPointerReference"] == pcs[-2 - i]
    assert dap.request("ttdWhen")["body"]["step"] == 300


def test_reverse_continue_lands_on_the_previous_hit(dap, fib_trace):
    dap.start(launch(fib_trace), {FIB_C: [15]})
    ns = []
    for _ in range(4):
        dap.move("continue")
        ns.append(dap.locals()["n"])
    assert ns == ["10", "9", "8", "7"]
    for want in ("8", "9", "10"):
        stop = dap.move("reverseContinue")
        assert stop["reason"] == "breakpoint"
        assert dap.locals()["n"] == want
    stop = dap.move("reverseContinue")  # no hit before the first: the start
    assert dap.request("ttdWhen")["body"]["step"] == 0


def test_data_breakpoint_run_backwards_lands_on_the_last_write(dap, fib_trace):
    dap.start(launch(fib_trace))
    dap.request("setFunctionBreakpoints", {"breakpoints": [{"name": "print_table"}]})
    dap.move("continue")
    dap.request("setFunctionBreakpoints", {"breakpoints": []})
    fid = dap.frames()[0]["id"]
    globals_ref = dap.request("scopes", {"frameId": fid})["body"]["scopes"][1]["variablesReference"]
    names = [v["name"] for v in dap.request(
        "variables", {"variablesReference": globals_ref})["body"]["variables"]]
    assert "calls" in names
    info = dap.request("dataBreakpointInfo", {"variablesReference": globals_ref,
                                              "name": "calls"})["body"]
    assert info["dataId"] and "write" in info["accessTypes"]
    got = dap.request("setDataBreakpoints", {"breakpoints": [
        {"dataId": info["dataId"], "accessType": "write"}]})["body"]["breakpoints"]
    assert got[0]["verified"]
    before = dap.request("ttdWhen")["body"]["step"]
    stop = dap.move("reverseContinue")
    assert stop["reason"] == "data breakpoint"
    assert stop["hitBreakpointIds"] == [got[0]["id"]]
    assert dap.where()[0][1:] == ("fib.c", 15)  # calls++
    hit = dap.request("ttdWhen")["body"]["step"]
    assert hit < before
    # ttd's own answer to "who wrote it last": the same instruction
    addr, size = info["dataId"].split("/")
    q = subprocess.run([*TTD, "query", "--json", str(fib_trace), "writes", f"{addr}:{size}",
                        "--to", str(before)], capture_output=True, text=True)
    assert q.returncode == 0, q.stderr
    last = max(int(m) for m in re.findall(r'"step":\s*(\d+)', q.stdout))
    assert hit in (last, last + 1)
    # `ttd last-write calls` from where we were: the same instruction
    dap.request("setDataBreakpoints", {"breakpoints": []})
    dap.request("ttdGoto", {"step": before})
    assert dap.event("stopped")["reason"] == "goto"
    dap.request("ttdLastWrite", {"expression": "calls", "frameId": dap.frames()[0]["id"]})
    assert dap.event("stopped")["reason"] == "goto"
    assert dap.request("ttdWhen")["body"]["step"] == hit


def test_stop_at_end_of_a_trap_shows_the_exception_and_steps_back(dap, trap_trace):
    first = dap.start(launch(trap_trace, stopAt="end"))
    assert first["reason"] == "exception"
    info = dap.request("exceptionInfo", {"threadId": dap.thread()})["body"]
    assert "out of bounds" in info["description"]
    assert dap.where()[0][:3] == ("read_balance", "trap.c", 34)
    assert dap.locals()["r"] == "0x7fff09c0"
    end = dap.request("ttdWhen")["body"]
    assert end["step"] == end["total"] - 1
    dap.move("stepBack")  # from read_balance's first line: back to its call
    assert dap.request("ttdWhen")["body"]["step"] < end["step"]
    assert dap.where()[0][:3] == ("main", "trap.c", 48)
    dap.move("ttdReverseStepOut")
    assert dap.where()[0][0] == "_start"
    r = dap.request("exceptionInfo", {"threadId": dap.thread()}, ok=False)
    assert not r["success"]


def test_logpoint_prints_every_hit_without_stopping(dap, fib_trace):
    dap.start(launch(fib_trace))
    got = dap.request("setBreakpoints", {"source": {"path": FIB_C}, "breakpoints": [
        {"line": 27, "logMessage": "i={i} prev={prev}"}]})["body"]["breakpoints"]
    assert got[0]["verified"]
    dap.drain_output()
    stop = dap.move("continue")  # to the end of the recording: every hit printed
    assert stop["reason"] == "step" and "end of the recording" in stop.get("description", "")
    lines = [ln for out in dap.drain_output() for ln in out.splitlines() if ln.startswith("i=")]
    assert lines == [f"i={i} prev={_fib(i)}" for i in range(11)]
    dap.move("reverseContinue")  # backwards too: the hits in reverse order
    lines = [ln for out in dap.drain_output() for ln in out.splitlines() if ln.startswith("i=")]
    assert lines == [f"i={i} prev={_fib(i)}" for i in range(10, -1, -1)]


def test_conditional_and_hit_count_breakpoints(dap, fib_trace):
    dap.start(launch(fib_trace))
    dap.request("setBreakpoints", {"source": {"path": FIB_C}, "breakpoints": [
        {"line": 15, "condition": "n == 3"}]})
    dap.move("continue")
    assert dap.locals()["n"] == "3"
    dap.request("setBreakpoints", {"source": {"path": FIB_C}, "breakpoints": [
        {"line": 27, "hitCondition": "4"}]})
    dap.move("continue")
    assert dap.locals()["i"] == "3"  # the fourth hit


def test_evaluate_repl_memory_and_disassembly(dap, fib_trace):
    dap.start(launch(fib_trace))
    dap.request("setFunctionBreakpoints", {"breakpoints": [{"name": "fib"}]})
    dap.move("continue")
    fid = dap.frames()[0]["id"]
    assert dap.request("evaluate", {"expression": "n * 2", "frameId": fid,
                                    "context": "watch"})["body"]["result"] == "20"
    out = dap.request("evaluate", {"expression": "`bt", "context": "repl"})["body"]["result"]
    assert "fib(n=10)" in out
    out = dap.request("evaluate", {"expression": "-exec ttd when", "context": "repl"})["body"]
    assert re.search(r"step \d+ of \d+", out["result"])
    bad = dap.request("evaluate", {"expression": "no_such_thing", "frameId": fid}, ok=False)
    assert not bad["success"] and bad["message"]
    calls = dap.request("evaluate", {"expression": "&calls", "frameId": fid})["body"]
    mem = dap.request("readMemory", {"memoryReference": calls["memoryReference"],
                                     "count": 4})["body"]
    import base64
    assert int.from_bytes(base64.b64decode(mem["data"]), "little") == int(
        dap.request("evaluate", {"expression": "calls", "frameId": fid})["body"]["result"])
    pc = dap.frames()[0]["instructionPointerReference"]
    ins = dap.request("disassemble", {"memoryReference": pc, "instructionOffset": -2,
                                      "instructionCount": 5})["body"]["instructions"]
    assert len(ins) == 5 and ins[2]["address"] == pc and ins[2]["instruction"]
    assert ins[2]["location"]["path"] == FIB_C
    # a window wider than the function: placeholders around it, addresses still in order
    ins = dap.request("disassemble", {"memoryReference": pc, "instructionOffset": -200,
                                      "instructionCount": 400})["body"]["instructions"]
    assert len(ins) == 400 and ins[200]["address"] == pc
    hints = [i.get("presentationHint") for i in ins]
    assert hints[0] == "invalid" and hints[-1] == "invalid" and hints[200] is None
    real = [i for i in ins if i.get("presentationHint") != "invalid"]
    assert 10 < len(real) < 200  # fib, and only fib
    addrs = [int(i["address"], 16) for i in ins]
    assert addrs == sorted(addrs) and len(set(addrs)) == 400


def test_goto_and_when(dap, fib_trace):
    dap.start(launch(fib_trace))
    total = dap.request("ttdWhen")["body"]["total"]
    dap.request("ttdGoto", {"step": 1234})
    assert dap.event("stopped")["reason"] == "goto"
    assert dap.request("ttdWhen")["body"] == {"step": 1234, "total": total}
    dap.request("ttdGoto", {"step": "end"})
    dap.event("stopped")
    assert dap.request("ttdWhen")["body"]["step"] == total - 1
    r = dap.request("ttdGoto", {"step": total + 5}, ok=False)
    assert not r["success"] and "outside" in r["message"]
    r = dap.request("ttdGoto", {"step": [1]}, ok=False)
    assert not r["success"]


def test_malformed_requests_get_errors_and_the_adapter_keeps_serving(dap, fib_trace):
    def body(b: bytes) -> bytes:
        return b"Content-Length: %d\r\n\r\n" % len(b) + b

    dap.raw(body(b'{"seq": 41, "type": "request", "command": "threads", oops'))
    r = dap.response(41)
    assert not r["success"] and "JSON" in r["message"]
    dap.seq = 100
    assert "unknown command" in dap.request("frobnicate", ok=False)["message"]
    assert "missing argument" in dap.request("stackTrace", {}, ok=False)["message"]
    assert "must be" in dap.request("stackTrace", {"threadId": "one"}, ok=False)["message"]
    assert not dap.request("launch", {"trace": 5}, ok=False)["success"]
    r = dap.request("launch", {"trace": "/nonexistent/x.db"}, ok=False)
    assert "no such trace" in r["message"]
    for raw, why in [(b"Content-Length: 999999999999\r\n\r\n", "over the limit"),
                     (b"garbage garbage\r\n\r\n", "garbage header"),
                     (b"Content-Length: 2\r\nX-Other: 1\r\n\r\n{}", "integer seq"),
                     (body(b"[1, 2]"), "JSON object")]:
        dap.raw(raw)
        errors = [e for e in dap.drain_output() if "bad message" in e]
        assert len(errors) == 1 and why in errors[0], (raw, errors)
    stop = dap.start(launch(fib_trace))  # still serving
    assert stop["reason"] == "entry"
    assert dap.proc.poll() is None


def test_program_launch_records_then_debugs(dap, tmp_path):
    dap.request("initialize", {"adapterID": "ttd"})
    dap.request("launch", {"program": str(PROGRAMS / "fib.wasm"), "args": ["6"],
                           "out": str(tmp_path / "f.db"), "sourceMap": {"src": SRC}})
    dap.event("initialized")
    dap.request("configurationDone")
    assert dap.event("stopped")["reason"] == "entry"
    out = "".join(dap.drain_output())
    assert "fib(6) = 8" in out and (tmp_path / "f.db").exists()
    dap.request("setFunctionBreakpoints", {"breakpoints": [{"name": "fib"}]})
    dap.move("continue")
    assert dap.locals()["n"] == "6"


def test_program_launch_failure_is_one_line(tmp_path):
    require_lldb()
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"not wasm at all")
    c = WireClient.stdio()
    try:
        c.request("initialize", {"adapterID": "ttd"})
        r = c.request("launch", {"program": str(bad)}, ok=False)
        assert not r["success"] and "\n" not in r["message"] and r["message"]
        r = c.request("launch", {"program": str(tmp_path / "missing.wasm")}, ok=False)
        assert not r["success"] and "missing.wasm" in r["message"]
    finally:
        c.send("disconnect")
        c.close()
    assert b"Traceback" not in c.proc.stderr.read()


def test_tcp_serves_clients_at_once(fib_trace):
    proc = subprocess.Popen([*TTD, "dap", "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.fullmatch(r"ttd dap: listening on 127\.0\.0\.1:(\d+)\n", line)
        assert m, line
        port = int(m.group(1))
        slow = WireClient.tcp(port)  # connected, silent: must not hold the other back
        c = WireClient.tcp(port)
        t0 = time.monotonic()
        assert c.start(launch(fib_trace))["reason"] == "entry"
        assert time.monotonic() - t0 < 60
        slow.request("initialize", {"adapterID": "ttd"})
        c.request("disconnect")
        c.close()
        slow.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.parametrize("name", ["envargs", "stdin_wc", "files"])
def test_program_launch_passes_args_env_dirs_and_stdin(name, tmp_path):
    from tests.support.cases import get_case

    require_lldb()
    case = get_case(name)
    launch_args = {"program": str(case.wasm_path.resolve()), "args": list(case.args),
                   "env": dict(case.env), "out": str(tmp_path / "t.db")}
    if case.stdin is not None:
        (tmp_path / "in.txt").write_text(case.stdin)
        launch_args["stdin"] = str(tmp_path / "in.txt")
    cwd = None
    if case.dirs:  # host paths relative to the adapter's working directory
        launch_args["dirs"] = {host: guest for host, guest in case.dirs}
        cwd = PROGRAMS
    c = WireClient.stdio(cwd=cwd)
    try:
        c.request("initialize", {"adapterID": "ttd"})
        c.request("launch", launch_args)
        c.request("configurationDone")
        assert c.event("stopped")["reason"] == "entry"
        out = [e["body"] for e in c.events if e["event"] == "output"]
        stdout = "".join(o["output"] for o in out if o.get("category") == "stdout")
        assert stdout == case.expected_stdout
        end = c.request("ttdGoto", {"step": "end"})
        assert end["success"]
    finally:
        c.send("disconnect")
        c.close()


def test_step_out_and_reverse_step_out_act_on_the_selected_frame(dap, fib_trace):
    dap.start(launch(fib_trace), {FIB_C: [15]})
    for _ in range(4):
        dap.move("continue")  # fib(7) in fib(8) in fib(9) in fib(10)
    dap.request("setBreakpoints", {"source": {"path": FIB_C}, "breakpoints": []})
    frames = dap.frames()
    assert [f["name"].split("(")[0] for f in frames[:5]] == ["fib"] * 4 + ["main"]
    dap.request("scopes", {"frameId": frames[2]["id"]})  # the user selects fib(9)
    dap.move("stepOut")
    assert [f["name"].split("(")[0] for f in dap.frames()][:2] == ["fib", "main"]
    assert dap.locals()["n"] == "10"
    dap.request("scopes", {"frameId": dap.frames()[0]["id"]})
    dap.move("ttdReverseStepOut")  # back to where fib(10) was called: in main
    assert dap.where()[0][:3] == ("main", "fib.c", 39)


def _children(pid: int) -> list[int]:
    from pathlib import Path

    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(x) for x in (task / "children").read_text().split()]
    return out


def _gone(pid: int, timeout: float = 20) -> bool:
    import os

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("how", ["disconnect", "sigterm"])
def test_the_server_ends_with_the_adapter(fib_trace, how):
    c = WireClient.stdio()
    try:
        c.start(launch(fib_trace))
        servers = _children(c.proc.pid)
        assert len(servers) == 1
        if how == "disconnect":
            c.request("disconnect")
        else:
            c.proc.terminate()
        assert c.proc.wait(timeout=30) == 0
        assert _gone(servers[0])
    finally:
        c.close()
    assert b"Traceback" not in c.proc.stderr.read()


def test_without_a_source_map_the_breakpoint_path_names_the_file(dap, fib_trace):
    trace = {"type": "ttd", "request": "launch", "trace": str(fib_trace)}
    dap.start(trace, {FIB_C: [15]})
    dap.move("continue")
    frame = dap.frames()[0]
    assert frame["source"]["path"] == FIB_C
    ins = dap.request("disassemble", {"memoryReference": frame["instructionPointerReference"],
                                      "instructionCount": 2})["body"]["instructions"]
    assert ins[0]["location"]["path"] == FIB_C


def test_program_launch_finds_sources_beside_the_program(dap, tmp_path):
    dap.request("initialize", {"adapterID": "ttd"})
    dap.request("launch", {"program": str(PROGRAMS / "fib.wasm"), "args": ["3"],
                           "out": str(tmp_path / "f.db")})
    dap.request("configurationDone")
    dap.event("stopped")
    dap.request("setFunctionBreakpoints", {"breakpoints": [{"name": "fib"}]})
    dap.move("continue")
    assert dap.frames()[0]["source"]["path"] == FIB_C  # src/fib.c, beside fib.wasm
