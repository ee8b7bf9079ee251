"""Mutations of a real trace file: its bytes, its SQLite rows, crafted payloads, and its
schema objects (triggers, views, indexes, generated columns, virtual tables, altered tables).

Each mutator damages a copy of a trace in place, drawing every choice from a seeded
random.Random, and returns a one-line description of what it did, so a failure says how to
get the same file again. Row-level mutators discover tables and columns from the file itself
(the schema evolves). A chunk row they touch gets its checksum recomputed most of the time,
and so do the module (its sha256 too), checkpoint and keyframe rows (schema 0004): whoever
crafts a trace can compute sha256 too, so the checksum must not be the only defence.
"""

from __future__ import annotations

import contextlib
import random
import re
import sqlite3
import struct
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import zstandard

from ttd.store import codec

EXTREMES = [-1, -2, -(2**31), -(2**63), 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**40, 2**62,
            2**63 - 1]
BIG = [2**32, 2**40, 2**62, 2**63 - 1, 2**64 - 1, -(2**63), -1]


# ---- helpers ---------------------------------------------------------------------------------

@contextlib.contextmanager
def _db(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]


def _columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, int]]:
    """(name, declared type, primary-key position) of every column."""
    return [(r[1], (r[2] or "").upper(), r[5]) for r in conn.execute(f'PRAGMA table_info("{table}")')]


def _count(conn: sqlite3.Connection, table: str) -> int:
    return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def _pick_row(conn: sqlite3.Connection, table: str, rng: random.Random) -> dict | None:
    n = _count(conn, table)
    if not n:
        return None
    cols = [c[0] for c in _columns(conn, table)]
    row = conn.execute(f'SELECT * FROM "{table}" LIMIT 1 OFFSET ?', (rng.randrange(n),)).fetchone()
    return dict(zip(cols, row))


def _key(conn: sqlite3.Connection, table: str, row: dict) -> tuple[str, list]:
    pk = [c[0] for c in sorted(_columns(conn, table), key=lambda c: c[2]) if c[2]]
    cols = pk or list(row)
    return " AND ".join(f'"{c}" IS ?' for c in cols), [row[c] for c in cols]


def _update(conn: sqlite3.Connection, table: str, row: dict, col: str, value: Any) -> None:
    where, args = _key(conn, table, row)
    conn.execute(f'UPDATE "{table}" SET "{col}" = ? WHERE {where}', [value, *args])


def _blob(v: Any) -> bytes:
    return bytes(v) if isinstance(v, (bytes, bytearray)) else str(v).encode()


def _fix_blob_checksums(conn: sqlite3.Connection) -> None:
    """The module's sha256 and checksum, every checkpoint's and keyframe's (schema 0004)."""
    import hashlib

    try:
        from ttd.store.trace_store import checkpoint_checksum, keyframe_checksum, module_checksum
    except ImportError:
        return
    tables = _tables(conn)
    if "checksum" in {c[0] for c in _columns(conn, "modules")}:
        for mid, name, wasm, schedule in conn.execute("SELECT id, name, wasm, schedule FROM modules").fetchall():
            try:
                sha = hashlib.sha256(_blob(wasm)).hexdigest()
                digest = module_checksum(int(mid), str(name), sha, _blob(schedule))
            except (struct.error, TypeError, ValueError, OverflowError):
                continue
            conn.execute("UPDATE modules SET sha256 = ?, checksum = ? WHERE id IS ?", (sha, digest, mid))
    if "checksum" in {c[0] for c in _columns(conn, "checkpoints")}:
        for seq, state in conn.execute("SELECT chunk_seq, state FROM checkpoints").fetchall():
            try:
                digest = checkpoint_checksum(int(seq), _blob(state))
            except (struct.error, TypeError, ValueError, OverflowError):
                continue
            conn.execute("UPDATE checkpoints SET checksum = ? WHERE chunk_seq IS ?", (digest, seq))
    if "page_keyframes" in tables and "checksum" in {c[0] for c in _columns(conn, "page_keyframes")}:
        rows = conn.execute("SELECT memory, chunk_seq, page_map FROM page_keyframes").fetchall()
        for m, seq, page_map in rows:
            try:
                digest = keyframe_checksum(int(m), int(seq), _blob(page_map))
            except (struct.error, TypeError, ValueError, OverflowError):
                continue
            conn.execute("UPDATE page_keyframes SET checksum = ? WHERE memory IS ? AND chunk_seq IS ?",
                         (digest, m, seq))


def fix_checksums(conn: sqlite3.Connection) -> None:
    """Recompute every checksum from its row, as a forger would: chunks, and (schema 0004)
    the module with its sha256, checkpoints and keyframes."""
    _fix_blob_checksums(conn)
    try:
        from ttd.store.trace_store import chunk_checksum
    except ImportError:
        return
    names = [c[0] for c in _columns(conn, "chunks")]
    want = ["seq", "first_step", "n_steps", "first_block", "n_blocks", "ids", "vals", "host"]
    if not set(want) | {"checksum"} <= set(names):
        return
    for row in conn.execute(f"SELECT {', '.join(want)} FROM chunks").fetchall():
        try:
            ints = [int(v) for v in row[:5]]
            blobs = [bytes(v) if isinstance(v, (bytes, bytearray)) else str(v).encode() for v in row[5:]]
            digest = chunk_checksum(*ints, *blobs)
        except (struct.error, TypeError, ValueError, OverflowError):
            continue
        conn.execute("UPDATE chunks SET checksum = ? WHERE seq IS ?", (digest, row[0]))


def _maybe_fix(conn: sqlite3.Connection, rng: random.Random, p: float = 0.75) -> str:
    if rng.random() < p:
        fix_checksums(conn)
        return " (checksums recomputed)"
    return ""


def _flip(data: bytes, rng: random.Random, n: int | None = None) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    b = bytearray(data)
    for _ in range(n or rng.randint(1, 8)):
        b[rng.randrange(len(b))] ^= rng.randrange(1, 256)
    return bytes(b)


def _chunk_seqs(conn: sqlite3.Connection) -> list[int]:
    return [r[0] for r in conn.execute("SELECT seq FROM chunks ORDER BY seq")]


def _packed(obj: Any) -> bytes:
    return codec.pack(obj)


def _raw_packed(msgpack_bytes: bytes) -> bytes:
    """A codec.pack()-style blob around arbitrary msgpack bytes (which packb would refuse)."""
    return bytes((codec.TAG_MSGPACK_ZSTD,)) + codec.compress(msgpack_bytes)


# ---- hostile values ---------------------------------------------------------------------------

def hostile(rng: random.Random, depth: int = 0) -> Any:
    """A value of the wrong type or an absurd size, for a field expecting something else."""
    kinds = ["int", "int", "none", "bool", "float", "str", "bytes", "list", "dict"]
    if depth < 2:
        kinds += ["nested_list", "nested_dict"]
    k = rng.choice(kinds)
    if k == "int":
        return rng.choice(BIG + [0, 1, 3, 1000])
    if k == "none":
        return None
    if k == "bool":
        return rng.random() < 0.5
    if k == "float":
        return rng.choice([1.5, -0.0, float("inf"), float("nan"), 1e300])
    if k == "str":
        return rng.choice(["", "x", "a\nb", "\u00e9" * 3, "0x10"])
    if k == "bytes":
        return rng.choice([b"", b"\x00", b"\xff" * 9, bytes(33)])
    if k == "list":
        return rng.choice([[], [0], [None], [[]], [-1, -1]])
    if k == "dict":
        return rng.choice([{}, {"a": 1}, {0: 0}, {None: []}])
    if k == "nested_list":
        return [hostile(rng, depth + 1) for _ in range(rng.randint(1, 4))]
    return {rng.choice(["frames", "globals", 0, "x"]): hostile(rng, depth + 1)}


def deep_msgpack(rng: random.Random) -> bytes:
    """Deeply nested arrays or maps, or an array claiming far more elements than it has."""
    depth = rng.choice([100, 1000, 5000, 100_000])
    which = rng.randrange(3)
    if which == 0:
        return b"\x91" * depth + b"\xc0"
    if which == 1:
        return b"\x81\x00" * depth + b"\xc0"
    return b"\xdd" + struct.pack(">I", 2**32 - 1) + b"\x00" * 16  # array32 of 4G elements


