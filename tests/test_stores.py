"""The two stores on their own: the owner's writes go through one lock per job, and the
requester's writes never touch a job that exists."""

from __future__ import annotations

import threading
import uuid
from functools import partial
from pathlib import Path

import pytest
from helpers import ALICE, OWNER

from syft_code_queue import lifecycle
from syft_code_queue.errors import InvalidTransitionError, JobNotFoundError, SubmissionError
from syft_code_queue.models import JobRef, JobRequest, JobStatus, utcnow
from syft_code_queue.protocol.manifest import build_manifest
from syft_code_queue.protocol.owner import OwnerStore, StateChange
from syft_code_queue.protocol.requester import RequesterStore
from syft_code_queue.syftbox import Workspace


def submit(root: Path, code: Path) -> JobRequest:
    store = RequesterStore(Workspace(ALICE, root), "code-queue")
    request = JobRequest(
        uid=uuid.uuid4().hex,
        name="job",
        requester_email=ALICE,
        target_email=OWNER,
        created_at=utcnow(),
        files=build_manifest(code),
    )
    store.write_submission(request, code)
    return request


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "run.sh").write_text("echo hi\n")
    return folder


def test_a_first_state_is_written_once(root: Path, code: Path) -> None:
    owner = OwnerStore(Workspace(OWNER, root), "code-queue")
    request = submit(root, code)
    ref = JobRef(ALICE, request.uid)
    first = owner.create(lifecycle.accept(ref, by=OWNER, manifest=request.manifest_sha256))
    again = owner.create(lifecycle.refuse(ref, by=OWNER, reason="too late"))
    assert again == first and owner.read_state(ref).status == JobStatus.pending


def test_of_two_threads_deciding_one_job_exactly_one_wins(root: Path, code: Path) -> None:
    owner = OwnerStore(Workspace(OWNER, root), "code-queue")
    request = submit(root, code)
    ref = JobRef(ALICE, request.uid)
    owner.create(lifecycle.accept(ref, by=OWNER, manifest=request.manifest_sha256))
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def decide(step: StateChange) -> None:
        start.wait()
        try:
            outcomes.append(owner.update(ref, step).status.value)
        except InvalidTransitionError:
            outcomes.append("refused")

    threads = [
        threading.Thread(target=decide, args=(partial(lifecycle.approve, by=OWNER),)),
        threading.Thread(target=decide, args=(partial(lifecycle.reject, by=OWNER, reason="no"),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) in (["approved", "refused"], ["refused", "rejected"])
    assert owner.read_state(ref).status.value in outcomes


def test_a_job_without_a_state_cannot_change(root: Path, code: Path) -> None:
    owner = OwnerStore(Workspace(OWNER, root), "code-queue")
    request = submit(root, code)
    with pytest.raises(InvalidTransitionError, match="not been accepted yet"):
        owner.update(JobRef(ALICE, request.uid), partial(lifecycle.approve, by=OWNER))


def test_the_requester_never_overwrites_a_submission(root: Path, code: Path) -> None:
    request = submit(root, code)
    store = RequesterStore(Workspace(ALICE, root), "code-queue")
    with pytest.raises(SubmissionError, match="already exists"):
        store.write_submission(request, code)
    assert store.find(request.uid)[1].uid == request.uid
    with pytest.raises(JobNotFoundError):
        store.find(uuid.uuid4().hex)
