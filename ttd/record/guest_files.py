"""What `ttd info` tells whoever receives a trace about the program's files: every name it
opened, as the program named it (`input/laps4.txt`, not the `laps4.txt` WASI passes relative
to the preopened `input`), and how much it read from stdin."""

from __future__ import annotations

import posixpath
from typing import Callable

MAX_FILES = 1000  # file names kept for `ttd info`


class GuestFiles:
    """Fed every WASI call after it returned; knows each open descriptor's guest path."""

    def __init__(self, preopens: list[str]) -> None:
        self._paths = {3 + i: str(g) for i, g in enumerate(preopens)}  # WASI preopens: fd 3, 4...
        self.files: dict[str, None] = {}
        self.stdin_bytes = 0

    def call(self, name: str, args: list[int], results: list[int],
             read: Callable[[int, int], bytes]) -> None:
        ok = bool(results) and results[0] == 0
        if name == "path_open" and len(args) >= 9:
            rel = read(args[2], min(args[3], 4096)).decode("utf-8", "replace")
            base = self._paths.get(args[0])
            path = rel if base in (None, ".", "") else posixpath.join(base, rel)
            if len(self.files) < MAX_FILES:
                self.files.setdefault(path, None)
            if ok:
                self._paths[int.from_bytes(read(args[8], 4), "little")] = path
        elif name == "fd_read" and len(args) >= 4 and args[0] == 0 and ok:
            self.stdin_bytes += int.from_bytes(read(args[3], 4), "little")

    def info(self) -> dict:
        """The trace_info keys: `files` and `stdin_bytes`."""
        return {"files": list(self.files), "stdin_bytes": self.stdin_bytes}
