"""Count Wasm call depth in rewritten code, and stop a run at a chosen depth.

Instrumented frames are bigger than the plain module's, so the instrumented run overflows a
Wasm stack of the same size at another call than the plain run would. Both rewritings keep a
depth counter in a global instead: +1 at every function entry, -1 at every way out (the end,
`return`, a branch to the function label, before a tail call). A trap unwinds nothing (the run
ends there); a thrown exception unwinds frames without running their exits, so in modules
with tags every function keeps its own depth in a local and puts it back wherever control
can land in it again (after a call, after an `end` or `loop`: a catch's continuation).

The instrumented module also has a limit: an entry that takes the depth past it executes an
`unreachable` before the function's first instruction (before its first block is logged),
which is where the plain run's stack check in the prologue traps on a stack overflow.
`depth_probe` adds only the counter to the plain module, for re-running a capture to learn
how deep it was when it overflowed (wasmtime reports at most 20 frames of a backtrace).

Depths count the module's own functions only: the instrumenter's import wrappers are not
counted, as the plain run has no Wasm frame for an import either.
"""

from __future__ import annotations

import bisect
from typing import Callable

from ttd.wasm.emit import (
    global_get as _gg, global_set as _gs, i32_const as _i32c, local_get as _lg, local_set as _ls,
)
from ttd.wasm.leb import encode_uleb, read_uleb
from ttd.wasm.module import Module, parse_module
from ttd.wasm.operators import Operator, decode_ops, unsupported

#: No limit: the depth is compared unsigned, and never gets near 2**32.
NO_LIMIT = 0xFFFFFFFF
_OPENERS = ("block", "loop", "if", "try_table")
_FUNC_LABEL_BRANCHES = ("br", "br_if", "br_table")
_REF_BRANCHES = ("br_on_null", "br_on_non_null", "br_on_cast", "br_on_cast_fail")
_TAIL_CALLS = ("return_call", "return_call_indirect", "return_call_ref")
_CALLS = ("call", "call_indirect", "call_ref")


def has_tags(m: Module) -> bool:
    """Whether exceptions can unwind frames past their exits (the module has tags)."""
    return bool(m.tags) or bool(m.imported_tags)


def entry_code(depth: int, limit: int | None, saved: int | None) -> bytes:
    """depth += 1; trap if past the limit; keep the new depth in `saved` (modules with tags)."""
    code = _gg(depth) + b"\x41\x01\x6a" + _gs(depth)
    if limit is not None:
        code += _gg(depth) + _gg(limit) + b"\x4b\x04\x40\x00\x0b"  # i32.gt_u if unreachable end
    if saved is not None:
        code += _gg(depth) + _ls(saved)
    return code


def reset_code(depth: int, saved: int) -> bytes:
    """Put the function's own depth back (after frames an exception unwound)."""
    return _lg(saved) + _gs(depth)


def _leave(depth: int) -> bytes:
    return _gg(depth) + b"\x41\x01\x6b" + _gs(depth)


def exit_points(names: list[str], imms: list[tuple], offs: list[int], ctrl: list[int],
                opener_of: dict[int, int], data: bytes) -> dict[int, tuple]:
    """The instructions that leave the function, by index: ("ret",) always leaves,
    ("br_if",) when its condition holds, ("br_table", positions, default, n) when its index
    picks a target that is the function label."""
    out: dict[int, tuple] = {}
    open_ = 0
    last = len(names) - 1
    for i in ctrl:
        name = names[i]
        if name in _OPENERS:
            open_ += 1
        elif name == "end":
            if i in opener_of:
                open_ -= 1
            elif i == last:
                out[i] = ("ret",)
        elif name == "return" or name in _TAIL_CALLS:
            out[i] = ("ret",)
        elif name in ("br", "br_if"):
            if imms[i][0] >= open_:
                out[i] = ("ret",) if name == "br" else ("br_if",)
        elif name == "br_table":
            targets, default = imms[i]
            pos = tuple(k for k, d in enumerate(targets) if d >= open_)
            if pos or default >= open_:
                out[i] = ("br_table", pos, default >= open_, len(targets))
        elif name in _REF_BRANCHES:
            d = imms[i][0] if name in ("br_on_null", "br_on_non_null") else imms[i][1]
            if d >= open_:
                raise unsupported(Operator(offs[i], offs[i + 1], name, imms[i]), data,
                                  "a branch on a reference to the function label is not recorded")
    return out


def exit_code(point: tuple, depth: int, tmp: int) -> bytes:
    """The code before an exit point that takes the depth down when it leaves."""
    kind = point[0]
    if kind == "ret":
        return _leave(depth)
    if kind == "br_if":  # depth -= (cond != 0), the condition put back
        return (_ls(tmp) + _gg(depth) + _lg(tmp) + b"\x41\x00\x47\x6b" + _gs(depth)
                + _lg(tmp))
    _, positions, default, n = point
    test = (_lg(tmp) + _i32c(n) + b"\x4f") if default else b"\x41\x00"  # i32.ge_u
    for p in positions:
        test += _lg(tmp) + _i32c(p) + b"\x46\x72"  # i32.eq i32.or
    return _ls(tmp) + _gg(depth) + test + b"\x6b" + _gs(depth) + _lg(tmp)


