"""What a trace holds and what sharing it reveals, as text: `ttd info` on the command line
and `ttd info` inside LLDB print the same rows."""

from __future__ import annotations

import hashlib
import shlex
from typing import Any


def printable(v: object) -> str:
    """Text from a trace (names, arguments, messages quoting it) for the terminal: control
    characters escaped, so a crafted trace cannot send escape sequences to it."""
    text = str(v)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def trace_summary(trace: Any, path: str) -> dict:
    """The facts of an expanded trace (`ttd info --json` prints this dict)."""
    info = trace.info
    size = trace.store.size_bytes()
    return {
        **run_facts(info),
        "path": str(path),
        "trap_pc": info.get("trap_pc"),
        "steps": trace.total_steps,
        "chunks": len(trace.chunks),
        "functions": info.get("functions"),
        # of the bytes stored now (checked against the module's checksum when the trace was
        # opened), not the recorder's note in trace_info, which nothing checks
        "module_sha256": hashlib.sha256(trace.wasm).hexdigest(),
        "size_bytes": size,
        "bytes_per_step": round(size / trace.total_steps, 4) if size and trace.total_steps else None,
    }


def run_facts(info: dict) -> dict:
    """What a capture and an expanded trace both say of the run that was recorded."""
    return {
        "program": info.get("program"),
        "args": info.get("args", []),
        "env": info.get("env", []),
        "dirs": info.get("dirs", []),
        "files": info.get("files", []) if isinstance(info.get("files"), list) else [],
        "stdin_bytes": info.get("stdin_bytes") if isinstance(info.get("stdin_bytes"), int) else None,
        "invoke": info.get("invoke"),
        "recorded_at": info.get("recorded_at"),
        "ttd_version": info.get("ttd_version"),
        "wasmtime_version": info.get("wasmtime_version"),
        "status": info.get("status"),
        "partial": info.get("status") != "complete",
        "exit_code": info.get("exit_code"),
        "trap": info.get("trap"),
    }


def _words(values: list) -> str:
    """Quoted as a shell would need them: `one "two words"` shows as `one 'two words'`."""
    return shlex.join(str(v) for v in (values if isinstance(values, list) else [values]))


def _stdin(n: int | None) -> str:
    if n is None:
        return "unknown (recorded by an older ttd)"
    return f"read ({n:,} bytes)" if n else "not read"


def run_rows(s: dict) -> list[tuple[str, object]]:
    """The rows about the program's inputs: what a trace reveals to whoever receives it."""
    return [
        ("program", s["program"]),
        ("args", _words(s["args"]) or "(none)"),
        ("env", _words(s["env"]) or "(none)"),
        ("dirs", _words(s["dirs"]) or "(none)"),
        ("files", _words(s["files"]) or "(none opened)"),
        ("stdin", _stdin(s["stdin_bytes"])),
        ("recorded", s["recorded_at"]),
        ("versions", f"ttd {s['ttd_version']}, wasmtime {s['wasmtime_version']}"),
    ]


def trace_rows(s: dict) -> list[tuple[str, object]]:
    """`ttd info` of an expanded trace (s: trace_summary, with `in_progress`)."""
    outcome = (f"trap at {s['trap_pc']:#x}: {s['trap']}" if s["trap"] and isinstance(s["trap_pc"], int)
               else f"trap: {s['trap']}" if s["trap"] else f"exit {s['exit_code']}")
    return run_rows(s) + [
        ("status", f"recording (in progress: {s['steps']:,} steps so far)" if s["in_progress"]
                   else str(s["status"]) + (" (partial trace)" if s["partial"] else "")),
        ("steps", f"{s['steps']:,}"),
        ("functions", s["functions"]),
        ("outcome", outcome if s["status"] != "recording" else "unknown (still recording)"
                    if s["in_progress"] else "unknown (recording did not finish)"),
        ("module", s["module_sha256"]),
        ("size", f"{(s['size_bytes'] or 0) / 1e6:,.2f} MB"
                 + (f" ({s['bytes_per_step']} bytes/step)" if s["bytes_per_step"] else "")),
    ]


def format_rows(rows: list[tuple[str, object]]) -> str:
    return "".join(f"{k + ':':<11}{printable(v)}\n" for k, v in rows)
