"""Real ``scq serve`` processes: killed with SIGKILL mid-run and restarted, or started twice."""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path
from typing import Iterator

import pytest
from realprocs import processes_with, serve, stop, wait_for
from syncsim import Hazards
from syncworld import ALICE, OWNER, World

from syft_code_queue import CodeQueueClient, CodeQueueServer, JobStatus, QueueConfig, Workspace
from syft_code_queue.server.recovery import RECOVERED_REASON

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path / "net", hazards=Hazards.all(), seed=11)
    yield w
    w.close()


def folder(base: Path, name: str, run_sh: str) -> Path:
    path = base / name
    path.mkdir(parents=True)
    (path / "run.sh").write_text("#!/bin/bash\n" + run_sh)
    return path


def test_a_server_killed_mid_run_restarts_and_settles_every_job_once(world: World, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    args = ("--auto-approve", "--max-concurrent-jobs", "2")
    marker = f"{random.randint(100, 999)}.{random.randint(1000, 9999)}"
    world.sim.start()
    first = serve(OWNER, world.roots[OWNER], log, *args)
    try:
        owner = CodeQueueServer(config=QueueConfig(), workspace=world.workspace(OWNER))  # a view; never started
        alice = world.client(ALICE)
        wait_for(lambda: f"{OWNER}/app_data/code-queue/syft.pub.yaml" in world.sim.hub_paths(), "the queue's ACL")
        work = tmp_path / "work"
        long_jobs = [
            alice.submit_code(
                OWNER,
                folder(work, f"long{i}", f"bash -c 'sleep {marker}{i}' &\nsleep {marker}{i}\n"),
                name=f"long {i}",
                auto_approval=True,
            )
            for i in range(2)
        ]
        wait_for(lambda: all(alice.get_job(j.uid).status == JobStatus.running for j in long_jobs), "both to run")
        queued = [
            alice.submit_code(
                OWNER,
                folder(work, f"quick{i}", 'echo "q" > "$SYFT_OUTPUT_DIR/out.txt"\n'),
                name=f"queued {i}",
                auto_approval=True,
            )
            for i in range(3)
        ]
        wait_for(
            lambda: (
                all(owner.get_job(j.uid).status == JobStatus.approved for j in queued)
                if all(_accepted(owner, j.uid) for j in queued)
                else False
            ),
            "the queued jobs to be approved",
        )

        assert stop(first, signal.SIGKILL) == -signal.SIGKILL
        while_down = [
            alice.submit_code(
                OWNER,
                folder(work, f"late{i}", 'echo "l" > "$SYFT_OUTPUT_DIR/out.txt"\n'),
                name=f"while down {i}",
                auto_approval=True,
            )
            for i in range(2)
        ]

        second = serve(OWNER, world.roots[OWNER], log, *args)
        try:
            everything = long_jobs + queued + while_down
            wait_for(lambda: all(alice.get_job(j.uid).is_terminal for j in everything), "every job to settle")
            wait_for(lambda: all(alice.get_job_output(j.uid) for j in queued + while_down), "the results")
            for job in long_jobs:
                seen = alice.get_job(job.uid)
                assert seen.status == JobStatus.failed
                assert (seen.error or "").startswith(RECOVERED_REASON)
            for job in queued + while_down:
                seen = alice.get_job(job.uid)
                assert seen.status == JobStatus.completed, seen.error
                assert (alice.get_job_output(job.uid) / "out.txt").read_text().strip() in ("q", "l")
            for job in everything:
                runs = [t for t in alice.get_job(job.uid).history if t.status == JobStatus.running]
                assert len(runs) <= 1, f"{job.name} ran {len(runs)} times"
            assert processes_with(f"sleep {marker}") == []  # nothing the killed server started lives on
        finally:
            assert stop(second) == 0
    finally:
        stop(first, signal.SIGKILL)
        for pid in processes_with(f"sleep {marker}"):  # only if the test failed: leave nothing behind
            os.kill(pid, signal.SIGKILL)
    assert "Traceback" not in log.read_text()


def _accepted(owner: CodeQueueServer, uid: str) -> bool:
    try:
        return owner.get_job(uid).state is not None
    except LookupError:
        return False


def test_only_one_server_serves_a_queue_and_a_dead_ones_lock_is_taken_over(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = serve(OWNER, root, tmp_path / "first.log")
    try:
        second = serve(OWNER, root, tmp_path / "second.log")
        assert second.wait(30) == 2
        message = (tmp_path / "second.log").read_text()
        assert f"queue 'code-queue' of {OWNER} is already being served (pid {first.pid})" in message
        assert stop(first, signal.SIGKILL) == -signal.SIGKILL

        third = serve(OWNER, root, tmp_path / "third.log", "--auto-approve")  # the flock died with its holder
        try:
            assert third.poll() is None
            client = CodeQueueClient(workspace=Workspace(email=ALICE, data_dir=root))
            job = client.submit_code(OWNER, folder(tmp_path, "code", "echo served\n"), name="after", auto_approval=True)
            assert client.wait_for_job(job.uid, timeout=60).status == JobStatus.completed
            assert client.get_job_logs(job.uid) == "served\n"
        finally:
            assert stop(third) == 0
    finally:
        stop(first, signal.SIGKILL)
