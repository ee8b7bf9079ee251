"""Issue 13, attack 2: SQL stored in a trace file must never run inside ttd.

A trace is an SQLite file, and an SQLite file carries SQL that SQLite runs on the reader's
behalf: triggers (fired by the in-place upgrade of an old trace, or by any write), views,
generated columns (evaluated per row read), virtual tables (a module's code), partial and
expression indexes, CHECK constraints. A stranger's trace holding any of these once made
`ttd info` rewrite the trace, grow it to gigabytes, or spin for minutes.

The contract: before any statement, ttd compares the file's schema objects with exactly what
its migrations create for the file's revision; anything else makes every command exit 1 with
one line "...: not a ttd trace: unexpected ... 'NAME'" naming the object, within seconds,
and nothing changes: the trace's bytes are the same and no file appears beside it (`export`
writes no output, `serve` never listens).

Every case is a copy of a real trace (recorded once per module, or an old-schema fixture,
writable, so the upgrade path is taken if ttd would take it) tampered with through SQLite
itself; all commands of all cases run at once (the full command matrix for a few
representative attacks, each command a process of its own; `ttd info` alone for the others,
in one batch process), and each test checks one case.
"""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from tests.support.cases import get_case
from tests.support.cli_batch import run_batch
from tests.support.cli_matrix import Run, reading_commands, run_parallel
from tests.support.recording import record_case
from tests.support.sqlite_craft import connect, edit_schema_sql, execute_script, has_module, rebuild_table, snapshot

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
#: Every table ttd's migrations create or write.
TABLES = ["trace_info", "modules", "chunks", "checkpoints", "pages", "page_versions", "page_keyframes",
          "alembic_version"]
#: Seconds one refused command may take: in a process of its own, Python's start-up included
#: (on a busy machine); run in-process (cli_batch), the check alone.
REFUSAL_SECONDS = 15.0
REFUSAL_SECONDS_IN_PROCESS = 3.0
#: Commands every case runs; FULL cases run all of reading_commands().
QUICK = ["info"]
FULL = ["info", "verify", "query", "export", "serve"]


# ---- attacks: each tampers with a database and returns the names the error may give -------------

def trigger_on(table: str) -> Callable[[Path], set[str]]:
    def attack(db: Path) -> set[str]:
        if table == "alembic_version":  # the upgrade rewrites it: the trigger rewrites the trace
            body = "AFTER UPDATE ON alembic_version BEGIN UPDATE trace_info SET value = '\"pwned\"' " \
                   "WHERE key = 'program'; END"
        else:
            body = (f"AFTER INSERT ON {table} BEGIN INSERT OR REPLACE INTO trace_info(key, value) "
                    f"VALUES ('pwned', '1'); END")
        execute_script(db, f"CREATE TRIGGER evil {body};")
        return {"evil"}
    return attack


def view(db: Path) -> set[str]:
    execute_script(db, "CREATE VIEW evil AS SELECT c1.seq FROM chunks c1, chunks c2, chunks c3;")
    return {"evil"}


def trace_info_as_view(db: Path) -> set[str]:
    """ttd's table replaced by a view of the same name over a renamed copy."""
    execute_script(db, "ALTER TABLE trace_info RENAME TO trace_info_data; "
                       "CREATE VIEW trace_info AS SELECT key, value FROM trace_info_data;")
    with connect(db) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'trace_info_data'")}
    return {"trace_info"} | names


def generated_column(db: Path) -> set[str]:
    """trace_info rebuilt so that `value` is computed, expensively, on every read."""
    expensive = "CASE WHEN length(hex(zeroblob(2000000))) > 0 THEN raw END"

    def new_sql(old: str) -> str:
        new, n = re.subn(r"\bvalue TEXT NOT NULL",
                         f"raw TEXT NOT NULL, value TEXT GENERATED ALWAYS AS ({expensive}) VIRTUAL", old)
        assert n == 1, old
        return new

    rebuild_table(db, "trace_info", new_sql, copy=lambda cols: ('"key", raw', '"key", value'))
    return {"trace_info"}


def check_constraint(db: Path) -> set[str]:
    with connect(db) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'trace_info'").fetchone()[0]
    edit_schema_sql(db, "trace_info", sql.rstrip()[:-1].rstrip() + ", CHECK (length(value) < 1000000000)\n)")
    return {"trace_info"}


def column_type_changed(db: Path) -> set[str]:
    with connect(db) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'chunks'").fetchone()[0]
    new, n = re.subn(r"\bn_steps BIGINT\b", "n_steps TEXT", sql)
    assert n == 1, sql
    edit_schema_sql(db, "chunks", new)
    return {"chunks"}


