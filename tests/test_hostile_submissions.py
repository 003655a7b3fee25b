"""Hostile submissions, written straight into the owner's inbox as a modified client would:
each is refused (or contained) with a reason, and the queue keeps serving everyone else.

Every test names the class of hole it closes; each fails when its fix is reverted (the
docstrings say how).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest
from helpers import ALICE, EVE, OWNER, accepted, eventually, queue_layout, wait_for, write_submission

import syft_code_queue as scq
from syft_code_queue.models import JobRef

BOB = "bob@example.com"  # a colleague the owner trusts
WHO_RAN = b'echo "$SYFT_REQUESTER ran $(cat who.txt)" > "$SYFT_OUTPUT_DIR/who.txt"\n'


def _rejected(server: scq.CodeQueueServer, uid: str) -> str:
    job = server.get_job(accepted(server, uid))
    assert job.status == scq.JobStatus.rejected, job
    return job.error or ""


def _still_served(client: scq.CodeQueueClient, server: scq.CodeQueueServer, make_code) -> None:
    """Another requester's trivial job still runs to completion."""
    job = client.submit_code(OWNER, make_code("echo fine"), "innocent")
    server.approve_job(accepted(server, job.uid))
    assert client.wait_for_job(job.uid, timeout=30).status == scq.JobStatus.completed


def _who_ran(server: scq.CodeQueueServer, uid: str) -> str:
    job = wait_for(server, uid)
    assert job.status == scq.JobStatus.completed, job.error
    return (server.get_job_output(uid) / "who.txt").read_text().strip()


# --- 7-9: what the owner reviews is what runs ---------------------------------------------


def test_identity_rewritten_after_acceptance_is_never_shown_or_run(server, root):
    """Class: any field of job.json changed after acceptance (identity, name, manifest).
    Reverting ``OwnerStore.job_view`` to the inbox copy shows bob and the new name, and the
    run gets ``SYFT_REQUESTER=bob``."""
    uid = write_submission(root, ALICE, {"run.sh": WHO_RAN, "who.txt": b"alice's code"}, name="alice's job")
    accepted(server, uid)
    job_file = queue_layout(root).job(JobRef(ALICE, uid)).job_file
    forged = json.loads(job_file.read_text()) | {"requester_email": BOB, "name": "bob's trusted job"}
    job_file.write_text(json.dumps(forged))
    for shown in (server.get_job(uid), *server.list_jobs()):
        assert (shown.requester_email, shown.name) == (ALICE, "alice's job")
        assert shown.changed_after_acceptance
    server.approve_job(uid, manifest_sha256=server.get_job(uid).request.manifest_sha256)
    assert _who_ran(server, uid) == f"{ALICE} ran alice's code"


def test_code_swapped_while_the_owner_reads_it_never_runs(server, root):
    """Class: the inbox's code differing from the accepted bytes at any moment after
    acceptance (while shown, between approval and run). Reverting ``read_code_file`` or the
    workers' copy to the inbox shows or runs the evil version."""
    uid = write_submission(root, ALICE, {"run.sh": WHO_RAN, "who.txt": b"benign"})
    accepted(server, uid)
    inbox_file = queue_layout(root).job(JobRef(ALICE, uid)).code_dir / "who.txt"
    inbox_file.write_bytes(b"evil!!")  # same size: only the bytes differ
    shown = server.read_submitted_file(uid, "who.txt")
    assert shown.head == b"benign" and shown.changed_after_acceptance  # flagged, never shown
    assert not shown.matches_manifest
    server.approve_job(uid, manifest_sha256=server.get_job(uid).request.manifest_sha256)
    assert _who_ran(server, uid) == f"{ALICE} ran benign"


