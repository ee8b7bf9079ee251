"""A throwaway PostgreSQL server on loopback for the team-store tests.

initdb into a fresh temporary directory, trust authentication, a free port,
the unix socket in that directory too; stopped and deleted at the end. The
server refuses to run as root, so under root (CI) it runs as the `postgres`
user the Debian package creates (or `nobody`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: Set by .ci/run: a machine without PostgreSQL fails the tests instead of skipping them.
REQUIRE_ENV = "TTD_REQUIRE_POSTGRES"


def find_bindir() -> Path | None:
    """Directory holding initdb, pg_ctl and postgres: PATH first, then Debian's versioned directories."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    bindir: Path
    root: Path
    port: int
    user: str
    run_as: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.run_as, *args], capture_output=True, text=True, timeout=120, cwd=self.root)

    def start(self) -> None:
        init = self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user,
                         "-E", "UTF8", "--no-sync")
        if init.returncode:
            raise RuntimeError(f"initdb failed: {init.stderr or init.stdout}")
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        ctl = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", opts,
                        "-l", str(self.root / "log"), "-w", "-t", "60", "start")
        if ctl.returncode:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {ctl.stderr or ctl.stdout} {log}")

    def create_database(self, name: str) -> str:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url(), autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                return self.url(name)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")


def start_server() -> PgServer:
    bindir = find_bindir()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl)")
    # Not under pytest's tmp dir: that is 0700 root's, and the server user must reach it.
    root = Path(tempfile.mkdtemp(prefix="ttd-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        for name in ("postgres", "nobody"):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            os.chown(root, entry.pw_uid, entry.pw_gid)
            run_as = ["runuser", "-u", name, "--"]
            break
        else:
            raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")
    server = PgServer(bindir, root, _free_port(), "ttd", run_as)
    try:
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


def remove(server: PgServer) -> None:
    try:
        server.stop()
    finally:
        shutil.rmtree(server.root, ignore_errors=True)
