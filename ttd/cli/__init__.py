"""The `ttd` command line."""

from __future__ import annotations

import os
import signal
import threading


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
    signal.signal(signal.SIGINT, _interrupt_outside_finalizers)


def _interrupt_outside_finalizers(signum, frame) -> None:
    """A KeyboardInterrupt raised inside a `__del__` (wasmtime frees its objects there) is
    printed as "Exception ignored" and lost, and the command runs on; so there the interrupt
    is delivered again a moment later, once the finalizer has returned."""
    f = frame
    while f is not None:
        if f.f_code.co_name == "__del__":
            threading.Timer(0.02, signal.raise_signal, (signum,)).start()
            return
        f = f.f_back
    raise KeyboardInterrupt

