"""Build hostile SQLite files for real: hot rollback journals, super-journal records, and
schema objects a trace from a stranger may carry (triggers, views, rebuilt tables).

Everything here uses SQLite itself (the sqlite3 module) plus the documented file formats
(https://www.sqlite.org/fileformat2.html, section "The Rollback Journal"; pager.c
writeSuperJournal/readSuperJournal), so what the tests feed ttd is what an attacker could.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable, Iterator

#: The 8 bytes that start every rollback journal header and end a super-journal record.
JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")
#: sqlite3.c: PENDING_BYTE, the start of the lock-byte page.
PENDING_BYTE = 0x40000000


def journal_of(db: Path) -> Path:
    return db.with_name(db.name + "-journal")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    """name -> (sha256, mtime_ns) of every file in a directory (not recursive)."""
    return {p.name: (sha256(p), p.stat().st_mtime_ns) for p in sorted(directory.iterdir()) if p.is_file()}


@contextlib.contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain autocommit connection, as an attacker's sqlite3 shell would have."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


# ---- hot journals ----------------------------------------------------------------------------

_KILL_MID_TRANSACTION = textwrap.dedent("""
    import os, sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA cache_size = 8")  # pages: the dirty ones spill into the file mid-transaction
    conn.execute("BEGIN IMMEDIATE")
    # rewrite pages the trace already has (their pre-images go to the journal), then grow it
    for table, column in (("pages", "data"), ("chunks", "vals"), ("modules", "wasm")):
        conn.execute(f"UPDATE {table} SET {column} = zeroblob(length({column}))")
    conn.execute("UPDATE trace_info SET value = '\\"garbage\\"' WHERE key = 'status'")
    for i in range(200):
        conn.execute("INSERT INTO trace_info(key, value) VALUES (?, ?)", (f"junk{i}", "x" * 20000))
    sys.stdout.write("spilled\\n")
    sys.stdout.flush()
    os._exit(0)  # killed before COMMIT: the journal stays hot
""")


def make_hot_journal(db: Path) -> Path:
    """Interrupt a real write transaction on db (a copy of a trace): a process that modified
    the file's pages and died before COMMIT, leaving a hot DB-journal that SQLite must roll
    back. Returns the journal's path; the file itself now holds the half-written state."""
    before = db.read_bytes()
    p = subprocess.run([sys.executable, "-c", _KILL_MID_TRANSACTION, str(db)], capture_output=True,
                       timeout=120)
    assert p.returncode == 0 and p.stdout == b"spilled\n", p.stderr.decode(errors="replace")
    journal = journal_of(db)
    data = journal.read_bytes()
    assert data[:8] == JOURNAL_MAGIC, "no hot journal was left"
    assert db.read_bytes() != before, "the transaction did not spill into the database file"
    return journal


def super_journal_record(name: bytes, page_size: int) -> bytes:
    """What pager.c writeSuperJournal() appends to a journal naming a super-journal: the
    lock-byte page number, the name, its length, its checksum (the sum of its bytes as
    signed chars), the journal magic."""
    cksum = sum(b - 256 if b >= 128 else b for b in name) & 0xFFFFFFFF
    pgno = PENDING_BYTE // page_size + 1
    return (pgno.to_bytes(4, "big") + name + len(name).to_bytes(4, "big") + cksum.to_bytes(4, "big")
            + JOURNAL_MAGIC)


def read_super_journal(journal: Path) -> bytes | None:
    """The super-journal name as pager.c readSuperJournal() reads it (None: none, or a bad checksum)."""
    data = journal.read_bytes()
    if len(data) < 16 or data[-8:] != JOURNAL_MAGIC:
        return None
    length = int.from_bytes(data[-16:-12], "big")
    cksum = int.from_bytes(data[-12:-8], "big")
    if length == 0 or length > len(data) - 16:
        return None
    name = data[-16 - length:-16]
    if (cksum - sum(b - 256 if b >= 128 else b for b in name)) & 0xFFFFFFFF:
        return None
    return name


def name_super_journal(db: Path, victim: Path) -> Path:
    """Make db's hot journal name `victim` as its super-journal: after rolling the journal
    back, SQLite deletes the super-journal if none of the journals it lists still points at
    it (pager_delsuper), so whoever rolls this journal back deletes victim."""
    journal = journal_of(db)
    page_size = int.from_bytes(db.read_bytes()[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    name = str(victim.resolve()).encode()
    with journal.open("ab") as f:
        f.write(super_journal_record(name, page_size))
    assert read_super_journal(journal) == name
    return journal


# ---- schema objects ---------------------------------------------------------------------------

def execute_script(db: Path, sql: str) -> None:
    with connect(db) as conn:
        conn.executescript(sql)






def rebuild_table(db: Path, table: str, new_sql: Callable[[str], str],
                  copy: Callable[[list[str]], tuple[str, str]] | None = None) -> None:
    """Replace `table` by one made from new_sql(its CREATE statement), the way an attacker
    with the sqlite3 shell would: create the new table under another name, copy the rows,
    drop the old one, rename, recreate the old table's indexes. `copy(old columns)` gives
    the (target columns, source expressions) of the INSERT ... SELECT (default: all)."""
    tmp = f"{table}__new"
    with connect(db) as conn:
        indexes = [r[0] for r in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,))]
        old = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
        cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
        create = new_sql(old)
        head, sep, rest = create.partition("(")
        assert sep and table in head, create
        create = head.replace(table, f'"{tmp}"', 1) + sep + rest
        dst, src = copy(cols) if copy else (", ".join(f'"{c}"' for c in cols),) * 2
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("BEGIN")
        conn.execute(create)
        conn.execute(f'INSERT INTO "{tmp}" ({dst}) SELECT {src} FROM "{table}"')
        conn.execute(f'DROP TABLE "{table}"')
        conn.execute(f'ALTER TABLE "{tmp}" RENAME TO "{table}"')
        for sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("VACUUM")


def edit_schema_sql(db: Path, name: str, new_sql: str) -> None:
    """Rewrite an object's CREATE statement in sqlite_master (PRAGMA writable_schema), for
    changes that keep the stored record format: a CHECK constraint, a column type."""
    with connect(db) as conn:
        conn.execute("PRAGMA writable_schema = ON")
        n = conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (new_sql, name)).rowcount
        assert n == 1, name
        version = conn.execute("PRAGMA schema_version").fetchone()[0]
        conn.execute(f"PRAGMA schema_version = {version + 1}")
        conn.execute("PRAGMA writable_schema = OFF")
    with connect(db) as conn:  # a fresh connection parses the new schema: it must be valid
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        assert conn.execute(f'PRAGMA table_info("{name}")').fetchall() or name.startswith("ix_")




def has_module(name: str) -> bool:
    """Whether this SQLite can create a virtual table USING name (fts5, rtree, ...)."""
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        try:
            conn.execute(f"CREATE VIRTUAL TABLE probe USING {name}(a, b, c)")
        except sqlite3.OperationalError:
            return False
        return True
