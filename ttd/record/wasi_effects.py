"""Which linear-memory bytes a WASI preview1 call writes, so replay needs nothing of the host.

Each rule looks at the call's arguments and, after the call, at memory (iovec lists, counts the
host wrote) and names the byte ranges to capture. A function we do not know gets its whole
memory captured: slow, but never wrong.
"""

from __future__ import annotations

import struct
from typing import Callable

Reader = Callable[[int, int], bytes]  # (address, length) -> bytes, clipped to memory
Regions = list[tuple[int, int]]


def _u32(read: Reader, addr: int) -> int:
    raw = read(addr, 4)
    return struct.unpack("<I", raw)[0] if len(raw) == 4 else 0


def _iovecs(read: Reader, iovs: int, count: int, total: int) -> Regions:
    """The buffers of an iovec list, up to `total` bytes (what the host said it filled)."""
    out: Regions = []
    for k in range(min(count, 1 << 16)):
        if total <= 0:
            break
        ptr = _u32(read, iovs + 8 * k)
        length = _u32(read, iovs + 8 * k + 4)
        n = min(length, total)
        if n:
            out.append((ptr, n))
        total -= n
    return out


def _fixed(*spec: tuple[int, int]) -> Callable[[Reader, list[int]], Regions]:
    """Out-pointers at argument positions with fixed sizes."""
    return lambda read, a: [(a[i], size) for i, size in spec]


def _fd_read(read: Reader, a: list[int]) -> Regions:
    fd, iovs, n, nread_ptr = a[:4]
    return _iovecs(read, iovs, n, _u32(read, nread_ptr)) + [(nread_ptr, 4)]


def _fd_pread(read: Reader, a: list[int]) -> Regions:
    fd, iovs, n, _offset, nread_ptr = a[:5]
    return _iovecs(read, iovs, n, _u32(read, nread_ptr)) + [(nread_ptr, 4)]


def _sock_recv(read: Reader, a: list[int]) -> Regions:
    fd, iovs, n, _flags, len_ptr, flags_ptr = a[:6]
    return _iovecs(read, iovs, n, _u32(read, len_ptr)) + [(len_ptr, 4), (flags_ptr, 2)]


def _used(buf_i: int, used_i: int) -> Callable[[Reader, list[int]], Regions]:
    """A buffer the host filled to the count it wrote at another out-pointer."""
    return lambda read, a: [(a[buf_i], _u32(read, a[used_i])), (a[used_i], 4)]


RULES: dict[str, Callable[[Reader, list[int]], Regions]] = {
    "args_sizes_get": _fixed((0, 4), (1, 4)),
    "environ_sizes_get": _fixed((0, 4), (1, 4)),
    "clock_res_get": _fixed((1, 8)),
    "clock_time_get": _fixed((2, 8)),
    "fd_fdstat_get": _fixed((1, 24)),
    "fd_filestat_get": _fixed((1, 64)),
    "fd_prestat_get": _fixed((1, 8)),
    "fd_prestat_dir_name": lambda read, a: [(a[1], a[2])],
    "fd_read": _fd_read,
    "fd_pread": _fd_pread,
    "fd_write": _fixed((3, 4)),
    "fd_pwrite": _fixed((4, 4)),
    "fd_seek": _fixed((3, 8)),
    "fd_tell": _fixed((1, 8)),
    "fd_readdir": _used(1, 4),
    "path_filestat_get": _fixed((4, 64)),
    "path_open": _fixed((8, 4)),
    "path_readlink": _used(3, 5),
    "poll_oneoff": lambda read, a: [(a[1], 32 * a[2]), (a[3], 4)],
    "random_get": lambda read, a: [(a[0], a[1])],
    "sock_accept": _fixed((2, 4)),
    "sock_recv": _sock_recv,
    "sock_send": _fixed((4, 4)),
}

# Calls that write no guest memory at all.
NO_EFFECT = {
    "fd_advise", "fd_allocate", "fd_close", "fd_datasync", "fd_fdstat_set_flags",
    "fd_fdstat_set_rights", "fd_filestat_set_size", "fd_filestat_set_times", "fd_renumber",
    "fd_sync", "path_create_directory", "path_filestat_set_times", "path_link",
    "path_remove_directory", "path_rename", "path_symlink", "path_unlink_file", "proc_exit",
    "proc_raise", "sched_yield", "sock_shutdown",
}


def written_regions(name: str, args: list[int], read: Reader, memory_size: int,
                    sizes: dict[str, tuple[int, int]]) -> Regions:
    """Byte ranges of memory 0 the call `name(args)` may have written (args as unsigned ints).

    `sizes` carries what the recorder itself passed in: {"args": (argc, bufsize), "environ": ...}
    for args_get/environ_get, whose buffer sizes are not in their arguments.
    """
    if name in NO_EFFECT:
        return []
    if name in ("args_get", "environ_get"):
        count, bufsize = sizes.get("args" if name == "args_get" else "environ", (0, 0))
        return [(args[0], 4 * count), (args[1], bufsize)]
    rule = RULES.get(name)
    if rule is None:
        return [(0, memory_size)]
    return [(addr, n) for addr, n in rule(read, args) if n > 0]
