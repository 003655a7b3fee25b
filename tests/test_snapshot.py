"""Snapshots on their own: newest first, versioned, and a delta that names only what changed."""

from __future__ import annotations

from datetime import timedelta

from syft_code_queue.listing.snapshot import Entry, Snapshot, next_version
from syft_code_queue.models import FileEntry, Job, JobRef, JobRequest, JobState, JobStatus, Transition, utcnow

T0 = utcnow()


def job(uid: str, minutes: int, status: JobStatus = JobStatus.pending) -> Job:
    request = JobRequest(
        uid=uid,
        name=f"job {uid[:4]}",
        requester_email="alice@example.com",
        target_email="owner@example.com",
        created_at=T0 + timedelta(minutes=minutes),
        files=[FileEntry(path="run.sh", size=1, sha256="0" * 64)],
    )
    state = JobState(
        uid=uid,
        requester_email="alice@example.com",
        status=status,
        history=(Transition(status=status, at=T0, by="owner@example.com"),),
    )
    return Job(request=request, state=state)


def entry(uid: str, minutes: int, status: JobStatus = JobStatus.pending) -> Entry:
    return Entry(JobRef("alice@example.com", uid), next_version(), job(uid, minutes, status))


def test_jobs_are_listed_newest_first_with_their_key_as_a_string() -> None:
    snapshot = Snapshot.build(next_version(), [entry("a" * 32, 1), entry("b" * 32, 3), entry("c" * 32, 2)])
    assert [j.uid[0] for j in snapshot.jobs] == ["b", "c", "a"]
    assert snapshot.rows(0, 1)[0]["key"] == f"alice@example.com/{'b' * 32}"
    assert len(snapshot) == 3


def test_a_delta_carries_only_changed_rows_and_removed_keys() -> None:
    first, second = entry("a" * 32, 1), entry("b" * 32, 2)
    before = Snapshot.build(next_version(), [first, second])
    assert before.changes_since(before).changed == []
    moved = Entry(first.key, next_version(), job("a" * 32, 1, JobStatus.approved))
    after = before.replaced(next_version(), [moved])
    delta = after.changes_since(before)
    assert [(row["uid"], row["status"]) for row in delta.changed] == [("a" * 32, "approved")]
    assert delta.removed == []
    fewer = Snapshot.build(next_version(), [moved])
    assert fewer.changes_since(after).removed == [str(second.key)]
    assert after.changes_since(None).to_json()["since"] is None
