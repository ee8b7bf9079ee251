"""GdbConnection packet by packet over a FakeTarget."""

from __future__ import annotations

import logging

import pytest

from tests.gdb.fake_target import FakeTarget
from tests.gdb.wire import ask, ask1, check_output, frame, no_ack
from ttd.gdb.framing import encode_packet
from ttd.gdb.protocol import GdbConnection
from ttd.gdb.replies import stop_reply
from ttd.gdb.target import Resume, StopEvent, StopKind, WatchKind, code_addr

PC = code_addr(0x10)
PC_HEX = b"1000000000000040"  # little-endian u64


@pytest.fixture
def target() -> FakeTarget:
    return FakeTarget()


@pytest.fixture
def conn(target) -> GdbConnection:
    return no_ack(GdbConnection(target))


# ---- ack mode ------------------------------------------------------------------------------


def test_ack_mode_then_no_ack_mode(target):
    c = GdbConnection(target)
    assert c.feed(b"+") == []  # LLDB's opening ack
    assert c.feed(frame(b"qC")) == [b"+", b"$QC1#c5"]
    assert c.feed(b"$qC#00") == [b"-"]  # bad checksum: ask again
    assert c.feed(b"-") == [b"$QC1#c5"]  # nack: send the last reply again
    assert c.feed(frame(b"QStartNoAckMode")) == [b"+", b"$OK#9a"]
    assert c.feed(b"+" + frame(b"qC")) == [b"$QC1#c5"]
    assert c.feed(b"-") == []  # no retransmission in no-ack mode
    assert c.feed(b"$qC#00") == [b"$QC1#c5"]  # checksums are not checked in no-ack mode


def test_packets_split_anywhere_and_batched(target):
    c = GdbConnection(target)
    wire = frame(b"QStartNoAckMode") + frame(b"qfThreadInfo") + frame(b"qsThreadInfo")
    out = []
    for i in range(len(wire)):
        out += c.feed(wire[i:i + 1])
    assert check_output(out) == [b"OK", b"m1", b"l"]
    assert out[0] == b"+" and out.count(b"+") == 1


def test_oversized_packet_gets_an_error_reply(target):
    c = no_ack(GdbConnection(target, max_packet=64))
    out = check_output(c.feed(frame(b"qRcmd," + b"41" * 100) + frame(b"qC")))
    assert out == [b"E07", b"QC1"]
    assert c.reader.buffered == 0


# ---- handshake queries ---------------------------------------------------------------------


def test_q_supported(conn):
    reply = ask1(conn, b"qSupported:xmlRegisters=i386,arm,mips,arc;multiprocess+;swbreak+")
    features = reply.split(b";")
    assert features[0] == b"PacketSize=10000"
    for f in (b"QStartNoAckMode+", b"qXfer:libraries:read+", b"qXfer:memory-map:read+",
              b"ReverseContinue+", b"ReverseStep+", b"qWasmInstance+"):
        assert f in features
    assert b"qXfer:features:read+" not in reply
    assert b"multiprocess+" not in reply


@pytest.mark.parametrize("packet, reply", [
    (b"qC", b"QC1"),
    (b"qfThreadInfo", b"m1"),
    (b"qsThreadInfo", b"l"),
    (b"qAttached", b"1"),
    (b"qAttached:1", b"1"),
    (b"Hg1", b"OK"),
    (b"Hc-1", b"OK"),
    (b"Hgp1.1", b"OK"),
    (b"Hg0", b"OK"),
    (b"Hgxyz", b"E01"),
    (b"T1", b"OK"),
    (b"vCont?", b"vCont;c;C;s;S"),
    (b"qRegisterInfo0", b"name:pc;alt-name:pc;bitsize:64;offset:0;encoding:uint;format:hex;"
                        b"set:General Purpose Registers;gcc:16;dwarf:16;generic:pc;"),
    (b"qRegisterInfo1", b"E45"),
    (b"qRegisterInfo2a", b"E45"),
    (b"qRegisterInfoz", b"E01"),
    (b"qSymbol::", b"OK"),
    (b"qWatchpointSupportInfo:", b""),
    (b"QThreadSuffixSupported", b""),
    (b"QListThreadsInStopReply", b""),
    (b"QEnableErrorStrings", b""),
    (b"qVAttachOrWaitSupported", b""),
    (b"qOffsets", b""),
    (b"qStructuredDataPlugins", b""),
    (b"qModuleInfo:7761736d2d30;7761736d3332", b""),
    (b"jThreadsInfo", b""),
    (b"jThreadExtendedInfo:", b""),
    (b"x0,0", b""),
    (b"qXfer:features:read:target.xml:0,fff", b""),
])
def test_simple_queries(conn, packet, reply):
    assert ask1(conn, packet) == reply


