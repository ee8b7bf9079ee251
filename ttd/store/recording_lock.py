"""Who is writing a trace file: an exclusive flock(2) held by its recorder for the whole run.

A recorder creates its trace with O_CREAT|O_EXCL and at once takes ``flock(LOCK_EX)`` on it,
on a descriptor of its own kept open until the recording is over; the kernel drops the lock
when the recorder exits or is killed. So:

- a second recorder (``--force`` or not) never removes, nor writes beside, a file a live
  recorder holds: SQLite's locks are per inode, and two writers on different inodes sharing
  one ``-journal`` name would corrupt each other;
- readers (``ttd info``, ``ttd serve``) can tell a trace still being recorded from one whose
  recorder was killed (same "recording" status in the file, but nobody holds the lock).

flock locks are independent of the POSIX (fcntl) locks SQLite takes, on Linux. But closing
*any* descriptor of a file drops every POSIX lock the process holds on it: a lock descriptor
must only be closed (and is_being_recorded() only called) when this process has no SQLite
transaction open on the file; a store closes its lock after disposing of its engine.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from pathlib import Path

from ttd.store.errors import TraceError, TraceExists

__all__ = ["OutputRefused", "RecordingLock", "RecordingInProgress", "create_locked", "is_being_recorded",
           "lock_existing"]

_SIDECARS = ("-journal", "-wal", "-shm")
#: How long to retry a held lock before calling the file busy: a reader's shared lock lasts
#: microseconds (see is_being_recorded), a recorder's the whole recording.
_BUSY_RETRY_S = 0.25
#: Rounds of "the file changed under us" before giving up (another ttd replacing it each time).
_MAX_ROUNDS = 50


class OutputRefused(TraceError):
    """The path is not one to write a trace to (a directory, a device, another's file): nothing
    was created or removed."""


class RecordingInProgress(OutputRefused):
    """A live recorder holds the file: it is neither removed nor replaced."""

    def __init__(self, path: object) -> None:
        super().__init__(f"{path}: being recorded by another ttd; choose another --out")


class RecordingLock:
    """An exclusive flock on a trace file, held until close() (or the process ends)."""

    def __init__(self, fd: int, path: Path, replaced_empty: bool = False) -> None:
        self.fd: int | None = fd
        self.path = path
        #: True if an empty file (a recorder killed right after creating it) was replaced.
        self.replaced_empty = replaced_empty

    def dup(self) -> RecordingLock:
        """Another descriptor of the same open file: the lock stays held until both are closed."""
        if self.fd is None:
            raise ValueError(f"{self.path}: recording lock already released")
        return RecordingLock(os.dup(self.fd), self.path, self.replaced_empty)

    def close(self) -> None:
        """Release (this descriptor of) the lock; see the module note on when this is safe."""
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> RecordingLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RecordingLock {self.path} {'held' if self.fd is not None else 'released'}>"


def _flock(fd: int, how: int) -> bool:
    """Take the lock, retrying a moment; False if someone else holds it. Unsupported
    locking (ENOLCK, EOPNOTSUPP: some network file systems) counts as taken: best effort."""
    deadline = time.monotonic() + _BUSY_RETRY_S
    while True:
        try:
            fcntl.flock(fd, how | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        except OSError as exc:
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                return True
            raise


def _same_file(path: Path, fd: int) -> bool:
    """Whether path (followed) still names the file open on fd."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _remove_sidecars(path: Path) -> None:
    for suffix in _SIDECARS:
        side = path.with_name(path.name + suffix)
        try:
            side.unlink(missing_ok=True)
        except IsADirectoryError:
            raise OutputRefused(f"{side}: is a directory") from None


def _replace_existing(path: Path, overwrite: bool) -> bool | None:
    """Remove the file at path if we may: not held by a live recorder, and --force or empty.

    Returns True if it was an empty leftover, False if an old file was removed, None if the
    path changed while we looked (the caller tries again).
    """
    try:
        lst = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(lst.st_mode) or (stat.S_ISLNK(lst.st_mode) and path.is_dir()):
        raise OutputRefused(f"{path}: is a directory; give the file to write")
    try:
        # O_NONBLOCK: a FIFO at path must not hang us; refused below as not a regular file
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if not stat.S_ISLNK(lst.st_mode):
            return None  # removed meanwhile: look again
        if not overwrite:  # a dangling symlink
            raise TraceExists(f"{path}: already exists (pass overwrite=True to replace it)") from None
        path.unlink(missing_ok=True)  # the link, not what it names
        return False
    except OSError as exc:
        raise OutputRefused(f"{path}: cannot replace: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OutputRefused(f"{path}: not a regular file; give a trace file to write")
        if not _flock(fd, fcntl.LOCK_EX):
            raise RecordingInProgress(path)
        if not _same_file(path, fd):
            return None  # replaced or removed meanwhile: look again
        # Only a regular file (not a symlink) of 0 bytes is what a killed recorder leaves.
        empty = st.st_size == 0 and stat.S_ISREG(lst.st_mode)
        if not (overwrite or empty):
            raise TraceExists(f"{path}: already exists (pass overwrite=True to replace it)")
        # We hold the lock of the file at path, so nobody else writes its sidecars: a -journal
        # there is a dead writer's, which SQLite would otherwise roll back into the new file.
        # Sidecars first: once path is gone, another recorder may create it and its journal.
        try:
            _remove_sidecars(path)
            path.unlink()
        except OSError as exc:
            raise OutputRefused(f"{exc.filename or path}: cannot replace: {exc.strerror or exc}") from None
        return empty and not overwrite
    finally:
        os.close(fd)  # releases our lock on the file just removed


def create_locked(path: Path, overwrite: bool = False) -> RecordingLock:
    """Create path empty (O_CREAT|O_EXCL) and hold an exclusive flock on it.

    An existing file is replaced only if no live recorder holds it, and then only with
    overwrite or if it is empty (a recorder killed right after creating it); stale sidecars
    are removed. Raises TraceExists, or OutputRefused (RecordingInProgress: a live recorder
    holds it) having created nothing.
    """
    path = Path(path)
    replaced_empty = False
    for _round in range(_MAX_ROUNDS):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            replaced = _replace_existing(path, overwrite)
            replaced_empty = replaced_empty or bool(replaced)
            continue
        except IsADirectoryError:
            raise OutputRefused(f"{path}: is a directory; give the file to write") from None
        except OSError as exc:
            raise OutputRefused(f"{path}: cannot create trace: {exc.strerror or exc}") from None
        ours = False
        try:
            if not _flock(fd, fcntl.LOCK_EX):
                # another ttd took our new, still empty file for a leftover and is replacing it
                raise RecordingInProgress(path)
            if not _same_file(path, fd):
                raise OutputRefused(f"{path}: replaced by another ttd while being created; "
                                    f"choose another --out")
            ours = True
            _remove_sidecars(path)  # a dead writer's, as above
            return RecordingLock(fd, path, replaced_empty)
        except BaseException:
            if ours:  # leave no empty file behind
                path.unlink(missing_ok=True)
            os.close(fd)
            raise
    raise OutputRefused(f"{path}: keeps being replaced by another process; choose another --out")


def lock_existing(path: Path) -> RecordingLock:
    """The recorder's lock on a trace that exists, for rewriting it as a whole (`ttd expand`):
    no recorder, `--force` or other expansion replaces it meanwhile. RecordingInProgress if a
    live recorder or expansion holds it."""
    for _round in range(_MAX_ROUNDS):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise TraceError(f"{path}: no such file") from None
        except OSError as exc:
            raise TraceError(f"{path}: cannot open: {exc.strerror or exc}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OutputRefused(f"{path}: not a regular file")
            if not _flock(fd, fcntl.LOCK_EX):
                raise RecordingInProgress(path)
            if _same_file(path, fd):
                lock, fd = RecordingLock(fd, path), None
                return lock
        finally:
            if fd is not None:
                os.close(fd)
    raise OutputRefused(f"{path}: keeps being replaced by another process")


def is_being_recorded(path: str | os.PathLike[str]) -> bool:
    """True if a live recorder holds path (its exclusive flock), False otherwise (finished,
    killed, not a file). Takes a shared lock for an instant: see the module note."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        return False  # the shared lock goes with the descriptor
    finally:
        os.close(fd)
