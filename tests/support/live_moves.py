"""What LLDB shows after each forward move under the live reference, `wasmtime run -g`: the
sequence reverse moves on a trace must retrace."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from tests.support.cases import get_case
from tests.support.live import live_case
from tests.support.lldb_session import LLDBSession


def live_moves(case_name: str, start: str, moves: Sequence[str],
               where: Callable[[LLDBSession], Any], hits: int = 1) -> list:
    """`where(session)` at the `hits`-th breakpoint hit of function `start`, then after each
    move (`next`, `step`, or any LLDB command)."""
    case = get_case(case_name)
    with live_case(case) as port, LLDBSession(case.wasm_path, port) as s:
        s.break_name(start)
        for _ in range(hits):
            s.cont()
        s.delete_all_breakpoints()
        seq = [where(s)]
        for move in moves:
            if move in ("next", "step"):
                getattr(s, move)()
            else:
                s.run_command(move)
            seq.append(where(s))
        return seq
