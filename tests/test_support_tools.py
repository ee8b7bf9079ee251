"""Small support helpers: locating the wasmtime CLI, free ports."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tests.support import wasmtime_cli
from tests.support.ports import free_port


def _fake_binary(tmp_path: Path) -> Path:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    exe = pkg / "wasmtime"
    exe.write_text("#!/bin/sh\necho wasmtime 49.0.0-fake\n")
    exe.chmod(0o644)
    return exe


def test_wasmtime_binary_sets_exec_bit(tmp_path, monkeypatch):
    exe = _fake_binary(tmp_path)
    monkeypatch.delenv("TTD_WASMTIME", raising=False)
    monkeypatch.setattr(wasmtime_cli, "_package_binary", lambda: exe)
    wasmtime_cli.wasmtime_binary.cache_clear()
    try:
        assert wasmtime_cli.wasmtime_binary() == exe
        assert os.access(exe, os.X_OK)
    finally:
        wasmtime_cli.wasmtime_binary.cache_clear()


def test_wasmtime_binary_copies_when_read_only(tmp_path, monkeypatch):
    exe = _fake_binary(tmp_path)
    monkeypatch.delenv("TTD_WASMTIME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(wasmtime_cli, "_package_binary", lambda: exe)
    real_chmod = Path.chmod

    def chmod(self, mode, **kw):
        if self == exe:
            raise PermissionError("read-only file system")
        return real_chmod(self, mode, **kw)

    monkeypatch.setattr(Path, "chmod", chmod)
    wasmtime_cli.wasmtime_binary.cache_clear()
    try:
        got = wasmtime_cli.wasmtime_binary()
        assert got is not None and got != exe and got.is_relative_to(tmp_path / "cache")
        assert os.access(got, os.X_OK) and got.read_bytes() == exe.read_bytes()
        assert wasmtime_cli.wasmtime_version() == "wasmtime 49.0.0-fake"
    finally:
        wasmtime_cli.wasmtime_binary.cache_clear()


def test_wasmtime_binary_none_when_not_installed(monkeypatch):
    monkeypatch.delenv("TTD_WASMTIME", raising=False)
    monkeypatch.setattr(wasmtime_cli, "_package_binary", lambda: None)
    wasmtime_cli.wasmtime_binary.cache_clear()
    try:
        assert wasmtime_cli.wasmtime_binary() is None
    finally:
        wasmtime_cli.wasmtime_binary.cache_clear()


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
