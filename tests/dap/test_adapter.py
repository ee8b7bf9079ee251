"""The adapter's DAP state over a scripted backend: ids, handles, source mapping, the
logpoint loop, stop reasons and argument checking (no LLDB, no I/O)."""

from __future__ import annotations

import pytest

from ttd.dap.adapter import WATCH_BASE, Adapter, SourceMap, hit_ignore, RequestError
from ttd.dap.backend import BackendError, FrameInfo, StopInfo, VarInfo


class FakeBackend:
    def __init__(self, trace, at):
        self.trace, self.at = trace, at
        self.calls = []
        self.stops = []  # what each move ends at
        self.stop = StopInfo("step", description="signal SIGTRAP")
        self.bps = {}
        self.enabled = {}
        self.values = {"x": 7}
        self.closed = False

    def close(self): self.closed = True
    def stop_info(self): return self.stop

    def move(self, kind, frame=0):
        self.frame = frame
        self.calls.append((kind, {b for b, on in self.enabled.items() if on}))
        self.stop = self.stops.pop(0)

    def goto(self, pos): self.calls.append(("goto", pos))
    def last_write(self, expr, frame): self.calls.append(("last_write", expr, frame))
    def when(self): return 5, 10
    def threads(self): return [(1, "main")]

    def frames(self, thread):
        return [FrameInfo("f", "src/a.c", 3, 2, 0x40), FrameInfo("g", None, 0, 0, 0x80)]

    def break_source(self, path, line, cond, ignore):
        bid = len(self.bps) + 1
        self.bps[bid] = (path, line, cond, ignore)
        self.enabled[bid] = True
        return bid, line < 100, line + 1, "src/a.c"

    def break_function(self, name, cond, ignore):
        bid = len(self.bps) + 1
        self.bps[bid] = (name, cond, ignore)
        self.enabled[bid] = True
        return bid, True

    def delete_breakpoint(self, bid):
        self.bps.pop(bid)
        self.enabled.pop(bid)

    def enable_breakpoint(self, bid, on): self.enabled[bid] = on
    def watch(self, addr, size, read, write, cond, ignore):
        self.bps[("w", addr)] = (size, read, write)
        return 3
    def delete_watch(self, wid): pass

    def scope(self, frame, kind):
        child = VarInfo("inner", "1", "int", False)
        return [VarInfo("s", "{...}", "struct S", True, [child]), VarInfo("x", "7", "int", False)]

    def children(self, handle): return handle
    def address_of(self, handle): return (0x1000, 4)

    def evaluate(self, expr, frame):
        if expr not in self.values:
            raise BackendError(f"no {expr}")
        return VarInfo(expr, str(self.values[expr]), "int", False)

    def command(self, text): return f"ran {text}"
    def read_memory(self, addr, n): return bytes(range(n))
    def disassemble(self, addr, off, count):
        from ttd.dap.backend import Instruction
        return [Instruction(0x40 + k, f"op{k}", "00") if 0 <= k < 2 else None
                for k in range(off, off + count)]


class Harness:
    def __init__(self):
        self.out = []
        self.backend = None

        def make(trace, at):
            self.backend = FakeBackend(trace, at)
            return self.backend
        self.adapter = Adapter(make, lambda req, body, ok, msg: self.out.append(
            ("response", req["command"], ok, body, msg)),
            lambda name, body: self.out.append(("event", name, body)))
        self.seq = 0

    def __call__(self, command, **args):
        self.seq += 1
        n = len(self.out)
        self.adapter.handle({"seq": self.seq, "type": "request", "command": command,
                             "arguments": args})
        resp = next(o for o in self.out[n:] if o[0] == "response")
        return resp

    def ok(self, command, **args):
        r = self(command, **args)
        assert r[2], r
        return r[3]

    def events(self, name):
        return [o[2] for o in self.out if o[0] == "event" and o[1] == name]


@pytest.fixture
def h(tmp_path):
    h = Harness()
    trace = tmp_path / "t.db"
    trace.write_bytes(b"")
    h.ok("initialize")
    h.ok("launch", trace=str(trace), stopAt="end", sourceMap={"src": "/home/me/proj/src"})
    h.ok("configurationDone")
    return h


