"""Several requester processes submitting hundreds of jobs at once to one real server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from realprocs import REPO, scq_env, serve, stop
from syncworld import OWNER

from syft_code_queue import CodeQueueServer, JobStatus, QueueConfig, Workspace

pytestmark = pytest.mark.slow

SUBMITTERS = 4
JOBS_EACH = 60


def test_hundreds_of_jobs_from_several_processes_are_all_accounted_for(tmp_path: Path) -> None:
    root = tmp_path / "root"
    log = tmp_path / "serve.log"
    server = serve(OWNER, root, log, "--auto-approve", "--max-concurrent-jobs", "4")
    try:
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(REPO / "tests" / "submitter.py"),
                    f"req{i}@example.com",
                    OWNER,
                    str(root),
                    str(JOBS_EACH),
                    str(tmp_path / "work"),
                ],
                env=scq_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for i in range(SUBMITTERS)
        ]
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=280)
            assert proc.returncode == 0, err.decode()
            reports.append(json.loads(out))
    finally:
        assert stop(server) == 0
    jobs = {uid: job for report in reports for uid, job in report["jobs"].items()}
    assert len(jobs) == SUBMITTERS * JOBS_EACH
    failures = {job["error"] for job in jobs.values() if job["status"] != "completed"}
    assert not failures, failures
    assert all(job["output"] == job["name"] for job in jobs.values())
    assert sum(r["corrupt_reads"] for r in reports) == 0 and sum(r["reads"] for r in reports) > len(jobs)
    owner = CodeQueueServer(config=QueueConfig(), workspace=Workspace(email=OWNER, data_dir=root))
    assert sorted(j.uid for j in owner.list_jobs(status=JobStatus.completed)) == sorted(jobs)
    text = log.read_text()
    assert "Traceback" not in text and "queue pass failed" not in text, text[-2000:]
