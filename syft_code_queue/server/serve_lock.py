"""The serve lock: at most one live process serves a queue. An ``flock`` on a private file
that holds the serving process's pid; the kernel releases it when that process dies, so a
crashed server never blocks the next one."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO, Optional

from ..errors import ServerAlreadyRunning


class ServeLock:
    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what  # "queue 'code-queue' of owner@example.com", for the error
        self._file: Optional[IO[str]] = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise ServerAlreadyRunning(
                f"{self.what} is already being served (pid {holder}); stop that server first"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._file = fh

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