def test_launch_then_entry_stop_and_the_source_map(h):
    assert h.backend.at == "end"
    assert h.events("initialized") == [None]
    assert h.events("stopped")[-1]["reason"] == "entry"
    frames = h.ok("stackTrace", threadId=1)["stackFrames"]
    assert frames[0]["source"]["path"] == "/home/me/proj/src/a.c"
    assert "source" not in frames[1] and frames[1]["presentationHint"] == "subtle"
    h.ok("setBreakpoints", source={"path": "/home/me/proj/src/a.c"}, breakpoints=[{"line": 4}])
    assert h.backend.bps[1][:2] == ("src/a.c", 4)


def test_a_breakpoint_path_names_the_file_it_resolved_in(tmp_path, monkeypatch):
    h = Harness()
    (tmp_path / "t.db").write_bytes(b"")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.c").write_text("")
    h.ok("launch", trace=str(tmp_path / "t.db"))
    h.ok("configurationDone")
    h.adapter.search_dirs = [tmp_path]
    # no sourceMap: a relative DWARF name found on disk shows as that file
    assert h.ok("stackTrace", threadId=1)["stackFrames"][0]["source"]["path"] == str(
        tmp_path / "src" / "a.c")
    h.ok("setBreakpoints", source={"path": "/client/view/a.c"}, breakpoints=[{"line": 4}])
    assert h.ok("stackTrace", threadId=1)["stackFrames"][0]["source"]["path"] == "/client/view/a.c"


def test_set_breakpoints_replaces_the_file_and_reports_lines(h):
    got = h.ok("setBreakpoints", source={"path": "/x/a.c"},
               breakpoints=[{"line": 4, "condition": "n > 1"}, {"line": 500, "hitCondition": "3"}])
    assert [(b["verified"], b["line"]) for b in got["breakpoints"]] == [(True, 5), (False, 501)]
    assert h.backend.bps[1] == ("/x/a.c", 4, "n > 1", 0)
    assert h.backend.bps[2][3] == 2
    h.ok("setBreakpoints", source={"path": "/x/a.c"}, breakpoints=[])
    assert h.backend.bps == {}
    bad = h.ok("setBreakpoints", source={"path": "/x/a.c"},
               breakpoints=[{"line": 4, "hitCondition": "%2"}])["breakpoints"][0]
    assert bad["verified"] is False and "hit condition" in bad["message"]


def test_reasons_for_breakpoints_functions_and_watchpoints(h):
    h.ok("setBreakpoints", source={"path": "a.c"}, breakpoints=[{"line": 4}])
    h.ok("setFunctionBreakpoints", breakpoints=[{"name": "main"}])
    h.backend.stops = [StopInfo("breakpoint", [2]), StopInfo("breakpoint", [1]),
                       StopInfo("watchpoint", [3]), StopInfo("exception", description="boom"),
                       StopInfo("boundary", description="start")]
    for cmd in ("continue", "continue", "reverseContinue", "continue", "reverseContinue"):
        h.ok(cmd, threadId=1)
    got = [(e["reason"], e.get("hitBreakpointIds")) for e in h.events("stopped")[1:]]
    assert got == [("function breakpoint", [2]), ("breakpoint", [1]),
                   ("data breakpoint", [WATCH_BASE + 3]), ("exception", None), ("step", None)]
    assert "not stopped at a trap" in h("exceptionInfo", threadId=1)[4]  # at the start now
    h.backend.stops = [StopInfo("exception", description="boom")]
    h.ok("continue", threadId=1)
    assert h.ok("exceptionInfo", threadId=1)["description"] == "boom"


def test_moves_and_granularity(h):
    h.backend.stops = [StopInfo("step")] * 8
    for cmd, gran in [("next", None), ("next", "instruction"), ("stepIn", "instruction"),
                      ("stepBack", None), ("stepBack", "instruction"), ("stepOut", None),
                      ("ttdReverseStepIn", None), ("ttdReverseStepOut", None)]:
        h.ok(cmd, threadId=1, **({"granularity": gran} if gran else {}))
    assert [c[0] for c in h.backend.calls] == [
        "next", "nextInst", "stepInInst", "stepBack", "stepBackInst", "stepOut",
        "reverseStepIn", "reverseStepOut"]
    assert all(e["reason"] == "step" for e in h.events("stopped")[1:])


