"""DAP requests over a debugger backend: dispatch and the state DAP keeps (breakpoint ids,
frame ids, variablesReference handles, source mapping). No I/O: messages go out through
`emit(kind, name, body)` callbacks, the backend comes from `make_backend`.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any, Callable

from ttd.dap.backend import Backend, BackendError, StopInfo, VarInfo

WATCH_BASE = 1_000_000  # DAP ids of data breakpoints (LLDB numbers them apart)
MOVES = {"continue": "continue", "next": "next", "stepIn": "stepIn", "stepOut": "stepOut",
         "stepBack": "stepBack", "reverseContinue": "reverseContinue",
         "ttdReverseStepIn": "reverseStepIn", "ttdReverseStepOut": "reverseStepOut"}
INSTRUCTION_MOVES = {"next": "nextInst", "stepIn": "stepInInst", "stepBack": "stepBackInst",
                     "ttdReverseStepIn": "stepBackInst"}
MAX_LOG_HITS = 100_000


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split()) or type(e).__name__


class RequestError(Exception):
    """A request that fails: its message is the error response's."""


def _want(args: dict, key: str, kind: type | tuple, required: bool = True, default=None):
    v = args.get(key, default)
    if v is None and not required:
        return default
    if v is None:
        raise RequestError(f"missing argument '{key}'")
    if not isinstance(v, kind) or (isinstance(v, bool) and bool not in (
            kind if isinstance(kind, tuple) else (kind,))):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise RequestError(f"argument '{key}' must be {names}")
    return v


def hit_ignore(text: str | None) -> int:
    """A hitCondition ("N", "==N", ">=N", ">N") as LLDB's ignore count."""
    if not text or not text.strip():
        return 0
    m = re.fullmatch(r"\s*(==|>=|>)?\s*(\d{1,9})\s*", text)
    if not m:
        raise RequestError(f"hit condition {text!r}: use N, ==N, >=N or >N")
    n = int(m.group(2))
    return n if m.group(1) == ">" else max(n - 1, 0)


class SourceMap:
    """The launch's `sourceMap` {from: to}: DWARF names -> client paths, and back."""

    def __init__(self, rules: dict[str, str] | None = None):
        self.rules = sorted((rules or {}).items(), key=lambda kv: -len(kv[0]))

    @staticmethod
    def _swap(path: str, a: str, b: str) -> str | None:
        if path == a:
            return b
        a_dir = a.rstrip("/") + "/"
        if path.startswith(a_dir):
            return b.rstrip("/") + "/" + path[len(a_dir):]
        return None

    def to_client(self, path: str) -> str:
        for src, dst in self.rules:
            got = self._swap(path, src, dst)
            if got is not None:
                return got
        return path

    def to_dwarf(self, path: str) -> str:
        for src, dst in sorted(self.rules, key=lambda kv: -len(kv[1])):
            got = self._swap(path, dst, src)
            if got is not None:
                return got
        return path


