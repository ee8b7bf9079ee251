"""The one progress printer of every long command (record, expand, index, verify).

On a terminal the line is rewritten in place (`\\r`). Anywhere else (a log file, a pipe, CI)
`\\r` would pile every update onto one huge line: there each update is a plain line of its
own, at most one every LOG_EVERY seconds, plus the last.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Seconds between two rewrites of the line on a terminal.
TTY_EVERY = 0.5
#: Seconds between two plain progress lines when stderr is not a terminal.
LOG_EVERY = 10.0


class ProgressLine:
    """`label: text` on stderr; nothing for a run shorter than `delay` seconds."""

    def __init__(self, label: str, quiet: bool = False, delay: float = 0.5,
                 stream: TextIO | None = None) -> None:
        self.label = label
        self.quiet = quiet
        self.stream = stream or sys.stderr
        try:
            self.tty = self.stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.start = time.monotonic()
        self.delay = delay
        self.last = float("-inf")
        self.shown = False  # a terminal line is open (it wants its newline)

    def show(self, text: str, force: bool = False) -> None:
        """Update the line; `force` (a stage, the last figures) skips the rate limit."""
        now = time.monotonic()
        if self.quiet or now - self.start < self.delay:
            return
        if not force and now - self.last < (TTY_EVERY if self.tty else LOG_EVERY):
            return
        self.last = now
        if self.tty:
            self.stream.write(f"\r\x1b[K{self.label}: {text}")
            self.shown = True
        else:
            self.stream.write(f"{self.label}: {text}\n")
        self.stream.flush()

    def done(self) -> None:
        """End the terminal line, so what follows starts on a line of its own."""
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False