def test_moves_act_on_the_frame_last_shown(h):
    frames = h.ok("stackTrace", threadId=1)["stackFrames"]
    h.ok("scopes", frameId=frames[1]["id"])
    h.backend.stops = [StopInfo("step"), StopInfo("step")]
    h.ok("stepBack", threadId=1)
    assert h.backend.frame == 1
    h.ok("stepBack", threadId=1)  # a stop selects the innermost frame again
    assert h.backend.frame == 0


def test_a_move_that_fails_midway_still_ends_in_a_stop(h):
    h.backend.stops = []  # the move raises (IndexError: an unexpected failure)
    h.ok("next", threadId=1)
    assert "ttd: pop from empty list" in h.events("output")[-1]["output"]
    assert len(h.events("stopped")) == 2  # the entry, and the resync after the failure


def test_logpoints_print_each_hit_and_run_on(h):
    h.backend.values = {"i": 0}
    h.ok("setBreakpoints", source={"path": "a.c"}, breakpoints=[
        {"line": 4, "logMessage": "i is {i}, {nope}"}, {"line": 9}])
    stops = []
    for i in range(3):
        stops.append(StopInfo("breakpoint", [1]))
    stops.append(StopInfo("breakpoint", [2]))
    h.backend.stops = stops
    h.ok("continue", threadId=1)
    out = [e["output"] for e in h.events("output")]
    assert out == ["i is 0, <no nope>\n"] * 3
    assert [e["reason"] for e in h.events("stopped")] == ["entry", "breakpoint"]
    # steps pass logpoints by: they are disabled while a step runs
    h.backend.stops = [StopInfo("step")]
    h.ok("next", threadId=1)
    assert h.backend.calls[-1] == ("next", {2})
    assert h.backend.enabled == {1: True, 2: True}


def test_variables_handles_and_frames(h):
    frames = h.ok("stackTrace", threadId=1)["stackFrames"]
    scopes = h.ok("scopes", frameId=frames[0]["id"])["scopes"]
    assert [s["name"] for s in scopes] == ["Locals", "Globals"]
    vs = h.ok("variables", variablesReference=scopes[0]["variablesReference"])["variables"]
    assert [(v["name"], v["value"]) for v in vs] == [("s", "{...}"), ("x", "7")]
    kids = h.ok("variables", variablesReference=vs[0]["variablesReference"])["variables"]
    assert kids[0]["name"] == "inner" and kids[0]["variablesReference"] == 0
    info = h.ok("dataBreakpointInfo", variablesReference=scopes[0]["variablesReference"],
                name="x")
    assert info["dataId"] == "0x1000/4"
    got = h.ok("setDataBreakpoints", breakpoints=[{"dataId": info["dataId"],
                                                   "accessType": "readWrite"}])
    assert got["breakpoints"][0]["id"] == WATCH_BASE + 3
    assert h.backend.bps[("w", 0x1000)] == (4, True, True)
    # a stop forgets the handles
    h.backend.stops = [StopInfo("step")]
    h.ok("next", threadId=1)
    r = h("variables", variablesReference=scopes[0]["variablesReference"])
    assert not r[2] and "unknown variablesReference" in r[4]


def test_repl_commands_and_evaluate(h):
    assert h.ok("evaluate", expression="`bt", context="repl")["result"] == "ran bt"
    assert h.ok("evaluate", expression="-exec frame variable", context="repl")["result"] == \
        "ran frame variable"
    assert h.ok("evaluate", expression="x", context="hover")["result"] == "7"
    r = h("evaluate", expression="`bt", context="watch")  # only the repl runs commands
    assert not r[2] and "no `bt" in r[4]


