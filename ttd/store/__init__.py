"""Trace store: one self-contained SQLite file per recording (bytes and rows, no Wasm knowledge)."""

from ttd.store.errors import CorruptTrace, MissingRow, NotATrace, SchemaTooNew, TraceError, TraceExists
from ttd.store.trace_store import ChunkRow, ModuleRow, TraceStore, chunk_checksum

__all__ = [
    "ChunkRow",
    "CorruptTrace",
    "MissingRow",
    "ModuleRow",
    "NotATrace",
    "SchemaTooNew",
    "TraceError",
    "TraceExists",
    "TraceStore",
    "chunk_checksum",
]
