"""A root written by the release before the package layout changed is served as it is: the
on-disk protocol did not change. ``data/root-0.1.0.tar.gz`` was made by that release: one
job completed (with an output and logs), one rejected, one still pending."""

from __future__ import annotations

import tarfile
from pathlib import Path

from helpers import ALICE, OWNER

import syft_code_queue as scq

ARCHIVE = Path(__file__).parent / "data" / "root-0.1.0.tar.gz"
COMPLETED, REJECTED, PENDING = (
    "54fc33841a6a4d78ae95a34dca50c440",
    "828d44442a934ff6a842c80c209fe132",
    "07359a200a984a3fa508e465e6798fb6",
)


def test_a_root_from_the_previous_release_is_served_after_the_upgrade(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with tarfile.open(ARCHIVE) as archive:
        if hasattr(tarfile, "data_filter"):  # refuses links and paths out of the root
            archive.extractall(root, filter="data")
        else:
            archive.extractall(root)
    client = scq.create_client(email=ALICE, data_dir=root)
    assert {job.uid: job.status.value for job in client.list_jobs()} == {
        COMPLETED: "completed",
        REJECTED: "rejected",
        PENDING: "pending",
    }
    assert (client.get_job_output(COMPLETED) / "result.txt").read_text() == "counted 3\n"
    assert client.get_job_logs(COMPLETED) == "finished\n"
    assert client.get_job(REJECTED).error == "not today"

    with scq.create_server(email=OWNER, data_dir=root, runner=scq.CodeRunner()) as server:
        assert server.get_job(PENDING).status == scq.JobStatus.pending
        server.approve_job(PENDING)
        job = client.wait_for_job(PENDING, timeout=30)
    assert job.status == scq.JobStatus.completed
    assert (client.get_job_output(PENDING) / "later.txt").read_text() == "approved after the upgrade\n"
    assert [t.status.value for t in job.history] == ["pending", "approved", "running", "completed"]