def test_custom_requests(h):
    assert h.ok("ttdWhen") == {"step": 5, "total": 10}
    h.ok("ttdGoto", step=3)
    h.ok("ttdGoto", step="start")
    assert h.events("stopped")[-1]["reason"] == "goto"
    h.ok("ttdLastWrite", expression="x")
    assert h.backend.calls[-3:] == [("goto", "3"), ("goto", "start"), ("last_write", "x", 0)]
    for bad in ({"step": "middle"}, {"step": True}, {}):
        assert not h("ttdGoto", **bad)[2]
    assert "missing argument 'expression'" in h("ttdLastWrite")[4]


def test_memory(h):
    import base64
    got = h.ok("readMemory", memoryReference="0x10", offset=2, count=4)
    assert got["address"] == "0x12" and base64.b64decode(got["data"]) == bytes(range(4))
    assert not h("readMemory", memoryReference="zz", count=1)[2]
    ins = h.ok("disassemble", memoryReference="0x40", instructionOffset=-2,
               instructionCount=6)["instructions"]
    assert [(i["address"], i["instruction"]) for i in ins] == [
        ("0x3e", ""), ("0x3f", ""), ("0x40", "op0"), ("0x41", "op1"), ("0x42", ""), ("0x43", "")]
    assert [i.get("presentationHint") for i in ins] == ["invalid"] * 2 + [None] * 2 + ["invalid"] * 2


@pytest.mark.parametrize("command,args,why", [
    ("nosuch", {}, "unknown command"),
    ("stackTrace", {}, "missing argument 'threadId'"),
    ("stackTrace", {"threadId": True}, "must be int"),
    ("scopes", {"frameId": 999}, "unknown frameId"),
    ("setBreakpoints", {"source": {"path": "a.c"}, "breakpoints": [{"line": "4"}]}, "integer line"),
    ("setFunctionBreakpoints", {"breakpoints": [{}]}, "needs a name"),
    ("launch", {"trace": "x"}, "already launched"),
])
def test_bad_requests_fail_with_a_message(h, command, args, why):
    r = h(command, **args)
    assert r[2] is False and why in r[4]


def test_before_launch(tmp_path):
    h = Harness()
    h.ok("initialize")
    assert h.ok("threads") == {"threads": []}
    assert "launch first" in h("next", threadId=1)[4]
    got = h.ok("setBreakpoints", source={"path": "a.c"}, breakpoints=[{"line": 4}])
    assert got["breakpoints"][0]["verified"] is False
    for args, why in [({}, "either 'trace' or 'program'"),
                      ({"trace": str(tmp_path / "no.db")}, "no such trace"),
                      ({"trace": "x", "program": "y"}, "either"),
                      ({"trace": "x", "stopAt": "middle"}, "stopAt"),
                      ({"trace": "x", "sourceMap": {"a": 1}}, "sourceMap"),
                      ({"program": "p.wasm", "args": "a b"}, "'args' must be list"),
                      ({"program": "p.wasm", "env": {"A": 1}}, "'env' must map")]:
        r = h("launch", **args)
        assert r[2] is False and why in r[4], (args, r)
    (tmp_path / "t.db").write_bytes(b"")
    h.ok("launch", trace=str(tmp_path / "t.db"))
    assert h.backend.bps == {1: ("a.c", 4, None, 0)}  # the early breakpoints, set now
    h.ok("disconnect")
    assert h.backend.closed and h.adapter.done


def test_source_map_both_ways():
    m = SourceMap({"src": "/p/src", "/build/lib": "/home/lib"})
    assert m.to_client("src/a.c") == "/p/src/a.c"
    assert m.to_client("srcx/a.c") == "srcx/a.c"
    assert m.to_dwarf("/home/lib/x/y.c") == "/build/lib/x/y.c"
    assert m.to_dwarf("/elsewhere/a.c") == "/elsewhere/a.c"


@pytest.mark.parametrize("text,n", [("", 0), ("1", 0), ("5", 4), ("==5", 4), (">=5", 4),
                                    (">5", 5), (" 3 ", 2)])
def test_hit_conditions(text, n):
    assert hit_ignore(text) == n


def test_bad_hit_condition():
    with pytest.raises(RequestError):
        hit_ignore("%3")
