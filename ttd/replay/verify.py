"""Rebuild the whole run from the trace alone and compare it with what the recorder saw live.

At every chunk boundary the recorder stored the live memory pages and globals; at the end it
stored hashes of the final memory, the globals and the last pc. A trace verifies when the
replayed state equals all of them, and every blob a replay trusts matches its checksum:
chunks (with their host events) as the replay loads them; before that, every stored page
(decompressed and hashed: pages are named by their sha256), the module and its schedule,
every checkpoint and every page-table keyframe (schema revision 0004), each failure one line.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from ttd.progress import ProgressLine
from ttd.record.snapshot import SNAP_PAGE, ZERO_DIGEST
from ttd.replay.lazy_memory import DirtyMemory
from ttd.replay.machine import ReplayError, values_from_wire
from ttd.replay.trace import Trace
from ttd.store import codec
from ttd.store.errors import CorruptTrace, TraceError

#: Checksum failures listed one by one; beyond this many, one line says how many more.
MAX_LISTED = 20


@dataclass
class VerifyReport:
    ok: bool
    steps: int
    chunks: int
    complete: bool
    problems: list[str] = field(default_factory=list)


def _check_boundary(trace: Trace, st, seq: int, checked: dict[int, dict]) -> str | None:
    """The state after chunk seq - 1 against what the recorder stored there. A page is hashed
    only if replay wrote it, or the recording's digest for it changed, since the last
    boundary that stored pages (`checked`: their tables): any other page still holds the
    bytes that matched then."""
    cp = trace.checkpoint(seq)
    if values_from_wire(cp.get("globals", [])) != list(st.globals):
        return f"globals differ from the recording after chunk {seq - 1}"
    sizes = list(cp.get("mem_sizes", []))
    if sizes != [len(m) for m in st.memories]:
        return f"memory sizes differ from the recording after chunk {seq - 1}"
    if not trace.has_snapshot(seq):
        return None  # no pages were stored here to compare with
    for mi, mem in enumerate(st.memories):
        table = trace.store.page_table(seq, mi)
        before = checked.get(mi)
        pages = set(mem.take_dirty().tolist())
        if before is None:
            pages.update(range((len(mem) + SNAP_PAGE - 1) // SNAP_PAGE))
        else:
            pages.update(p for p, d in table.items() if before.get(p) != d)
            pages.update(p for p in before if p not in table)
        for p in sorted(pages):
            raw = bytes(mem[p * SNAP_PAGE:(p + 1) * SNAP_PAGE])
            if not raw:
                continue  # beyond the memory's end
            want = table.get(p, ZERO_DIGEST)
            got = hashlib.sha256(raw).digest()
            if got != want and not (want == ZERO_DIGEST and not any(raw)):
                return (f"memory {mi} page at {p * SNAP_PAGE:#x} differs from the recording "
                        f"after chunk {seq - 1}")
        checked[mi] = table
    return None


def _page_failures(store) -> Iterator[str]:
    """Every stored page that does not decompress to content whose sha256 is its digest."""
    seen = 0
    for digest, data in store.iter_pages():
        seen += 1
        name = bytes(digest).hex()[:16] if isinstance(digest, (bytes, memoryview)) else repr(digest)[:40]
        if not isinstance(data, (bytes, memoryview)):
            yield f"page {name}... is not a blob"
            continue
        try:
            raw = codec.decompress(data, SNAP_PAGE)
        except CorruptTrace as e:
            yield f"page {name}... does not decompress: {e}"
            continue
        if hashlib.sha256(raw).digest() != digest:
            yield f"page {name}... fails its checksum (its content's sha256 is not its digest)"
    total = store.page_count()
    if total != seen:
        yield f"{total - seen} pages have a digest that is not a sha256"


def unchecked_blobs(trace: Trace) -> str | None:
    """What this trace's schema revision has no checksums for, as a line of the report; None
    from revision 0004 on. Only a trace read as it is (read-only, not upgraded) has one."""
    store = trace.store
    kinds = store.blobs_without_checksums()
    if not kinds:
        return None
    what = ", ".join(kinds[:-1]) + " and " + kinds[-1] if len(kinds) > 1 else kinds[0]
    return (f"not checked: {what} (schema revision {store.revision}, read as it is, has no "
            f"checksums for them; `ttd export` makes an upgraded copy that has them)")


def check_blobs(trace: Trace) -> list[str]:
    """Every blob besides the chunks that fails its checksum: pages, the module, checkpoints
    and keyframes, one line each (at most MAX_LISTED, then how many more)."""
    failures: list[str] = []
    more = 0
    for failure in itertools.chain(trace.store.checksum_failures(), _page_failures(trace.store)):
        if len(failures) < MAX_LISTED:
            failures.append(failure)
        else:
            more += 1
    if more:
        failures.append(f"and {more} more blobs fail their checksums")
    return failures


def verify(trace: Trace, quiet: bool = True) -> VerifyReport:
    info = trace.info
    complete = info.get("status") in ("complete", "interrupted") and "final" in info
    rep = VerifyReport(ok=True, steps=0, chunks=0, complete=complete)
    failures = check_blobs(trace)
    if failures:
        rep.ok = False
        rep.problems.extend(failures)
        return rep
    unchecked = unchecked_blobs(trace)
    if unchecked:
        rep.problems.append(unchecked)
    st = trace.initial_state(with_memory=True)
    st.memories = [DirtyMemory(m) for m in st.memories]
    checked: dict[int, dict] = {}
    n = len(trace.chunks)
    line = ProgressLine("verifying", quiet, delay=1.0)
    for i, (seq, first, n_steps, _fb, _nb) in enumerate(trace.chunks):
        try:
            ch = trace.chunk(seq)
            # vectorised where the stack walk allows (as a seek replays), else block by block
            trace.advance(st, ch, len(ch.ids))
        except (ReplayError, TraceError) as e:
            rep.ok = False
            rep.problems.append(f"chunk {seq} (steps {first}-{first + n_steps - 1}): {e}")
            return rep
        problem = _check_boundary(trace, st, seq + 1, checked)
        if problem:
            rep.ok = False
            rep.problems.append(f"chunk {seq} (steps {first}-{first + n_steps - 1}): {problem}")
            return rep
        rep.steps = st.steps_done
        rep.chunks = i + 1
        line.show(f"{st.steps_done / 1e6:,.1f}M steps, chunk {i + 1}/{n}", force=i == n - 1)
    line.done()
    if st.steps_done != trace.total_steps:
        rep.ok = False
        rep.problems.append(f"replayed {st.steps_done} steps, the trace says {trace.total_steps}")
    final = info.get("final")
    if not final:
        rep.problems.append("no final state was captured; every chunk boundary up to the "
                            "last flushed chunk was checked")
        return rep
    digests = [hashlib.sha256(bytes(m)).hexdigest() for m in st.memories]
    if digests != list(final.get("mem_sha256", [])):
        rep.ok = False
        rep.problems.append("final memory differs from the recording")
    if list(st.globals) != values_from_wire(final.get("globals", [])):
        rep.ok = False
        rep.problems.append("final globals differ from the recording")
    last_pc = st.frames[-1].pc if st.frames else None
    if last_pc != final.get("last_pc"):
        rep.ok = False
        rep.problems.append(f"last pc {last_pc} differs from the recording's {final.get('last_pc')}")
    return rep