def _paths(obj: Any, limit: int = 20000) -> list[tuple[Any, Any]]:
    """(container, key) of every node under obj, breadth first, up to `limit`."""
    out: list[tuple[Any, Any]] = []
    todo = [obj]
    while todo and len(out) < limit:
        cur = todo.pop()
        items = enumerate(cur) if isinstance(cur, list) else cur.items() if isinstance(cur, dict) else ()
        for k, v in items:
            out.append((cur, k))
            if isinstance(v, (list, dict)):
                todo.append(v)
    return out


def tweak(value: Any, rng: random.Random) -> Any:
    """A near miss of the same type (off by one, extreme, truncated, flipped), or a hostile value."""
    if rng.random() < 0.3:
        return hostile(rng)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice([value + 1, value - 1, -value - 1, 2 * value + 1] + BIG)
    if isinstance(value, bytes):
        return rng.choice([_flip(value, rng), value[: len(value) // 2], value + value, b""])
    if isinstance(value, str):
        return rng.choice(["", value + "\n" + value, value[::-1]])
    if isinstance(value, list):
        if not value:
            return [hostile(rng)]
        return rng.choice([value[:-1], value + value[-1:], value[::-1], [], value * 2])
    if isinstance(value, dict):
        keys = list(value)
        if keys and rng.random() < 0.5:
            d = dict(value)
            del d[rng.choice(keys)]
            return d
        return {}
    return hostile(rng)


def deep_mutate(obj: Any, rng: random.Random, n: int | None = None) -> tuple[Any, str]:
    """Change n random nodes of a decoded structure; returns it and where it was changed."""
    if not isinstance(obj, (list, dict)) or rng.random() < 0.05:
        return hostile(rng), "replaced wholesale"
    where = []
    for _ in range(n or rng.randint(1, 3)):
        paths = _paths(obj)
        if not paths:
            break
        cont, key = rng.choice(paths)
        cont[key] = tweak(cont[key], rng)
        where.append(repr(key)[:20])
    return obj, "nodes " + ",".join(where)


# ---- zstd frames -------------------------------------------------------------------------------

def zstd_frame_declaring(size: int, payload: bytes = b"") -> bytes:
    """A zstd frame header declaring `size` bytes (single segment, 8-byte size field) followed
    by one raw last block holding `payload`: a bomb if `size` is huge, a liar otherwise."""
    header = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", size)
    block = struct.pack("<I", (len(payload) << 3) | 1)[:3] + payload
    return header + block


def zstd_rle_frame(size: int, byte: int = 0) -> bytes:
    """A genuine frame that decompresses to `size` copies of one byte from a few KiB (RLE blocks)."""
    header = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", size)
    out = bytearray(header)
    left = size
    step = 128 * 1024
    while left > 0:
        n = min(step, left)
        left -= n
        out += struct.pack("<I", (n << 3) | (1 << 1) | (1 if left == 0 else 0))[:3] + bytes([byte])
    if size == 0:
        out += b"\x01\x00\x00"
    return bytes(out)


def zstd_bomb(rng: random.Random) -> tuple[bytes, str]:
    which = rng.randrange(6)
    if which == 0:
        return zstd_frame_declaring(2**40), "frame declaring 2**40 bytes"
    if which == 1:
        return zstd_frame_declaring(2**64 - 1), "frame declaring 2**64-1 bytes"
    if which == 2:
        n = rng.choice([1 << 24, 1 << 26])
        return zstd_rle_frame(n, rng.randrange(256)), f"real RLE frame of {n} bytes"
    if which == 3:
        return zstandard.ZstdCompressor(write_content_size=False).compress(b"\x00" * 5000), \
            "frame without a content size"
    if which == 4:
        return zstd_frame_declaring(0, b"\x00" * 64), "frame declaring 0 bytes holding 64"
    return zstd_frame_declaring(10, b"\x00" * 3), "frame declaring 10 bytes holding 3"


# ---- file level --------------------------------------------------------------------------------

def file_truncate(path: Path, rng: random.Random) -> str:
    data = path.read_bytes()
    cut = rng.choice([rng.randrange(0, 120), rng.randrange(len(data)),
                      4096 * rng.randrange(1, max(2, len(data) // 4096))])
    path.write_bytes(data[:cut])
    return f"truncated to {cut} of {len(data)} bytes"


def file_flip(path: Path, rng: random.Random) -> str:
    data = path.read_bytes()
    n = rng.choice([1, 2, 8, 64, 512])
    path.write_bytes(_flip(data, rng, n))
    return f"flipped {n} random bytes"


def file_zero(path: Path, rng: random.Random) -> str:
    data = bytearray(path.read_bytes())
    lo = rng.randrange(len(data))
    n = rng.choice([16, 512, 4096, 65536])
    data[lo:lo + n] = bytes(len(data[lo:lo + n]))
    path.write_bytes(bytes(data))
    return f"zeroed {n} bytes at {lo}"


def file_append(path: Path, rng: random.Random) -> str:
    n = rng.choice([1, 100, 4096, 65536])
    with path.open("ab") as f:
        f.write(rng.randbytes(n))
    return f"appended {n} garbage bytes"


def file_page_copy(path: Path, rng: random.Random) -> str:
    data = bytearray(path.read_bytes())
    psize = int.from_bytes(data[16:18], "big") or 65536
    pages = len(data) // psize
    if pages < 2:
        return file_flip(path, rng)
    a, b = rng.randrange(pages), rng.randrange(1, pages)
    data[b * psize:(b + 1) * psize] = data[a * psize:(a + 1) * psize]
    path.write_bytes(bytes(data))
    return f"copied SQLite page {a} over page {b}"


def file_header(path: Path, rng: random.Random) -> str:
    data = bytearray(path.read_bytes())
    off = rng.choice([16, 18, 19, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 64, 92, 96])
    data[off:off + 4] = rng.randbytes(4)
    path.write_bytes(bytes(data))
    return f"scrambled SQLite header field at {off}"


# ---- row level -------------------------------------------------------------------------------

def _blob_columns(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return [(t, c) for t in _tables(conn) for c, ty, _pk in _columns(conn, t)
            if ("BLOB" in ty or "TEXT" in ty or "CHAR" in ty) and _count(conn, t)]


def _int_columns(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return [(t, c) for t in _tables(conn) for c, ty, _pk in _columns(conn, t)
            if "INT" in ty and _count(conn, t)]


def row_blob_flip(path: Path, rng: random.Random) -> str:
    with _db(path) as conn:
        table, col = rng.choice(_blob_columns(conn))
        row = _pick_row(conn, table, rng)
        text = isinstance(row[col], str)
        value = row[col].encode() if text else row[col]
        how = rng.randrange(4)
        if how == 0 or value is None:
            new, what = _flip(bytes(value or b""), rng), "flipped bytes of"
        elif how == 1:
            new, what = bytes(value)[: rng.randrange(len(value) + 1)] if len(value) else b"", "truncated"
        elif how == 2:
            new, what = b"", "emptied"
        else:
            new, what = bytes(value) + rng.randbytes(rng.randint(1, 64)), "extended"
        if text:
            new = new.decode("utf-8", "replace")
        _update(conn, table, row, col, new)
        return f"{what} {table}.{col}" + _maybe_fix(conn, rng)


def row_int_extreme(path: Path, rng: random.Random) -> str:
    with _db(path) as conn:
        cols = _int_columns(conn)
        # the chunk index is what replay trusts most: weigh it up
        cols += [(t, c) for t, c in cols if t == "chunks"] * 2
        for _ in range(20):
            table, col = rng.choice(cols)
            row = _pick_row(conn, table, rng)
            old = row[col] if isinstance(row[col], int) else 0
            new = rng.choice(EXTREMES + [old + 1, old - 1, old + 1, old - 1, 0])
            try:
                _update(conn, table, row, col, new)
            except sqlite3.IntegrityError:
                continue
            return f"{table}.{col} {old} -> {new}" + _maybe_fix(conn, rng)
    return "no integer change possible"


def row_delete(path: Path, rng: random.Random) -> str:
    with _db(path) as conn:
        tables = [t for t in _tables(conn) if _count(conn, t)]
        table = rng.choice(tables + ["chunks", "checkpoints", "pages"])
        row = _pick_row(conn, table, rng)
        if row is None:
            return f"nothing to delete in {table}"
        where, args = _key(conn, table, row)
        conn.execute(f'DELETE FROM "{table}" WHERE {where}', args)
        return f"deleted a row of {table}"


def row_swap_chunks(path: Path, rng: random.Random) -> str:
    with _db(path) as conn:
        seqs = _chunk_seqs(conn)
        if len(seqs) < 2:
            return row_blob_flip(path, rng)
        a, b = rng.sample(seqs, 2)
        cols = rng.choice([["ids"], ["vals"], ["host"], ["ids", "vals"], ["ids", "vals", "host"],
                           ["ids", "vals", "host", "n_steps", "n_blocks"]])
        ra = conn.execute(f"SELECT {', '.join(cols)} FROM chunks WHERE seq=?", (a,)).fetchone()
        rb = conn.execute(f"SELECT {', '.join(cols)} FROM chunks WHERE seq=?", (b,)).fetchone()
        sets = ", ".join(f"{c}=?" for c in cols)
        conn.execute(f"UPDATE chunks SET {sets} WHERE seq=?", (*rb, a))
        conn.execute(f"UPDATE chunks SET {sets} WHERE seq=?", (*ra, b))
        return f"swapped {'/'.join(cols)} of chunks {a} and {b}" + _maybe_fix(conn, rng)


def row_swap_checkpoints(path: Path, rng: random.Random) -> str:
    with _db(path) as conn:
        seqs = [r[0] for r in conn.execute("SELECT chunk_seq FROM checkpoints")]
        if len(seqs) < 2:
            return row_blob_flip(path, rng)
        a, b = rng.sample(seqs, 2)
        sa = conn.execute("SELECT state FROM checkpoints WHERE chunk_seq=?", (a,)).fetchone()[0]
        sb = conn.execute("SELECT state FROM checkpoints WHERE chunk_seq=?", (b,)).fetchone()[0]
        conn.execute("UPDATE checkpoints SET state=? WHERE chunk_seq=?", (sb, a))
        conn.execute("UPDATE checkpoints SET state=? WHERE chunk_seq=?", (sa, b))
        return f"swapped checkpoints {a} and {b}" + _maybe_fix(conn, rng)


# ---- crafted payloads ------------------------------------------------------------------------

def _schedule(conn: sqlite3.Connection) -> dict:
    return codec.unpack(conn.execute("SELECT schedule FROM modules WHERE id=0").fetchone()[0])


def _put_schedule(conn: sqlite3.Connection, sched: Any) -> None:
    conn.execute("UPDATE modules SET schedule=? WHERE id=0", (_packed(sched),))


def craft_schedule(path: Path, rng: random.Random) -> str:
    """A schedule that decodes fine but contradicts the module or itself."""
    with _db(path) as conn:
        s = _schedule(conn)
        blocks, funcs = s["blocks"], s["funcs"]
        nb = len(blocks)
        bi = rng.randrange(nb)
        b = blocks[bi]  # [func, pcs, exit, callee, succ, effects, vsize, entry]
        fi = rng.randrange(len(funcs))
        n_locals = len(funcs[fi][3])
        choice = rng.randrange(24)
        if choice == 0:
            b[0] = rng.choice([max(f[0] for f in funcs) + 7, -1, 2**40])
            what = "block of a function that does not exist"
        elif choice == 1:
            b[1] = rng.choice([[], [2**40], [-1], b[1] + [2**31], ["x"], None])
            what = "block pcs"
        elif choice == 2:
            b[2] = rng.choice([99, -1, 3, 5, 6, 7, 2**40])
            what = f"block exit {b[2]}"
        elif choice == 3:
            b[3] = rng.choice([2**40, -5, 10**6, 0])
            what = "block callee"
        elif choice == 4:
            b[4] = rng.choice([[nb + 5], [-1], [2**40], [], [bi], list(range(nb))[:3] + [nb]])
            what = f"block successors {b[4][:4]}"
        elif choice == 5:
            b[5].append(rng.choice([
                [0, 0, n_locals + 1000, 0, 0], [0, 0, 0, 99, 0], [0, 0, 0, 0, 2**40],
                [0, 1, 10**6, 0, 0], [0, 2, 7, 4, 0, 0, 0], [0, 2, 0, 2**40, 0, 0, 0],
                [0, 2, 0, -(2**40), 0, 0, 0, 2**40], [0, 3, 9, 0, 0], [0, 4, 0, 0, 2**40],
                [0, 5, 0, 9, 0, 0, 0, 0], [0, 6, 0, 10**6, 0, 0], [0, 42, 0, 0, 0], [0],
                [], "x", [len(b[1]) + 100, 0, 0, 0, 0], [-2, 0, 0, 0, 0], [-1, 0, 10**6, 0, 0],
                [0, 7, 5, 4, 0, 0, 0], [0, 0, 0, 4, 0], [0, 2, 0, 4, 0, 2**63, 1],
                [0, 2, 0, 4, 0, 2**62 - 1, 1], [0, 7, 0, 4, 0, 2**64 - 1, 0], [-2, 8, 0, 2**40],
                [0, 3, 0, 1, b[6]], [0, 2, 0, -4, 0, 0, 0, 9]]))
            what = f"block effect {b[5][-1]!r:.40}"
        elif choice == 6:
            b[6] = rng.choice([-1, 0, 2**40, max(b[6] - 1, 0), 2**31])
            what = f"block vsize {b[6]}"
        elif choice == 7:
            b[7] = not b[7]
            what = "block entry flag"
        elif choice == 8:
            blocks[bi] = hostile(rng)
            what = "block replaced"
        elif choice == 9:
            del blocks[rng.randrange(nb // 2, nb):]
            what = "blocks truncated"
        elif choice == 10:
            rng.shuffle(blocks)
            what = "blocks shuffled"
        elif choice == 11:
            f = funcs[fi]
            f[3] = rng.choice([[], f[3][:-1], f[3] + [99], f[3] * 1000, [0] * 100_000])
            what = f"function {f[0]} locals"
        elif choice == 12:
            funcs[fi][4] = rng.choice([nb, -1, 2**40])
            what = "function entry block"
        elif choice == 13:
            funcs[fi] = hostile(rng)
            what = "function replaced"
        elif choice == 14:
            funcs[fi][0] = rng.choice([funcs[(fi + 1) % len(funcs)][0], -1, 2**40])
            what = "function index"
        elif choice == 15:
            s["globals"] = rng.choice([[], s["globals"][:-1], s["globals"] + [99], [5] * 10, None])
            what = "globals"
        elif choice == 16:
            s["memories"] = rng.choice([[], [True, True], [False] * 100, None])
            what = "memories"
        elif choice == 17:
            s["landings"] = rng.choice([[[0, [[0, 0, 2**40]]]], [[nb + 1, []]], [[0, [[0]]]], "x"])
            what = "landings"
        elif choice == 18:
            s["imports"] = rng.choice([[], [[1, 2]], [["a"]], None])
            what = "imports"
        elif choice == 19:
            s["v"] = rng.choice([2, None, "1"])
            what = "version"
        elif choice == 20:
            del s[rng.choice(["blocks", "funcs", "globals", "memories", "landings", "imports"])]
            what = "a key removed"
        elif choice == 21:
            funcs[fi][2] = rng.choice([[], [99], funcs[fi][3] + [0]])
            what = "function params"
        elif choice == 22:
            # a block that calls, followed by a block of a different function
            b[2], b[3] = 3, (b[0] + 1)
            what = "block turned into a call"
        else:
            s, what = deep_mutate(s, rng)
            _put_schedule(conn, s)
            return f"schedule {what}" + _maybe_fix(conn, rng, 0.9)
        _put_schedule(conn, s)
        return f"schedule: {what} (block {bi})" + _maybe_fix(conn, rng, 0.9)


def craft_schedule_shape(path: Path, rng: random.Random) -> str:
    with _db(path) as conn:
        if rng.random() < 0.4:
            raw = _raw_packed(deep_msgpack(rng))
            conn.execute("UPDATE modules SET schedule=? WHERE id=0", (raw,))
            return "schedule: deeply nested msgpack" + _maybe_fix(conn, rng, 0.9)
        _put_schedule(conn, hostile(rng))
        return "schedule: wrong shape" + _maybe_fix(conn, rng, 0.9)


def craft_checkpoint(path: Path, rng: random.Random) -> str:
    with _db(path) as conn:
        seqs = [r[0] for r in conn.execute("SELECT chunk_seq FROM checkpoints ORDER BY chunk_seq")]
        seq = rng.choice(seqs)
        raw = conn.execute("SELECT state FROM checkpoints WHERE chunk_seq=?", (seq,)).fetchone()[0]
        cp = codec.unpack(raw)
        choice = rng.randrange(16)
        if choice == 0:
            cp["mem_sizes"] = rng.choice([[2**40], [2**32], [2**32 + 65536], [-65536], [65537],
                                          [65536 * 65537], [], cp.get("mem_sizes", []) * 2,
                                          [1 << 30]])
            what = f"mem_sizes {cp['mem_sizes']}"
        elif choice == 1:
            g = cp.get("globals", [])
            cp["globals"] = rng.choice([[], g[:-1], g + [0], [2**64 - 1] * len(g),
                                        [b"\x00" * 16] * len(g), ["x"] * len(g), None])
            what = "globals"
        elif choice in (2, 3, 4) and cp.get("frames"):
            fr = cp["frames"]
            f = fr[rng.randrange(len(fr))]
            c2 = rng.randrange(6)
            if c2 == 0:
                f[0] = rng.choice([10**6, -1, 2**40])
                what = "frame of a function that does not exist"
            elif c2 == 1:
                f[1] = rng.choice([[], f[1] + [0] * 50, [2**64 - 1] * len(f[1]), [b"x"] * 3, None])
                what = "frame locals"
            elif c2 == 2:
                f[2] = rng.choice([2**62, -5, 2**64 - 1])
                what = "frame pc"
            elif c2 == 3:
                f[3] = rng.choice([2**62, -5, "x"])
                what = "frame return pc"
            elif c2 == 4:
                fr[fr.index(f)] = hostile(rng)
                what = "frame replaced"
            else:
                cp["frames"] = fr * rng.choice([2, 1000, 30000])
                what = f"{len(cp['frames'])} frames"
        elif choice == 5:
            cp["frames"] = rng.choice([[], None, "x", [[]], [[0, [], 0]]])
            what = "frames"
        elif choice == 6:
            cp["prev"] = rng.choice([-5, 2**40, 10**6, "x", None])
            what = f"prev {cp['prev']!r}"
        elif choice == 7:
            cp["blocks"] = rng.choice([b"", b"\xff", b"\xff" * 100_000, "x", None, 5])
            what = "blocks bitmap"
        elif choice == 8:
            cp["written_before"] = rng.choice([[b"\xff" * 10**6], [None, b"\xff"], "x", [5], None])
            what = "written pages map"
        elif choice == 9:
            key = rng.choice(list(cp) or ["globals"])
            cp.pop(key, None)
            what = f"key {key} removed"
        elif choice == 10:
            raw = _raw_packed(deep_msgpack(rng))
            conn.execute("UPDATE checkpoints SET state=? WHERE chunk_seq=?", (raw, seq))
            return f"checkpoint {seq}: deeply nested msgpack" + _maybe_fix(conn, rng, 0.9)
        elif choice == 11:
            cp = hostile(rng)
            what = "wrong shape"
        elif choice == 12:
            conn.execute("UPDATE checkpoints SET chunk_seq=? WHERE chunk_seq=?",
                         (rng.choice([-1, 10**6, 2**40]), seq))
            return f"checkpoint {seq} moved" + _maybe_fix(conn, rng, 0.9)
        else:
            cp, what = deep_mutate(cp, rng)
        conn.execute("UPDATE checkpoints SET state=? WHERE chunk_seq=?", (_packed(cp), seq))
        return f"checkpoint {seq}: {what}" + _maybe_fix(conn, rng, 0.9)


def _pick_chunk(conn: sqlite3.Connection, rng: random.Random) -> dict:
    seqs = _chunk_seqs(conn)
    seq = rng.choice(seqs)
    cols = ["seq", "first_step", "n_steps", "first_block", "n_blocks", "ids", "vals", "host"]
    row = conn.execute(f"SELECT {', '.join(cols)} FROM chunks WHERE seq=?", (seq,)).fetchone()
    return dict(zip(cols, row))


def craft_host(path: Path, rng: random.Random) -> str:
    with _db(path) as conn:
        # prefer a chunk with host events
        rows = [r for r in (_pick_chunk(conn, rng) for _ in range(5))]
        row = max(rows, key=lambda r: len(r["host"]))
        host = codec.unpack(row["host"])
        fb, nb = row["first_block"], row["n_blocks"]
        choice = rng.randrange(10)
        if host and choice < 6:
            ev = host[rng.randrange(len(host))]
            if choice == 0:
                ev[0] = rng.choice([fb - 1, fb + nb, fb + nb + 5, 2**62, -1, -(2**63)])
                what = f"host event ordinal {ev[0]}"
            elif choice == 1 and ev[3]:
                reg = ev[3][0]
                reg[0] = rng.choice([2**40, -1, 2**32 - 1, 2**64 - 1])
                what = f"host write address {reg[0]}"
            elif choice == 2:
                ev[3] = rng.choice([[[0, b"\x00" * (1 << 20)]], [[0, "text"]], [[0]], "x",
                                    [[0, None]], [[2**31, b"\xff" * 70000]]])
                what = "host regions"
            elif choice == 3:
                host[host.index(ev)] = hostile(rng)
                what = "host event replaced"
            elif choice == 4:
                host.append(list(ev))
                what = "host event duplicated"
            else:
                ev[:] = ev[:2]
                what = "host event cut short"
        elif choice == 6:
            host = hostile(rng)
            what = "host wrong shape"
        elif choice == 7:
            host = [[fb + rng.randrange(max(nb, 1)), 0, [], [[rng.choice([0, 2**40]), b"\xab" * 64]]]]
            what = "host event invented"
        elif choice == 8:
            raw = _raw_packed(deep_msgpack(rng))
            conn.execute("UPDATE chunks SET host=? WHERE seq=?", (raw, row["seq"]))
            return f"chunk {row['seq']} host: nested msgpack" + _maybe_fix(conn, rng, 0.9)
        else:
            host, what = deep_mutate(host, rng)
        conn.execute("UPDATE chunks SET host=? WHERE seq=?", (_packed(host), row["seq"]))
        return f"chunk {row['seq']}: {what}" + _maybe_fix(conn, rng, 0.9)


def _n_blocks_in_schedule(conn: sqlite3.Connection) -> int:
    try:
        return len(_schedule(conn)["blocks"])
    except Exception:
        return 1000


def craft_ids(path: Path, rng: random.Random) -> str:
    with _db(path) as conn:
        row = _pick_chunk(conn, rng)
        ids = np.frombuffer(codec.decompress(row["ids"], 1 << 30), "<u4").copy()
        nb = _n_blocks_in_schedule(conn)
        choice = rng.randrange(9)
        if choice == 0 and ids.size:
            ids[rng.randrange(ids.size)] = rng.choice([nb, nb + 1, 2**32 - 1, 2**31])
            what = "a block id out of range"
        elif choice == 1 and ids.size:
            k = rng.randrange(ids.size)
            ids[k] = rng.randrange(nb)
            what = f"block {k} replaced by a random valid id"
        elif choice == 2:
            ids = np.array([rng.randrange(nb) for _ in range(ids.size)], "<u4")
            what = "random valid ids"
        elif choice == 3:
            ids = ids[::-1].copy()
            what = "ids reversed"
        elif choice == 4 and ids.size > 2:
            ids = ids[: rng.randrange(1, ids.size)]
            what = "ids cut short"
        elif choice == 5:
            ids = np.concatenate([ids, ids[: rng.randint(1, 50)]])
            what = "ids extended"
        elif choice == 6:
            ids = np.zeros(0, "<u4")
            what = "no ids"
        elif choice == 7 and ids.size > 1:
            a, b = rng.sample(range(ids.size), 2)
            ids[a], ids[b] = ids[b], ids[a]
            what = "two ids swapped"
        else:
            raw = codec.compress(rng.randbytes(rng.choice([1, 3, 4 * max(ids.size, 1) + 2])))
            conn.execute("UPDATE chunks SET ids=? WHERE seq=?", (raw, row["seq"]))
            return f"chunk {row['seq']}: ids not a whole number of u4" + _maybe_fix(conn, rng, 0.9)
        conn.execute("UPDATE chunks SET ids=? WHERE seq=?", (codec.compress(ids.tobytes()), row["seq"]))
        if rng.random() < 0.6:
            conn.execute("UPDATE chunks SET n_blocks=? WHERE seq=?", (int(ids.size), row["seq"]))
            what += ", n_blocks kept consistent"
        return f"chunk {row['seq']}: {what}" + _maybe_fix(conn, rng, 0.9)


def craft_vals(path: Path, rng: random.Random) -> str:
    with _db(path) as conn:
        row = _pick_chunk(conn, rng)
        vals = codec.decompress(row["vals"], 1 << 31)
        choice = rng.randrange(6)
        if choice == 0:
            new, what = vals[: rng.randrange(len(vals) + 1)], "values cut short"
        elif choice == 1:
            new, what = b"\xff" * len(vals), "every value 0xff"
        elif choice == 2:
            new, what = rng.randbytes(len(vals)), "random values"
        elif choice == 3:
            new, what = vals + rng.randbytes(rng.randint(1, 4096)), "values extended"
        elif choice == 4:
            b = bytearray(vals)
            for _ in range(rng.randint(1, 20)):
                if b:
                    k = rng.randrange(len(b))
                    b[k:k + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x80", b"\xf0\xff\xff\x7f"])
            new, what = bytes(b)[: len(vals)], "some values made huge"
        else:
            new, what = b"", "no values"
        conn.execute("UPDATE chunks SET vals=? WHERE seq=?", (codec.compress(new), row["seq"]))
        return f"chunk {row['seq']}: {what}" + _maybe_fix(conn, rng, 0.9)


def craft_zstd(path: Path, rng: random.Random) -> str:
    with _db(path) as conn:
        targets = [("chunks", "ids", False), ("chunks", "vals", False), ("chunks", "host", True),
                   ("checkpoints", "state", True), ("modules", "schedule", True),
                   ("pages", "data", False)]
        if "page_keyframes" in _tables(conn):
            targets.append(("page_keyframes", "page_map", False))
        table, col, tagged = rng.choice(targets)
        row = _pick_row(conn, table, rng)
        if row is None:
            return "no row to bomb"
        frame, what = zstd_bomb(rng)
        blob = bytes((codec.TAG_MSGPACK_ZSTD,)) + frame if tagged else frame
        _update(conn, table, row, col, blob)
        return f"{table}.{col}: {what}" + _maybe_fix(conn, rng, 0.9)


def _jsonable(o: Any) -> Any:
    return o.hex() if isinstance(o, bytes) else str(o)


def craft_info(path: Path, rng: random.Random) -> str:
    import json

    with _db(path) as conn:
        keys = [r[0] for r in conn.execute("SELECT key FROM trace_info")]
        key = rng.choice(keys + ["final", "final", "wasi_memory", "status", "trap", "trap_pc",
                                 "args", "steps"])
        choice = rng.randrange(6)
        if choice == 0:
            value = json.dumps(hostile(rng), allow_nan=True, default=_jsonable)
        elif choice == 1:
            value = "[" * 100_000 + "]" * 100_000
        elif choice == 2:
            value = rng.choice(["not json", "", "{", "1e999999", "9" * 5000])
        elif choice == 3 and key == "final":
            value = json.dumps(rng.choice([
                {"mem_sha256": 5, "globals": "x", "last_pc": "y"}, [], {"mem_sha256": [None]},
                {"globals": [2**70], "last_pc": 2**70, "mem_sha256": [], "mem_sizes": [2**40]}]))
        elif choice == 4:
            conn.execute("DELETE FROM trace_info WHERE key=?", (key,))
            return f"trace_info[{key!r}] removed"
        else:
            row = conn.execute("SELECT value FROM trace_info WHERE key=?", (key,)).fetchone()
            try:
                obj = json.loads(row[0]) if row else None
            except ValueError:
                obj = None
            value = json.dumps(tweak(obj, rng), allow_nan=True, default=_jsonable)
        conn.execute("INSERT OR REPLACE INTO trace_info(key, value) VALUES (?, ?)", (key, value))
        return f"trace_info[{key!r}] = {value[:40]!r}"


def craft_module(path: Path, rng: random.Random, other_wasm: bytes | None = None) -> str:
    with _db(path) as conn:
        wasm = conn.execute("SELECT wasm FROM modules WHERE id=0").fetchone()[0]
        choice = rng.randrange(6)
        if choice == 0:
            new, what = wasm[: rng.randrange(len(wasm))], "module truncated"
        elif choice == 1:
            # damage the code section region (the first third of these modules)
            b = bytearray(wasm)
            for _ in range(rng.randint(1, 16)):
                b[rng.randrange(8, max(9, len(b) // 3))] ^= rng.randrange(1, 256)
            new, what = bytes(b), "module bytes flipped"
        elif choice == 2:
            new, what = b"", "module emptied"
        elif choice == 3:
            new, what = b"\x00asm\x01\x00\x00\x00", "an empty module"
        elif choice == 4 and other_wasm:
            new, what = other_wasm, "another program's module"
        else:
            conn.execute("UPDATE modules SET id=? WHERE id=0", (rng.choice([1, -1]),))
            return "module 0 renumbered" + _maybe_fix(conn, rng, 0.9)
        conn.execute("UPDATE modules SET wasm=? WHERE id=0", (new,))
        return what + _maybe_fix(conn, rng, 0.9)


def craft_pages(path: Path, rng: random.Random) -> str:
    with _db(path) as conn:
        choice = rng.randrange(9)
        if choice < 3:
            row = _pick_row(conn, "pages", rng)
            if row is None:
                return "no pages"
            new = rng.choice([bytes(8192), b"", b"x", rng.randbytes(4096), b"\x01" * 4095,
                              bytes(1 << 20)])
            _update(conn, "pages", row, "data", codec.compress(new))
            return f"a page holding {len(new)} bytes"
        row = _pick_row(conn, "page_versions", rng)
        if row is None:
            return "no page versions"
        if choice == 3:
            col, new = "page", rng.choice([-1, -2**40, 2**40, 2**31, 2**62, 65536 * 16])
        elif choice == 4:
            col, new = "memory", rng.choice([-1, 1, 7, 2**40])
        elif choice == 5:
            col, new = "chunk_seq", rng.choice([-1, 10**6, 2**40])
        elif choice == 6:
            col, new = "digest", rng.choice([rng.randbytes(32), b"\x01", b"", rng.randbytes(64)])
        elif choice == 7:
            # the same content at many more pages: a lot of pages from a small table
            n = rng.choice([64, 4096])
            try:
                conn.execute("BEGIN")
                conn.executemany("INSERT INTO page_versions(memory, page, chunk_seq, digest) "
                                 "VALUES (?, ?, ?, ?)",
                                 [(row["memory"], 100_000 + p, row["chunk_seq"], row["digest"])
                                  for p in range(n)])
                conn.execute("COMMIT")
            except sqlite3.Error:
                conn.execute("ROLLBACK")
            return f"{n} page versions added"
        else:
            where, args = _key(conn, "page_versions", row)
            conn.execute(f"DELETE FROM page_versions WHERE {where}", args)
            return "a page version deleted"
        try:
            _update(conn, "page_versions", row, col, new)
        except sqlite3.IntegrityError:
            return "page version change refused"
        return f"page_versions.{col} -> {new!r:.40}"


def craft_chunk_index(path: Path, rng: random.Random) -> str:
    """Off-by-one and extreme counts in the chunk index, checksum recomputed: only replay's
    own consistency checks can catch these."""
    with _db(path) as conn:
        row = _pick_chunk(conn, rng)
        col = rng.choice(["n_steps", "n_steps", "first_step", "n_blocks", "first_block", "seq"])
        old = row[col]
        new = rng.choice([old + 1, old - 1, old + 1, old - 1, 0, -1, 2**62, 2**63 - 1, -(2**63),
                          old + 4096, old * 2])
        try:
            conn.execute(f"UPDATE chunks SET {col}=? WHERE seq=?", (new, row["seq"]))
        except sqlite3.IntegrityError:
            return "chunk index change refused"
        fix_checksums(conn)
        return f"chunk {row['seq']}.{col} {old} -> {new} (checksums recomputed)"


# ---- schema objects ---------------------------------------------------------------------------
#
# A trace is an SQLite file, and its schema is SQL that SQLite runs for the reader: triggers
# (fired by an upgrade), views, generated columns and CHECK constraints (evaluated per row),
# virtual tables, expression and partial indexes. These mutators change the schema itself,
# through SQLite as an attacker would (DDL, ALTER TABLE, table rebuilds, PRAGMA writable_schema
# edits of sqlite_master), and always leave sqlite_master different from what it was. Every
# mutant of SCHEMA_REFUSED must be refused by every command (its objects are not exactly those
# ttd's migrations create); schema_master keeps every CREATE statement and only edits the
# other columns of sqlite_master (rootpage, tbl_name), so the reads must cope.

#: Statements a trigger may run: rewrite the trace, grow it, abort, spin.
_TRIGGER_BODIES = [
    "INSERT OR REPLACE INTO trace_info(key, value) VALUES ('pwned', '1')",
    "UPDATE trace_info SET value = '\"pwned\"' WHERE key = 'program'",
    "DELETE FROM chunks",
    "SELECT RAISE(ABORT, 'trigger says no')",
    "INSERT INTO pages(digest, data) SELECT randomblob(32), zeroblob(1048576) FROM chunks a, chunks b, chunks c",
    "SELECT count(*) FROM pages a, pages b, pages c, pages d, pages e",
]
#: Queries a view may hold: endless, quadratic, or plain.
_VIEW_QUERIES = [
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n",
    "SELECT a.seq FROM chunks a, chunks b, chunks c, chunks d",
    "SELECT * FROM chunks",
    "SELECT key, value FROM trace_info",
]
#: Deterministic expressions for generated columns and CHECK constraints (no subqueries allowed
#: there): cheap, or a few megabytes of work per row evaluated.
_ROW_EXPRESSIONS = ["1", "length(hex(zeroblob(4000000))) > 0", "typeof({col}) IS NOT NULL",
                    "abs(random()) >= 0"]


def _master(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute("SELECT type, name, tbl_name, rootpage, sql FROM sqlite_master ORDER BY type, name").fetchall()


def _indexes(conn: sqlite3.Connection, with_sql: bool = True) -> list[tuple[str, str, str]]:
    """(name, table, sql) of the file's indexes (with_sql: only named ones, no autoindexes)."""
    rows = conn.execute("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index'").fetchall()
    return [r for r in rows if r[2] is not None or not with_sql]


def _indexed_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    cols: set[str] = set()
    for idx in conn.execute(f'PRAGMA index_list("{table}")').fetchall():
        cols |= {r[2] for r in conn.execute(f'PRAGMA index_info("{idx[1]}")') if r[2]}
    return cols


def _bump_schema(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute(f"PRAGMA schema_version = {version + 1}")


def _edit_master(conn: sqlite3.Connection, obj: str, **changes: Any) -> None:
    """Rewrite columns of one sqlite_master row behind SQLite's back (writable_schema)."""
    conn.execute("PRAGMA writable_schema = ON")
    try:
        sets = ", ".join(f"{k} = ?" for k in changes)
        n = conn.execute(f"UPDATE sqlite_master SET {sets} WHERE name = ?", [*changes.values(), obj]).rowcount
        if n != 1:
            raise sqlite3.OperationalError(f"no schema object {obj!r}")
        _bump_schema(conn)
    finally:
        conn.execute("PRAGMA writable_schema = OFF")


def _table_sql(conn: sqlite3.Connection, table: str) -> str:
    return conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]


def _column_decl(sql: str, col: str) -> re.Match | None:
    """The declaration of `col` in a CREATE TABLE: its name, then its type."""
    return re.search(r'([(,]\s*"?' + re.escape(col) + r'"?\s+)([A-Za-z]+(?:\s*\(\d+\))?)', sql)


def _schema_mutation(path: Path, rng: random.Random, variants: list[Callable[[sqlite3.Connection], str]]) -> str:
    """Try the variants in a random order, each in a savepoint, until one changes
    sqlite_master; its description. A variant that fails leaves nothing behind."""
    order = list(variants)
    rng.shuffle(order)
    failures = []
    for variant in order:
        with _db(path) as conn:
            before = _master(conn)
            conn.execute("SAVEPOINT mutation")
            try:
                what = variant(conn)
            except sqlite3.Error as e:
                failures.append(f"{variant.__name__}: {e}")
                conn.execute("ROLLBACK TO mutation")
                conn.execute("RELEASE mutation")
                continue
            conn.execute("RELEASE mutation")
        with _db(path) as conn:  # a fresh connection: the new schema parses, and differs
            try:
                after = _master(conn)
            except sqlite3.Error as e:
                return f"{what} (schema now unreadable by SQLite itself: {e})"
        if after != before:
            return what
        failures.append(f"{variant.__name__}: no change")
    raise RuntimeError("no schema mutation applied: " + "; ".join(failures))


def schema_trigger(path: Path, rng: random.Random) -> str:
    def add(conn: sqlite3.Connection) -> str:
        table = rng.choice(_tables(conn))
        cols = [c[0] for c in _columns(conn, table)]
        event = rng.choice(["INSERT", "UPDATE", "DELETE", f'UPDATE OF "{rng.choice(cols)}"'])
        timing = rng.choice(["BEFORE", "AFTER"])
        # a trigger may take the name of a table or an index: only the type tells them apart
        name = rng.choice(["evil", f"{table}_audit", "chunks", "trace_info",
                           rng.choice(_indexes(conn) or [("ix_evil",)])[0]])
        body = rng.choice(_TRIGGER_BODIES)
        conn.execute(f'CREATE TRIGGER "{name}" {timing} {event} ON "{table}" BEGIN {body}; END')
        return f"trigger {name!r} {timing} {event} on {table}: {body[:40]}"

    def add_plain(conn: sqlite3.Connection) -> str:
        table = rng.choice(_tables(conn))
        conn.execute(f'CREATE TRIGGER evil AFTER INSERT ON "{table}" BEGIN {_TRIGGER_BODIES[0]}; END')
        return f"trigger 'evil' after insert on {table}"

    return _schema_mutation(path, rng, [add, add, add, add_plain])


def schema_view(path: Path, rng: random.Random) -> str:
    def extra(conn: sqlite3.Connection) -> str:
        name = rng.choice(["evil", "v", "trace_info_v", "ix_chunks_steps"])
        query = rng.choice(_VIEW_QUERIES)
        conn.execute(f'CREATE VIEW "{name}" AS {query}')
        return f"view {name!r}: {query[:40]}"

    def in_place_of_table(conn: sqlite3.Connection) -> str:
        table = rng.choice(_tables(conn))
        conn.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_data"')
        conn.execute(f'CREATE VIEW "{table}" AS SELECT * FROM "{table}_data"')
        return f"table {table} renamed, a view in its place"

    return _schema_mutation(path, rng, [extra, extra, in_place_of_table])


def schema_index(path: Path, rng: random.Random) -> str:
    def pick(conn: sqlite3.Connection) -> tuple[str, str]:
        table = rng.choice(_tables(conn))
        return table, rng.choice([c[0] for c in _columns(conn, table)])

    def extra(conn: sqlite3.Connection) -> str:
        table, col = pick(conn)
        name = rng.choice(["evil", f"ix_{table}_{col}"])  # the second looks like one of ttd's
        kind = rng.choice(["", "UNIQUE "])
        try:
            conn.execute(f'CREATE {kind}INDEX "{name}" ON "{table}" ("{col}")')
        except sqlite3.IntegrityError:
            kind = ""
            conn.execute(f'CREATE INDEX "{name}" ON "{table}" ("{col}")')
        return f"{kind}index {name!r} on {table}({col})"

    def partial(conn: sqlite3.Connection) -> str:
        table, col = pick(conn)
        conn.execute(f'CREATE INDEX evil ON "{table}" ("{col}") WHERE "{col}" IS NOT NULL')
        return f"partial index on {table}({col})"

    def expression(conn: sqlite3.Connection) -> str:
        table, col = pick(conn)
        expr = rng.choice([f'length("{col}")', f'typeof("{col}")', f'("{col}" || \'\')'])
        conn.execute(f'CREATE INDEX evil ON "{table}" ({expr})')
        return f"expression index on {table}({expr})"

    def variant_of_own(conn: sqlite3.Connection) -> str:
        name, table, sql = rng.choice(_indexes(conn))
        cols = re.search(r"\((.*)\)\s*$", sql, re.S).group(1)
        first = cols.split(",")[0].strip()
        new = rng.choice([f"{sql} WHERE {first} IS NOT NULL", sql.replace(f"({cols})", f"({first} DESC)", 1),
                          sql.replace("CREATE INDEX", "CREATE UNIQUE INDEX", 1),
                          sql.replace(f"({cols})", f"({first} COLLATE NOCASE)", 1)])
        conn.execute(f'DROP INDEX "{name}"')
        try:
            conn.execute(new)
        except sqlite3.IntegrityError:
            conn.execute(f"{sql} WHERE {first} IS NOT NULL")
            new = "partial"
        return f"ttd's index {name} redefined: {new[-40:]!r}"

    def drop_own(conn: sqlite3.Connection) -> str:
        name = rng.choice(_indexes(conn))[0]
        conn.execute(f'DROP INDEX "{name}"')
        return f"ttd's index {name} dropped"

    return _schema_mutation(path, rng, [extra, partial, expression, variant_of_own, drop_own])


def schema_generated_column(path: Path, rng: random.Random) -> str:
    def added(conn: sqlite3.Connection) -> str:
        table = rng.choice(_tables(conn))
        col = rng.choice([c[0] for c in _columns(conn, table)])
        expr = rng.choice(_ROW_EXPRESSIONS[:3]).format(col=f'"{col}"')
        if _count(conn, table) > 64 and "zeroblob" in expr:
            expr = f'length("{col}")'  # keep the mutation itself quick
        conn.execute(f'ALTER TABLE "{table}" ADD COLUMN evil GENERATED ALWAYS AS ({expr}) VIRTUAL')
        return f"generated column on {table}: {expr}"

    def value_generated(conn: sqlite3.Connection) -> str:
        """trace_info rebuilt: `value` computed from a stored copy on every read."""
        sql = _table_sql(conn, "trace_info")
        m = _column_decl(sql, "value")
        if not m:
            raise sqlite3.OperationalError("no value column")
        expr = rng.choice(["raw", "CASE WHEN length(hex(zeroblob(4000000))) > 0 THEN raw END", "upper(raw)"])
        storage = rng.choice(["VIRTUAL", "STORED"])
        new = (sql[:m.start(1)] + m.group(1).replace("value", "raw") + m.group(2)
               + f", value TEXT GENERATED ALWAYS AS ({expr}) {storage}" + sql[m.end(2):])
        new = new.replace("CREATE TABLE trace_info", "CREATE TABLE trace_info__new", 1)
        conn.execute(new)
        conn.execute("INSERT INTO trace_info__new(key, raw) SELECT key, value FROM trace_info")
        conn.execute("DROP TABLE trace_info")
        conn.execute("ALTER TABLE trace_info__new RENAME TO trace_info")
        return f"trace_info.value generated ({storage}): {expr[:40]}"

    return _schema_mutation(path, rng, [added, added, value_generated])


def _modules_available() -> list[str]:
    out = []
    for module, args in (("fts5", "a"), ("fts4", "a"), ("rtree", "id, x0, x1"), ("rtree_i32", "id, x0, x1")):
        with contextlib.closing(sqlite3.connect(":memory:")) as conn:
            try:
                conn.execute(f"CREATE VIRTUAL TABLE probe USING {module}({args})")
            except sqlite3.Error:
                continue
        out.append(module)
    return out


def schema_virtual_table(path: Path, rng: random.Random) -> str:
    modules = _modules_available()

    def create(conn: sqlite3.Connection) -> str:
        if not modules:
            raise sqlite3.OperationalError("no virtual table module compiled in")
        module = rng.choice(modules)
        args = "a, b" if module.startswith("fts") else "id, x0, x1"
        name = "evil"
        if rng.random() < 0.4:  # in the place of one of ttd's tables
            name = rng.choice(_tables(conn))
            conn.execute(f'ALTER TABLE "{name}" RENAME TO "{name}_real"')  # not _data: fts5's own
        conn.execute(f'CREATE VIRTUAL TABLE "{name}" USING {module}({args})')
        if rng.random() < 0.5:
            conn.execute(f'INSERT INTO "{name}" VALUES ({"1, 2" if module.startswith("fts") else "1, 0, 1"})')
        return f"virtual table {name!r} using {module}"

    return _schema_mutation(path, rng, [create])


def schema_alter(path: Path, rng: random.Random) -> str:
    def drop_column(conn: sqlite3.Connection) -> str:
        table = rng.choice(_tables(conn))
        keep = _indexed_columns(conn, table)
        cols = [c[0] for c in _columns(conn, table) if not c[2] and c[0] not in keep]
        if not cols:
            raise sqlite3.OperationalError(f"{table}: no column that may be dropped")
        col = rng.choice(cols)
        conn.execute(f'ALTER TABLE "{table}" DROP COLUMN "{col}"')
        return f"column {table}.{col} dropped"

    def rename_column(conn: sqlite3.Connection) -> str:
        table = rng.choice(_tables(conn))
        cols = [c[0] for c in _columns(conn, table)]
        a = rng.choice(cols)
        b = rng.choice([f"{a}_", a.upper() + "X", rng.choice(cols) + "2"])
        conn.execute(f'ALTER TABLE "{table}" RENAME COLUMN "{a}" TO "{b}"')
        return f"column {table}.{a} renamed {b}"

    def swap_columns(conn: sqlite3.Connection) -> str:
        table = rng.choice(_tables(conn))
        cols = [c[0] for c in _columns(conn, table)]
        if len(cols) < 2:
            raise sqlite3.OperationalError(f"{table}: one column")
        a, b = rng.sample(cols, 2)
        conn.execute(f'ALTER TABLE "{table}" RENAME COLUMN "{a}" TO "swap__"')
        conn.execute(f'ALTER TABLE "{table}" RENAME COLUMN "{b}" TO "{a}"')
        conn.execute(f'ALTER TABLE "{table}" RENAME COLUMN "swap__" TO "{b}"')
        return f"columns {table}.{a} and {b} swapped by name"

    def add_column(conn: sqlite3.Connection) -> str:
        table = rng.choice(_tables(conn))
        decl = rng.choice(["extra", "extra INTEGER", "extra TEXT NOT NULL DEFAULT 'x'",
                           "extra INTEGER DEFAULT 0 REFERENCES chunks(seq)", "extra BLOB DEFAULT x'00'"])
        conn.execute(f'ALTER TABLE "{table}" ADD COLUMN {decl}')
        return f"column added to {table}: {decl}"

    def rename_table(conn: sqlite3.Connection) -> str:
        table = rng.choice(_tables(conn))
        new = rng.choice([f"{table}_old", table.upper() + "_", "evil"])
        conn.execute(f'ALTER TABLE "{table}" RENAME TO "{new}"')
        return f"table {table} renamed {new}"

    def drop_table(conn: sqlite3.Connection) -> str:
        table = rng.choice(_tables(conn))
        conn.execute(f'DROP TABLE "{table}"')
        return f"table {table} dropped"

    def extra_table(conn: sqlite3.Connection) -> str:
        name = rng.choice(["evil", "chunks_v2", "notes"])
        conn.execute(f'CREATE TABLE "{name}" (x, y INTEGER PRIMARY KEY)')
        conn.execute(f'INSERT INTO "{name}" VALUES (1, 1)')
        return f"extra table {name!r}"

    return _schema_mutation(path, rng, [drop_column, rename_column, swap_columns, add_column, rename_table,
                                        drop_table, extra_table])


def schema_column_type(path: Path, rng: random.Random) -> str:
    """A column's declared type changed in sqlite_master (the rows stay as they are): an
    INTEGER key that stops being the rowid, a BLOB read as TEXT, and so on."""
    def retype(conn: sqlite3.Connection) -> str:
        table = rng.choice(_tables(conn))
        col = rng.choice([c[0] for c in _columns(conn, table)])
        sql = _table_sql(conn, table)
        m = _column_decl(sql, col)
        if not m:
            raise sqlite3.OperationalError(f"{table}.{col}: declaration not found")
        old = m.group(2).upper()
        new_type = rng.choice([t for t in ["INTEGER", "TEXT", "BLOB", "REAL", "NUMERIC", "ANY", "BIGINT",
                                           "VARCHAR(5)", "INT"] if t != old])
        new = sql[:m.start(2)] + new_type + sql[m.end(2):]
        _edit_master(conn, table, sql=new)
        return f"{table}.{col} {old} -> {new_type}"

    return _schema_mutation(path, rng, [retype])


def schema_check(path: Path, rng: random.Random) -> str:
    def add_check(conn: sqlite3.Connection) -> str:
        table = rng.choice(_tables(conn))
        col = rng.choice([c[0] for c in _columns(conn, table)])
        expr = rng.choice(_ROW_EXPRESSIONS + [f'length("{col}") < 1000000000']).format(col=f'"{col}"')
        sql = _table_sql(conn, table)
        if rng.random() < 0.5:  # a table constraint
            close = sql.rindex(")")
            new = sql[:close].rstrip() + f", CHECK ({expr})\n" + sql[close:]
        else:  # a column constraint
            m = _column_decl(sql, col)
            if not m:
                raise sqlite3.OperationalError(f"{table}.{col}: declaration not found")
            new = sql[:m.end(2)] + f" CHECK ({expr})" + sql[m.end(2):]
        _edit_master(conn, table, sql=new)
        return f"CHECK ({expr[:40]}) on {table}"

    return _schema_mutation(path, rng, [add_check])


def schema_stat(path: Path, rng: random.Random) -> str:
    def analyze(conn: sqlite3.Connection) -> str:
        conn.execute("ANALYZE")
        if rng.random() < 0.5:  # statistics that lie, to steer the planner into a full scan
            conn.execute("UPDATE sqlite_stat1 SET stat = ?", (rng.choice(["1 1", "1000000000 1000000000", "x"]),))
            return "ANALYZE, then crafted sqlite_stat1 rows"
        return "ANALYZE (sqlite_stat1)"

    return _schema_mutation(path, rng, [analyze])


def schema_rename(path: Path, rng: random.Random) -> str:
    """An index renamed in sqlite_master itself (which no SQL statement can do), or a table
    or column renamed with ALTER TABLE, the old name left free or taken by something else."""
    def index_renamed(conn: sqlite3.Connection) -> str:
        name, _table, sql = rng.choice(_indexes(conn))
        new = rng.choice([name + "_", "evil", "ix_" + name])
        _edit_master(conn, name, name=new, sql=sql.replace(name, new, 1))
        return f"index {name} renamed {new} in sqlite_master"

    def tables_swapped(conn: sqlite3.Connection) -> str:
        a, b = rng.sample(_tables(conn), 2)
        conn.execute(f'ALTER TABLE "{a}" RENAME TO "swap__"')
        conn.execute(f'ALTER TABLE "{b}" RENAME TO "{a}"')
        conn.execute(f'ALTER TABLE "swap__" RENAME TO "{b}"')
        return f"tables {a} and {b} swapped by name"

    def index_took_a_table_name(conn: sqlite3.Connection) -> str:
        table = rng.choice(_tables(conn))
        other = rng.choice([t for t in _tables(conn) if t != table])
        conn.execute(f'ALTER TABLE "{other}" RENAME TO "{other}_gone"')
        col = rng.choice([c[0] for c in _columns(conn, table)])
        conn.execute(f'CREATE INDEX "{other}" ON "{table}" ("{col}")')
        return f"table {other} renamed, an index on {table} took its name"

    return _schema_mutation(path, rng, [index_renamed, tables_swapped, index_took_a_table_name])


def schema_master(path: Path, rng: random.Random) -> str:
    """sqlite_master edited behind SQLite's back, every CREATE statement kept: two objects'
    b-trees swapped, one rooted at another page, an index claiming another table. The SQL
    is ttd's own, so what must catch these is the reads (or the schema check's other columns)."""
    def swap(conn: sqlite3.Connection) -> str:
        rows = [r for r in _master(conn) if r[0] in ("table", "index") and r[3]]
        a, b = rng.sample(rows, 2)
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = ?", (b[3], a[1]))
        conn.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = ?", (a[3], b[1]))
        _bump_schema(conn)
        conn.execute("PRAGMA writable_schema = OFF")
        return f"rootpages of {a[0]} {a[1]} and {b[0]} {b[1]} swapped"

    def elsewhere(conn: sqlite3.Connection) -> str:
        rows = [r for r in _master(conn) if r[0] in ("table", "index") and r[3]]
        a = rng.choice(rows)
        n_pages = conn.execute("PRAGMA page_count").fetchone()[0]
        page = rng.choice([1, n_pages, n_pages + 10, 2**31 - 1, rng.randrange(2, max(3, n_pages))])
        if page == a[3]:
            page = n_pages + 1
        _edit_master(conn, a[1], rootpage=page)
        return f"{a[0]} {a[1]} rooted at page {page}"

    def index_moved(conn: sqlite3.Connection) -> str:
        name, table, _sql = rng.choice(_indexes(conn))
        other = rng.choice([t for t in _tables(conn) if t != table])
        _edit_master(conn, name, tbl_name=other)
        return f"index {name} claims table {other} in sqlite_master"

    return _schema_mutation(path, rng, [swap, swap, elsewhere, index_moved])


# ---- the catalogue ------------------------------------------------------------------------------

Mutator = Callable[[Path, random.Random], str]

FILE_LEVEL: dict[str, Mutator] = {
    "file_truncate": file_truncate,
    "file_flip": file_flip,
    "file_zero": file_zero,
    "file_append": file_append,
    "file_page_copy": file_page_copy,
    "file_header": file_header,
}

ROW_LEVEL: dict[str, Mutator] = {
    "row_blob_flip": row_blob_flip,
    "row_int_extreme": row_int_extreme,
    "row_delete": row_delete,
    "row_swap_chunks": row_swap_chunks,
    "row_swap_checkpoints": row_swap_checkpoints,
}

CRAFTED: dict[str, Mutator] = {
    "craft_schedule": craft_schedule,
    "craft_schedule_shape": craft_schedule_shape,
    "craft_checkpoint": craft_checkpoint,
    "craft_host": craft_host,
    "craft_ids": craft_ids,
    "craft_vals": craft_vals,
    "craft_zstd": craft_zstd,
    "craft_info": craft_info,
    "craft_module": craft_module,
    "craft_pages": craft_pages,
    "craft_chunk_index": craft_chunk_index,
}

SCHEMA: dict[str, Mutator] = {
    "schema_trigger": schema_trigger,
    "schema_view": schema_view,
    "schema_index": schema_index,
    "schema_generated_column": schema_generated_column,
    "schema_virtual_table": schema_virtual_table,
    "schema_alter": schema_alter,
    "schema_column_type": schema_column_type,
    "schema_check": schema_check,
    "schema_stat": schema_stat,
    "schema_rename": schema_rename,
    "schema_master": schema_master,
}
#: Schema mutators whose every mutant holds an object no ttd revision creates (or lacks one
#: it does): refused by every command, whatever seed they start from.
SCHEMA_REFUSED = frozenset(SCHEMA) - {"schema_master"}

ALL: dict[str, Mutator] = {**FILE_LEVEL, **ROW_LEVEL, **CRAFTED, **SCHEMA}


def _selftest_crash(path: Path, rng: random.Random) -> str:
    import os

    os.abort()


def _selftest_hang(path: Path, rng: random.Random) -> str:
    import time

    time.sleep(3600)
    return "slept"


def _selftest_bug(path: Path, rng: random.Random) -> str:
    """Plant a bug in this worker's ttd: opening any trace raises an IndexError."""
    import ttd.replay.trace

    def broken(self, store):
        raise IndexError("planted")

    ttd.replay.trace.Trace.__init__ = broken
    return "planted an IndexError in Trace()"


#: mutators that break the worker itself, to check the harness notices (tests/fuzz/test_harness.py)
SELFTEST: dict[str, Mutator] = {
    "selftest_crash": _selftest_crash,
    "selftest_hang": _selftest_hang,
    "selftest_bug": _selftest_bug,
}


def mutate(path: Path, kind: str, rng: random.Random, other_wasm: bytes | None = None) -> str:
    if kind == "craft_module":
        return craft_module(path, rng, other_wasm)
    return {**ALL, **SELFTEST}[kind](path, rng)


__all__ = ["ALL", "CRAFTED", "FILE_LEVEL", "ROW_LEVEL", "SCHEMA", "SCHEMA_REFUSED", "fix_checksums", "mutate",
           "zstd_frame_declaring", "zstd_rle_frame"]