def test_host_and_process_info(conn):
    triple = b"wasm32-unknown-unknown-wasm".hex().encode()
    host = dict(kv.split(b":", 1) for kv in ask1(conn, b"qHostInfo").split(b";") if kv)
    assert host[b"triple"] == triple
    assert host[b"ptrsize"] == b"4" and host[b"endian"] == b"little"
    proc = dict(kv.split(b":", 1) for kv in ask1(conn, b"qProcessInfo").split(b";") if kv)
    assert proc == {b"pid": b"1", b"triple": triple, b"ptrsize": b"4", b"endian": b"little"}


def test_watchpoint_support_info(target, conn):
    target.watch_slots = 4
    assert ask1(conn, b"qWatchpointSupportInfo:") == b"num:4;"


def test_unknown_packets_get_the_empty_reply_and_are_counted(conn):
    assert ask1(conn, b"qFooBar:1,2") == b""
    assert ask1(conn, b"!") == b""
    assert ask1(conn, b"") == b""
    assert conn.unsupported[b"qFooBar"] == 1
    assert b"QThreadSuffixSupported" not in conn.unsupported


def test_unsupported_names_are_bounded(conn):
    for i in range(200):
        ask1(conn, b"qUnknown%d" % i)
    assert len(conn.unsupported) <= 64


# ---- registers -----------------------------------------------------------------------------


def test_pc_register(conn):
    assert ask1(conn, b"p0") == PC_HEX
    assert ask1(conn, b"p0;thread:0001;") == PC_HEX
    assert ask1(conn, b"g") == PC_HEX
    assert ask1(conn, b"p1") == b"E45"
    assert ask1(conn, b"pzz") == b"E01"
    assert ask1(conn, b"P0=0000000000000000") == b"E1e"
    assert ask1(conn, b"G" + b"0" * 16) == b"E1e"


def test_pc_with_an_empty_call_stack_comes_from_the_stop(target, conn):
    target.callers = []
    target.call_stack = lambda: []  # type: ignore[method-assign]
    assert ask1(conn, b"p0") == PC_HEX


# ---- stop replies --------------------------------------------------------------------------

BASE = b"T05thread:1;thread-pcs:4000000000000010;00:1000000000000040;"


@pytest.mark.parametrize("event, tail", [
    (StopEvent(StopKind.SIGNAL, PC), b""),
    (StopEvent(StopKind.BREAKPOINT, PC), b"reason:breakpoint;"),
    (StopEvent(StopKind.TRACE, PC), b"reason:trace;"),
    (StopEvent(StopKind.WATCHPOINT, PC, watch_addr=0xFFFFE0, watch_kind="watch"),
     b"reason:watchpoint;watch:ffffe0;"),
    (StopEvent(StopKind.WATCHPOINT, PC, watch_addr=0x10, watch_kind="rwatch"),
     b"reason:watchpoint;rwatch:10;"),
    (StopEvent(StopKind.WATCHPOINT, PC, watch_addr=0x10, watch_kind="awatch",
               description="ignored"), b"reason:watchpoint;awatch:10;"),
    (StopEvent(StopKind.WATCHPOINT, PC, watch_addr=0x10), b"reason:watchpoint;watch:10;"),
    (StopEvent(StopKind.EXCEPTION, PC, description="unreachable"),
     b"reason:exception;description:" + b"unreachable".hex().encode() + b";"),
    (StopEvent(StopKind.EXCEPTION, PC), b"reason:exception;description:" +
     b"wasm trap".hex().encode() + b";"),
    (StopEvent(StopKind.REPLAY_BEGIN, PC), b"replaylog:begin;"),
    (StopEvent(StopKind.REPLAY_END, PC), b"replaylog:end;"),
])
def test_stop_reply_formats(event, tail):
    assert stop_reply(event) == BASE + tail


