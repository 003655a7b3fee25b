"""A requester resubmits a job's code as a new job that names the one it supersedes."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from helpers import ALICE, OWNER, accepted
from pydantic import ValidationError

import syft_code_queue as scq
from syft_code_queue.cli import main
from syft_code_queue.errors import SubmissionError
from syft_code_queue.models import JobRequest


def test_a_rejected_job_is_resubmitted_with_its_code_and_names_the_job_it_supersedes(
    server: scq.CodeQueueServer, client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    folder = make_code('echo "first try"\n')
    first = client.submit_code(OWNER, folder, "Analysis", description="the mean", tags=["stats"])
    accepted(server, first.uid)
    server.reject_job(first.uid, reason="please add a description of the output")
    (folder / "run.sh").write_text('echo "changed locally"\n')  # the resubmission sends what was submitted

    again = client.resubmit(first.uid, description="the mean, printed")
    assert again.uid != first.uid and again.supersedes == first.uid
    assert (again.name, again.tags, again.requester_email) == ("Analysis", ["stats"], ALICE)
    accepted(server, again.uid)
    seen = server.get_job(again.uid)
    assert seen.supersedes == first.uid and seen.description == "the mean, printed"
    server.approve_job(again.uid)
    assert "first try" in (client.get_job_logs(client.wait_for_job(again.uid, timeout=60).uid) or "")

    fresh = client.resubmit(first.uid, code_folder=folder, name="Analysis, new code")
    accepted(server, fresh.uid)
    server.approve_job(fresh.uid)
    assert "changed locally" in (client.get_job_logs(client.wait_for_job(fresh.uid, timeout=60).uid) or "")
    assert client.get_job(first.uid).supersedes is None


def test_resubmit_says_what_it_cannot_do(client: scq.CodeQueueClient, make_code: Callable[..., Path]) -> None:
    job = client.submit_code(OWNER, make_code("echo hi\n"), "job")
    with pytest.raises(ValueError, match="cannot change requester_email"):
        client.resubmit(job.uid, requester_email="eve@example.com")
    code = next(client.workspace.datasites.glob(f"{OWNER}/**/{job.uid}/code"))
    (code / "run.sh").write_text("echo tampered\n")
    with pytest.raises(SubmissionError, match="pass code_folder="):
        client.resubmit(job.uid)
    assert len(client.list_jobs()) == 1, "nothing half-sent"
    with pytest.raises(ValidationError, match="supersedes must be the uid"):
        JobRequest.model_validate({**job.request.model_dump(), "supersedes": "../other"})
    assert "supersedes" not in job.request.model_dump_json(), "a job that resubmits nothing is written as before"


def test_scq_resubmit_prints_the_new_uid(capsys, root, client, make_code) -> None:
    job = client.submit_code(OWNER, make_code("echo hi\n"), "From the terminal")
    assert main(["resubmit", job.uid[:8], "--name", "Again", "--email", ALICE, "--data-dir", str(root)]) == 0
    uid = capsys.readouterr().out.strip()
    new = client.get_job(uid)
    assert new.supersedes == job.uid and new.name == "Again"