class Adapter:
    """One debugging session. `handle(request)` answers it (and may send events)."""

    def __init__(self, make_backend: Callable[[Path, str], Backend],
                 respond: Callable[[dict, Any, bool, str | None], None],
                 event: Callable[[str, Any], None],
                 record: Callable[[dict, Callable[[str, str], None]], Path] | None = None):
        self.make_backend = make_backend
        self.respond = respond
        self.event = event
        self.record = record
        self.backend: Backend | None = None
        self.source_map = SourceMap()
        self.configured = False
        self.launched = False
        self.first_stop_sent = False
        self.stop_on_entry = True
        self.done = False
        self.last_stop: StopInfo | None = None
        self.function_bps: set[int] = set()
        self.logpoints: dict[int, str] = {}
        self.source_bps: dict[str, list[int]] = {}
        self.func_bp_ids: list[int] = []
        self.watch_ids: list[int] = []
        self.pending: list[dict] = []  # breakpoint requests before launch
        self.learned: dict[str, str] = {}  # DWARF name -> the path a client set breakpoints by
        self.search_dirs: list[Path] = [Path.cwd()]  # where relative DWARF names may be
        self._reset_handles()

    # ---- plumbing ------------------------------------------------------------------
    def _reset_handles(self) -> None:
        self.selected_frame = 0  # the frame of the last `scopes` (a client's selection)
        self.frame_ids: dict[int, tuple[int, int]] = {}  # frameId -> (thread, index)
        self.var_refs: dict[int, Any] = {}  # ref -> ("scope", frame, kind) | VarInfo
        self.var_lists: dict[int, list[VarInfo]] = {}
        self._next_ref = getattr(self, "_next_ref", 0)

    def _ref(self, what: Any) -> int:
        self._next_ref += 1
        self.var_refs[self._next_ref] = what
        return self._next_ref

    def handle(self, req: dict) -> None:
        cmd = req["command"]
        fn = getattr(self, "req_" + cmd, None)
        try:
            if fn is None:
                raise RequestError(f"unknown command '{cmd[:64]}'")
            body = fn(req.get("arguments") or {})
            self.respond(req, body, True, None)
        except (RequestError, BackendError) as e:
            self.respond(req, None, False, str(e) or type(e).__name__)
            return
        after = getattr(self, "after_" + cmd, None)
        if after is not None:
            try:
                after(req.get("arguments") or {})
            except Exception as e:  # answered already: the failure is told as output
                if os.environ.get("TTD_DEBUG") and not isinstance(e, (RequestError, BackendError)):
                    raise
                self.event("output", {"category": "stderr", "output": f"ttd: {_one_line(e)}\n"})
                self._resync_stop()

    def _resync_stop(self) -> None:
        """After a move that failed midway: a stopped event where the program now is, so
        the client does not wait for one."""
        if self.backend is None or not self.first_stop_sent:
            return
        try:
            self._stopped(None, self.backend.stop_info())
        except Exception:
            pass

    def _need(self) -> Backend:
        if self.backend is None:
            raise RequestError("no trace is being debugged: launch first")
        return self.backend

    def close(self) -> None:
        if self.backend is not None:
            backend, self.backend = self.backend, None
            backend.close()

    # ---- session -------------------------------------------------------------------
    def req_initialize(self, args: dict) -> dict:
        return {
            "supportsConfigurationDoneRequest": True,
            "supportsStepBack": True,
            "supportsFunctionBreakpoints": True,
            "supportsConditionalBreakpoints": True,
            "supportsHitConditionalBreakpoints": True,
            "supportsLogPoints": True,
            "supportsDataBreakpoints": True,
            "supportsEvaluateForHovers": True,
            "supportsReadMemoryRequest": True,
            "supportsDisassembleRequest": True,
            "supportsSteppingGranularity": True,
            "supportsInstructionBreakpoints": False,
            "supportsExceptionInfoRequest": True,
            "supportsTerminateRequest": True,
            "supportsGotoTargetsRequest": False,
            "supportsRestartRequest": False,
            "exceptionBreakpointFilters": [],
        }

    def req_launch(self, args: dict) -> None:
        if self.launched:
            raise RequestError("already launched")
        smap = _want(args, "sourceMap", dict, False, {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in smap.items()):
            raise RequestError("sourceMap must map strings to strings")
        self.source_map = SourceMap(smap)
        stop_at = args.get("stopAt", "start")
        if isinstance(stop_at, bool) or not (
                stop_at in ("start", "end") or isinstance(stop_at, int) and stop_at >= 0
                or isinstance(stop_at, str) and stop_at.isdigit()):
            raise RequestError("stopAt must be \"start\", \"end\" or a step number")
        self.stop_on_entry = _want(args, "stopOnEntry", bool, False, True)
        trace = args.get("trace")
        program = args.get("program")
        if (trace is None) == (program is None):
            raise RequestError("launch wants either 'trace' or 'program'")
        if trace is not None:
            if not isinstance(trace, str) or not trace:
                raise RequestError("argument 'trace' must be a path")
            path = Path(trace)
            if not path.exists():
                raise RequestError(f"{trace}: no such trace")
        else:
            self._check_program_args(args)
            if self.record is None:
                raise RequestError("this adapter cannot record")
            self.search_dirs.insert(0, Path(args["program"]).resolve().parent)
            path = self.record(args, lambda cat, text: self.event(
                "output", {"category": cat, "output": text}))
        self.backend = self.make_backend(path, str(stop_at))
        self.launched = True
        for req in self.pending:
            try:
                getattr(self, "req_" + req["command"])(req.get("arguments") or {})
            except (RequestError, BackendError) as e:
                self.event("output", {"category": "stderr", "output": f"ttd: {e}\n"})
        self.pending.clear()

    @staticmethod
    def _check_program_args(args: dict) -> None:
        _want(args, "program", str)
        a = _want(args, "args", list, False, [])
        if not all(isinstance(x, str) for x in a):
            raise RequestError("argument 'args' must be a list of strings")
        for key in ("env", "dirs"):
            d = _want(args, key, dict, False, {})
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in d.items()):
                raise RequestError(f"argument '{key}' must map strings to strings")
        _want(args, "stdin", str, False)
        _want(args, "out", str, False)

    def after_launch(self, args: dict) -> None:
        self.event("initialized", None)
        self._maybe_first_stop()

    def req_configurationDone(self, args: dict) -> None:
        self.configured = True

    def after_configurationDone(self, args: dict) -> None:
        self._maybe_first_stop()

    def _maybe_first_stop(self) -> None:
        if self.first_stop_sent or not (self.configured and self.launched):
            return
        self.first_stop_sent = True
        if self.stop_on_entry:
            st = self._need().stop_info()  # a trap at the start position shows as one
            self._stopped("exception" if st.kind == "exception" else "entry", st)
        else:
            self._do_move("continue")

    def req_disconnect(self, args: dict) -> None:
        self.done = True

    def after_disconnect(self, args: dict) -> None:
        self.close()

    req_terminate = req_disconnect

    def after_terminate(self, args: dict) -> None:
        self.close()
        self.event("terminated", None)

    # ---- stops ---------------------------------------------------------------------
    def _reason(self, st: StopInfo) -> str:
        if st.kind == "breakpoint":
            return "function breakpoint" if set(st.ids) & self.function_bps else "breakpoint"
        return {"watchpoint": "data breakpoint", "exception": "exception"}.get(st.kind, "step")

    def _stopped(self, reason: str | None, st: StopInfo) -> None:
        self._reset_handles()
        self.last_stop = st
        if st.kind == "exited":
            self.event("exited", {"exitCode": 0})
            self.event("terminated", None)
            return
        threads = self._need().threads()
        body: dict[str, Any] = {"reason": reason or self._reason(st), "allThreadsStopped": True,
                                "threadId": threads[0][0] if threads else 1}
        if st.description and body["reason"] != "entry":
            body["description"] = st.description
            if st.kind in ("exception", "boundary"):
                body["text"] = st.description
        if st.kind == "breakpoint" and st.ids:
            body["hitBreakpointIds"] = st.ids
        elif st.kind == "watchpoint" and st.ids:
            body["hitBreakpointIds"] = [WATCH_BASE + i for i in st.ids]
        self.event("stopped", body)

    def _log_hits(self, st: StopInfo) -> bool:
        """Print the logpoints of a breakpoint stop; True when only logpoints were hit."""
        if st.kind != "breakpoint" or not st.ids:
            return False
        logs = [i for i in st.ids if i in self.logpoints]
        for i in logs:
            self.event("output", {"category": "console",
                                  "output": self._interpolate(self.logpoints[i]) + "\n"})
        return len(logs) == len(st.ids)

    def _interpolate(self, message: str) -> str:
        backend = self._need()

        def one(m: re.Match) -> str:
            try:
                return backend.evaluate(m.group(1), 0).value
            except BackendError as e:
                return f"<{e}>"
        return re.sub(r"\{([^{}]+)\}", one, message)

    def _do_move(self, kind: str, reason: str | None = None) -> None:
        backend = self._need()
        running = kind in ("continue", "reverseContinue")
        if not running:  # steps pass logpoints by: they print on continue and reverseContinue
            for bp in self.logpoints:
                backend.enable_breakpoint(bp, False)
        try:
            for _ in range(MAX_LOG_HITS):
                backend.move(kind, self.selected_frame)
                st = backend.stop_info()
                if not (running and self._log_hits(st)):
                    break
        finally:
            if not running:
                for bp in self.logpoints:
                    backend.enable_breakpoint(bp, True)
        self._stopped(reason, st)

    # ---- moves ---------------------------------------------------------------------
    def _move_request(self, name: str, args: dict) -> None:
        self._need()
        self._move_kind = MOVES[name]
        if args.get("granularity") == "instruction" and name in INSTRUCTION_MOVES:
            self._move_kind = INSTRUCTION_MOVES[name]

    def req_continue(self, args: dict) -> dict:
        self._move_request("continue", args)
        return {"allThreadsContinued": True}

    def req_next(self, args): self._move_request("next", args)
    def req_stepIn(self, args): self._move_request("stepIn", args)
    def req_stepOut(self, args): self._move_request("stepOut", args)
    def req_stepBack(self, args): self._move_request("stepBack", args)
    def req_reverseContinue(self, args): self._move_request("reverseContinue", args)
    def req_ttdReverseStepIn(self, args): self._move_request("ttdReverseStepIn", args)
    def req_ttdReverseStepOut(self, args): self._move_request("ttdReverseStepOut", args)

    def _after_move(self, args: dict) -> None:
        self._do_move(self._move_kind)

    after_continue = after_next = after_stepIn = after_stepOut = after_stepBack = _after_move
    after_reverseContinue = after_ttdReverseStepIn = after_ttdReverseStepOut = _after_move

    def req_pause(self, args: dict) -> None:
        return None  # every move ends by itself: the program is always stopped between

    def req_ttdGoto(self, args: dict) -> None:
        step = args.get("step")
        if isinstance(step, bool) or not (step in ("start", "end") or isinstance(step, int)):
            raise RequestError("ttdGoto wants step: a number, \"start\" or \"end\"")
        self._need().goto(str(step))

    def after_ttdGoto(self, args: dict) -> None:
        self._stopped("goto", self._need().stop_info())

    def req_ttdLastWrite(self, args: dict) -> None:
        expr = _want(args, "expression", str)
        frame = self._frame_index(args.get("frameId"))
        self._need().last_write(expr, frame)

    def after_ttdLastWrite(self, args: dict) -> None:
        self._stopped("goto", self._need().stop_info())

    def req_ttdWhen(self, args: dict) -> dict:
        step, total = self._need().when()
        return {"step": step, "total": total}

    # ---- breakpoints ---------------------------------------------------------------
    def _defer(self, args: dict, command: str) -> bool:
        if self.backend is not None:
            return False
        self.pending.append({"command": command, "arguments": args})
        return True

    def req_setBreakpoints(self, args: dict) -> dict:
        source = _want(args, "source", dict)
        path = _want(source, "path", str)
        bps = _want(args, "breakpoints", list, False, None)
        if bps is None:
            lines = _want(args, "lines", list, False, [])
            bps = [{"line": n} for n in lines]
        for b in bps:
            if not isinstance(b, dict) or isinstance(b.get("line"), bool) or not isinstance(
                    b.get("line"), int):
                raise RequestError("every breakpoint needs an integer line")
        if self._defer(args, "setBreakpoints"):
            return {"breakpoints": [{"verified": False, "line": b["line"],
                                     "message": "set when the trace is loaded"} for b in bps]}
        backend = self._need()
        for old in self.source_bps.pop(path, []):
            backend.delete_breakpoint(old)
            self.logpoints.pop(old, None)
        out, ids = [], []
        dwarf = self.source_map.to_dwarf(path)
        for b in bps:
            try:
                ignore = hit_ignore(b.get("hitCondition"))
                bp, ok, line, found = backend.break_source(
                    dwarf, b["line"], b.get("condition") or None, ignore)
            except (RequestError, BackendError) as e:
                out.append({"verified": False, "line": b["line"], "message": str(e)})
                continue
            ids.append(bp)
            if found and found != path:  # show that file under the client's name for it
                self.learned[found] = path
            if b.get("logMessage"):
                self.logpoints[bp] = str(b["logMessage"])
            entry = {"id": bp, "verified": ok, "line": line, "source": source}
            if not ok:
                entry["message"] = f"no code at {Path(path).name}:{b['line']}"
            out.append(entry)
        self.source_bps[path] = ids
        return {"breakpoints": out}

    def req_setFunctionBreakpoints(self, args: dict) -> dict:
        bps = _want(args, "breakpoints", list)
        for b in bps:
            if not isinstance(b, dict) or not isinstance(b.get("name"), str):
                raise RequestError("every function breakpoint needs a name")
        if self._defer(args, "setFunctionBreakpoints"):
            return {"breakpoints": [{"verified": False} for _ in bps]}
        backend = self._need()
        for old in self.func_bp_ids:
            backend.delete_breakpoint(old)
            self.function_bps.discard(old)
        self.func_bp_ids = []
        out = []
        for b in bps:
            try:
                bp, ok = backend.break_function(b["name"], b.get("condition") or None,
                                                hit_ignore(b.get("hitCondition")))
            except (RequestError, BackendError) as e:
                out.append({"verified": False, "message": str(e)})
                continue
            self.func_bp_ids.append(bp)
            self.function_bps.add(bp)
            out.append({"id": bp, "verified": ok} | ({} if ok else {
                "message": f"no function {b['name']}"}))
        return {"breakpoints": out}

    def req_setExceptionBreakpoints(self, args: dict) -> dict:
        return {"breakpoints": []}  # a trap always stops: it ends the recording

    def req_dataBreakpointInfo(self, args: dict) -> dict:
        name = _want(args, "name", str)
        backend = self._need()
        ref = args.get("variablesReference")
        where = None
        if ref:
            for v in self._list(ref):
                if v.name == name:
                    where = backend.address_of(v.handle)
                    break
            else:
                raise RequestError(f"no variable {name} there")
        else:
            v = backend.evaluate(name, self._frame_index(args.get("frameId")))
            where = backend.address_of(v.handle)
        if where is None:
            return {"dataId": None, "description": f"{name} is not in linear memory"}
        addr, size = where
        return {"dataId": f"{addr:#x}/{size}", "description": f"{name} ({size} bytes at {addr:#x})",
                "accessTypes": ["read", "write", "readWrite"], "canPersist": False}

    def req_setDataBreakpoints(self, args: dict) -> dict:
        bps = _want(args, "breakpoints", list)
        backend = self._need()
        for old in self.watch_ids:
            backend.delete_watch(old)
        self.watch_ids = []
        out = []
        for b in bps:
            m = re.fullmatch(r"0x([0-9a-fA-F]{1,16})/(\d{1,5})", str(b.get("dataId", ""))
                             if isinstance(b, dict) else "")
            if not m:
                out.append({"verified": False, "message": "bad dataId"})
                continue
            access = b.get("accessType", "write")
            if access not in ("read", "write", "readWrite"):
                out.append({"verified": False, "message": f"bad accessType {access!r}"})
                continue
            try:
                wp = backend.watch(int(m.group(1), 16), int(m.group(2)), access != "write",
                                   access != "read", b.get("condition") or None,
                                   hit_ignore(b.get("hitCondition")))
            except (RequestError, BackendError) as e:
                out.append({"verified": False, "message": str(e)})
                continue
            self.watch_ids.append(wp)
            out.append({"id": WATCH_BASE + wp, "verified": True})
        return {"breakpoints": out}

    # ---- state ---------------------------------------------------------------------
    def req_threads(self, args: dict) -> dict:
        if self.backend is None:
            return {"threads": []}
        return {"threads": [{"id": i, "name": n} for i, n in self.backend.threads()]}

    def _frame_index(self, frame_id: Any) -> int:
        if frame_id is None:
            return 0
        if isinstance(frame_id, bool) or not isinstance(frame_id, int):
            raise RequestError("frameId must be an integer")
        if frame_id not in self.frame_ids:
            raise RequestError(f"unknown frameId {frame_id}")
        return self.frame_ids[frame_id][1]

    def _source(self, path: str | None) -> dict | None:
        """A DWARF file name as the client should see it: sourceMap first, then the path
        the client set a breakpoint in it by, then a relative name found on disk."""
        if not path:
            return None
        client = self.source_map.to_client(path)
        if client == path:
            client = self.learned.get(path, path)
        if client == path and not Path(path).is_absolute():
            for base in self.search_dirs:
                if (base / path).is_file():
                    client = str((base / path).resolve())
                    break
        return {"name": Path(client).name, "path": client}

    def req_stackTrace(self, args: dict) -> dict:
        thread = _want(args, "threadId", int)
        start = _want(args, "startFrame", int, False, 0)
        levels = _want(args, "levels", int, False, 0)
        frames = self._need().frames(thread)
        chosen = frames[start:start + levels] if levels else frames[start:]
        out = []
        for i, f in enumerate(chosen, start):
            fid = thread * 10_000 + i + 1 if thread < 10**9 else i + 1
            self.frame_ids[fid] = (thread, i)
            entry = {"id": fid, "name": f.name, "line": f.line, "column": f.column or 1,
                     "instructionPointerReference": f"{f.pc:#x}"}
            src = self._source(f.path)
            if src:
                entry["source"] = src
            else:
                entry["presentationHint"] = "subtle"
                entry["line"] = 0
                entry["column"] = 0
            out.append(entry)
        return {"stackFrames": out, "totalFrames": len(frames)}

    def req_scopes(self, args: dict) -> dict:
        frame = self._frame_index(_want(args, "frameId", int))
        self.selected_frame = frame
        return {"scopes": [
            {"name": "Locals", "presentationHint": "locals", "expensive": False,
             "variablesReference": self._ref(("scope", frame, "locals"))},
            {"name": "Globals", "presentationHint": "globals", "expensive": False,
             "variablesReference": self._ref(("scope", frame, "globals"))}]}

    def _list(self, ref: Any) -> list[VarInfo]:
        if isinstance(ref, bool) or not isinstance(ref, int) or ref not in self.var_refs:
            raise RequestError(f"unknown variablesReference {ref}")
        if ref not in self.var_lists:
            what = self.var_refs[ref]
            backend = self._need()
            if isinstance(what, tuple):
                self.var_lists[ref] = backend.scope(what[1], what[2])
            else:
                self.var_lists[ref] = backend.children(what.handle)
        return self.var_lists[ref]

    def _variable(self, v: VarInfo) -> dict:
        out = {"name": v.name, "value": v.value, "type": v.type,
               "variablesReference": self._ref(v) if v.expandable else 0}
        if v.memory_reference:
            out["memoryReference"] = v.memory_reference
        if v.evaluate_name:
            out["evaluateName"] = v.evaluate_name
        return out

    def req_variables(self, args: dict) -> dict:
        items = self._list(args.get("variablesReference"))
        start = _want(args, "start", int, False, 0)
        count = _want(args, "count", int, False, 0)
        items = items[start:start + count] if count else items[start:]
        return {"variables": [self._variable(v) for v in items]}

    def req_evaluate(self, args: dict) -> dict:
        expr = _want(args, "expression", str)
        backend = self._need()
        if args.get("context") == "repl" and (expr.startswith("`") or expr.startswith("-exec ")):
            text = expr[1:] if expr.startswith("`") else expr[6:]
            out = backend.command(text.strip())
            if re.match(r"\s*(rn|rs|rsi|rc|rfinish|reverse-\w+|ttd\s+(goto|last-write)|"
                        r"n|s|si|ni|c|finish|next|step|continue|thread\s+step|process\s+continue)\b",
                        text.strip()):
                self.event("stopped", {"reason": "step", "threadId": (backend.threads() or
                                                                      [(1, "")])[0][0],
                                       "allThreadsStopped": True})
                self._reset_handles()
            return {"result": out.rstrip("\n"), "variablesReference": 0}
        v = backend.evaluate(expr, self._frame_index(args.get("frameId")))
        out = self._variable(v)
        return {"result": out["value"], "type": out["type"],
                "variablesReference": out["variablesReference"]} | (
            {"memoryReference": v.memory_reference} if v.memory_reference else {})

    def req_exceptionInfo(self, args: dict) -> dict:
        st = self.last_stop
        if st is None or st.kind != "exception":
            raise RequestError("not stopped at a trap")
        return {"exceptionId": "trap", "description": st.description, "breakMode": "always",
                "details": {"message": st.description, "typeName": "wasm trap"}}

    def req_readMemory(self, args: dict) -> dict:
        ref = _want(args, "memoryReference", str)
        offset = _want(args, "offset", int, False, 0)
        count = _want(args, "count", int)
        try:
            addr = int(ref, 0) + offset
        except ValueError:
            raise RequestError(f"bad memoryReference {ref[:40]!r}")
        if addr < 0 or not 0 <= count <= 1 << 24:
            raise RequestError("address or count out of range")
        try:
            data = self._need().read_memory(addr, count)
        except BackendError:
            return {"address": f"{addr:#x}", "unreadableBytes": count}
        body = {"address": f"{addr:#x}", "data": base64.b64encode(data).decode()}
        if len(data) < count:
            body["unreadableBytes"] = count - len(data)
        return body

    def req_disassemble(self, args: dict) -> dict:
        ref = _want(args, "memoryReference", str)
        offset = _want(args, "offset", int, False, 0)
        ioff = _want(args, "instructionOffset", int, False, 0)
        count = _want(args, "instructionCount", int)
        if not 0 <= count <= 100_000:
            raise RequestError("instructionCount out of range")
        try:
            addr = int(ref, 0) + offset
        except ValueError:
            raise RequestError(f"bad memoryReference {ref[:40]!r}")
        got = self._need().disassemble(addr, ioff, count)
        got = (list(got) + [None] * count)[:count]
        real = [k for k, g in enumerate(got) if g is not None]
        out = []
        for k, ins in enumerate(got):
            if ins is None:  # outside the function: a placeholder, DAP wants `count` entries
                if not real:
                    guess = addr + k + ioff
                elif k < real[0]:
                    guess = got[real[0]].address - (real[0] - k)
                else:
                    guess = got[real[-1]].address + (k - real[-1])
                out.append({"address": f"{max(guess, 0):#x}", "instruction": "",
                            "presentationHint": "invalid"})
                continue
            entry = {"address": f"{ins.address:#x}", "instruction": ins.text,
                     "instructionBytes": ins.raw}
            src = self._source(ins.path)
            if src:
                entry["location"] = src
                entry["line"] = ins.line
            out.append(entry)
        return {"instructions": out}

    def req_source(self, args: dict) -> dict:
        raise RequestError("sources are read from disk: map their paths with sourceMap")