def test_a_uid_copied_by_another_requester_never_gets_approved_or_run(server_factory, root):
    """Class: two requesters' jobs under one uid. The later one is refused; after a restart a
    bare uid still means the accepted job, and ``REQUESTER/UID`` names either. Reverting the
    intake check leaves eve's copy pending, and ``find`` then picks by folder order."""
    server = server_factory().start()
    uid = write_submission(root, EVE if EVE > ALICE else ALICE, {"run.sh": WHO_RAN, "who.txt": b"victim"})
    victim = EVE if EVE > ALICE else ALICE
    attacker = ALICE if victim == EVE else EVE  # sorts first: a first-folder rule would pick it
    accepted(server, uid)
    write_submission(root, attacker, {"run.sh": WHO_RAN, "who.txt": b"attacker"}, folder_uid=uid)
    reason = eventually(
        lambda: (state := server.store.read_state(JobRef(attacker, uid))) is not None and state.error,
        what="the duplicate being refused",
    )
    assert "already another requester's job" in reason
    server.stop()
    restarted = server_factory().start()
    assert restarted.get_job(uid).requester_email == victim
    assert restarted.get_job(f"{attacker}/{uid}").status == scq.JobStatus.rejected
    restarted.approve_job(uid)
    assert _who_ran(restarted, f"{victim}/{uid}") == f"{victim} ran victim"


def test_a_bare_uid_that_two_requesters_hold_unaccepted_is_ambiguous(server_factory, root):
    """Neither was accepted yet: nothing tells them apart, so a bare uid is refused rather
    than guessed (reverting ``OwnerStore.find`` picks the first folder)."""
    server = server_factory()
    uid = write_submission(root, ALICE, {"run.sh": b"echo a"})
    write_submission(root, EVE, {"run.sh": b"echo e"}, folder_uid=uid)
    with pytest.raises(scq.AmbiguousJobError, match=f"{ALICE}/{uid}"):
        server.approve_job(uid)


# --- 2 and 5: one submission never stops the queue, and costs bounded work ------------------


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"files": [{"path": "run\x00.sh", "size": 1, "sha256": "0" * 64}]}, "control"),
        ({"files": [{"path": "a" * 300 + "/run.sh", "size": 1, "sha256": "0" * 64}]}, "longer than 255"),
        ({"files": [{"path": "a/" * 600 + "run.sh", "size": 1, "sha256": "0" * 64}]}, "longer than 1024"),
        ({"name": "\x1b]0;owned\x07"}, "control"),
        ({"tags": ["\u202etxt.exe"]}, "bidirectional"),
        ({"extra": "deep"}, "nested"),
    ],
    ids=["nul-in-path", "long-part", "long-path", "escape-in-name", "bidi-in-tag", "deep-nesting"],
)
def test_a_poison_job_json_is_refused_and_the_queue_serves_on(client, server, root, make_code, overrides, expected):
    """Class: job.json content that made every pass raise (a NUL in a path raised in
    ``os.stat`` on every pass, for ever). Reverting the bounds in ``models.FileEntry`` and
    ``protocol/bounds.py`` turns these into passes that raise, and the innocent job after
    them never completes."""
    if "extra" in overrides:  # written whole: json.dumps itself refuses to nest this deep
        uid = uuid.uuid4().hex
        paths = queue_layout(root).job(JobRef(ALICE, uid))
        paths.code_dir.mkdir(parents=True)
        (paths.code_dir / "run.sh").write_bytes(b"echo")
        entry = {"path": "run.sh", "size": 4, "sha256": hashlib.sha256(b"echo").hexdigest()}
        document = {"uid": uid, "name": "deep", "requester_email": ALICE, "target_email": OWNER}
        document |= {"created_at": "2026-01-01T00:00:00+00:00", "files": [entry]}
        paths.job_file.write_text(json.dumps(document)[:-1] + ', "extra": ' + "[" * 5000 + "]" * 5000 + "}")
    else:
        uid = write_submission(root, ALICE, {"run.sh": b"echo"}, **overrides)
    assert expected in _rejected(server, uid)
    _still_served(client, server, make_code)


