"""Issue 13, attack 1: a crafted rollback journal beside a trace.

A process killed in the middle of a write leaves TRACE-journal, a "hot" journal that SQLite
rolls back on the next open that may write. A journal may also name a super-journal, which
SQLite deletes after the rollback (pager_delsuper): a journal shipped next to a trace could
make `ttd info trace.db` delete any file its user may delete. So opening a trace never rolls
anything back: every reading command refuses with one line pointing at `ttd recover`,
leaving the trace, the journal and every other file as they were; `ttd recover` rolls a
plain journal back on request and refuses one that names a super-journal.

The journals here are real: a subprocess modifies a copy of a recorded trace with a tiny
page cache (so the change spills into the file) and dies before COMMIT; the super-journal
record is appended the way pager.c writeSuperJournal() writes it.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.support.cases import get_case
from tests.support.cli_matrix import one_error_line, reading_commands, run_parallel
from tests.support.recording import record_case, ttd
from tests.support.sqlite_craft import journal_of, make_hot_journal, name_super_journal, read_super_journal, snapshot


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A recorded trace, and the same trace in the middle of an interrupted write with its journal."""
    d = tmp_path_factory.mktemp("hot-journal-src")
    rec = record_case(get_case("fib"), d / "fib.db")
    assert rec.returncode == 0 and rec.trace.exists(), rec.stderr
    complete = rec.trace.read_bytes()
    hot = d / "hot.db"
    hot.write_bytes(complete)
    journal = make_hot_journal(hot)
    return {"complete": complete, "hot": hot.read_bytes(), "journal": journal.read_bytes()}


class Scene:
    """A directory holding trace.db and its hot journal, and a victim file elsewhere."""

    def __init__(self, root: Path, sources: dict[str, bytes], *, super_journal: bool, read_only: bool):
        self.dir = root / "traces"
        self.dir.mkdir()
        self.trace = self.dir / "trace.db"
        self.trace.write_bytes(sources["hot"])
        self.journal = journal_of(self.trace)
        self.journal.write_bytes(sources["journal"])
        self.victim_dir = root / "victimdir"
        self.victim_dir.mkdir()
        self.victim = self.victim_dir / "precious.txt"
        self.victim.write_text("years of work\n")
        if super_journal:
            name_super_journal(self.trace, self.victim)
        if read_only:
            self.trace.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        self.before = self.state()

    def state(self) -> dict[str, dict]:
        return {"traces": snapshot(self.dir), "victimdir": snapshot(self.victim_dir)}

    def untouched(self) -> bool:
        return self.state() == self.before


@pytest.mark.parametrize("read_only", [False, True], ids=["writable", "chmod-a-w"])
@pytest.mark.parametrize("super_journal", [False, True], ids=["plain-journal", "super-journal"])
def test_reading_commands_refuse_a_hot_journal_and_write_nothing(
        tmp_path: Path, sources: dict[str, bytes], super_journal: bool, read_only: bool) -> None:
    scene = Scene(tmp_path, sources, super_journal=super_journal, read_only=read_only)
    commands = reading_commands(scene.trace, scene.dir / "shared.db")
    runs = run_parallel(list(commands.values()), timeout=60)
    problems = [f"{name}: {run.show()}" for name, run in zip(commands, runs)
                if not one_error_line(run, "ttd recover")]
    serve = runs[list(commands).index("serve")]
    if "serving" in serve.stdout:
        problems.append(f"serve listened on a trace it should refuse: {serve.show()}")
    after = scene.state()
    assert scene.victim.exists(), f"opening the trace deleted {scene.victim} (named as its super-journal)"
    assert after == scene.before, ("reading the trace changed files", scene.before, after)
    assert not problems, "\n".join(problems)


def test_info_alone_leaves_the_victim_of_a_super_journal(tmp_path: Path, sources: dict[str, bytes]) -> None:
    """The attack as reported: one `ttd info trace.db`, nothing else running."""
    scene = Scene(tmp_path, sources, super_journal=True, read_only=False)
    p = ttd("info", str(scene.trace), timeout=60)
    err = p.stderr.decode(errors="replace")
    assert scene.victim.exists(), f"`ttd info` (exit {p.returncode}) deleted the super-journal's victim"
    assert scene.untouched()
    assert p.returncode != 0 and "ttd recover" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("read_only", [False, True], ids=["writable", "chmod-a-w"])
def test_recover_refuses_a_journal_naming_a_super_journal(
        tmp_path: Path, sources: dict[str, bytes], read_only: bool) -> None:
    scene = Scene(tmp_path, sources, super_journal=True, read_only=read_only)
    p = ttd("recover", str(scene.trace), timeout=60)
    err = p.stderr.decode(errors="replace")
    assert scene.victim.exists(), "`ttd recover` deleted the file the journal names as its super-journal"
    assert scene.untouched(), "`ttd recover` wrote something although it refused"
    assert p.returncode == 1, (p.returncode, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "super-journal" in lines[0] and "Traceback" not in err, err


def test_recover_rolls_back_a_plain_hot_journal(tmp_path: Path, sources: dict[str, bytes]) -> None:
    scene = Scene(tmp_path, sources, super_journal=False, read_only=False)
    assert scene.trace.read_bytes() != sources["complete"]  # the file holds the half-written state
    p = ttd("recover", str(scene.trace), timeout=60)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert not scene.journal.exists()
    assert sorted(x.name for x in scene.dir.iterdir()) == ["trace.db"]
    assert scene.victim.exists()
    info = ttd("info", "--json", str(scene.trace), timeout=60)
    assert info.returncode == 0, info.stderr.decode(errors="replace")
    assert b'"status": "complete"' in info.stdout or b'"status":"complete"' in info.stdout, info.stdout
    verify = ttd("verify", str(scene.trace), timeout=120)
    assert verify.returncode == 0 and verify.stdout.startswith(b"OK"), (verify.stdout, verify.stderr)
    again = ttd("recover", str(scene.trace), timeout=60)
    assert again.returncode == 0 and b"nothing to recover" in again.stdout + again.stderr, again


def test_recover_with_no_journal_has_nothing_to_do(tmp_path: Path, sources: dict[str, bytes]) -> None:
    trace = tmp_path / "trace.db"
    trace.write_bytes(sources["complete"])
    before = snapshot(tmp_path)
    p = ttd("recover", str(trace), timeout=60)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert b"nothing to recover" in p.stdout + p.stderr, (p.stdout, p.stderr)
    assert snapshot(tmp_path) == before


def test_the_crafted_journal_is_one_sqlite_acts_on(tmp_path: Path, sources: dict[str, bytes]) -> None:
    """The attack is real: SQLite itself, opening the file writable, rolls the journal back
    and deletes the super-journal it names (so the tests above test something)."""
    import sqlite3

    scene = Scene(tmp_path, sources, super_journal=True, read_only=False)
    assert read_super_journal(scene.journal) == str(scene.victim.resolve()).encode()
    conn = sqlite3.connect(str(scene.trace))
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        conn.close()
    assert not scene.victim.exists()
    assert not scene.journal.exists()
    assert scene.trace.read_bytes() == sources["complete"]


def test_export_refuses_without_creating_its_output(tmp_path: Path, sources: dict[str, bytes]) -> None:
    scene = Scene(tmp_path, sources, super_journal=False, read_only=False)
    out = tmp_path / "elsewhere" / "copy.db"
    out.parent.mkdir()
    p = ttd("export", str(scene.trace), str(out), timeout=60)
    assert p.returncode != 0 and b"ttd recover" in p.stderr, (p.stdout, p.stderr)
    assert list(out.parent.iterdir()) == []
    assert scene.untouched()
