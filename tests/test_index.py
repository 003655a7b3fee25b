"""The job index is exact: whatever is on disk now is what the next snapshot shows, with an
exact change feed and without one (stat checks)."""

from __future__ import annotations

import os
import shutil
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest
from helpers import ALICE, EVE, OWNER

import syft_code_queue as scq
from syft_code_queue import lifecycle
from syft_code_queue.listing import index as index_module
from syft_code_queue.listing.index import JobIndex
from syft_code_queue.models import JobRef, JobStatus
from syft_code_queue.protocol.owner import OwnerStore
from syft_code_queue.protocol.requester import RequesterStore
from syft_code_queue.syftbox import Workspace
from syft_code_queue.watch import InotifyFeed, inotify

MODES = ["inotify", "stat"] if inotify.available() else ["stat"]


@pytest.fixture(params=MODES)
def make_index(request: pytest.FixtureRequest, root: Path) -> Iterator[Callable[..., JobIndex]]:
    feeds: list[InotifyFeed] = []

    def make(requester: Optional[str] = None) -> JobIndex:
        feed = None
        if request.param == "inotify":
            feed = InotifyFeed()
            feeds.append(feed)
        return make_index_with(root, requester, feed)

    yield make
    for feed in feeds:
        feed.close()


def make_index_with(root: Path, requester: Optional[str], feed: Optional[InotifyFeed]) -> JobIndex:
    """An owner's index, or a requester's: each builds jobs the way its store does."""
    owner = OwnerStore(Workspace(OWNER, root), "code-queue")
    if requester is None:
        return JobIndex(owner.layout, owner.job_view, feed=feed)
    mine = RequesterStore(Workspace(requester, root), "code-queue")
    return JobIndex(owner.layout, partial(mine.job_view, owner.layout), requester=requester, feed=feed)


@pytest.fixture
def owner(root: Path) -> OwnerStore:
    store = OwnerStore(Workspace(OWNER, root), "code-queue")
    store.ensure_queue()
    return store


def submit(root: Path, make_code: Callable[..., Path], requester: str = ALICE, name: str = "job") -> scq.Job:
    client = scq.create_client(email=requester, data_dir=root)
    return client.submit_code(OWNER, make_code("echo hi"), name=name)


def statuses(index: JobIndex) -> dict[str, str]:
    return {entry.job.uid: entry.job.status.value for entry in index.snapshot().entries}


def test_new_changed_and_deleted_jobs_are_seen_by_the_next_call(
    make_index: Callable[..., JobIndex], owner: OwnerStore, root: Path, make_code: Callable[..., Path]
) -> None:
    index = make_index()
    assert statuses(index) == {}
    job = submit(root, make_code)
    assert statuses(index) == {job.uid: "pending"}
    owner.create(lifecycle.accept(JobRef(ALICE, job.uid), by=OWNER, manifest=job.request.manifest_sha256))
    owner.update(JobRef(ALICE, job.uid), partial(lifecycle.approve, by=OWNER))
    assert statuses(index) == {job.uid: "approved"}
    shutil.rmtree(owner.layout.job(JobRef(ALICE, job.uid)).submission)
    assert statuses(index) == {}


def test_a_rewrite_in_place_with_the_same_size_is_seen(
    make_index: Callable[..., JobIndex], root: Path, make_code: Callable[..., Path]
) -> None:
    job = submit(root, make_code, name="aaaa")
    index = make_index()
    assert index.snapshot().jobs[0].name == "aaaa"
    path = OwnerStore(Workspace(OWNER, root), "code-queue").layout.job(JobRef(ALICE, job.uid)).job_file
    before = os.stat(path)
    with open(path, "r+b") as fh:  # not atomic, as a sync client may write
        data = fh.read()
        fh.seek(0)
        fh.write(data.replace(b'"aaaa"', b'"bbbb"'))
    assert os.stat(path).st_size == before.st_size
    assert index.snapshot().jobs[0].name == "bbbb"


@pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")
def test_with_events_even_a_rewrite_that_restores_the_mtime_is_seen(root: Path, make_code: Callable[..., Path]) -> None:
    job = submit(root, make_code, name="aaaa")
    feed = InotifyFeed()
    try:
        index = make_index_with(root, None, feed)
        assert index.snapshot().jobs[0].name == "aaaa"
        path = index.layout.job(JobRef(ALICE, job.uid)).job_file
        before = os.stat(path)
        path.write_bytes(path.read_bytes().replace(b'"aaaa"', b'"bbbb"'))
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert index.snapshot().jobs[0].name == "bbbb"
    finally:
        feed.close()