def test_any_exception_handling_one_job_fails_that_job_only(client, server_factory, root, make_code):
    """Class: a bug anywhere in handling one submission (here the runner's check raises for
    one job). Without the per-job guard in ``CodeQueueServer._visit`` the exception ends
    every pass before later jobs, so the innocent job is never accepted."""
    server = server_factory()
    check = server.runner.check_code

    def fragile(code_dir: Path, job: scq.Job) -> list[str]:
        if job.name == "poison":
            raise RuntimeError("the checker tripped")
        return check(code_dir, job)

    server.runner.check_code = fragile  # type: ignore[method-assign]
    server.start()
    uid = write_submission(root, EVE, {"run.sh": b"echo"}, name="poison")
    reason = _rejected(server, uid)
    assert "could not be handled (RuntimeError: the checker tripped)" in reason
    _still_served(client, server, make_code)


@pytest.mark.parametrize(
    "limit, code, expected",
    [
        ({"max_request_bytes": 2_000}, {"run.sh": b"echo"}, "max_request_bytes"),
        ({"max_code_files": 3}, {"run.sh": b"echo", **{f"f{i}": b"x" for i in range(5)}}, "max_code_files"),
        ({"max_code_size": 100}, {"run.sh": b"echo", "big": b"x" * 200}, "max_code_size"),
        ({"max_script_bytes": 100}, {"run.sh": b"#" * 200 + b"\necho"}, "max_script_bytes"),
    ],
    ids=["request-bytes", "files", "code-size", "script"],
)
def test_what_a_requester_controls_is_bounded_by_the_queue(server_factory, root, limit, code, expected):
    """Class: unbounded requester input (a 90,000-entry manifest re-read every pass, a 2 MB
    script lexed on the serve thread). Without the ``QueueConfig`` limit the job is accepted."""
    server = server_factory(**limit).start()
    padding = {"description": "x" * 3_000} if "max_request_bytes" in limit else {}
    uid = write_submission(root, ALICE, code, **padding)
    assert expected in _rejected(server, uid)


def test_submissions_in_flight_per_requester_are_bounded(server_factory, root):
    """Class: a requester keeping many submissions "still arriving" (each one re-checked on
    every pass). The one past ``max_in_flight_per_requester`` is refused; removing the check
    leaves it waiting like the others."""
    server = server_factory(max_in_flight_per_requester=2, arrival_timeout=60)
    never_complete = [
        write_submission(root, EVE, {"run.sh": b"echo"}, prepare=lambda code: (code / "run.sh").unlink())
        for _ in range(3)
    ]
    server.process_once()
    states = [server.store.read_state(JobRef(EVE, uid)) for uid in never_complete]
    assert [state is None for state in states].count(True) == 2
    refused = next(state for state in states if state is not None)
    assert "max_in_flight_per_requester" in (refused.error or "")


# --- 4: special files in the inbox ----------------------------------------------------------


def test_a_fifo_in_the_inbox_is_refused_without_blocking_the_queue(client, server, root, make_code):
    """Class: anything but a regular file where a manifest names one, or as job.json (a FIFO
    blocked the serve thread in ``open()``). Reverting the ``lstat``/``O_NONBLOCK`` checks in
    ``protocol/manifest.py`` and ``protocol/bounds.py`` hangs the serve thread, so neither
    rejection nor the innocent job ever happens."""

    def plant(code: Path) -> None:
        (code / "empty").unlink()
        os.mkfifo(code / "empty")

    in_code = write_submission(root, EVE, {"run.sh": b"echo", "empty": b""}, prepare=plant)
    assert "not a regular file" in _rejected(server, in_code)
    as_request = JobRef(EVE, "f" * 32)
    paths = queue_layout(root).job(as_request)
    paths.code_dir.mkdir(parents=True)
    os.mkfifo(paths.job_file)
    assert "not a regular file" in _rejected(server, as_request.uid)
    _still_served(client, server, make_code)


# --- 6: times a requester typed -------------------------------------------------------------


