"""One query for every listing: filters, the search, the per-status counts, sorting with unset
values last, pages that never run past the end, and the owner's side sorting by the owner's
own acceptance time rather than a time the requester typed."""

from __future__ import annotations

from datetime import timedelta
from typing import Optional

import pytest
from pydantic import ValidationError

from syft_code_queue.listing.query import JobQuery, Rows
from syft_code_queue.listing.snapshot import Entry, Snapshot, next_version
from syft_code_queue.models import FileEntry, Job, JobRef, JobRequest, JobState, JobStatus, Transition, utcnow

T0 = utcnow()


def job(
    uid: str,
    minutes: int,
    status: JobStatus = JobStatus.pending,
    requester: str = "alice@example.com",
    tags: tuple[str, ...] = (),
    accepted: Optional[int] = None,
    started: Optional[int] = None,
) -> Job:
    request = JobRequest(
        uid=uid * 32,
        name=f"job {uid}",
        requester_email=requester,
        target_email="owner@example.com",
        created_at=T0 + timedelta(minutes=minutes),
        tags=list(tags),
        files=[FileEntry(path="run.sh", size=1, sha256="0" * 64)],
    )
    at = T0 + timedelta(minutes=accepted if accepted is not None else minutes)
    history = [Transition(status=JobStatus.pending, at=at, by="owner@example.com")]
    if started is not None:
        history.append(Transition(status=JobStatus.running, at=T0 + timedelta(minutes=started), by="owner@example.com"))
    if status not in (JobStatus.pending, JobStatus.running):
        history.append(Transition(status=status, at=history[-1].at + timedelta(seconds=1), by="owner@example.com"))
    state = JobState(uid=uid * 32, requester_email=requester, status=status, history=tuple(history))
    return Job(request=request, state=state)


JOBS = [
    job("a", 1, JobStatus.completed, tags=("census",), started=1),
    job("b", 2, JobStatus.pending, requester="bob@example.com"),
    job("c", 3, JobStatus.failed, tags=("census", "draft"), started=4),
    job("d", 4, JobStatus.pending),
]


def names(query: JobQuery, jobs: list[Job] = JOBS) -> list[str]:
    return [j.name[-1] for j in query.page(jobs).jobs]


def test_filters_combine_and_the_search_looks_at_name_uid_people_status_and_tags() -> None:
    assert names(JobQuery()) == ["d", "c", "b", "a"]
    assert names(JobQuery(statuses=(JobStatus.pending,))) == ["d", "b"]
    assert names(JobQuery(requester="bob@example.com")) == ["b"]
    assert names(JobQuery(tag="census")) == ["c", "a"]
    assert names(JobQuery(tag="census", statuses=(JobStatus.failed,))) == ["c"]
    assert names(JobQuery(search="DRAFT")) == ["c"]
    assert names(JobQuery(search="bob@")) == ["b"]
    assert names(JobQuery(search="failed")) == ["c"]
    assert names(JobQuery(search="b" * 10)) == ["b"]


def test_counts_are_per_status_of_the_search_before_the_status_filter() -> None:
    page = JobQuery(search="job", statuses=(JobStatus.failed,)).page(JOBS)
    assert page.counts == {"completed": 1, "pending": 2, "failed": 1}
    assert page.total == 1


def test_jobs_without_a_sort_value_come_last_in_both_directions() -> None:
    assert names(JobQuery(sort="started", descending=True)) == ["c", "a", "b", "d"]
    assert names(JobQuery(sort="started", descending=False)) == ["a", "c", "b", "d"]
    assert names(JobQuery(sort="name", descending=False)) == ["a", "b", "c", "d"]
    assert names(JobQuery(sort="status", descending=False)) == ["b", "d", "a", "c"]  # ties: oldest first
    urgent_first = (JobStatus.failed, JobStatus.pending, JobStatus.completed)
    assert names(JobQuery(sort="status", descending=False, statuses=urgent_first)) == ["c", "b", "d", "a"]


def test_a_page_past_the_end_is_the_last_page() -> None:
    page = JobQuery(offset=10, limit=3).page(JOBS)
    assert (page.offset, [j.name[-1] for j in page.jobs], page.total) == (3, ["a"], 4)
    assert JobQuery(limit=0).page(JOBS).jobs == []
    assert JobQuery(offset=5).page([]).jobs == []


def test_the_owner_sorts_by_its_own_acceptance_time_not_the_requesters_typed_time() -> None:
    early_typed = job("e", -10_000, accepted=10)  # typed far in the past, accepted last
    jobs = [*JOBS, early_typed]
    assert names(JobQuery(), jobs)[-1] == "e"
    assert names(JobQuery(), jobs) != [j.name[-1] for j in JobQuery().page(jobs, Rows(by_acceptance=True)).jobs]
    assert [j.name[-1] for j in JobQuery().page(jobs, Rows(by_acceptance=True)).jobs][0] == "e"


def test_a_snapshot_pages_with_the_same_query_in_its_own_order() -> None:
    entries = [Entry(JobRef(j.requester_email, j.uid), next_version(), j, True) for j in JOBS]
    snapshot = Snapshot.build(next_version(), entries)
    assert [j.name[-1] for j in snapshot.page(JobQuery(limit=2)).jobs] == ["d", "c"]
    assert [j.name[-1] for j in snapshot.page(JobQuery(sort="name", descending=False)).jobs] == ["a", "b", "c", "d"]


def test_a_flattened_job_is_kept_while_its_version_is_the_same() -> None:
    rows = Rows()
    first = rows.flatten(JOBS)
    again = rows.flatten(JOBS)
    assert all(a is b for a, b in zip(first, again, strict=True))
    changed = [*JOBS[:3], job("d", 4, JobStatus.approved)]
    assert rows.flatten(changed)[3] is not first[3]


def test_bad_queries_are_refused() -> None:
    with pytest.raises(ValidationError):
        JobQuery(sort="size")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        JobQuery(offset=-1)
    with pytest.raises(ValidationError):
        JobQuery(statuses=("done",))  # type: ignore[arg-type]