def column_default(db: Path) -> set[str]:
    with connect(db) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'chunks'").fetchone()[0]
    new, n = re.subn(r"\bhost BLOB NOT NULL", "host BLOB NOT NULL DEFAULT (randomblob(16))", sql)
    assert n == 1, sql
    edit_schema_sql(db, "chunks", new)
    return {"chunks"}


def virtual_table(module: str) -> Callable[[Path], set[str]]:
    def attack(db: Path) -> set[str]:
        args = "a" if module == "fts5" else "id, x0, x1"
        execute_script(db, f"CREATE VIRTUAL TABLE evil USING {module}({args}); "
                           f"INSERT INTO evil VALUES ({'1' if module == 'fts5' else '1, 0, 1'});")
        with connect(db) as conn:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'evil%'")}
    return attack


def extra_table(db: Path) -> set[str]:
    execute_script(db, "CREATE TABLE evil (x); INSERT INTO evil VALUES (1);")
    return {"evil"}


def extra_index(db: Path) -> set[str]:
    execute_script(db, "CREATE INDEX evil ON chunks (n_steps);")
    return {"evil"}


def partial_index(db: Path) -> set[str]:
    execute_script(db, "CREATE INDEX evil ON chunks (seq) WHERE n_steps > 0;")
    return {"evil"}


def expression_index(db: Path) -> set[str]:
    execute_script(db, "CREATE INDEX evil ON chunks (length(host));")
    return {"evil"}


def index_made_partial(db: Path) -> set[str]:
    """One of ttd's own indexes, same name, now partial."""
    execute_script(db, "DROP INDEX ix_chunks_first_step; "
                       "CREATE INDEX ix_chunks_first_step ON chunks (first_step) WHERE seq >= 0;")
    return {"ix_chunks_first_step"}


def analyzed(db: Path) -> set[str]:
    execute_script(db, "ANALYZE;")
    with connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%'")}


# ---- the cases ----------------------------------------------------------------------------------

@dataclass
class Case:
    id: str
    source: str  # "recorded" (the current schema) or a fixture path relative to FIXTURES
    attack: Callable[[Path], set[str]]
    commands: list[str] = field(default_factory=lambda: list(QUICK))


def _fixture_tables(rel: str) -> set[str]:
    with connect(FIXTURES / rel) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _cases() -> list[Case]:
    cases = []
    # a trigger on every table, on a current trace and on an old one that ttd would upgrade
    old = "schema-0002/fib.db"  # has every table; older than the current revision
    for table in TABLES:
        cases.append(Case(f"current-trigger-on-{table}", "recorded", trigger_on(table)))
        cases.append(Case(f"upgrade-trigger-on-{table}", old, trigger_on(table)))
    # the whole upgrade chain, from every fixture revision
    for rel in sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("schema-*/fib.db")):
        if rel != old:
            cases.append(Case(f"{rel.split('/')[0]}-trigger-on-alembic_version", rel, trigger_on("alembic_version")))
    cases += [
        Case("current-view", "recorded", view),
        Case("current-trace_info-replaced-by-view", "recorded", trace_info_as_view),
        Case("current-generated-column", "recorded", generated_column),
        Case("current-check-constraint", "recorded", check_constraint),
        Case("current-column-type-changed", "recorded", column_type_changed),
        Case("current-column-default", "recorded", column_default),
        Case("current-extra-table", "recorded", extra_table),
        Case("current-extra-index", "recorded", extra_index),
        Case("current-partial-index", "recorded", partial_index),
        Case("current-expression-index", "recorded", expression_index),
        Case("current-index-made-partial", "recorded", index_made_partial),
        Case("current-sqlite_stat1", "recorded", analyzed),
        Case("upgrade-view", old, view),
        Case("upgrade-generated-column", old, generated_column),
        Case("upgrade-sqlite_stat1", old, analyzed),
        Case("schema-0001-extra-index", "schema-0001/fib.db", extra_index),
    ]
    for module in ("fts5", "rtree"):
        if has_module(module):
            cases.append(Case(f"current-virtual-table-{module}", "recorded", virtual_table(module)))
    # the whole command matrix on a few representative attacks
    full = {"current-trigger-on-chunks", "upgrade-trigger-on-alembic_version", "current-generated-column",
            "current-virtual-table-fts5"}
    for c in cases:
        if c.id in full:
            c.commands = list(FULL)
    # only triggers on tables the fixture has (revision 0001 has no page_keyframes)
    return [c for c in cases if c.source == "recorded" or not c.id.split("-trigger-on-")[1:]
            or c.id.split("-trigger-on-")[1] in _fixture_tables(c.source)]


CASES = {c.id: c for c in _cases()}


