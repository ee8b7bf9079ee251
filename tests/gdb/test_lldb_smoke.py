"""The real LLDB (Python module, wasm plugin) against GdbConnection over a FakeTarget.

The socket and the thread live in this test only: ttd.gdb itself never touches I/O.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.gdb.fake_target import FakeTarget
from ttd.gdb.protocol import GdbConnection
from ttd.gdb.target import code_addr

lldb = pytest.importorskip("lldb")
wasmtime = pytest.importorskip("wasmtime")

WAT = """(module
  (memory (export "memory") 1)
  (func $add (export "add") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add)
  (func $main (export "_start")
    i32.const 1 i32.const 2 call $add drop))"""


class TinyProgram(FakeTarget):
    """main calls add: the call stack has add's caller at its return address."""

    def call_stack(self) -> list[int]:
        self._call("call_stack")
        pc = self.path[self.index]
        return [code_addr(pc)] + ([code_addr(self.ret)] if self.add_start <= pc < self.main_start
                                  else [])


def tiny_program() -> TinyProgram:
    wasm = wasmtime.wat2wasm(WAT)
    add = wasm.index(bytes.fromhex("200020016a0b"))  # local.get 0, local.get 1, i32.add, end
    main = wasm.index(bytes.fromhex("4101410210001a0b"))  # i32.const 1, 2, call 0, drop, end
    t = TinyProgram(module=wasm, memory=bytes(65536), callers=[],
                    path=[main, main + 2, main + 4, add, add + 2, add + 4, add + 5,
                          main + 6, main + 7])
    t.add_start, t.main_start, t.ret = add, main - 2, main + 6  # type: ignore[attr-defined]
    return t


class Server(threading.Thread):
    """Accept one connection and shuttle bytes through a GdbConnection."""

    def __init__(self, target: FakeTarget):
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.conn = GdbConnection(target)
        self.error: BaseException | None = None
        self.sent: list[bytes] = []

    def run(self) -> None:
        try:
            client, _ = self.sock.accept()
            client.settimeout(30)
            with client:
                while not self.conn.closed:
                    data = client.recv(65536)
                    if not data:
                        break
                    for out in self.conn.feed(data):
                        self.sent.append(out)
                        client.sendall(out)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.sock.close()


@pytest.fixture
def target() -> TinyProgram:
    return tiny_program()


@pytest.fixture
def session(target):
    server = Server(target)
    server.start()
    lldb.SBDebugger.Initialize()
    debugger = lldb.SBDebugger.Create(False)
    debugger.SetAsync(False)
    debugger.HandleCommand("settings set plugin.process.gdb-remote.packet-timeout 20")
    lldb_target = debugger.CreateTarget("")
    error = lldb.SBError()
    process = lldb_target.ConnectRemote(debugger.GetListener(),
                                        f"connect://127.0.0.1:{server.port}", "wasm", error)
    try:
        assert error.Success(), error.GetCString()
        yield debugger, lldb_target, process, target, server
    finally:
        if process.IsValid() and process.GetState() == lldb.eStateStopped:
            process.Detach()
        server.join(10)
        lldb.SBDebugger.Destroy(debugger)


def where(process) -> tuple[int, int, list[str]]:
    thread = process.GetSelectedThread()
    return (thread.GetStopReason(), thread.GetFrameAtIndex(0).GetPC(),
            [f.GetFunctionName() for f in thread])


