"""Edit a capture the way a stranger could: its stored import calls, its module, its info.

Every edit goes through SQLite and ttd's documented row formats (msgpack events, zstd
batches, the checksums of ttd.store.trace_store), so what a test feeds `ttd expand` is a file
whose checksums hold: the expansion's own checks are what must catch it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Callable

from ttd.store import codec
from ttd.store.trace_store import capture_checksum, module_checksum

#: One captured import call: [import index, args, results, [(addr, bytes)...], optional end]
Event = list


def read_events(path: Path) -> list[Event]:
    """Every captured call of the capture at path, in order."""
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT seq, first_call, n_calls, events FROM capture_events "
                           "ORDER BY seq").fetchall()
    finally:
        con.close()
    events: list[Event] = []
    for _seq, first, n, blob in rows:
        batch = codec.unpack(codec.decompress(blob, 1 << 30))
        assert first == len(events) and len(batch) == n
        events.extend(batch)
    return events


def write_events(path: Path, events: list[Event], per_batch: int | None = None) -> None:
    """Replace the capture's calls with events (batches of per_batch, default one batch),
    with the checksums the store computes; capture_calls follows."""
    con = sqlite3.connect(path)
    try:
        con.execute("DELETE FROM capture_events")
        size = per_batch or max(len(events), 1)
        for seq, first in enumerate(range(0, len(events), size)):
            batch = events[first:first + size]
            blob = codec.compress(codec.pack(batch))
            con.execute("INSERT INTO capture_events (seq, first_call, n_calls, events, checksum) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (seq, first, len(batch), blob, capture_checksum(seq, first, len(batch), blob)))
        con.commit()
    finally:
        con.close()
    set_info(path, capture_calls=len(events))


def edit_events(path: Path, edit: Callable[[list[Event]], None]) -> list[Event]:
    """Read, edit in place (edit(events)), write back; returns the edited events."""
    events = read_events(path)
    edit(events)
    write_events(path, events)
    return events


def info(path: Path) -> dict:
    con = sqlite3.connect(path)
    try:
        return {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM trace_info")}
    finally:
        con.close()


def set_info(path: Path, **values) -> None:
    """Set trace_info keys (JSON values, as the store writes them)."""
    con = sqlite3.connect(path)
    try:
        for k, v in values.items():
            con.execute("INSERT OR REPLACE INTO trace_info (key, value) VALUES (?, ?)",
                        (k, json.dumps(v)))
        con.commit()
    finally:
        con.close()


def replace_module(path: Path, wasm: bytes) -> None:
    """Put another module in the capture, with a consistent sha256 and checksum."""
    con = sqlite3.connect(path)
    try:
        name, schedule = con.execute("SELECT name, schedule FROM modules WHERE id = 0").fetchone()
        digest = hashlib.sha256(wasm).hexdigest()
        con.execute("UPDATE modules SET wasm = ?, sha256 = ?, checksum = ? WHERE id = 0",
                    (wasm, digest, module_checksum(0, name, digest, schedule)))
        con.commit()
    finally:
        con.close()
    set_info(path, module_sha256=hashlib.sha256(wasm).hexdigest())


def flushed_calls(path: Path) -> int:
    """Calls a live capture has committed so far (0 while the file is not readable yet)."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.2)
        try:
            return int(con.execute("SELECT coalesce(sum(n_calls), 0) FROM capture_events")
                       .fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0
