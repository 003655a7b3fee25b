"""Linux inotify through ctypes.

The kernel queues an inotify event inside the very system call that changes a file, so
reading the queue dry tells about every change completed before the read. watchdog hides
its queue behind threads; the job index needs that guarantee to stay exact without
stat-ing every file of every job on every listing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import sys
from typing import NamedTuple, Optional

IN_MODIFY = 0x00000002
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_ISDIR = 0x40000000

# Everything that can change what a folder holds or what a file in it says.
CHANGES = IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF

_HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)
_READ_SIZE = 1 << 16


def _load_libc() -> Optional[ctypes.CDLL]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    return libc if hasattr(libc, "inotify_init1") else None


_libc = _load_libc()


def available() -> bool:
    return _libc is not None


class Event(NamedTuple):
    wd: int
    mask: int
    name: str  # empty for events about the watched folder itself


class Inotify:
    """One non-blocking inotify instance."""

    def __init__(self) -> None:
        if _libc is None:
            raise OSError("inotify is not available on this system")
        fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def add_watch(self, path: str, mask: int) -> int:
        """Watch a folder (never following a symlink); raises OSError like open() would."""
        assert _libc is not None
        wd = _libc.inotify_add_watch(self._fd, os.fsencode(path), mask | IN_ONLYDIR | IN_DONT_FOLLOW)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        return wd

    def rm_watch(self, wd: int) -> None:
        assert _libc is not None
        _libc.inotify_rm_watch(self._fd, wd)  # EINVAL: already gone, which is what we wanted

    def read(self) -> list[Event]:
        """Every queued event, without blocking."""
        events: list[Event] = []
        while True:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return events
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                start = offset + _HEADER.size
                name = os.fsdecode(data[start : start + length].rstrip(b"\0"))
                events.append(Event(wd, mask, name))
                offset = start + length

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