def test_boundary_replies_carry_no_reason_key():
    for kind in (StopKind.REPLAY_BEGIN, StopKind.REPLAY_END):
        assert b"reason:" not in stop_reply(StopEvent(kind, PC))


def test_question_mark_reports_the_current_stop(conn):
    assert ask1(conn, b"?") == BASE
    assert ask1(conn, b"qThreadStopInfo1") == BASE


def test_interrupt_replies_with_sigint(target, conn):
    out = check_output(conn.feed(b"\x03"))
    assert out == [b"T02" + BASE[3:]]
    assert target.called("interrupt")


def test_interrupt_after_a_resume_in_the_same_read(target, conn):
    out = check_output(conn.feed(frame(b"vCont;s:1") + b"\x03"))
    assert out == [b"T05thread:1;thread-pcs:4000000000000012;00:1200000000000040;reason:trace;",
                   b"T02thread:1;thread-pcs:4000000000000012;00:1200000000000040;"]


def test_interrupt_when_the_target_fails(target, conn):
    assert ask1(conn, b"?") == BASE
    target.fail = {"interrupt", "stop_event"}
    assert check_output(conn.feed(b"\x03")) == [b"T02" + BASE[3:]]


# ---- motion --------------------------------------------------------------------------------


@pytest.mark.parametrize("packet, action", [
    (b"c", Resume.CONTINUE),
    (b"C05", Resume.CONTINUE),
    (b"c4000000000000010", Resume.CONTINUE),
    (b"s", Resume.STEP),
    (b"S05", Resume.STEP),
    (b"S05;4000000000000010", Resume.STEP),
    (b"vCont;c", Resume.CONTINUE),
    (b"vCont;c:p1.-1", Resume.CONTINUE),
    (b"vCont;C05:1", Resume.CONTINUE),
    (b"vCont;s:p1.1", Resume.STEP),
    (b"vCont;s:0001", Resume.STEP),
    (b"vCont;S05:1;c", Resume.STEP),
    (b"vCont;r4000000000000010,4000000000000020:1", Resume.STEP),
    (b"bc", Resume.REVERSE_CONTINUE),
    (b"bs", Resume.REVERSE_STEP),
])
def test_resume_packets(target, conn, packet, action):
    reply = ask1(conn, packet)
    assert target.called("resume") == [("resume", action)]
    assert reply.startswith(b"T05thread:1;")


@pytest.mark.parametrize("packet", [b"vCont;t", b"vCont;x", b"vCont;c:zz", b"vCont", b"vCont;",
                                    b"sfoo", b"C", b"Cxx", b"S05;zz", b"c-1"])
def test_odd_vcont_reports_the_stop_without_moving(target, conn, packet):
    assert ask1(conn, packet) == BASE
    assert not target.called("resume")


def test_breakpoints_then_continue_and_back(target, conn):
    bp = code_addr(0x14)
    assert ask1(conn, b"Z0,%x,1" % bp) == b"OK"
    assert target.breakpoints == {bp}
    reply = ask1(conn, b"vCont;c:p1.-1")
    assert reply == (b"T05thread:1;thread-pcs:4000000000000014;00:1400000000000040;"
                     b"reason:breakpoint;")
    assert ask1(conn, b"p0") == b"1400000000000040"
    assert ask1(conn, b"c").endswith(b"reason:breakpoint;")  # the second visit
    assert ask1(conn, b"bc").endswith(b"reason:breakpoint;")
    assert ask1(conn, b"bc").endswith(b"replaylog:begin;")
    assert ask1(conn, b"z0,%x,1" % bp) == b"OK"
    assert ask1(conn, b"z0,%x,1" % bp) == b"E16"  # not there any more
    assert ask1(conn, b"c").endswith(b"replaylog:end;")
    assert ask1(conn, b"s").endswith(b"replaylog:end;")
    assert ask1(conn, b"bs").endswith(b"reason:trace;")


def test_breakpoint_with_conditions_and_z1(target, conn):
    assert ask1(conn, b"Z1,4000000000000012,1;X2,0a00") == b"OK"
    assert target.called("add_breakpoint") == [("add_breakpoint", code_addr(0x12))]
    assert ask1(conn, b"Z0,12,1") == b"E16"  # the fake refuses non-code addresses
    assert ask1(conn, b"Z0,zz,1") == b"E01"
    assert ask1(conn, b"Z0,12") == b"E01"
    assert ask1(conn, b"Z9,12,1") == b""


