"""The static schedule: what the instrumenter knows about every block, stored in the trace.

At run time a block writes only its id and the values nobody can recompute. Everything else
(the pcs it steps through, where its values go, where control can go next) lives here, decided
once from the module. The schedule is stored in the trace, so a trace replays with the ttd that
reads it even if a later instrumenter numbers blocks differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Value types of recorded slots, with their byte sizes.
VT_I32, VT_I64, VT_F32, VT_F64, VT_V128, VT_REF = range(6)
VT_SIZE = (4, 8, 4, 8, 16, 0)
VT_OF_NAME = {"i32": VT_I32, "i64": VT_I64, "f32": VT_F32, "f64": VT_F64, "v128": VT_V128}

# How a block ends: decides what happens to the call stack between it and the next block.
EXIT_FALL = 0  # next instruction is a leader reached by falling through
EXIT_BRANCH = 1  # br/br_if/br_table/br_on_*: stays unless the target is the function label
EXIT_RETURN = 2  # return, or the function's final end
EXIT_CALL = 3  # direct call of a defined function
EXIT_HOSTCALL = 4  # direct call of an import: no wasm steps, then the next block in this frame
EXIT_CALL_INDIRECT = 5  # call_indirect/call_ref: callee known from the next block
EXIT_TAILCALL = 6  # return_call*: the frame is replaced
EXIT_THROW = 7  # throw/throw_ref/rethrow: unwinds to a landing
EXIT_TRAP = 8  # unreachable
EXIT_ELSE = 9  # else reached by falling through the then-branch: a branch past the end

# Effects: what a step changes, applied after that step executes.
FX_LOCAL = 0  # (step, FX_LOCAL, local, vt, voff)
FX_GLOBAL = 1  # (step, FX_GLOBAL, global, vt, voff)
FX_STORE = 2  # (step, FX_STORE, memory, width, voff, offset, addr64) value bytes follow the address
FX_GROW = 3  # (step, FX_GROW, memory, addr64, voff) records delta then result
FX_FILL = 4  # (step, FX_FILL, memory, addr64, voff) records d, val, n
FX_COPY = 5  # (step, FX_COPY, dst_memory, src_memory, voff, d64, s64, n64)
FX_INIT = 6  # (step, FX_INIT, memory, data_index, voff, d64)
FX_LOAD = 7  # (step, FX_LOAD, memory, width, voff, offset, addr64) only with `record --reads`
FX_RESULT = 8  # (-2, FX_RESULT, vt, voff) the result of the call a continuation block follows


@dataclass(slots=True)
class Block:
    func: int
    pcs: list[int]
    exit: int
    callee: int = -1
    succ: tuple[int, ...] = ()
    effects: list[tuple] = field(default_factory=list)
    vsize: int = 0
    entry: bool = False

    def to_wire(self) -> list:
        return [self.func, self.pcs, self.exit, self.callee, list(self.succ),
                [list(e) for e in self.effects], self.vsize, self.entry]

    @classmethod
    def from_wire(cls, w: list) -> "Block":
        func, pcs, exit_, callee, succ, effects, vsize, entry = w
        return cls(int(func), list(pcs), int(exit_), int(callee), tuple(succ),
                   [tuple(e) for e in effects], int(vsize), bool(entry))


@dataclass(slots=True)
class FuncInfo:
    index: int
    name: str
    params: list[int]  # VT_* of each parameter
    locals: list[int]  # VT_* of every local, params first
    entry_block: int
    start: int  # pc of the first instruction
    end: int  # one past the final end


@dataclass(slots=True)
class Schedule:
    """Blocks, functions and landing pads of one instrumented module."""

    blocks: list[Block]
    funcs: dict[int, FuncInfo]
    globals: list[int]  # VT_* of every global
    memories: list[bool]  # is64 of every memory
    # landing block id -> [(func, try body start pc, try body end pc)] for exception unwinding;
    # -1 - func -> the same, for catches to the function's own label (the function returns)
    landings: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    imports: list[tuple[str, str]] = field(default_factory=list)  # (module, name) of func imports

    def to_wire(self) -> dict:
        return {
            "v": 1,
            "blocks": [b.to_wire() for b in self.blocks],
            "funcs": [[f.index, f.name, f.params, f.locals, f.entry_block, f.start, f.end]
                      for f in self.funcs.values()],
            "globals": self.globals,
            "memories": self.memories,
            "landings": [[k, [list(r) for r in v]] for k, v in self.landings.items()],
            "imports": [list(i) for i in self.imports],
        }

    @classmethod
    def from_wire(cls, w: dict) -> "Schedule":
        if not isinstance(w, dict) or w.get("v") != 1:
            raise ValueError("unknown schedule format")
        funcs = {}
        for index, name, params, locs, entry, start, end in w["funcs"]:
            funcs[int(index)] = FuncInfo(int(index), str(name), list(params), list(locs),
                                         int(entry), int(start), int(end))
        return cls(
            blocks=[Block.from_wire(b) for b in w["blocks"]],
            funcs=funcs,
            globals=list(w["globals"]),
            memories=[bool(m) for m in w["memories"]],
            landings={int(k): [tuple(r) for r in v] for k, v in w["landings"]},
            imports=[tuple(i) for i in w["imports"]],
        )
