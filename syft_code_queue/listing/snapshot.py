"""Versioned snapshots of a queue's jobs: what a job table renders, and how it updates.

A snapshot is immutable. Its ``version`` changes whenever a job was added, changed or
removed, and every entry carries the version at which its job last changed, so a table can
send only the rows that changed since the snapshot it sent last (a few hundred bytes for one
job) instead of re-sending a page of rows. Versions come from one counter per process, so
"changed since" is a comparison of numbers, even across the indexes a client merges.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any, Iterable, Mapping, Optional

from ..models import Job, JobRef
from .query import JobQuery, Page, Rows


@dataclass(frozen=True)
class Entry:
    key: JobRef  # unique within a queue
    revision: int  # the snapshot version at which this job last changed
    job: Job
    # The owner's views sort by the owner's acceptance time once there is one, never only by
    # a time a requester typed (which could push other requesters' jobs off a page).
    by_acceptance: bool = False
    created_at: datetime = field(init=False)  # the sort key, read once

    def __post_init__(self) -> None:
        accepted = self.job.accepted_at if self.by_acceptance else None
        object.__setattr__(self, "created_at", accepted or self.job.created_at)


_NEWEST_FIRST = attrgetter("created_at", "key")
_versions = itertools.count(1)


def next_version() -> int:
    """A version greater than every one handed out before in this process."""
    return next(_versions)


def job_row(entry: Entry) -> dict[str, Any]:
    """One JSON-ready table row: the job's summary with ISO-8601 times."""
    row = {
        name: value.isoformat() if hasattr(value, "isoformat") else value for name, value in entry.job.summary().items()
    }
    row["key"] = str(entry.key)
    row["revision"] = entry.revision
    return row


@dataclass(frozen=True)
class Delta:
    """What changed between two snapshots: the rows to add or replace, the keys to drop."""

    version: int
    since: Optional[int]
    changed: list[dict[str, Any]]
    removed: list[str]  # the removed jobs' keys, as strings (their rows' "key")

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "since": self.since, "changed": self.changed, "removed": self.removed}


@dataclass(frozen=True)
class Snapshot:
    version: int
    entries: tuple[Entry, ...]  # newest first
    positions: Mapping[JobRef, int] = field(default_factory=dict, repr=False)  # key -> index

    @classmethod
    def build(cls, version: int, entries: Iterable[Entry]) -> "Snapshot":
        ordered = tuple(sorted(entries, key=_NEWEST_FIRST, reverse=True))
        return cls(version, ordered, {entry.key: i for i, entry in enumerate(ordered)})

    def replaced(self, version: int, changed: Iterable[Entry]) -> "Snapshot":
        """This snapshot with some jobs' entries replaced, in the same order: none added,
        removed or re-dated (the common case, one job moving on, costs no sort)."""
        entries = list(self.entries)
        for entry in changed:
            entries[self.positions[entry.key]] = entry
        return Snapshot(version, tuple(entries), self.positions)

    @property
    def jobs(self) -> list[Job]:
        return [entry.job for entry in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def page(self, query: JobQuery, rows: Optional[Rows] = None) -> Page:
        """The page of this snapshot's jobs that ``query`` shows (``rows``: the caller's
        cache of flattened jobs, for a listing asked again and again)."""
        if rows is None:
            rows = Rows(by_acceptance=bool(self.entries) and self.entries[0].by_acceptance)
        return query.page(self.jobs, rows, newest_first=True)

    def rows(self, offset: int = 0, limit: Optional[int] = None) -> list[dict[str, Any]]:
        end = None if limit is None else offset + limit
        return [job_row(entry) for entry in self.entries[offset:end]]

    def changes_since(self, previous: Optional["Snapshot"]) -> Delta:
        """The rows a view holding ``previous`` (an older snapshot of the same source)
        needs to become this snapshot."""
        if previous is None:
            return Delta(self.version, None, self.rows(), [])
        if previous.version == self.version:
            return Delta(self.version, previous.version, [], [])
        changed = [job_row(e) for e in self.entries if e.revision > previous.version]
        if self.positions is previous.positions:  # same jobs in the same order
            removed: list[str] = []
        else:
            removed = [str(key) for key in previous.positions if key not in self.positions]
        return Delta(self.version, previous.version, changed, removed)
