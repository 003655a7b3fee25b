"""``JobQuery``: which jobs a listing shows, in what order, and which page of them.

Every listing is one query over the jobs a side can see: ``client.list_jobs`` and
``server.list_jobs``, the JobTable's sort, status chips, search and pages, and the
ApprovalPanel's search, requester and tag filters and pages. ``JobQuery.page(jobs, rows)``
(or ``Snapshot.page(query)``) filters, counts, sorts and slices, here and nowhere else.

``Rows`` keeps each job flattened (its search text and sort keys) once per version of the
job, so re-applying a query to 10,000 jobs after one of them changed flattens one job. On
the owner's side "created" means the owner's acceptance time once there is one, never only
a time a requester typed (which could push other requesters' jobs off a page).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from ..models import Job, JobStatus

SortKey = Literal["name", "uid", "requester", "target", "status", "created", "started", "finished", "duration", "tags"]
STATUS_ORDER = {status: i for i, status in enumerate(JobStatus)}


class JobQuery(BaseModel):
    """A filter (every given field must match), a sort and a slice.

    ``search`` is found, case-insensitively, in the name, uid, requester, target, status or
    a tag. Sorting by status follows the order of ``statuses`` when they are given (a
    panel's most urgent first), else the lifecycle's. Rows without a value for the sort key
    (a job not started yet, ...) always come last; ties go by creation time. An ``offset``
    past the last match shows the last page."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    statuses: tuple[JobStatus, ...] = Field(default=(), max_length=len(JobStatus))
    requester: str = Field(default="", max_length=320)
    target: str = Field(default="", max_length=320)
    tag: str = Field(default="", max_length=200)
    search: str = Field(default="", max_length=200)
    sort: SortKey = "created"
    descending: bool = True
    offset: int = Field(default=0, ge=0)
    limit: Optional[int] = Field(default=None, ge=0)

    def page(
        self,
        jobs: Iterable[Job],
        rows: Optional["Rows"] = None,
        now: Optional[float] = None,
        newest_first: bool = False,
    ) -> "Page":
        """The page of ``jobs`` this query shows. ``rows``: the caller's cache of flattened
        jobs; ``newest_first``: ``jobs`` already come newest first (a snapshot), so the
        default sort has nothing to do."""
        rows = rows if rows is not None else Rows()
        picked = list(jobs)
        if self.requester or self.target or self.tag:
            picked = [
                job
                for job in picked
                if (not self.requester or job.requester_email == self.requester)
                and (not self.target or job.target_email == self.target)
                and (not self.tag or self.tag in job.tags)
            ]
        needle = self.search.strip().lower()
        if needle:
            picked = [row.job for row in rows.flatten(picked) if needle in row.haystack]
        matched = picked
        if self.statuses:
            wanted = set(self.statuses)
            picked = [job for job in picked if job.status in wanted]
        if not (newest_first and self.sort == "created" and self.descending):
            value = SORT_VALUE[self.sort]
            if self.sort == "status" and self.statuses:
                rank = {status: i for i, status in enumerate(self.statuses)}
                value = lambda row, now: rank[row.job.status]  # noqa: E731
            at = now if now is not None else time.time()
            picked = [row.job for row in _sorted(rows.flatten(picked), lambda row: value(row, at), self.descending)]
        offset = self.offset
        if self.limit and offset >= len(picked) > 0:
            offset = (len(picked) - 1) // self.limit * self.limit
        end = None if self.limit is None else offset + self.limit
        return Page(picked[offset:end], len(picked), offset, matched)


@dataclass(frozen=True)
class Page:
    jobs: list[Job]  # the slice, in order
    total: int  # how many jobs matched, over all pages
    offset: int  # where the slice starts (moved back to the last page when past the end)
    matched: list[Job] = field(repr=False)  # every match before the status filter

    @cached_property
    def counts(self) -> dict[str, int]:
        """The matches per status before the status filter (a table's chips)."""
        counts: dict[str, int] = {}
        for job in self.matched:
            counts[job.status.value] = counts.get(job.status.value, 0) + 1
        return counts


class Row:
    """A job flattened for filtering and sorting; its search text is built on first use."""

    __slots__ = ("job", "created", "_haystack")

    def __init__(self, job: Job, by_acceptance: bool) -> None:
        self.job = job
        self.created = ((job.accepted_at if by_acceptance else None) or job.created_at).timestamp()
        self._haystack: Optional[str] = None

    @property
    def haystack(self) -> str:
        if self._haystack is None:
            job = self.job
            words = [job.name, job.uid, job.requester_email, job.target_email, job.status.value, *job.tags]
            self._haystack = "\n".join(words).lower()
        return self._haystack

    @property
    def started(self) -> Optional[float]:
        return self.job.started_at.timestamp() if self.job.started_at else None

    @property
    def finished(self) -> Optional[float]:
        return self.job.finished_at.timestamp() if self.job.finished_at else None

    def duration(self, now: float) -> Optional[float]:
        started = self.started
        if started is None:
            return None
        return max(0.0, (self.finished or now) - started)


class Rows:
    """One listing's flattened jobs, kept while each job's version stays the same (the
    stores hand out one object per version). ``by_acceptance``: the owner's side."""

    def __init__(self, by_acceptance: bool = False) -> None:
        self.by_acceptance = by_acceptance
        self._rows: dict[int, Row] = {}  # by id(job): a row holds its job, so the id stays its own
        self._lock = threading.Lock()

    def flatten(self, jobs: list[Job]) -> list[Row]:
        with self._lock:
            known = self._rows
            flat = []
            for job in jobs:
                row = known.get(id(job))
                if row is None:
                    row = known[id(job)] = Row(job, self.by_acceptance)
                flat.append(row)
            if len(known) > 2 * len(jobs) + 1024:  # versions gone by: keep only these
                self._rows = {id(row.job): row for row in flat}
            return flat


# How each sort key orders rows: f(row, now).
SORT_VALUE: dict[str, Callable[[Row, float], Any]] = {
    "name": lambda r, now: r.job.name.lower(),
    "uid": lambda r, now: r.job.uid,
    "requester": lambda r, now: r.job.requester_email,
    "target": lambda r, now: r.job.target_email,
    "status": lambda r, now: STATUS_ORDER[r.job.status],
    "created": lambda r, now: r.created,
    "started": lambda r, now: r.started,
    "finished": lambda r, now: r.finished,
    "duration": lambda r, now: r.duration(now),
    "tags": lambda r, now: ",".join(r.job.tags).lower() or None,
}


def _sorted(rows: list[Row], key: Callable[[Row], Any], descending: bool) -> list[Row]:
    keyed = [(key(r), r) for r in rows]
    present = [(k, r) for k, r in keyed if k is not None]
    missing = [r for k, r in keyed if k is None]
    present.sort(key=lambda kr: (kr[0], kr[1].created), reverse=descending)
    return [r for _, r in present] + missing