def needs_tmp(points: dict[int, tuple]) -> bool:
    return any(p[0] != "ret" for p in points.values())


def reentry_points(names: list[str], opener_of: dict[int, int]) -> list[int]:
    """Instructions after which control can come back from frames an exception unwound:
    calls (a catch to a callee's function label), and block ends and loop heads (catch
    labels) -- in modules with tags only."""
    last = len(names) - 1
    return [i for i, n in enumerate(names)
            if n in _CALLS or n == "loop" or (n == "end" and i != last and i in opener_of)]


# ---- the probe: the plain module with the counter only --------------------------------------

def depth_probe(data: bytes) -> bytes:
    """The module with a depth counter only, exported as __ttd_depth, and its memories as
    __ttd_mem<i>: as few added instructions as can count (a re-run of the plain module)."""
    return depth_probe_mapped(data)[0]


def depth_probe_mapped(data: bytes) -> tuple[bytes, Callable[[int], int | None]]:
    """depth_probe, and a map from the probe's module offsets to the original module's (of
    the instruction there; None inside added code), to compare backtraces."""
    from ttd.record.instrument import EXPORT_PREFIX
    from ttd.record.instrument import _match_constructs, _CONTROL
    from ttd.wasm import encode

    m = parse_module(data)
    depth = m.num_imported_globals + len(m.globals)
    tags = has_tags(m)
    bodies = []
    runs: list[tuple[int, int, int]] = []  # (offset in the code payload, original, length)
    size = len(encode_uleb(len(m.bodies)))
    for body in m.bodies:
        offs, names, imms = decode_ops(data, body.code_start, body.end)
        ctrl = [i for i, name in enumerate(names) if name in _CONTROL]
        _end_of, _else_of, opener_of = _match_constructs(names, offs, ctrl)
        points = exit_points(names, imms, offs, ctrl, opener_of, data)
        n_locals = len(body.local_types)
        extra = []
        tmp = saved = None
        if needs_tmp(points):
            tmp = n_locals + len(extra)
            extra.append(tmp)
        if tags:
            saved = n_locals + len(extra)
            extra.append(saved)
        after = set(reentry_points(names, opener_of)) if tags else set()
        out = bytearray(entry_code(depth, None, saved))
        body_runs = []  # (position in out, original offset, length)

        def copy(lo: int, hi: int) -> None:
            if hi > lo:
                body_runs.append((len(out), lo, hi - lo))
                out.extend(data[lo:hi])
        a = 0
        for j in sorted(set(points) | after):
            copy(offs[a], offs[j])
            if j in points:
                out += exit_code(points[j], depth, tmp if tmp is not None else 0)
            copy(offs[j], offs[j + 1])
            if j in after:
                out += reset_code(depth, saved)
            a = j + 1
        copy(offs[a], offs[len(names)])
        locals_raw = data[body.locals_start:body.code_start]
        count, pos = read_uleb(locals_raw, 0)
        decl = encode_uleb(count + (1 if extra else 0)) + locals_raw[pos:]
        if extra:
            decl += encode_uleb(len(extra)) + b"\x7f"
        code = decl + bytes(out)
        head = encode_uleb(len(code))
        base = size + len(head) + len(decl)
        runs += [(base + at, orig, n) for at, orig, n in body_runs]
        bodies.append(head + code)
        size += len(head) + len(code)

    exports = [encode.name(EXPORT_PREFIX + "depth") + b"\x03" + encode_uleb(depth)]
    for i in range(m.num_imported_memories + len(m.memories)):
        exports.append(encode.name(f"{EXPORT_PREFIX}mem{i}") + b"\x02" + encode_uleb(i))
    glob = b"\x7f\x01\x41\x00\x0b"
    wasm, code_at = _rebuild(m, data, {6: [glob], 7: exports},
                             encode_uleb(len(bodies)) + b"".join(bodies))
    starts = [code_at + at for at, _orig, _n in runs]

    def original(offset: int) -> int | None:
        i = bisect.bisect_right(starts, offset) - 1
        if i < 0 or offset - starts[i] >= runs[i][2]:
            return None
        return runs[i][1] + offset - starts[i]
    return wasm, original


def _rebuild(m: Module, data: bytes, extra: dict[int, list[bytes]], code: bytes
             ) -> tuple[bytes, int]:
    """The module with items appended to some sections (created where missing) and its
    code section replaced; custom sections dropped. Also where the code payload starts."""
    order = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11]
    raw = {s.id: data[s.start:s.end] for s in m.sections if s.id != 0}
    out = bytearray(b"\x00asm\x01\x00\x00\x00")
    code_at = len(out)
    for sid in order:
        if sid == 10:
            payload = code if m.bodies else raw.get(10)
        elif sid in extra:
            old = raw.get(sid)
            if old is None:
                payload = encode_uleb(len(extra[sid])) + b"".join(extra[sid])
            else:
                count, pos = read_uleb(old, 0)
                payload = encode_uleb(count + len(extra[sid])) + old[pos:] + b"".join(extra[sid])
        else:
            payload = raw.get(sid)
        if payload is not None:
            out += bytes([sid]) + encode_uleb(len(payload))
            if sid == 10:
                code_at = len(out)
            out += payload
    return bytes(out), code_at