def test_requester_typed_times_never_break_or_order_the_owners_views(client, server, root, make_code):
    """Class: ordering the owner's views by ``created_at``. A time without a zone broke every
    listing (naive against aware), and jobs dated in the future took the top of every page.
    Reverting ``aware`` raises in ``list_jobs``; reverting the sort key lists eve's first."""
    forged = [write_submission(root, EVE, {"run.sh": b"echo"}, created_at="2999-01-01T00:00:00") for _ in range(5)]
    for uid in forged:
        accepted(server, uid)
    victim = client.submit_code(OWNER, make_code("echo hi"), "victim")
    accepted(server, victim.uid)
    assert [job.uid for job in server.list_jobs(limit=1)] == [victim.uid]
    assert server.get_job(forged[0]).created_at.tzinfo is not None


# --- 12 and 13: results the requester can always receive ------------------------------------


def test_outputs_a_manifest_cannot_name_are_withheld_and_the_logs_still_return(client, server, make_code):
    """Class: output names a results manifest refuses (a backslash, a control character).
    ``a\\b.txt`` failed the whole job with a validation error and no logs; without
    ``_valid_name`` in ``publish_results`` it still does."""
    job = client.submit_code(
        OWNER,
        make_code("""
            echo visible > "$SYFT_OUTPUT_DIR/ok.txt"
            echo x > "$SYFT_OUTPUT_DIR/a\\\\b.txt"
            echo y > "$SYFT_OUTPUT_DIR/$(printf 'c\\033d')"
            echo done
        """),
        "odd names",
    )
    server.approve_job(accepted(server, job.uid))
    done = client.wait_for_job(job.uid, timeout=30)
    assert done.status == scq.JobStatus.completed, done.error
    assert [entry.path for entry in done.state.result.outputs] == ["ok.txt"]
    logs = client.get_job_logs(job.uid)
    assert logs.startswith("done\n") and "'a\\\\b.txt'" in logs and "outputs not returned" in logs


def test_outputs_past_max_output_files_are_withheld_and_state_stays_small(client, server_factory, make_code):
    """Class: results whose manifest makes ``state.json`` too large to sync (35,000 outputs
    made 12 MB). Without ``max_output_files`` all 50 are listed in the state."""
    server = server_factory(max_output_files=5).start()
    job = client.submit_code(
        OWNER, make_code('for i in $(seq 50); do echo $i > "$SYFT_OUTPUT_DIR/$i.txt"; done'), "many"
    )
    server.approve_job(accepted(server, job.uid))
    done = client.wait_for_job(job.uid, timeout=30)
    assert done.status == scq.JobStatus.completed, done.error
    assert len(done.state.result.outputs) == 5
    assert "max_output_files" in client.get_job_logs(job.uid)


def test_held_results_keep_the_same_output_limits(client, server_factory, make_code):
    """Classes 12 and 13 when the owner releases the results: what is held is what could be
    released, so the same names and the same ``max_output_files`` are withheld, and named in
    the held logs. Without ``_returned`` in ``hold_results`` all 8 outputs are held, and the
    release fails on the name no manifest can carry."""
    server = server_factory(max_output_files=5, release_policy="manual").start()
    job = client.submit_code(
        OWNER,
        make_code("""
            for i in $(seq 7); do echo $i > "$SYFT_OUTPUT_DIR/$i.txt"; done
            echo x > "$SYFT_OUTPUT_DIR/a\\\\b.txt"
            echo done
        """),
        "held limits",
    )
    server.approve_job(accepted(server, job.uid))
    eventually(lambda: client.get_job(job.uid).status == scq.JobStatus.awaiting_release, 30, "the run, held")
    held = server.get_held_outputs(job.uid)
    assert len(held.files) == 5 and all(f.path.endswith(".txt") and "\\" not in f.path for f in held.files)
    assert "'a\\\\b.txt'" in held.logs and "max_output_files" in held.logs
    server.release_job(job.uid, reason="counts only")
    done = client.wait_for_job(job.uid, timeout=30)
    assert done.status == scq.JobStatus.completed, done.error
    assert len(done.release.files) == 5
