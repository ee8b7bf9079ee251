"""The `ttd` command line."""

from __future__ import annotations

import os
import signal


def quiet_interrupts() -> None:
    """Until the command runs (interpreter start-up, imports, argument parsing) or after it
    returned, Ctrl-C ends ttd with one line and status 130: no traceback from wherever the
    interrupt landed, and nothing to clean up there."""

    def stop(_signum, _frame) -> None:
        os.write(2, b"ttd: interrupted\n")
        os._exit(130)

    signal.signal(signal.SIGINT, stop)


def raise_interrupts() -> None:
    """While the command runs, Ctrl-C is a KeyboardInterrupt it handles (a recording keeps
    what it committed)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
