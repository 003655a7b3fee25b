"""Event-driven pick-up: the server and the requester's wait react to file-system events,
not to the periodic rescan (set to an hour here, so only events can move a job along)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Callable

import pytest
from helpers import ALICE, OWNER, eventually

import syft_code_queue as scq
from syft_code_queue import lifecycle
from syft_code_queue.governance import notify
from syft_code_queue.models import JobRef, JobStatus
from syft_code_queue.watch import WatchdogFeed, inotify

needs_events = pytest.mark.skipif(not inotify.available(), reason="exact events need inotify (Linux)")
HOUR = 3600


@needs_events
def test_a_submission_is_picked_up_and_awaited_by_events_alone(
    server_factory: Callable[..., scq.CodeQueueServer], client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    server = server_factory(auto_approval_enabled=True, rescan_interval=HOUR).start()
    job = client.submit_code(OWNER, make_code('echo hi > "$SYFT_OUTPUT_DIR/out.txt"'), name="j", auto_approval=True)
    done = client.wait_for_job(job.uid, timeout=60, poll_interval=HOUR)
    assert done.status == JobStatus.completed
    assert [t.status for t in done.history] == [
        JobStatus.pending,
        JobStatus.approved,
        JobStatus.running,
        JobStatus.completed,
    ]
    assert (client.get_job_output(job.uid) / "out.txt").read_text() == "hi\n"  # type: ignore[operator]
    assert server.list_jobs()[0].status == JobStatus.completed


@needs_events
def test_an_approval_from_another_owner_process_is_picked_up(
    server_factory: Callable[..., scq.CodeQueueServer],
    client: scq.CodeQueueClient,
    make_code: Callable[..., Path],
    root: Path,
) -> None:
    server = server_factory(rescan_interval=HOUR)
    accepted = threading.Event()
    server.subscribe(lambda uid: accepted.set())
    server.start()
    job = client.submit_code(OWNER, make_code("echo hi"), name="j")
    assert accepted.wait(60)
    assert client.get_job(job.uid).status == JobStatus.pending
    cli = scq.CodeQueueServer(email=OWNER, data_dir=root)  # what `scq approve` builds: never started
    cli.approve_job(job.uid)
    done = client.wait_for_job(job.uid, timeout=60, poll_interval=HOUR)
    assert done.status == JobStatus.completed
    # the server's next step built on the other process's version, not on the one it wrote
    assert [t.status for t in done.history] == ["pending", "approved", "running", "completed"]


def test_server_listing_follows_the_files(
    server_factory: Callable[..., scq.CodeQueueServer], client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    server = server_factory()
    first = client.submit_code(OWNER, make_code("echo 1"), name="first")
    assert [j.uid for j in server.list_jobs()] == [first.uid]
    second = client.submit_code(OWNER, make_code("echo 2"), name="second")
    assert [j.uid for j in server.list_jobs()] == [second.uid, first.uid]
    assert [j.uid for j in server.list_jobs(requester_email=ALICE, limit=1)] == [second.uid]
    assert server.list_jobs(requester_email="nobody@example.com") == []
    shutil.rmtree(server.store.layout.job(JobRef(ALICE, first.uid)).submission)
    assert [j.uid for j in server.list_jobs()] == [second.uid]
    assert [j.uid for j in client.list_jobs()] == [second.uid]
    assert server.snapshot().version == server.snapshot().version


def test_client_snapshot_versions_change_only_with_the_files(
    server_factory: Callable[..., scq.CodeQueueServer], client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    server = server_factory()
    job = client.submit_code(OWNER, make_code("echo 1"), name="j")
    before = client.snapshot()
    assert client.snapshot() is before
    server.store.create(lifecycle.refuse(JobRef(ALICE, job.uid), by=OWNER, reason="no"))
    after = client.snapshot()
    assert after.version != before.version
    assert [row["status"] for row in after.changes_since(before).changed] == ["rejected"]


def test_client_snapshot_merges_owners_newest_first(
    root: Path, client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    other = "other-owner@example.com"
    first = client.submit_code(OWNER, make_code("echo 1"), name="first")
    second = client.submit_code(other, make_code("echo 2"), name="second")
    before = client.snapshot()
    assert [job.uid for job in before.jobs] == [second.uid, first.uid]
    assert [job.uid for job in client.list_jobs(target_email=other)] == [second.uid]
    other_store = scq.CodeQueueServer(email=other, data_dir=root).store
    other_store.create(lifecycle.refuse(JobRef(ALICE, second.uid), by=other, reason="no"))
    delta = client.snapshot().changes_since(before)
    assert [(row["uid"], row["status"]) for row in delta.changed] == [(second.uid, "rejected")]


def test_the_watchdog_feed_wakes_listeners_but_never_claims_exactness(tmp_path: Path) -> None:
    feed = WatchdogFeed()  # what systems without inotify get
    feed.watch(tmp_path)
    target = str(tmp_path / "state.json")
    seen = threading.Event()
    feed.subscribe(lambda changes: seen.set() if changes and target in changes else None)
    with feed.running():
        (tmp_path / "state.json").write_text("{}")
        assert seen.wait(30)
    assert not feed.exact


class Told:
    """A ``client.subscribe`` listener that reads each job it is told about, as a table does."""

    def __init__(self, client: scq.CodeQueueClient) -> None:
        self.client = client
        self.lock = threading.Lock()
        self.seen: dict[str, JobStatus] = {}

    def __call__(self, uid: str) -> None:
        job = self.client.get_job(uid)
        with self.lock:
            self.seen[uid] = job.status

    def statuses(self) -> dict[str, JobStatus]:
        with self.lock:
            return dict(self.seen)


@needs_events
def test_a_requester_is_told_of_every_change_to_their_jobs_by_events_alone(
    client: scq.CodeQueueClient,
    server_factory: Callable[..., scq.CodeQueueServer],
    make_code: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """40 jobs move through the queue at once, to an owner the requester had sent nothing to
    before it subscribed; the listener, reading each job it is told about, ends with every
    one completed. The watcher's safety resync is an hour here, so only events can tell it
    (the first submission must start the watch of the new owner's queue)."""
    monkeypatch.setattr(notify, "RESYNC_SECONDS", HOUR)
    server_factory(auto_approval_enabled=True, rescan_interval=HOUR).start()
    told = Told(client)
    unsubscribe = client.subscribe(told)
    try:
        uids = [client.submit_code(OWNER, make_code("echo hi"), f"job{i}", auto_approval=True).uid for i in range(40)]
        done = {uid: JobStatus.completed for uid in uids}
        eventually(lambda: told.statuses() == done, timeout=90, what="the listener seeing all 40 jobs completed")
    finally:
        unsubscribe()
