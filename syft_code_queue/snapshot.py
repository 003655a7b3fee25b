"""Versioned snapshots of a queue's jobs: what a job table renders, and how it updates.

A snapshot is immutable. Its ``version`` changes whenever a job was added, changed or
removed, and every entry carries the version at which its job last changed, so a table can
send only the rows that changed since the snapshot it sent last (a few hundred bytes for one
job) instead of re-sending a page of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable, Optional

from .models import Job


@dataclass(frozen=True)
class Entry:
    key: str  # "<requester>/<uid>": the folder the job lives in, unique within a queue
    revision: int  # the snapshot version at which this job last changed
    job: Job


def job_row(entry: Entry) -> dict[str, Any]:
    """One JSON-ready table row: the job's summary with ISO-8601 times."""
    row = {
        name: value.isoformat() if hasattr(value, "isoformat") else value
        for name, value in entry.job.summary().items()
    }
    row["key"] = entry.key
    row["revision"] = entry.revision
    return row


@dataclass(frozen=True)
class Delta:
    """What changed between two snapshots: the rows to add or replace, the keys to drop."""

    version: int
    since: Optional[int]
    changed: list[dict[str, Any]]
    removed: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "since": self.since, "changed": self.changed, "removed": self.removed}


@dataclass(frozen=True)
class Snapshot:
    version: int
    entries: tuple[Entry, ...]  # newest first

    @classmethod
    def build(cls, version: int, entries: Iterable[Entry]) -> "Snapshot":
        ordered = sorted(entries, key=lambda e: e.key)
        ordered.sort(key=lambda e: e.job.created_at, reverse=True)
        return cls(version, tuple(ordered))

    @property
    def jobs(self) -> list[Job]:
        return [entry.job for entry in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def rows(self, offset: int = 0, limit: Optional[int] = None) -> list[dict[str, Any]]:
        end = None if limit is None else offset + limit
        return [job_row(entry) for entry in self.entries[offset:end]]

    @cached_property
    def revisions(self) -> dict[str, int]:
        return {entry.key: entry.revision for entry in self.entries}

    def changes_since(self, previous: Optional["Snapshot"]) -> Delta:
        """The rows a view holding ``previous`` needs to become this snapshot."""
        if previous is None:
            return Delta(self.version, None, self.rows(), [])
        if previous.version == self.version:
            return Delta(self.version, previous.version, [], [])
        old = previous.revisions
        changed = [job_row(e) for e in self.entries if old.get(e.key) != e.revision]
        removed = [key for key in old if key not in self.revisions]
        return Delta(self.version, previous.version, changed, removed)
