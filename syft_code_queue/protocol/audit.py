"""The owner's audit log: an append-only file of JSON lines, one ``AuditRecord`` each,
private to the owner (``PrivateLayout.audit_log``, never synced).

It records every transition (the owner store writes them with each state), every file the
owner viewed, every diff looked at, every release decision and every change to a trust rule.
Any owner process may append (a serving thread and an ``scq approve`` at once): each record
is one ``write`` to a file opened with ``O_APPEND``, so lines never interleave. Nothing ever
rewrites it; a line a power cut left torn is ended by the next record and skipped by readers.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

from pydantic import ValidationError

from ..models import AuditKind, AuditRecord, JobRef, JobState, Transition, utcnow

log = logging.getLogger(__name__)

Detail = Union[str, int, float, bool, None]
APPEND = os.O_RDWR | os.O_APPEND | os.O_CREAT
CSV_COLUMNS = ("at", "kind", "by", "uid", "requester", "details")


class AuditLog:
    """Appending to, and reading, one queue's audit log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(
        self,
        kind: AuditKind,
        *,
        by: str,
        job: Optional[JobRef] = None,
        at: Optional[datetime] = None,
        **details: Detail,
    ) -> AuditRecord:
        """Append one record, e.g. ``record("release", by=owner, job=ref, file="out.csv",
        decision="released")``; returns it."""
        entry = AuditRecord(
            at=at or utcnow(),
            kind=kind,
            by=by,
            uid=job.uid if job else None,
            requester=job.requester if job else None,
            details=details,
        )
        self._append([entry])
        return entry

    def transitions(self, state: JobState, steps: Iterable[Transition]) -> None:
        """The steps a state write added to a job's history."""
        ref = JobRef(state.requester_email, state.uid)
        entries = [
            AuditRecord(
                at=t.at,
                kind="transition",
                by=t.by,
                uid=ref.uid,
                requester=ref.requester,
                details={"status": t.status.value, "reason": t.reason},
            )
            for t in steps
        ]
        if entries:
            self._append(entries)

    def _append(self, entries: list[AuditRecord]) -> None:
        data = "".join(entry.model_dump_json() + "\n" for entry in entries).encode()
        with self._lock:
            try:
                fd = os.open(self.path, APPEND, 0o600)
            except FileNotFoundError:  # the first record of a new private folder
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, APPEND, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # after a line a crash cut short: start a line of our own
                os.write(fd, data)
            finally:
                os.close(fd)

    def read(self, since: Optional[datetime] = None, uid: Optional[str] = None) -> list[AuditRecord]:
        """Records in the order written, from ``since`` on, of jobs whose uid starts with ``uid``."""
        return [
            entry
            for entry in self._entries()
            if (since is None or entry.at >= since) and (uid is None or (entry.uid or "").startswith(uid))
        ]

    def _entries(self) -> Iterator[AuditRecord]:
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return
        with fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield AuditRecord.model_validate_json(line)
                except ValidationError:
                    log.warning("audit log %s: line %d is not a whole record; skipped", self.path, number)


def to_json(entries: Iterable[AuditRecord]) -> str:
    return json.dumps([entry.model_dump(mode="json") for entry in entries], indent=2)


def to_csv(entries: Iterable[AuditRecord]) -> str:
    """One row per record; ``details`` as a JSON object in one column."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        row = entry.model_dump(mode="json")
        writer.writerow([*(row[c] or "" for c in CSV_COLUMNS[:-1]), json.dumps(row["details"], sort_keys=True)])
    return out.getvalue()
