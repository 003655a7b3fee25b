"""Waiting for a child to exit without sleeping in between checks.

``Popen.wait(timeout)`` polls with sleeps that grow up to 50 ms, which adds milliseconds to
every short job. A pidfd (Linux 5.3+) becomes readable the moment the child exits; where
there is none, ``Popen.wait`` is the fallback.
"""

from __future__ import annotations

import os
import select
import subprocess
from typing import Optional


class ExitWaiter:
    def __init__(self, proc: subprocess.Popen) -> None:
        self._proc = proc
        try:
            self._fd: Optional[int] = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):  # not Linux, an old kernel, or already reaped
            self._fd = None

    def wait(self, timeout: float) -> bool:
        """True once the child has exited (and is reaped); False after ``timeout`` seconds."""
        if self._fd is not None:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                return False
            self._proc.wait()
            return True
        try:
            self._proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "ExitWaiter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