@pytest.mark.parametrize("result, reply", [(None, b""), (True, b"OK"), (False, b"E16")])
def test_watchpoints(target, conn, result, reply):
    target.watch_result = result
    assert ask1(conn, b"Z2,ffffe0,4") == reply
    assert ask1(conn, b"Z3,ffffe0,4") == reply
    assert ask1(conn, b"z4,ffffe0,8") == reply
    assert target.called("add_watchpoint") == [
        ("add_watchpoint", WatchKind.WRITE, 0xFFFFE0, 4),
        ("add_watchpoint", WatchKind.READ, 0xFFFFE0, 4)]
    assert target.called("remove_watchpoint") == [
        ("remove_watchpoint", WatchKind.ACCESS, 0xFFFFE0, 8)]


def test_failed_resume_is_never_an_error(target, conn, caplog):
    target.fail = {"resume"}
    with caplog.at_level(logging.ERROR):
        for packet in (b"c", b"s", b"vCont;c:p1.-1", b"vCont;s:p1.1", b"bc", b"bs", b"C05"):
            reply = ask1(conn, packet)
            head, _, desc = reply.partition(b"reason:exception;description:")
            assert head == BASE
            assert bytes.fromhex(desc.rstrip(b";").decode()).startswith(b"ttd: ")
    assert "resume" in caplog.text
    assert b"reverse continue failed: resume failed on purpose".hex().encode() in ask1(conn, b"bc")


def test_failed_resume_and_failed_stop_event(target, conn):
    assert ask1(conn, b"?") == BASE
    target.fail = {"resume", "stop_event"}
    assert ask1(conn, b"c").startswith(BASE + b"reason:exception;")  # the last stop sent
    fresh = no_ack(GdbConnection(FakeTarget(fail={"*"})))
    assert ask1(fresh, b"c") == b"T05thread:1;"
    assert ask1(fresh, b"?") == b"T05thread:1;"


def test_resume_returning_garbage_is_not_an_error(target, conn):
    target.resume = lambda action: None  # type: ignore[method-assign]
    assert ask1(conn, b"c").startswith(BASE + b"reason:exception;description:")


# ---- wasm queries --------------------------------------------------------------------------


def test_call_stack(conn):
    assert ask1(conn, b"qWasmCallStack:1") == (
        b"1000000000000040" b"4000000000000040" b"5000000000000040")
    assert ask1(conn, b"qWasmCallStack:zz") == b"E01"


def test_wasm_values(conn):
    assert ask1(conn, b"qWasmLocal:0;0") == b"2a000000"
    assert ask1(conn, b"qWasmLocal:0;1") == b"01" * 8
    assert ask1(conn, b"qWasmLocal:1;0") == b"07000000"
    assert ask1(conn, b"qWasmLocal:0;9") == b"E03"
    assert ask1(conn, b"qWasmLocal:5;0") == b"E03"
    assert ask1(conn, b"qWasmGlobal:0;0") == b"00000100"
    assert ask1(conn, b"qWasmGlobal:0;1") == b"E03"
    assert ask1(conn, b"qWasmStackValue:0;0") == b"05000000"
    assert ask1(conn, b"qWasmStackValue:1;0") == b"E03"
    for bad in (b"qWasmLocal:0", b"qWasmLocal:-1;0", b"qWasmLocal:a;b", b"qWasmLocal:0;1;2",
                b"qWasmLocal:99999999999;0", b"qWasmLocal:", b"qWasmGlobal:0x1;0"):
        assert ask1(conn, bad) == b"E01", bad


def test_wasm_global_of_a_named_instance(conn):
    """qWasmInstance+: `INDEX;instance:ID;` with ID from bits 61..32 of the module's address."""
    assert ask1(conn, b"qWasmGlobal:0;instance:0;") == b"00000100"
    assert ask1(conn, b"qWasmGlobal:0;instance:0") == b"00000100"
    assert ask1(conn, b"qWasmGlobal:1;instance:0;") == b"E03"
    assert ask1(conn, b"qWasmGlobal:0;instance:7;") == b"E03"  # no such live instance
    for bad in (b"qWasmGlobal:x;instance:0;", b"qWasmGlobal:0;instance:;",
                b"qWasmGlobal:0;instanc:0;instance:", b"qWasmGlobal:0;frame:0;instance:0"):
        assert ask1(conn, bad) == b"E01", bad