def test_lldb_connects_steps_and_runs_both_ways(session):
    debugger, lldb_target, process, target, server = session
    t = target
    main, add = t.path[0], t.path[3]

    # connected, stopped at the first instruction of main, module loaded from the server
    assert process.GetState() == lldb.eStateStopped
    assert where(process) == (lldb.eStopReasonSignal, code_addr(main), ["main"])
    names = [m.GetFileSpec().GetFilename() for m in lldb_target.modules]
    assert names == ["test.wasm"]
    assert lldb_target.FindFunctions("add").GetSize() == 1

    # a breakpoint by address; continue hits it, with add's caller on the stack
    bp = lldb_target.BreakpointCreateByAddress(code_addr(add + 2))
    assert bp.GetNumLocations() == 1
    assert process.Continue().Success()
    assert where(process) == (lldb.eStopReasonBreakpoint, code_addr(add + 2), ["add", "main"])

    # backwards to the start of the recording: a history boundary
    assert process.ContinueInDirection(lldb.eRunReverse).Success()
    assert where(process)[:2] == (lldb.eStopReasonHistoryBoundary, code_addr(main))

    # a monitor command: output through O packets, then OK
    result = lldb.SBCommandReturnObject()
    debugger.GetCommandInterpreter().HandleCommand("process plugin packet monitor when", result)
    assert "ran when" in result.GetOutput()
    assert "response: OK" in result.GetOutput()

    # forwards again to the breakpoint, one instruction, then off the end of the recording
    assert process.ContinueInDirection(lldb.eRunForward).Success()
    assert where(process)[:2] == (lldb.eStopReasonBreakpoint, code_addr(add + 2))
    process.GetSelectedThread().StepInstruction(False)
    assert where(process)[1] == code_addr(add + 4)
    assert process.Continue().Success()
    assert where(process)[:2] == (lldb.eStopReasonHistoryBoundary, code_addr(t.path[-1]))

    assert process.Detach().Success()
    server.join(10)
    assert not server.is_alive() and server.error is None
    assert server.conn.closed and t.called("detach")
    assert not server.conn.unsupported, server.conn.unsupported
    resumes = [c[1].value for c in t.called("resume")]
    assert resumes == ["c", "bc", "c", "s", "c"]


def test_interrupt_during_a_slow_resume_keeps_lldb_in_step(session):
    """LLDB sends 0x03 while `c` runs; the server answers it only after the resume's own stop
    reply. LLDB must take the first reply as the stop and drop the extra T02."""
    debugger, lldb_target, process, target, server = session
    forward = target.resume

    def slow_resume(action):
        time.sleep(1.0)
        return forward(action)

    target.resume = slow_resume  # type: ignore[method-assign]
    listener = debugger.GetListener()
    debugger.SetAsync(True)
    event = lldb.SBEvent()
    process.Continue()
    while listener.WaitForEvent(5, event):
        if lldb.SBProcess.GetStateFromEvent(event) == lldb.eStateRunning:
            break
    time.sleep(0.2)
    assert process.Stop().Success()
    while process.GetState() != lldb.eStateStopped and listener.WaitForEvent(5, event):
        pass
    debugger.SetAsync(False)
    assert process.GetState() == lldb.eStateStopped
    assert target.called("interrupt"), "the 0x03 reached the connection"
    stops = [o for o in server.sent if o.startswith((b"$T05", b"$T02"))]
    assert [s[:4] for s in stops[-2:]] == [b"$T05", b"$T02"]
    # the stop LLDB kept is the resume's (the end of the recording), and it still talks sense
    assert where(process)[:2] == (lldb.eStopReasonHistoryBoundary, code_addr(target.path[-1]))
    target.resume = forward  # type: ignore[method-assign]
    assert process.ContinueInDirection(lldb.eRunReverse).Success()
    assert where(process)[:2] == (lldb.eStopReasonHistoryBoundary, code_addr(target.path[0]))


def test_a_failing_resume_stops_lldb_instead_of_looping(session):
    """Reporting the old stop again made LLDB's instruction-step plan retry forever; an
    exception stop at the same pc, saying what failed, ends the plan after one try."""
    debugger, lldb_target, process, target, server = session
    target.fail = {"resume"}
    thread = process.GetSelectedThread()
    worker = threading.Thread(target=lambda: thread.StepInstruction(False), daemon=True)
    worker.start()
    worker.join(15)
    looping = worker.is_alive()
    target.fail = set()  # let a looping LLDB finish before teardown
    worker.join(15)
    assert not looping, f"LLDB retried {len(target.called('resume'))} times"
    assert len(target.called("resume")) == 1
    assert thread.GetStopReason() == lldb.eStopReasonException
    assert "ttd: step failed: resume failed on purpose" in thread.GetStopDescription(200)
    assert thread.GetFrameAtIndex(0).GetPC() == code_addr(target.path[0])
