"""A full disk while a job's results are published: the job runs once, the requester sees one
failure with a reason, and the queue serves on once there is room again."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest
from helpers import ALICE, OWNER, accepted, wait_for

import syft_code_queue as scq
from syft_code_queue.runner import JobRun, RunResult


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 5 MB file system for the owner's data folder (a tmpfs: mounting needs root)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


class CountingRunner(scq.SafeCodeRunner):
    """The real runner, counting how often it is asked to run each job."""

    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.runs: dict[str, int] = {}
        self._lock = threading.Lock()

    def run_job(self, job: JobRun) -> RunResult:
        with self._lock:
            self.runs[job.uid] = self.runs.get(job.uid, 0) + 1
        return super().run_job(job)


def test_a_job_whose_results_fill_the_disk_runs_once_and_fails_with_a_reason(small_disk, make_code):
    """Before: the publish raised, the end was never recorded, the job stayed ``approved``
    and was dispatched again on every pass (16 runs in 8 s). Without ``Workers._claimed`` it
    runs again; without freeing the slot before ``_record`` (and the retries) the failure
    cannot be written while the job's 6 MB still fill the disk."""
    runner = CountingRunner()
    server = scq.create_server(email=OWNER, data_dir=small_disk, runner=runner, rescan_interval=0.1).start()
    try:
        client = scq.create_client(email=ALICE, data_dir=small_disk)
        job = client.submit_code(OWNER, make_code('head -c 6M /dev/zero > "$SYFT_OUTPUT_DIR/big.bin"'), "too big")
        server.approve_job(accepted(server, job.uid))
        done = wait_for(server, job.uid)
        assert done.status == scq.JobStatus.failed
        assert done.error == "the owner's disk is full (No space left on device); no results were returned"
        server.wait_idle()
        seen = client.wait_for_job(job.uid, timeout=30)
        assert (seen.status, seen.error) == (done.status, done.error)
        small = client.submit_code(OWNER, make_code("echo fine"), "small")
        server.approve_job(accepted(server, small.uid))
        assert client.wait_for_job(small.uid, timeout=30).status == scq.JobStatus.completed
        assert runner.runs == {job.uid: 1, small.uid: 1}
    finally:
        server.stop()
