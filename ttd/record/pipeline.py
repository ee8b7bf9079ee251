"""`ttd record`: capture the run at the program's own speed, then expand it into the history.

The module is instrumented and compiled (or taken from the cache) before the program runs, so
a module ttd cannot record fails before it has any effect; the expansion then finds both in
the cache. A failed expansion keeps the capture, which `ttd expand` can retry.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ttd.record.capture import CaptureResult, Capturer
from ttd.record.recorder import RecordError, RecordOptions, RecordResult, prepare, read_program


def capture_and_expand(opts: RecordOptions) -> RecordResult | CaptureResult:
    data = read_program(opts.program)
    if not opts.capture_only:
        prepare(data, opts.program, opts, expansion=True)  # refusals before the program runs
    capturer = Capturer(opts)
    cap = capturer.run(keep_lock=not opts.capture_only)
    if opts.capture_only:
        return cap
    from ttd.record.expand import expand_trace

    try:
        res = expand_trace(cap.path, jobs=opts.jobs, quiet=opts.quiet, use_cache=opts.use_cache,
                           lock=capturer.lock)
    except RecordError as e:
        raise RecordError(f"{e} (the capture is kept in {cap.path}: `ttd expand` retries)")
    except KeyboardInterrupt:
        sys.stderr.write(f"\nttd: expansion interrupted; the capture is kept in {cap.path} "
                         f"(`ttd expand` completes it)\n")
        raise SystemExit(cap.exit_code if cap.exit_code else 130)
    finally:
        if capturer.lock is not None:
            capturer.lock.close()
    return RecordResult(Path(res.path), cap.exit_code, cap.trap, res.steps, 0, res.chunks, 0,
                        cap.seconds + res.seconds, res.status)