def test_target_exception_in_a_query_is_an_error_reply(target, conn, caplog):
    target.fail = {"read_local", "call_stack", "libraries"}
    with caplog.at_level(logging.ERROR):
        assert ask1(conn, b"qWasmLocal:0;0") == b"E02"
        assert ask1(conn, b"qWasmCallStack:1") == b"E02"
        assert ask1(conn, b"qXfer:libraries:read::0,fff") == b"E02"
    assert "read_local failed on purpose" in caplog.text


# ---- memory --------------------------------------------------------------------------------


def test_memory_reads(target, conn):
    assert ask1(conn, b"m4000000000000000,8") == b"0061736d01000000"
    assert ask1(conn, b"m0,4") == b"00010203"
    assert ask1(conn, b"mff,2") == b"ff00"
    assert ask1(conn, b"m4000000000000000,0") == b"E01"
    assert ask1(conn, b"m4000000000000000") == b"E01"
    assert ask1(conn, b"m-1,4") == b"E01"
    assert ask1(conn, b"m1" + b"0" * 40 + b",4") == b"E01"
    assert ask1(conn, b"m8000000000000000,4") == b"E0e"  # the global space: nothing there
    assert ask1(conn, b"M0,1:00") == b"E1e"
    assert ask1(conn, b"X0,1:\x00") == b"E1e"


def test_memory_read_past_the_end_of_the_module_is_short(target, conn):
    end = len(target.module)
    reply = ask1(conn, b"m%x,7dd" % code_addr(end - 4))
    assert reply == target.module[-4:].hex().encode()
    assert ask1(conn, b"m%x,10" % code_addr(end)) == b"E0e"


def test_memory_read_short_without_regions(target, conn):
    target.memory_regions = lambda: []  # type: ignore[method-assign]
    end = len(target.memory)
    assert ask1(conn, b"m%x,100" % (end - 3)) == target.memory[-3:].hex().encode()


def test_memory_read_is_clamped_to_the_packet_size(target):
    target.memory = bytes(200_000)
    c = no_ack(GdbConnection(target))
    reply = ask1(c, b"m0,30000")
    assert len(reply) <= c.max_packet and len(reply) % 2 == 0
    assert len(encode_packet(reply)) <= c.max_packet + 4


def test_memory_region_info(target, conn):
    assert ask1(conn, b"qMemoryRegionInfo:4000000000000010") == (
        b"start:4000000000000000;size:%x;permissions:rx;" % len(target.module))
    assert ask1(conn, b"qMemoryRegionInfo:20") == b"start:0;size:10000;permissions:rw;"
    assert ask1(conn, b"qMemoryRegionInfo:10000") == b"start:10000;size:3fffffffffff0000;"
    assert ask1(conn, b"qMemoryRegionInfo:8000000000000000") == (
        b"start:%x;size:%x;" % (code_addr(len(target.module)),
                                (1 << 64) - code_addr(len(target.module))))
    assert ask1(conn, b"qMemoryRegionInfo:xyz") == b"E01"


# ---- qXfer ---------------------------------------------------------------------------------

LIBS = (b'<library-list><library name="test.wasm"><section address="0x4000000000000000"/>'
        b'</library></library-list>')


def test_libraries(conn):
    assert ask1(conn, b"qXfer:libraries:read::0,fff") == b"l" + LIBS
    assert ask1(conn, b"qXfer:libraries:read::%x,fff" % len(LIBS)) == b"l"
    assert ask1(conn, b"qXfer:libraries:read::ffffff,fff") == b"l"
    assert ask1(conn, b"qXfer:libraries:read::0,zz") == b"E01"
    assert ask1(conn, b"qXfer:libraries:write::0,fff") == b""


@pytest.mark.parametrize("size", [1, 7, 16, 100])
def test_libraries_in_slices(conn, size):
    doc, offset = b"", 0
    while True:
        reply = ask1(conn, b"qXfer:libraries:read::%x,%x" % (offset, size))
        assert reply[:1] in (b"m", b"l")
        doc += reply[1:]
        offset += len(reply) - 1
        if reply[:1] == b"l":
            break
        assert len(reply) - 1 == size
    assert doc == LIBS


