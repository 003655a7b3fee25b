#!/usr/bin/env python3
"""Auto-approval rules a data owner can rely on, played out on a throwaway local root
where three requesters send jobs to one owner.

An approval callback sees a job as it was submitted, before anything runs:

- ``job.requester_email`` is the inbox folder SyftBox let the requester write, never a
  field they typed, so a rule may trust it. Compare the whole domain: a substring test
  such as ``"@company.com" in email`` also lets ``eve@company.com.example.org`` through.
- ``job.tags``, ``job.name`` and ``job.description`` are whatever the requester typed:
  fine for sorting work, never enough on their own to let code run.
- ``job.files`` is the manifest (path, size, sha256 of every file), and
  ``job.request.manifest_sha256`` names all of it at once. The server runs exactly those
  bytes, so "this code was reviewed before" is a sound rule.

The callback is asked only for jobs that requested auto-approval, on a server that has it
enabled; it must return ``True`` to approve. Anything else, or an exception (logged), leaves
the job pending for a person.

    python examples/custom_approval.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

import syft_code_queue as scq

OWNER = "owner@university.edu"


class ApprovalRules(BaseModel):
    """The owner's rules; keep them in a file with ``model_dump_json`` and load them back with
    ``ApprovalRules.model_validate_json``."""

    model_config = ConfigDict(extra="forbid")

    trusted_domains: frozenset[str]
    safe_tags: frozenset[str] = frozenset()
    max_code_bytes: int = Field(default=1024 * 1024, gt=0)
    reviewed_code: set[str] = Field(default_factory=set)  # manifest hashes approved by hand

    def refusal(self, job: scq.Job) -> Optional[str]:
        """Why the job needs a person, or None when it may run unattended."""
        domain = job.requester_email.rpartition("@")[2]
        if domain not in self.trusted_domains:
            return f"{job.requester_email} is not in a trusted domain"
        size = sum(entry.size for entry in job.files)
        if size > self.max_code_bytes:
            return f"its code is {size} bytes, over the {self.max_code_bytes}-byte limit"
        if job.request.manifest_sha256 in self.reviewed_code:
            return None  # the very bytes the owner approved before
        unsafe = sorted(set(job.tags) - self.safe_tags)
        if unsafe or not job.tags:
            return f"code not reviewed before, tagged {unsafe or 'nothing'} rather than {sorted(self.safe_tags)}"
        return None

    def __call__(self, job: scq.Job) -> bool:
        return self.refusal(job) is None

    def remember(self, job: scq.Job) -> None:
        """Trust this exact code from now on, from any trusted requester."""
        self.reviewed_code.add(job.request.manifest_sha256)


def write_code(folder: Path, script: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.sh").write_text(f'#!/bin/bash\n{script}\n')
    return folder


def accepted(server: scq.CodeQueueServer, uid: str, timeout: float = 30) -> scq.Job:
    """The job once the server has checked it and decided whether it waits for a person."""
    deadline = time.monotonic() + timeout
    while (job := server.get_job(uid)).state is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server did not accept job {uid} within {timeout:g} s")
        time.sleep(0.02)
    return job


def report(job: scq.Job, outcome: str) -> None:
    print(f"  {job.name:<16} from {job.requester_email:<30} {outcome}")


def decision(rules: ApprovalRules, job: scq.Job) -> str:
    return "auto-approved" if job.status != scq.JobStatus.pending else f"waits for review: {rules.refusal(job)}"


def result(client: scq.CodeQueueClient, job: scq.Job) -> str:
    done = client.wait_for_job(job.uid, timeout=60)
    output = client.get_job_output(job.uid)
    files = [f"{f.name}={f.read_text().strip()}" for f in sorted(output.iterdir())] if output else []
    return f"{done.status.value:<9} {', '.join(files) or done.error}"


def main() -> int:
    rules = ApprovalRules(trusted_domains={"university.edu"}, safe_tags={"statistics", "report"})
    with tempfile.TemporaryDirectory(prefix="scq-rules-") as tmp:
        work = Path(tmp)
        root = work / "syftbox"  # an embedded local root: every datasite side by side
        server = scq.create_server(auto_approval_callback=rules, email=OWNER, data_dir=root, job_timeout=60)
        server.start()
        try:
            clients = {who: scq.create_client(email=who, data_dir=root)
                       for who in ("alice@university.edu", "bob@university.edu", "eve@university.edu.example.org")}
            stats = write_code(work / "stats", 'echo "n=4 mean_age=37.5" > "$SYFT_OUTPUT_DIR/stats.txt"')
            train = write_code(work / "train", 'echo "loss=0.12" > "$SYFT_OUTPUT_DIR/model.txt"')

            def submit(who: str, code: Path, name: str, tags: list[str]) -> scq.Job:
                job = clients[who].submit_code(OWNER, code, name, tags=tags, auto_approval=True)
                return accepted(server, job.uid)

            print("submitted:")
            jobs = [
                submit("alice@university.edu", stats, "Age statistics", ["statistics"]),
                submit("eve@university.edu.example.org", stats, "Age statistics", ["statistics"]),
                submit("bob@university.edu", train, "Model training", ["training"]),
            ]
            for job in jobs:
                report(job, decision(rules, job))

            _, eve, bob = jobs
            print("the owner reads Bob's code, approves it and trusts it from now on; rejects Eve's:")
            server.approve_job(bob.uid, reason="reviewed train/run.sh", manifest_sha256=bob.state.manifest_sha256)
            rules.remember(bob)
            server.reject_job(eve.uid, reason="not a member of the university")
            rerun = submit("bob@university.edu", train, "Model training 2", ["training"])
            report(rerun, decision(rules, rerun))

            print("results:")
            for job in [*jobs, rerun]:
                report(job, result(clients[job.requester_email], job))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