@dataclass
class Outcome:
    case: Case
    trace: Path
    names: set[str]
    runs: dict[str, Run]
    before: dict
    after: dict


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    src = tmp_path_factory.mktemp("hostile-schema-src")
    rec = record_case(get_case("fib"), src / "fib.db")
    assert rec.returncode == 0 and rec.trace.exists(), rec.stderr
    root = tmp_path_factory.mktemp("hostile-schema")
    prepared = []
    argvs: list[list[str]] = []
    for case in CASES.values():
        d = root / case.id
        d.mkdir()
        trace = d / "t.db"
        shutil.copyfile(rec.trace if case.source == "recorded" else FIXTURES / case.source, trace)
        trace.chmod(0o644)
        names = case.attack(trace)
        for side in d.glob("t.db-*"):  # nothing of the tampering is left beside it
            side.unlink()
        commands = reading_commands(trace, d / "copy.db")
        prepared.append((case, trace, names, snapshot(d), len(argvs)))
        argvs += [commands[c] for c in case.commands]
    # the full matrix as real subprocesses; the `info`-only cases in one batch process (one
    # Python start-up for all of them), at the same time
    in_batch = [i for i, (case, *_rest) in enumerate(prepared) if case.commands == QUICK]
    batch_argvs = [argvs[prepared[i][4]] for i in in_batch]
    sub_argvs = [a for a in argvs if a not in batch_argvs]
    with ThreadPoolExecutor(1) as pool:
        batch = pool.submit(run_batch, batch_argvs, 30.0)
        sub_runs = run_parallel(sub_argvs, timeout=45)
        batch_runs = [Run(r["argv"], r["returncode"], r["stdout"], r["stderr"], r["seconds"], in_process=True)
                      for r in batch.result()]
    by_argv = {tuple(r.argv): r for r in sub_runs + batch_runs}
    out = {}
    for case, trace, names, before, start in prepared:
        mine = {c: by_argv[tuple(a)] for c, a in zip(case.commands, argvs[start:start + len(case.commands)])}
        out[case.id] = Outcome(case, trace, names, mine, before, snapshot(trace.parent))
    return out


_NAMED = re.compile(r"not a ttd trace: unexpected [^']*'([^']*)'")


@pytest.mark.parametrize("case_id", list(CASES))
def test_foreign_schema_object_is_refused_before_any_sql_runs(case_id: str, outcomes: dict[str, Outcome]) -> None:
    o = outcomes[case_id]
    problems = []
    for name, run in o.runs.items():
        lines = run.lines
        m = _NAMED.search(lines[0]) if len(lines) == 1 else None
        if run.returncode != 1:
            problems.append(f"{name}: exit {run.returncode}, want 1")
        if "Traceback" in run.stderr or len(lines) != 1:
            problems.append(f"{name}: want one line on stderr, got {len(lines)}")
        elif not m:
            problems.append(f"{name}: the error does not say 'not a ttd trace: unexpected ... NAME'")
        elif m.group(1) not in o.names:
            problems.append(f"{name}: the error names {m.group(1)!r}, not one of {sorted(o.names)}")
        if run.seconds > (REFUSAL_SECONDS_IN_PROCESS if run.in_process else REFUSAL_SECONDS):
            problems.append(f"{name}: took {run.seconds:.1f} s")
        if name == "serve" and ("serving" in run.stdout or "listening" in run.stdout):
            problems.append("serve: listened on the trace before refusing it")
        if problems and not problems[-1].endswith("\n"):
            problems[-1] += "\n    " + run.show().replace("\n", "\n    ") + "\n"
    if o.after != o.before:
        changed = sorted(k for k in set(o.before) | set(o.after) if o.before.get(k) != o.after.get(k))
        problems.append(f"files changed or appeared beside the trace: {changed}")
    assert not problems, f"{case_id}:\n" + "\n".join(problems)


def test_the_attacks_are_real(tmp_path: Path) -> None:
    """SQLite itself fires the tampered objects (so the cases above test something): a
    trigger on alembic_version runs when the version is updated, as an upgrade does."""
    trace = tmp_path / "t.db"
    shutil.copyfile(FIXTURES / "schema-0002" / "fib.db", trace)
    trace.chmod(0o644)
    # the "upgrade-" cases start from a revision older than this ttd's: ttd would upgrade them
    revisions = sorted(p.name[:4] for p in (FIXTURES.parents[1] / "alembic" / "versions").glob("[0-9]*.py"))
    with connect(trace) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] < revisions[-1]
    trigger_on("alembic_version")(trace)
    with connect(trace) as conn:
        conn.execute("UPDATE alembic_version SET version_num = version_num")
        assert conn.execute("SELECT value FROM trace_info WHERE key = 'program'").fetchone()[0] == '"pwned"'
    shutil.copyfile(FIXTURES / "schema-0002" / "fib.db", trace)
    generated_column(trace)
    with connect(trace) as conn:
        assert conn.execute("SELECT value FROM trace_info WHERE key = 'program'").fetchone()[0] == '"fib.wasm"'
