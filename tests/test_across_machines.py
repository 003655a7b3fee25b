"""The whole story across machines: requester, owner and an outsider on separate SyftBox
roots, with the sync simulator (and its hazards) as the only link between them."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Callable, Iterator

import pytest
from syncsim import Hazards
from syncworld import ALICE, EVE, OWNER, World, code_digest

from syft_code_queue import CodeRunner, JobStatus
from syft_code_queue.models import JobRef


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path / "net", hazards=Hazards.all(), seed=7)
    yield w
    w.close()


@pytest.fixture
def code(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(100_000))

    def make(body: str = "echo hi", extra: dict[str, str] | None = None) -> Path:
        folder = tmp_path / "work" / f"code{next(counter)}"
        folder.mkdir(parents=True)
        (folder / "run.sh").write_text("#!/bin/bash\n" + textwrap.dedent(body).lstrip("\n"))
        (folder / "run.sh").chmod(0o755)
        for rel, text in (extra or {}).items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
        return folder

    return make


def test_submit_approve_run_and_results_cross_the_network(world: World, code: Callable[..., Path]) -> None:
    server = world.server()
    alice = world.client(ALICE)
    folder = code("python3 analysis.py\n", {"analysis.py": "print(42)\n" * 500, "data/in.csv": "a,b\n1,2\n"})
    job = alice.submit_code(OWNER, folder, name="analysis")

    pending = world.until("the owner to accept it", lambda: world.owner_view(server, job.uid))
    assert pending.status == JobStatus.pending
    owner_copy = (
        world.roots[OWNER]
        / "datasites"
        / OWNER
        / "app_data"
        / "code-queue"
        / "inbox"
        / ALICE
        / job.uid
        / "code"
        / "run.sh"
    )
    assert not os.access(owner_copy, os.X_OK)  # the exec bit did not travel; the job still runs
    assert alice.get_job(job.uid).status == JobStatus.pending or world.until(
        "alice to see pending", lambda: alice.get_job(job.uid).status == JobStatus.pending
    )

    server.approve_job(job.uid, reason="fine")
    # Outputs and logs sync independently (delays, reordering): wait for both.
    done = world.until(
        "alice to have the results", lambda: alice.get_job_logs(job.uid) and alice.get_job_output(job.uid)
    )
    finished = alice.get_job(job.uid)
    assert finished.status == JobStatus.completed
    assert (done / "digest.txt").read_text().strip() == code_digest(folder)
    assert alice.get_job_logs(job.uid) == "ran analysis\n"
    assert [t.status for t in finished.history] == [
        JobStatus.pending,
        JobStatus.approved,
        JobStatus.running,
        JobStatus.completed,
    ]
    assert not any("review" in path or "inbox" in path for path in world.files_of(EVE))
    assert world.sim.stats.conflicts == []


def test_owner_rejects_and_requester_sees_the_reason(world: World, code: Callable[..., Path]) -> None:
    server = world.server()
    alice = world.client(ALICE)
    job = alice.submit_code(OWNER, code(), name="needs review")
    world.until("the owner to accept it", lambda: world.owner_view(server, job.uid))
    server.reject_job(job.uid, reason="uses the raw table")
    seen = world.until("alice to see the rejection", lambda: (j := alice.get_job(job.uid)).is_terminal and j)
    assert seen.status == JobStatus.rejected
    assert seen.error == "uses the raw table"
    assert alice.get_job_output(job.uid) is None and alice.get_job_logs(job.uid) is None
    assert alice.wait_for_job(job.uid, timeout=0).status == JobStatus.rejected


def test_requester_cancels_before_approval_and_while_running(world: World, code: Callable[..., Path]) -> None:
    server = world.server()
    alice = world.client(ALICE)
    waiting = alice.submit_code(OWNER, code(), name="waits for review")
    running = alice.submit_code(OWNER, code("#wait\n"), name="long", auto_approval=True)
    world.until(
        "the owner to accept both",
        lambda: world.owner_view(server, waiting.uid) and world.owner_view(server, running.uid),
    )
    world.until("alice to see it running", lambda: alice.get_job(running.uid).status == JobStatus.running)
    alice.cancel_job(waiting.uid, reason="wrong dataset")
    alice.cancel_job(running.uid, reason="too slow")
    for uid, reason in ((waiting.uid, "wrong dataset"), (running.uid, "too slow")):
        job = world.until("alice to see the cancellation", lambda uid=uid: (j := alice.get_job(uid)).is_terminal and j)
        assert job.status == JobStatus.cancelled, job.history
        assert job.error == reason
    assert world.runner.started == [running.uid]  # the cancelled-while-pending job never ran


def test_failed_job_returns_its_logs(world: World, code: Callable[..., Path]) -> None:
    server = world.server()
    alice = world.client(ALICE)
    job = alice.submit_code(OWNER, code("#fail\n"), name="breaks", auto_approval=True)
    world.until("the results", lambda: alice.get_job_logs(job.uid))
    done = alice.get_job(job.uid)
    assert done.status == JobStatus.failed and done.exit_code == 3
    assert "exited with code 3" in (done.error or "")
    assert server.get_job(job.uid).status == JobStatus.failed


def test_a_submission_still_arriving_waits_and_is_then_accepted(tmp_path: Path, code: Callable[..., Path]) -> None:
    world = World(tmp_path / "net", hazards=Hazards(reorder=True, partial=1.0), seed=3)
    server = world.server(start=False)
    alice = world.client(ALICE)
    job = alice.submit_code(OWNER, code(extra={"data/big.csv": "x,y\n" * 5000, "lib.py": "A = 1\n"}), name="big")
    world.sim.hold(r"/data/big\.csv$")
    for _ in range(20):  # every other file arrives, a prefix first; the server looks each round
        world.sim.step()
        server.process_once()
    assert world.sim.stats.hazards["partial"] > 0
    assert server.store.read_state(JobRef(ALICE, job.uid)) is None  # waiting, not rejected
    world.sim.release(r"/data/big\.csv$")
    accepted = world.until("acceptance", lambda: server.process_once() or world.owner_view(server, job.uid))
    assert accepted.status == JobStatus.pending
    assert [t.status for t in accepted.history] == [JobStatus.pending]


def test_a_submission_that_never_completes_is_rejected_after_the_arrival_timeout(
    tmp_path: Path, code: Callable[..., Path]
) -> None:
    world = World(tmp_path / "net")
    world.config = world.config.model_copy(update={"arrival_timeout": 0.2})
    server = world.server(start=False)
    alice = world.client(ALICE)
    job = alice.submit_code(OWNER, code(extra={"data/big.csv": "x,y\n" * 100}), name="never whole")
    world.sim.hold(r"/data/big\.csv$")
    world.sim.settle()
    server.process_once()
    assert server.store.read_state(JobRef(ALICE, job.uid)) is None
    rejected = world.until("the arrival timeout", lambda: server.process_once() or world.owner_view(server, job.uid))
    assert rejected.status == JobStatus.rejected
    assert rejected.error == ("submission incomplete after 0.2 s: 1 of 2 files not arrived or incomplete: data/big.csv")
    seen = world.until("alice to see why", lambda: alice.get_job(job.uid).is_terminal and alice.get_job(job.uid))
    assert seen.error == rejected.error


def test_results_are_never_returned_half_synced(world: World, code: Callable[..., Path]) -> None:
    world.server()
    alice = world.client(ALICE)
    folder = code()
    job = alice.submit_code(OWNER, folder, name="results", auto_approval=True)
    world.sim.hold(r"/review/.*/(outputs/|stdout\.txt)")
    world.until("alice to see it finished", lambda: alice.get_job(job.uid).is_terminal)
    assert alice.get_job(job.uid).status == JobStatus.completed
    assert alice.get_job_output(job.uid) is None and alice.get_job_logs(job.uid) is None
    with pytest.raises(TimeoutError):
        alice.wait_for_job(job.uid, timeout=0)
    review = world.queue_dir(ALICE) / "review" / ALICE / job.uid
    (review / "outputs").mkdir()
    (review / "outputs" / "digest.txt").write_text("0123")  # a prefix, as a sync client shows it
    (review / "stdout.txt").write_text("ran")
    assert alice.get_job_output(job.uid) is None and alice.get_job_logs(job.uid) is None
    (review / "outputs" / "digest.txt").unlink()  # (before the syncer takes them for alice's writes)
    (review / "stdout.txt").unlink()
    world.sim.release(r"/review/.*/(outputs/|stdout\.txt)")
    done = world.until(
        "the whole results",
        lambda: alice.get_job_output(job.uid) and alice.get_job_logs(job.uid) and alice.get_job_output(job.uid),
    )
    assert alice.wait_for_job(job.uid, timeout=0).status == JobStatus.completed
    assert alice.get_job_logs(job.uid) == "ran results\n"
    assert (done / "digest.txt").read_text().strip() == code_digest(folder)


def test_writes_the_acls_forbid_are_rejected_at_the_writer_and_never_reach_the_owner(
    world: World, code: Callable[..., Path]
) -> None:
    server = world.server()
    alice = world.client(ALICE)
    job = alice.submit_code(OWNER, code(), name="mine")
    world.until("acceptance", lambda: world.owner_view(server, job.uid))
    world.until("alice to see it", lambda: alice.get_job(job.uid).state)

    # eve plants a submission in alice's inbox folder, and alice forges her own approval
    planted = world.queue_dir(EVE) / "inbox" / ALICE / ("e" * 32) / "job.json"
    planted.parent.mkdir(parents=True)
    planted.write_text((world.queue_dir(ALICE) / "inbox" / ALICE / job.uid / "job.json").read_text())
    forged = world.queue_dir(ALICE) / "review" / ALICE / job.uid / "state.json"
    forged.write_text(forged.read_text().replace('"pending"', '"approved"'))
    world.sim.settle()

    assert (
        "eve@example.com",
        f"{OWNER}/app_data/code-queue/inbox/{ALICE}/{'e' * 32}/job.json",
    ) in world.sim.stats.rejected
    assert planted.with_name("job.rejected.json").exists() and not planted.exists()
    assert not (world.queue_dir(OWNER) / "inbox" / ALICE / ("e" * 32)).exists()
    assert server.get_job(job.uid).status == JobStatus.pending  # the owner's state is untouched
    assert alice.get_job(job.uid).status == JobStatus.pending  # and alice got the real one back
    assert forged.with_name("state.rejected.json").exists()


def test_an_outsider_receives_nothing_of_anyone_elses_jobs(world: World, code: Callable[..., Path]) -> None:
    server = world.server()
    alice, eve = world.client(ALICE), world.client(EVE)
    job = alice.submit_code(OWNER, code(), name="private", auto_approval=True)
    world.until("results", lambda: alice.get_job_output(job.uid))
    own = eve.submit_code(OWNER, code(), name="eve's", auto_approval=True)
    world.until("eve's results", lambda: eve.get_job_output(own.uid))
    world.sim.settle()
    assert eve.list_jobs() and [j.uid for j in eve.list_jobs()] == [own.uid]
    assert [j.uid for j in alice.list_jobs()] == [job.uid]
    assert not [p for p in world.files_of(EVE) if ALICE in p]
    assert not [p for p in world.files_of(ALICE) if EVE in p]
    assert len(server.list_jobs()) == 2


def test_a_second_writer_changing_approved_code_never_gets_it_run(tmp_path: Path, code: Callable[..., Path]) -> None:
    world = World(tmp_path / "net", hazards=Hazards.all(), devices={"alice-desktop": ALICE})
    server = world.server()
    alice = world.client(ALICE)
    folder = code("python3 a.py\n", {"a.py": "print('approved')\n"})
    job = alice.submit_code(OWNER, folder, name="to be changed")
    world.until("acceptance", lambda: world.owner_view(server, job.uid))
    desktop_copy = world.queue_dir("alice-desktop") / "inbox" / ALICE / job.uid / "code" / "a.py"
    world.until(
        "alice's other device to have the code",
        lambda: desktop_copy.exists() and desktop_copy.read_text() == "print('approved')\n",
    )
    desktop_copy.write_text("print('something else')\n")
    owner_copy = world.queue_dir(OWNER) / "inbox" / ALICE / job.uid / "code" / "a.py"
    world.until("the change to reach the owner", lambda: owner_copy.read_text() == "print('something else')\n")
    reviewed = server.read_submitted_file(job.uid, "a.py")
    assert reviewed.head == b"print('approved')\n" and reviewed.changed_after_acceptance  # the owner's copy
    server.approve_job(job.uid)
    done = world.until("the outcome", lambda: (j := alice.get_job(job.uid)).is_terminal and j)
    assert done.status == JobStatus.completed  # the accepted bytes ran, never the changed ones
    output = world.until("the outputs", lambda: alice.get_job_output(job.uid))
    ran = (output / "digest.txt").read_text().strip()
    assert ran == code_digest(folder)


def test_a_submission_syftbox_refuses_shows_as_rejected_instead_of_vanishing(
    world: World, code: Callable[..., Path]
) -> None:
    alice = world.client(ALICE)
    job = alice.submit_code(OWNER, code(), name="too early")  # the owner has no queue yet
    world.sim.settle()
    assert (world.queue_dir(ALICE) / "inbox" / ALICE / job.uid / "job.rejected.json").exists()
    seen = alice.get_job(job.uid)
    assert seen.status == JobStatus.rejected
    assert "SyftBox refused to upload" in (seen.error or "")
    assert [j.uid for j in alice.list_jobs(status="rejected")] == [job.uid]
    assert alice.wait_for_job(job.uid, timeout=0).status == JobStatus.rejected

    server = world.server()  # once the queue exists, submitting again works
    again = alice.submit_code(OWNER, code(), name="in time", auto_approval=True)
    assert world.until("results", lambda: alice.get_job_output(again.uid))
    assert len(server.list_jobs()) == 1


def test_files_syftbox_never_syncs_are_left_out_both_ways(world: World, code: Callable[..., Path]) -> None:
    world.server(runner=CodeRunner())
    alice = world.client(ALICE)
    folder = code(
        'cat notes/readme.txt\necho data > "$SYFT_OUTPUT_DIR/result.txt"\necho log > "$SYFT_OUTPUT_DIR/train.log"\n'
        'mkdir "$SYFT_OUTPUT_DIR/logs" && echo x > "$SYFT_OUTPUT_DIR/logs/epoch1.txt"\n',
        {
            "notes/readme.txt": "hello\n",
            ".git/config": "[core]\n",
            "debug.log": "old run\n",
            "logs/old.txt": "old\n",
            "__pycache__/m.cpython-311.pyc": "\0\0",
            "scratch.tmp": "t\n",
        },
    )
    job = alice.submit_code(OWNER, folder, name="untidy folder", auto_approval=True)
    assert sorted(f.path for f in job.files) == ["notes/readme.txt", "run.sh"]
    logs = world.until("logs", lambda: alice.get_job_logs(job.uid))
    output = world.until("outputs", lambda: alice.get_job_output(job.uid))
    done = alice.get_job(job.uid)
    assert done.status == JobStatus.completed, done.error
    assert sorted(p.name for p in output.rglob("*") if p.is_file()) == ["result.txt"]
    assert logs.startswith("hello\n")
    assert "not returned (SyftBox does not sync them): logs/epoch1.txt, train.log" in logs


def test_a_state_caught_mid_sync_never_sends_the_status_backwards(world: World, code: Callable[..., Path]) -> None:
    world.server()
    alice = world.client(ALICE)
    job = alice.submit_code(OWNER, code(), name="steady", auto_approval=True)
    world.until("results", lambda: alice.get_job_output(job.uid))
    state = world.queue_dir(ALICE) / "review" / ALICE / job.uid / "state.json"
    whole = state.read_bytes()
    state.write_bytes(whole[: len(whole) // 2])  # a newer version arriving, a prefix first
    assert alice.get_job(job.uid).status == JobStatus.completed
    assert [j.status for j in alice.list_jobs()] == [JobStatus.completed]
    state.write_bytes(whole)