def test_xfer_m_replies_carry_exactly_the_length_asked(target, conn):
    """LLDB's SendPacketsAndConcatenateResponses adds the requested length to the offset."""
    target.name = "#$*}" * 50 + ".wasm"
    doc = ask1(conn, b"qXfer:libraries:read::0,ffff")[1:]
    assert len(doc) >= 300
    parts, offset = [], 0
    while True:
        reply = ask1(conn, b"qXfer:libraries:read::%x,40" % offset)
        parts.append(reply[1:])
        offset += 0x40
        if reply[:1] == b"l":
            break
        assert len(reply) - 1 == 0x40
    assert b"".join(parts) == doc


def test_library_names_are_escaped(target, conn):
    target.name = 'a"<b>&.wasm'
    assert b'name="a&quot;&lt;b&gt;&amp;.wasm"' in ask1(conn, b"qXfer:libraries:read::0,fff")


def test_memory_map(target, conn):
    reply = ask1(conn, b"qXfer:memory-map:read::0,fff")
    assert reply == (
        b'l<?xml version="1.0"?><!DOCTYPE memory-map SYSTEM "memory-map.dtd"><memory-map>'
        b'<memory type="rom" start="0x4000000000000000" length="0x%x"/>'
        b'<memory type="ram" start="0x0" length="0x10000"/></memory-map>' % len(target.module))


def test_xfer_document_stays_consistent_across_slices(target, conn):
    first = ask1(conn, b"qXfer:libraries:read::0,10")
    target.name = "renamed-in-between.wasm"
    rest = ask1(conn, b"qXfer:libraries:read::10,fff")
    assert first[1:] + rest[1:] == LIBS


# ---- monitor -------------------------------------------------------------------------------


def test_monitor(target, conn):
    replies = ask(conn, b"qRcmd," + b"when".hex().encode())
    assert replies == [b"O" + b"ran when\n".hex().encode(), b"OK"]
    assert target.called("monitor") == [("monitor", "when")]


def test_monitor_unicode_and_empty(target, conn):
    cmd = "goto 5 ✓"
    replies = ask(conn, b"qRcmd," + cmd.encode().hex().encode())
    assert bytes.fromhex(replies[0][1:].decode()).decode() == f"ran {cmd}\n"
    assert ask(conn, b"qRcmd,") == [b"OK"]


def test_monitor_long_output_is_split(target):
    c = no_ack(GdbConnection(target, max_packet=256))
    replies = ask(c, b"qRcmd," + b"repeat 1000".hex().encode())
    assert replies[-1] == b"OK" and len(replies) > 2
    assert all(len(r) <= 256 for r in replies)
    assert b"".join(bytes.fromhex(r[1:].decode()) for r in replies[:-1]) == b"x" * 1000


def test_monitor_errors(target, conn):
    replies = ask(conn, b"qRcmd," + b"boom".hex().encode())
    assert replies[-1] == b"E02"
    assert b"no such command" in bytes.fromhex(replies[0][1:].decode())
    assert ask(conn, b"qRcmd,abc") == [b"E01"]
    assert ask(conn, b"qRcmd,zz") == [b"E01"]


# ---- the end -------------------------------------------------------------------------------


@pytest.mark.parametrize("packet", [b"D", b"D;0000000000000001", b"D;1"])
def test_detach_replies_ok_and_closes(target, conn, packet):
    out = conn.feed(frame(packet) + frame(b"qC"))
    assert check_output(out) == [b"OK"]
    assert conn.closed and target.called("detach")
    assert conn.feed(frame(b"qC")) == []


def test_detach_in_ack_mode(target):
    c = GdbConnection(target)
    assert c.feed(frame(b"D")) == [b"+", b"$OK#9a"]
    assert c.closed


def test_kill_closes(target, conn):
    assert check_output(conn.feed(frame(b"k"))) == [b"X09"]
    assert conn.closed and target.called("kill")


def test_detach_failure_still_closes(target, conn):
    target.fail = {"detach"}
    assert ask1(conn, b"D") == b"OK"
    assert conn.closed
