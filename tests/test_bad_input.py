"""Bad input gets a clear error (or a recorded rejection), loses nothing, and the server
keeps serving."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest
from helpers import ALICE, OWNER, accepted, queue_layout, wait_accepted, write_submission

import syft_code_queue as scq
from syft_code_queue.models import JobRef

# --- the requester's mistakes: refused before anything is written ----------------------


def test_submit_refuses_bad_folders_with_clear_errors(client, tmp_path, make_code, root):
    with pytest.raises(FileNotFoundError, match="code folder not found"):
        client.submit_code(OWNER, tmp_path / "nope", "x")
    a_file = tmp_path / "file.txt"
    a_file.write_text("hi")
    with pytest.raises(NotADirectoryError, match="must be a folder"):
        client.submit_code(OWNER, a_file, "x")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="run.sh"):
        client.submit_code(OWNER, empty, "x")
    with pytest.raises(ValueError, match="name"):
        client.submit_code(OWNER, make_code("echo"), "   ")
    with pytest.raises(ValueError, match="email"):
        client.submit_code("not-an-email", make_code("echo"), "x")
    assert not (root / "datasites").exists() or client.list_jobs() == []


def test_submit_refuses_symlinks_that_could_escape(client, make_code, tmp_path):
    code = make_code("cat secret")
    (tmp_path / "outside.txt").write_text("owner secret")
    os.symlink(tmp_path / "outside.txt", code / "secret")
    with pytest.raises(ValueError, match="symlinks are not allowed"):
        client.submit_code(OWNER, code, "escape")
    (code / "secret").unlink()
    os.symlink(tmp_path, code / "dir-link")
    with pytest.raises(ValueError, match="symlinks are not allowed"):
        client.submit_code(OWNER, code, "escape")


def test_code_folder_may_be_a_str_and_tags_are_kept(client, make_code):
    job = client.submit_code(OWNER, str(make_code("echo")), "str path", tags=["a", "b"])
    assert client.get_job(job.uid).tags == ["a", "b"]


def test_unknown_uids_are_clear_errors(client, server):
    unknown = uuid.uuid4().hex
    with pytest.raises(scq.JobNotFoundError):
        client.get_job(unknown)
    with pytest.raises(scq.JobNotFoundError):
        client.get_job("../../etc/passwd")
    with pytest.raises(scq.JobNotFoundError):
        server.approve_job(unknown)
    with pytest.raises(scq.JobNotFoundError):
        server.reject_job(unknown, reason="x")


def test_only_pending_jobs_can_be_approved_and_finished_jobs_not_cancelled(client, server, make_code):
    job = client.submit_code(OWNER, make_code("echo done"), "once")
    server.approve_job(accepted(server, job.uid))
    with pytest.raises(scq.InvalidTransitionError, match="only pending jobs"):
        server.approve_job(job.uid)
    client.wait_for_job(job.uid, timeout=30)
    with pytest.raises(scq.InvalidTransitionError, match="completed"):
        server.approve_job(job.uid)
    with pytest.raises(scq.InvalidTransitionError, match="already completed"):
        client.cancel_job(job.uid)
    with pytest.raises(scq.InvalidTransitionError):
        server.reject_job(job.uid, reason="too late")
    with pytest.raises(ValueError, match="reason is required"):
        server.reject_job(job.uid, reason=" ")


def test_approval_pins_the_reviewed_manifest(client, server, make_code):
    job = client.submit_code(OWNER, make_code("echo hi"), "pinned")
    accepted(server, job.uid)
    with pytest.raises(scq.InvalidTransitionError, match="not the code that was reviewed"):
        server.approve_job(job.uid, manifest_sha256="0" * 64)
    server.approve_job(job.uid, manifest_sha256=job.request.manifest_sha256)


# --- hostile or broken submissions: rejected with a reason --------------------------------


def _rejection(server: scq.CodeQueueServer, uid: str) -> str:
    job = server.get_job(accepted(server, uid))
    assert job.status == scq.JobStatus.rejected
    return job.error


def test_job_json_with_wrong_types_is_rejected(server, root):
    uid = write_submission(root, ALICE, {"run.sh": b"echo hi"}, tags="not-a-list")
    assert "job.json is invalid" in _rejection(server, uid)


def test_job_json_claiming_another_requester_is_rejected(server, root):
    uid = write_submission(root, ALICE, {"run.sh": b"echo hi"}, requester_email="boss@example.com")
    assert "claims requester 'boss@example.com' but was submitted by 'alice@example.com'" in _rejection(server, uid)


def test_manifest_paths_escaping_the_folder_are_rejected(server, root):
    escaping = {"path": "../../../etc/passwd", "size": 1, "sha256": "0" * 64}
    data = b"echo hi"
    uid = write_submission(
        root,
        ALICE,
        {"run.sh": data},
        files=[{"path": "run.sh", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}, escaping],
    )
    assert "must be relative and stay inside the folder" in _rejection(server, uid)


def test_symlink_planted_in_the_inbox_is_rejected(server, root, tmp_path):
    (tmp_path / "secret").write_bytes(b"abc")

    def plant(code_dir: Path) -> None:
        (code_dir / "data.txt").unlink()
        os.symlink(tmp_path / "secret", code_dir / "data.txt")

    uid = write_submission(root, ALICE, {"run.sh": b"echo hi", "data.txt": b"abc"}, prepare=plant)
    assert "symlink" in _rejection(server, uid)


def test_symlinked_folder_planted_in_the_inbox_is_rejected(server, root, tmp_path):
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "secret.txt").write_bytes(b"abc")

    def plant(code_dir: Path) -> None:
        (code_dir / "sub" / "secret.txt").unlink()
        (code_dir / "sub").rmdir()
        os.symlink(tmp_path / "private", code_dir / "sub")

    uid = write_submission(root, ALICE, {"run.sh": b"echo hi", "sub/secret.txt": b"abc"}, prepare=plant)
    assert "sub/secret.txt goes through a symlink" in _rejection(server, uid)


def test_file_larger_than_its_manifest_entry_is_corrupt(server, root):
    uid = write_submission(
        root, ALICE, {"run.sh": b"echo hi"}, prepare=lambda code: (code / "run.sh").write_bytes(b"echo hi; rm -rf ~")
    )
    assert "corrupt" in _rejection(server, uid)


def test_submission_still_arriving_waits_then_is_accepted(server_factory, root):
    server = server_factory(arrival_timeout=30).start()
    uid = write_submission(
        root,
        ALICE,
        {"run.sh": b"echo hi", "big.bin": b"x" * 1000},
        prepare=lambda code: (code / "big.bin").write_bytes(b"x" * 10),
    )  # partial sync
    big = queue_layout(root).job(JobRef(ALICE, uid)).code_dir / "big.bin"
    server.process_once()
    assert server.get_job(uid).state is None  # waiting, not rejected
    big.write_bytes(b"x" * 1000)  # the rest arrives
    assert server.get_job(accepted(server, uid)).status == scq.JobStatus.pending


def test_submission_that_never_completes_is_rejected_after_the_arrival_timeout(server_factory, root):
    server = server_factory(arrival_timeout=0.3, rescan_interval=0.1).start()
    uid = write_submission(
        root, ALICE, {"run.sh": b"echo hi", "big.bin": b"x" * 1000}, prepare=lambda code: (code / "big.bin").unlink()
    )
    reason = _rejection(server, uid)
    assert reason.startswith("submission incomplete after 0.3 s") and "big.bin" in reason


def test_job_json_that_is_not_json_is_rejected_after_the_arrival_timeout(server_factory, root):
    server = server_factory(arrival_timeout=0.3, rescan_interval=0.1).start()
    uid = uuid.uuid4().hex
    job_file = queue_layout(root).job(JobRef(ALICE, uid)).job_file
    job_file.parent.mkdir(parents=True)
    job_file.write_text('{"uid": "trunc')
    reason = _rejection(server, uid)
    assert "job.json is not complete JSON" in reason


def test_server_keeps_serving_after_bad_input(client, server_factory, root, make_code):
    server = server_factory(auto_approval_enabled=True, arrival_timeout=0.2, rescan_interval=0.1).start()
    bad = [
        write_submission(root, ALICE, {"run.sh": b"echo"}, tags=5),
        write_submission(root, ALICE, {"run.sh": b"echo"}, requester_email=OWNER),
        write_submission(root, ALICE, {"run.sh": b"echo"}, uid="f" * 32),
    ]
    junk = queue_layout(root).inbox / ALICE / "not-a-uid"
    junk.mkdir(parents=True)
    (queue_layout(root).inbox / "not-an-email").mkdir()
    good = client.submit_code(OWNER, make_code("echo fine"), "good", auto_approval=True)
    assert client.wait_for_job(good.uid, timeout=30).status == scq.JobStatus.completed
    for uid in bad:
        assert server.get_job(accepted(server, uid)).status == scq.JobStatus.rejected
    assert server.is_running
    assert junk.exists()  # nothing the owner does not understand is deleted


def test_submission_changed_after_approval_does_not_run(client, server, make_code, root):
    job = client.submit_code(OWNER, make_code("sleep 0.5\necho approved"), "swap")
    # a second job occupies nothing; we edit the code between approval and run by
    # approving while the server cannot run yet: stop dispatch by holding the code file
    server.stop()
    stopped = scq.create_server(email=OWNER, data_dir=root)
    stopped.store.ensure_queue()
    stopped.process_once()
    wait_accepted(client, job.uid)
    stopped.approve_job(job.uid)
    (queue_layout(root).job(JobRef(ALICE, job.uid)).code_dir / "run.sh").write_text("#!/bin/bash\necho evil!!\n")
    running = scq.create_server(email=OWNER, data_dir=root).start()
    try:
        job = client.wait_for_job(job.uid, timeout=30)
    finally:
        running.stop()
    assert job.status == scq.JobStatus.completed  # what runs is the owner's copy of what was approved
    assert client.get_job_logs(job.uid) == "approved\n"
