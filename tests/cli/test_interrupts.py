"""Ctrl-C while a finalizer runs (wasmtime frees its objects in `__del__`) still stops the
command: Python would print "Exception ignored" and run on."""

import subprocess
import sys

from tests.support.cli_batch import ROOT

SCRIPT = r"""
import os, signal, threading, time
from ttd.cli import raise_interrupts

raise_interrupts()

class Slow:
    def __del__(self):
        time.sleep(0.4)  # the interrupt lands here

threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    obj = Slow()
    del obj
    time.sleep(5)
    print("ran on")
except KeyboardInterrupt:
    print("interrupted")
"""


def test_an_interrupt_inside_a_finalizer_is_not_lost():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip() == "interrupted", done
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr
