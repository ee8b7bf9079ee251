"""One gdb-remote conversation with LLDB's wasm plugin, sans I/O.

`GdbConnection.feed(bytes)` returns the bytes to send back, calling the Target synchronously
for whatever a packet needs. No sockets, threads or clocks: the server owns those. The
conversation never raises: a malformed packet gets an `E` reply, an unknown one the empty
reply, and a Target that raises while answering a query gets an `E` reply (logged). Resume
packets are the exception to the exception: LLDB ends the session on an `E` reply to one, so
a failed resume is answered with the stop the target is still at.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from ttd.gdb import replies as R
from ttd.gdb.framing import (
    MAX_PACKET, BadPacket, Interrupt, Nack, Oversized, Packet, PacketReader, encode_packet,
)
from ttd.gdb.parse import (
    STAY, U64_MAX, hex_decode, parse_addr_len, parse_dec, parse_hex, parse_resume,
    parse_thread_id, strip_thread_suffix,
)
from ttd.gdb.target import Resume, StopEvent, StopKind, Target, WatchKind, split_addr

log = logging.getLogger(__name__)

# Packets LLDB sends that deliberately get the empty ("unsupported") reply, as wasmtime's stub
# answers them: they are known, so they are not counted in `unsupported`.
KNOWN_EMPTY = frozenset({
    b"QThreadSuffixSupported", b"QListThreadsInStopReply", b"QEnableErrorStrings",
    b"qOffsets", b"qStructuredDataPlugins", b"qVAttachOrWaitSupported", b"qModuleInfo",
    b"jThreadsInfo", b"jThreadExtendedInfo", b"qShlibInfoAddr", b"qGDBServerVersion",
    b"qQueryGDBServer", b"qGetWorkingDir", b"jModulesInfo", b"qProcessInfoPID",
    b"QSetDetachOnError", b"QPassSignals", b"qSupportsDetachAndStayStopped",
    b"vMustReplyEmpty", b"qTStatus", b"qEcho", b"qSpeedTest", b"jLLDBTraceSupported",
})

# qSupported reply. No qXfer:features (LLDB would then ignore qRegisterInfo), no multiprocess
# (plain thread ids), no swbreak/hwbreak (stop replies say `reason:breakpoint` instead).
SUPPORTED_FEATURES = (
    b"QStartNoAckMode+;qXfer:libraries:read+;qXfer:memory-map:read+;"
    b"ReverseContinue+;ReverseStep+;vContSupported+;qWasmInstance+"
)

VCONT_ACTIONS = b"vCont;c;C;s;S"
_MAX_UNSUPPORTED_NAMES = 64


class GdbConnection:
    """The whole state of one LLDB conversation: ack mode, thread selection, detach."""

    def __init__(self, target: Target, *, max_packet: int = MAX_PACKET) -> None:
        self.target = target
        self.max_packet = max_packet
        self.reader = PacketReader(max_packet)
        self.no_ack = False  # after QStartNoAckMode: no `+`/`-` either way
        self.closed = False  # after `D` or `k`: feed() answers nothing more
        self.selected_thread: dict[str, bytes] = {}  # Hg/Hc choices (there is one thread)
        self.unsupported: Counter[bytes] = Counter()  # packets answered empty, by name
        self._last_frames: list[bytes] = []  # for `-` in ack mode
        self._last_stop: StopEvent | None = None
        self._xfer_docs: dict[bytes, bytes] = {}
        # Largest data reply so a hex or escaped reply stays within max_packet.
        self._max_data = max(1, (max_packet - 1) // 2)
        self._queries: dict[bytes, Callable[[bytes], list[bytes]]] = {
            b"qSupported": self._q_supported,
            b"QStartNoAckMode": self._q_start_no_ack,
            b"qC": lambda _: [b"QC%x" % R.TID],
            b"qfThreadInfo": lambda _: [b"m%x" % R.TID],
            b"qsThreadInfo": lambda _: [b"l"],
            b"qAttached": lambda _: [b"1"],  # attached to an existing process: detach, not kill
            b"qHostInfo": lambda _: [R.HOST_INFO],
            b"qProcessInfo": lambda _: [R.PROCESS_INFO],
            b"qSymbol": lambda _: [R.OK],  # no symbols wanted
            b"qWatchpointSupportInfo": self._q_watchpoint_info,
            b"qWasmCallStack": self._q_call_stack,
            b"qWasmLocal": lambda a: self._q_wasm_value(self.target.read_local, a),
            b"qWasmGlobal": self._q_wasm_global,
            b"qWasmStackValue": lambda a: self._q_wasm_value(self.target.read_stack_value, a),
            b"qXfer": self._q_xfer,
            b"qMemoryRegionInfo": self._q_region_info,
        }
        self._commands: dict[bytes, Callable[[bytes], list[bytes]]] = {
            b"?": lambda _: [self._stop_reply()],
            b"g": lambda _: [R.hex_u64le(self._pc())],
            b"G": lambda _: [R.E_READ_ONLY],
            b"p": self._c_read_register,
            b"P": lambda _: [R.E_READ_ONLY],
            b"m": self._c_read_memory,
            b"M": lambda _: [R.E_READ_ONLY],
            b"X": lambda _: [R.E_READ_ONLY],
            b"x": lambda _: [R.EMPTY],  # LLDB probes `x0,0`; unsupported keeps it on `m`
            b"Z": lambda a: self._c_breakpoint(a, insert=True),
            b"z": lambda a: self._c_breakpoint(a, insert=False),
            b"H": self._c_select_thread,
            b"T": lambda a: [R.OK if parse_thread_id(a) else R.E_MALFORMED],
            b"D": self._c_detach,
            b"k": self._c_kill,
        }

    # ---- bytes in, bytes out --------------------------------------------------------------

    def feed(self, data: bytes) -> list[bytes]:
        """Consume bytes from the debugger; return the bytes to send back, in order."""
        out: list[bytes] = []
        if self.closed:
            return out
        for event in self.reader.feed(data):
            if self.closed:
                break
            if isinstance(event, Packet):
                out += self._answer(event.payload)
            elif isinstance(event, BadPacket):
                if self.no_ack:  # nobody will retransmit; LLDB itself ignores checksums here
                    log.warning("checksum mismatch in no-ack mode, answering anyway")
                    out += self._answer(event.payload)
                else:
                    out.append(b"-")
            elif isinstance(event, Nack):
                if not self.no_ack:
                    out += self._last_frames[-1:]
            elif isinstance(event, Interrupt):
                out += self._frames(self._interrupt())
            elif isinstance(event, Oversized):
                log.warning("dropped a %d-byte packet (limit %d)", event.size, self.max_packet)
                out += ([] if self.no_ack else [b"+"]) + self._frames([R.E_TOO_LARGE])
            # Ack: nothing to do
        return out

    def handle(self, payload: bytes) -> list[bytes]:
        """Reply payloads (unframed) for one packet payload; never raises."""
        try:
            return self._dispatch(payload)
        except Exception:
            log.exception("error answering %r", payload[:80])
            if parse_resume(payload) is not None:
                return [self._stop_reply()]
            return [R.E_TARGET]

    def _answer(self, payload: bytes) -> list[bytes]:
        ack = [] if self.no_ack else [b"+"]  # decided before QStartNoAckMode takes effect
        return ack + self._frames(self.handle(payload))

    def _frames(self, payloads: list[bytes]) -> list[bytes]:
        frames = [encode_packet(p) for p in payloads]
        if frames:
            self._last_frames = frames
        return frames

    # ---- dispatch -------------------------------------------------------------------------

    def _dispatch(self, p: bytes) -> list[bytes]:
        if not p:
            return [R.EMPTY]
        head = p[:1]
        if head in (b"q", b"Q"):
            return self._query(p)
        if p == b"vCont?":
            return [VCONT_ACTIONS]
        if p.startswith(b"vKill"):
            return self._c_kill(b"", reply=R.OK)
        resume = parse_resume(p)
        if resume is not None:
            return self._resume(resume)
        command = self._commands.get(head)
        if command is not None:
            return command(p[1:])
        return self._unsupported(p)

    def _query(self, p: bytes) -> list[bytes]:
        # Queries whose argument follows the name with no separator, or after a comma.
        if p.startswith(b"qRegisterInfo"):
            n = parse_hex(p[13:])
            if n is None:
                return [R.E_MALFORMED]
            return [R.REGISTER_INFO_PC if n == 0 else R.E_NO_REGISTER]
        if p.startswith(b"qThreadStopInfo"):
            return [self._stop_reply()]
        if p.startswith(b"qRcmd,"):
            return self._q_monitor(p[6:])
        name, _, args = p.partition(b":")
        handler = self._queries.get(name)
        if handler is not None:
            return handler(args)
        return self._unsupported(p)

    def _unsupported(self, p: bytes) -> list[bytes]:
        name = p
        for sep in b":,;":
            name = name.split(bytes((sep,)), 1)[0]
        name = name[:40]
        if name not in KNOWN_EMPTY:
            log.debug("unsupported packet %r", p[:80])
            if name in self.unsupported or len(self.unsupported) < _MAX_UNSUPPORTED_NAMES:
                self.unsupported[name] += 1
        return [R.EMPTY]

    # ---- stops and motion -----------------------------------------------------------------

    def _stop_reply(self, signal: int = R.SIGTRAP, plain: bool = False,
                    failure: str | None = None) -> bytes:
        """The stop the target is at; falls back to the last one sent, then to no pc at all.

        `plain` drops the reason (an interrupt reports only where it stopped); `failure`
        reports the position as an exception carrying that message (a failed resume)."""
        try:
            event = self.target.stop_event()
            reply = R.stop_reply(self._restate(event, plain, failure), signal)
        except Exception:
            log.exception("stop_event() failed")
            if self._last_stop is None:
                return R.minimal_stop_reply(signal)
            return R.stop_reply(self._restate(self._last_stop, plain, failure), signal)
        self._last_stop = event
        return reply

    @staticmethod
    def _restate(event: StopEvent, plain: bool, failure: str | None) -> StopEvent:
        if failure is not None:
            return StopEvent(StopKind.EXCEPTION, event.pc, description=failure)
        return StopEvent(StopKind.SIGNAL, event.pc) if plain else event

    def _resume(self, action: Resume | str) -> list[bytes]:
        """Move, and answer with the new stop. A failure to move is answered with where the
        target still is, as an exception stop saying what failed: never `E` (LLDB would end
        the session), and never the previous reason again (LLDB's step plans see a step
        that did not move and retry it forever; measured with LLDB 23)."""
        if action == STAY or not isinstance(action, Resume):
            return [self._stop_reply()]
        try:
            event = self.target.resume(action)
            reply = R.stop_reply(event)
        except Exception as exc:
            log.exception("resume %s failed", action.name)
            what = action.name.lower().replace("_", " ")
            return [self._stop_reply(failure=f"ttd: {what} failed: {exc}"[:1000])]
        self._last_stop = event
        return [reply]

    def _interrupt(self) -> list[bytes]:
        """0x03: stop a running resume. Resumes here are synchronous, so the target is
        already stopped; LLDB reads (and drops) a second stop reply after an interrupt, so a
        SIGINT stop reply at the current position is always safe to send (measured with
        LLDB 23: it is read and dropped, and the conversation stays in step)."""
        try:
            self.target.interrupt()
        except Exception:
            log.exception("interrupt() failed")
        return [self._stop_reply(R.SIGINT, plain=True)]

    def _pc(self) -> int:
        stack = self.target.call_stack()
        pc = stack[0] if stack else self.target.stop_event().pc
        return pc & U64_MAX

    # ---- queries --------------------------------------------------------------------------

    def _q_supported(self, _args: bytes) -> list[bytes]:
        return [b"PacketSize=%x;" % self.max_packet + SUPPORTED_FEATURES]

    def _q_start_no_ack(self, _args: bytes) -> list[bytes]:
        self.no_ack = True
        return [R.OK]

    def _q_watchpoint_info(self, _args: bytes) -> list[bytes]:
        slots = self.target.watchpoint_slots()
        return [R.EMPTY if slots is None else b"num:%d;" % max(0, int(slots))]

    def _q_call_stack(self, args: bytes) -> list[bytes]:
        if parse_hex(args) is None:
            return [R.E_MALFORMED]
        stack = self.target.call_stack()[: self._max_data // 8]
        return [b"".join(R.hex_u64le(pc) for pc in stack)]

    def _q_wasm_value(self, read: Callable[[int, int], bytes | None], args: bytes) -> list[bytes]:
        frame_s, sep, index_s = args.partition(b";")
        frame, index = parse_dec(frame_s), parse_dec(index_s)
        if not sep or frame is None or index is None:
            return [R.E_MALFORMED]
        value = read(frame, index)
        if not value:  # None, or no bytes (an empty reply would read as "unsupported")
            return [R.E_UNAVAILABLE]
        return [bytes(value[: self._max_data]).hex().encode()]

    def _q_wasm_global(self, args: bytes) -> list[bytes]:
        """`FRAME;INDEX`, or (qWasmInstance+) `INDEX;instance:ID;` where ID is the instance
        id a wasm address carries in bits 61..32 (one per library)."""
        if b"instance:" not in args:
            return self._q_wasm_value(self.target.read_global, args)
        index_s, _, rest = args.partition(b";")
        key, _, id_s = rest.rstrip(b";").partition(b":")
        index, instance = parse_dec(index_s), parse_dec(id_s)
        if key != b"instance" or index is None or instance is None:
            return [R.E_MALFORMED]
        live = {split_addr(lib.address)[1] for lib in self.target.libraries()}
        if instance not in live:
            return [R.E_UNAVAILABLE]
        # one instance per module image here: any of its frames reads the same globals
        value = self.target.read_global(0, index)
        if not value:
            return [R.E_UNAVAILABLE]
        return [bytes(value[: self._max_data]).hex().encode()]

    def _q_xfer(self, args: bytes) -> list[bytes]:
        fields = args.split(b":", 3)
        if len(fields) != 4 or fields[1] != b"read":
            return self._unsupported(b"qXfer:" + args)
        obj, _, annex, span = fields
        builders = {b"libraries": self._libraries_doc, b"memory-map": self._memory_map_doc}
        if obj not in builders or annex:
            return self._unsupported(b"qXfer:" + args)
        off_len = parse_addr_len(span)
        if off_len is None:
            return [R.E_MALFORMED]
        offset, length = off_len
        # Rebuild at offset 0 only, so one multi-packet read sees one consistent document.
        doc = self._xfer_docs.get(obj)
        if offset == 0 or doc is None:
            doc = self._xfer_docs[obj] = builders[obj]()
        # LLDB advances its offset by the length it asked for, not by what came back, so an
        # `m` reply must carry exactly that many bytes (escaping may make the frame longer).
        return [R.xfer_chunk(doc, offset, min(length, self.max_packet))]

    def _libraries_doc(self) -> bytes:
        return R.libraries_xml(list(self.target.libraries()))

    def _memory_map_doc(self) -> bytes:
        return R.memory_map_xml(list(self.target.memory_regions()))

    def _q_region_info(self, args: bytes) -> list[bytes]:
        addr = parse_hex(args)
        if addr is None:
            return [R.E_MALFORMED]
        return [R.region_info(list(self.target.memory_regions()), addr)]

    def _q_monitor(self, args: bytes) -> list[bytes]:
        """`qRcmd`: output as `O` packets, then `OK` (LLDB prints the O text, then the reply)."""
        raw = hex_decode(args)
        if raw is None:
            return [R.E_MALFORMED]
        command = raw.decode("utf-8", "replace")
        try:
            output = self.target.monitor(command)
            status = R.OK
        except Exception as exc:
            log.exception("monitor %r failed", command)
            output, status = f"error: {exc}\n", R.E_TARGET
        if isinstance(output, (bytes, bytearray)):
            data = bytes(output)
        else:
            data = str(output or "").encode("utf-8", "replace")
        step = max(1, (self.max_packet - 1) // 2)
        chunks = [b"O" + data[i:i + step].hex().encode() for i in range(0, len(data), step)]
        return chunks + [status]

    # ---- commands -------------------------------------------------------------------------

    def _c_read_register(self, args: bytes) -> list[bytes]:
        regno = parse_hex(strip_thread_suffix(args))
        if regno is None:
            return [R.E_MALFORMED]
        if regno != 0:
            return [R.E_NO_REGISTER]
        return [R.hex_u64le(self._pc())]

    def _c_read_memory(self, args: bytes) -> list[bytes]:
        addr_len = parse_addr_len(args)
        if addr_len is None or addr_len[1] == 0:
            return [R.E_MALFORMED]
        addr, length = addr_len
        length = min(length, self._max_data, U64_MAX + 1 - addr)
        data = self._read_memory(addr, length)
        return [R.E_MEMORY] if data is None else [data.hex().encode()]

    def _read_memory(self, addr: int, length: int) -> bytes | None:
        """As many bytes as are readable from `addr`, up to `length` (gdb allows short reads).

        The Target answers all-or-nothing, and LLDB's reads run past the end of a module
        image or a memory, so clamp to the region first and, failing that, find the longest
        readable prefix.
        """
        target = self.target
        try:
            region = R.region_at(list(target.memory_regions()), addr)
        except Exception:
            log.exception("memory_regions() failed")
            region = None
        if region is not None:
            length = max(1, min(length, region.start + region.size - addr))
        data = target.read_memory(addr, length)
        if data is None and length > 1 and target.read_memory(addr, 1) is not None:
            good, bad = 1, length
            while bad - good > 1:
                mid = (good + bad) // 2
                if target.read_memory(addr, mid) is None:
                    bad = mid
                else:
                    good = mid
            data = target.read_memory(addr, good)
        return None if data is None else bytes(data[:length])

    def _c_breakpoint(self, args: bytes, insert: bool) -> list[bytes]:
        fields = args.split(b";", 1)[0].split(b",")
        if len(fields) != 3:
            return [R.E_MALFORMED]
        kind, addr, size = parse_dec(fields[0], 9), parse_hex(fields[1]), parse_hex(fields[2])
        if kind is None or addr is None or size is None:
            return [R.E_MALFORMED]
        t = self.target
        if kind in (0, 1):  # software / hardware breakpoint: the same thing in a replay
            ok = t.add_breakpoint(addr) if insert else t.remove_breakpoint(addr)
            return [R.OK if ok else R.E_NO_BREAKPOINT]
        if kind in (2, 3, 4):
            wk = WatchKind(kind)
            change = t.add_watchpoint if insert else t.remove_watchpoint
            res = change(wk, addr, size)
            if res is None:  # watchpoints unsupported: say so the way gdb-remote does
                return [R.EMPTY]
            return [R.OK if res else R.E_NO_BREAKPOINT]
        return [R.EMPTY]

    def _c_select_thread(self, args: bytes) -> list[bytes]:
        op, thread = args[:1], args[1:]
        if op not in (b"g", b"c") or not parse_thread_id(thread):
            return [R.E_MALFORMED]
        self.selected_thread[op.decode()] = thread
        return [R.OK]

    def _c_detach(self, _args: bytes) -> list[bytes]:
        """`D` / `D;PID`: let go; the replay server outlives the debugger."""
        try:
            self.target.detach()
        except Exception:
            log.exception("detach() failed")
        self.closed = True
        return [R.OK]

    def _c_kill(self, _args: bytes, reply: bytes = b"X09") -> list[bytes]:
        """`k`: LLDB's KillProcess waits for a W/X reply, so answer "killed by signal 9"."""
        try:
            self.target.kill()
        except Exception:
            log.exception("kill() failed")
        self.closed = True
        return [reply]