def test_unchanged_files_are_not_parsed_again(
    make_index: Callable[..., JobIndex], root: Path, make_code: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(root, make_code)
    monkeypatch.setattr(index_module, "RACY_NS", -1)  # as if every file were old enough to trust
    index = make_index()
    first = index.snapshot()
    parsed: list[bytes] = []
    real = index_module.parse_request
    monkeypatch.setattr(index_module, "parse_request", lambda raw: parsed.append(raw) or real(raw))
    assert index.snapshot() is first
    assert parsed == []


def test_an_invalid_job_json_is_left_out_until_it_is_valid(
    make_index: Callable[..., JobIndex], root: Path, make_code: Callable[..., Path]
) -> None:
    job = submit(root, make_code)
    path = OwnerStore(Workspace(OWNER, root), "code-queue").layout.job(JobRef(ALICE, job.uid)).job_file
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # half synced
    index = make_index()
    assert statuses(index) == {}
    path.write_bytes(good)
    assert statuses(index) == {job.uid: "pending"}


def test_a_requester_index_sees_only_that_requesters_jobs(
    make_index: Callable[..., JobIndex], root: Path, make_code: Callable[..., Path]
) -> None:
    mine = submit(root, make_code, requester=ALICE)
    index = make_index(requester=ALICE)
    assert set(statuses(index)) == {mine.uid}
    submit(root, make_code, requester=EVE)
    assert set(statuses(index)) == {mine.uid}


def test_snapshot_changes_since_names_only_what_changed(
    make_index: Callable[..., JobIndex], owner: OwnerStore, root: Path, make_code: Callable[..., Path]
) -> None:
    first, second = submit(root, make_code, name="one"), submit(root, make_code, name="two")
    for job in (first, second):  # listed by when the owner accepted them, newest first
        owner.create(lifecycle.accept(JobRef(ALICE, job.uid), by=OWNER, manifest=job.request.manifest_sha256))
    index = make_index()
    before = index.snapshot()
    assert [job.uid for job in before.jobs] == [second.uid, first.uid]  # newest first
    owner.update(JobRef(ALICE, first.uid), partial(lifecycle.reject, by=OWNER, reason="no"))
    after = index.snapshot()
    delta = after.changes_since(before)
    assert [(row["uid"], row["status"]) for row in delta.changed] == [(first.uid, "rejected")]
    assert [job.uid for job in after.jobs] == [second.uid, first.uid]
    assert after.rows(1, 1)[0]["status"] == "rejected"
    assert delta.removed == []
    shutil.rmtree(owner.layout.job(JobRef(ALICE, second.uid)).submission)
    assert index.snapshot().changes_since(after).removed == [f"{ALICE}/{second.uid}"]
    assert index.snapshot().changes_since(index.snapshot()).changed == []


@pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")
def test_an_index_whose_feed_gave_up_still_sees_every_change(
    root: Path, owner: OwnerStore, make_code: Callable[..., Path]
) -> None:
    feed = InotifyFeed()
    try:
        index = make_index_with(root, None, feed)
        assert statuses(index) == {}
        feed.close()  # no more events: the index must fall back to checking the files
        job = submit(root, make_code)
        assert statuses(index) == {job.uid: "pending"}
    finally:
        feed.close()


def test_the_owner_index_keeps_an_unreadable_submission_that_has_a_state(
    make_index: Callable[..., JobIndex], owner: OwnerStore, root: Path, make_code: Callable[..., Path]
) -> None:
    job = submit(root, make_code)
    owner.create(lifecycle.refuse(JobRef(ALICE, job.uid), by=OWNER, reason="job.json is invalid"))
    owner.layout.job(JobRef(ALICE, job.uid)).job_file.write_text("{not json")
    index = make_index()
    [listed] = index.snapshot().jobs
    assert (listed.uid, listed.name, listed.status) == (job.uid, "(unreadable submission)", JobStatus.rejected)
    assert index.snapshot().jobs == [owner.load_job(JobRef(ALICE, job.uid))]


def test_the_requester_index_keeps_the_last_whole_state_and_shows_refused_uploads(
    make_index: Callable[..., JobIndex], owner: OwnerStore, root: Path, make_code: Callable[..., Path]
) -> None:
    job = submit(root, make_code)
    owner.create(lifecycle.accept(JobRef(ALICE, job.uid), by=OWNER, manifest=job.request.manifest_sha256))
    owner.update(JobRef(ALICE, job.uid), partial(lifecycle.approve, by=OWNER))
    index = make_index(requester=ALICE)
    assert statuses(index) == {job.uid: "approved"}
    state_file = owner.layout.job(JobRef(ALICE, job.uid)).state_file
    state_file.write_bytes(state_file.read_bytes()[:40])  # a newer state caught mid-sync
    assert statuses(index) == {job.uid: "approved"}
    refused = submit(root, make_code, name="refused")
    job_file = owner.layout.job(JobRef(ALICE, refused.uid)).job_file
    job_file.rename(job_file.with_name("job.syftrejected.json"))  # what the SyftBox client does
    assert statuses(index) == {job.uid: "approved", refused.uid: "rejected"}
