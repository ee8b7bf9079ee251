"""Mutations of a real trace file: its bytes, its SQLite rows, and crafted payloads.

Each mutator damages a copy of a trace in place, drawing every choice from a seeded
random.Random, and returns a one-line description of what it did, so a failure says how to
get the same file again. Row-level mutators discover tables and columns from the file itself
(the schema evolves). A chunk row they touch gets its checksum recomputed most of the time:
whoever crafts a trace can compute sha256 too, so the checksum must not be the only defence.
"""

from __future__ import annotations

import contextlib
import random
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


def fix_checksums(conn: sqlite3.Connection) -> None:
    """Recompute every chunk's checksum from its row, as a forger would."""
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
        return f"swapped checkpoints {a} and {b}"


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
            return f"schedule {what}"
        _put_schedule(conn, s)
        return f"schedule: {what} (block {bi})"


def craft_schedule_shape(path: Path, rng: random.Random) -> str:
    with _db(path) as conn:
        if rng.random() < 0.4:
            raw = _raw_packed(deep_msgpack(rng))
            conn.execute("UPDATE modules SET schedule=? WHERE id=0", (raw,))
            return "schedule: deeply nested msgpack"
        _put_schedule(conn, hostile(rng))
        return "schedule: wrong shape"


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
            return f"checkpoint {seq}: deeply nested msgpack"
        elif choice == 11:
            cp = hostile(rng)
            what = "wrong shape"
        elif choice == 12:
            conn.execute("UPDATE checkpoints SET chunk_seq=? WHERE chunk_seq=?",
                         (rng.choice([-1, 10**6, 2**40]), seq))
            return f"checkpoint {seq} moved"
        else:
            cp, what = deep_mutate(cp, rng)
        conn.execute("UPDATE checkpoints SET state=? WHERE chunk_seq=?", (_packed(cp), seq))
        return f"checkpoint {seq}: {what}"


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
            return "module 0 renumbered"
        conn.execute("UPDATE modules SET wasm=? WHERE id=0", (new,))
        return what


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

ALL: dict[str, Mutator] = {**FILE_LEVEL, **ROW_LEVEL, **CRAFTED}


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


__all__ = ["ALL", "CRAFTED", "FILE_LEVEL", "ROW_LEVEL", "fix_checksums", "mutate",
           "zstd_frame_declaring", "zstd_rle_frame"]
