"""The serve thread's wake-up: a flag it waits on together with the change feed's
descriptor, so that it reads file-system events itself (no hand-off to another thread per
event), and any thread can wake it for a new action or a job due to be shown running."""

from __future__ import annotations

import os
import select
import threading
import weakref
from typing import Optional


class Waker:
    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        finalizer = weakref.finalize(self, _close_all, self._read, self._write)
        finalizer.atexit = False  # a daemon serve thread may still be waiting at exit
        self._lock = threading.Lock()
        self._set = False

    def set(self) -> None:
        with self._lock:
            if self._set:
                return
            self._set = True
        try:
            os.write(self._write, b"x")
        except BlockingIOError:
            pass  # already readable

    def clear(self) -> None:
        with self._lock:
            self._set = False
            try:
                os.read(self._read, 64)
            except BlockingIOError:
                pass

    def wait(self, timeout: float, events: Optional[int]) -> bool:
        """Until set, ``events`` is readable, or ``timeout``; whether ``events`` is readable."""
        watched = [self._read] if events is None else [self._read, events]
        try:
            ready, _, _ = select.select(watched, [], [], timeout)
        except (OSError, ValueError):  # the feed was closed meanwhile (the server is stopping)
            return False
        return events is not None and events in ready


def _close_all(*fds: int) -> None:
    for fd in fds:
        os.close(fd)
