"""The owner's private record of which job each worker started, forced to disk before the
job runs: it keeps the promise that no job runs twice without writing (and syncing) a
``running`` state for every job, most of which end before anyone could see it.

One fixed-size record per worker slot, rewritten in place: starting a job creates no file
(on some file systems every freed inode slows the next allocation), and a record is one
aligned sector, so a power cut leaves it old or new, not torn.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Optional

from pydantic import ValidationError

from ..models import StartRecord

RECORD_SIZE = 512


class StartJournal:
    """``record`` before a job runs; after a restart, ``entries`` names what may have run. A
    record is never cleared: once its job is settled it says nothing new."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: Optional[int] = None
        self._lock = threading.Lock()

    def record(self, slot: int, requester: str, uid: str, at: datetime) -> None:
        line = StartRecord(requester_email=requester, uid=uid, at=at).model_dump_json().encode()
        if len(line) >= RECORD_SIZE:
            raise ValueError(f"start record of job {uid} is too long for the journal")
        data = line.ljust(RECORD_SIZE - 1) + b"\n"
        with self._lock:
            fd = self._open()
        os.pwrite(fd, data, slot * RECORD_SIZE)
        os.fdatasync(fd)

    def entries(self) -> list[StartRecord]:
        """Every readable record; one that does not parse names no job that could be found."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        records = []
        for offset in range(0, len(raw), RECORD_SIZE):
            chunk = raw[offset : offset + RECORD_SIZE].strip(b" \n\0")
            if not chunk:
                continue
            try:
                records.append(StartRecord.model_validate_json(chunk))
            except ValidationError:
                continue
        return records

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd
