#!/usr/bin/env python3
"""Auto-approval rules a data owner can rely on, each shown deciding real submissions.

Who runs it: a data owner deciding which jobs may run without them. ``python
examples/custom_approval.py`` needs no setup: on a temporary embedded root, three requesters
send jobs to one owner's queue server, and each rule in turn decides them (the server's
``auto_approval_callback`` can be swapped while it serves). It prints, per job, whether the
rule approved it or why it waits for a person, then all the rules at once, then a rule that
raises, then what the approved jobs returned.

What a rule sees: the job as submitted, before anything runs.

- ``job.requester_email`` is the inbox folder SyftBox let the requester write, never a
  field they typed, so a rule may trust it. Compare the whole domain: a substring test such
  as ``"@university.edu" in email`` also lets ``eve@university.edu.example.org`` through.
- ``job.tags``, ``job.name`` and ``job.description`` are whatever the requester typed:
  fine for sorting work, never enough on their own to let code run.
- ``job.files`` is the manifest (path, size and sha256 of every file); the server runs
  exactly those bytes.
- ``server.read_submitted_file(uid, path)`` reads a submitted file, and says whether it
  still matches the manifest (``matches_manifest``).
- ``job.datasets`` names the owner's datasets the job reads: exactly what the runner will
  mount at ``/job/data/<name>``, so a rule on it decides what private data code can reach.
  A job that read a dataset waits for the owner's release once it has run; the end of this
  script shows that step.

The callback is asked only for jobs that requested auto-approval, on a server that has it
enabled; it must return ``True`` to approve. Anything else leaves the job pending for a
person; so does a callback that raises: the server logs the error with the job's uid and
serves on.

    python examples/custom_approval.py
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

from pydantic import BaseModel, ConfigDict, Field

import syft_code_queue as scq

OWNER = "owner@university.edu"
ALICE = "alice@university.edu"
BOB = "bob@research.org"
EVE = "eve@university.edu.example.org"  # looks like the university, is not

Check = Callable[[scq.Job], Optional[str]]  # why a job needs a person; None: it may run unattended


class ApprovalRules(BaseModel):
    """The owner's settings, one per rule; keep them in a file with ``model_dump_json`` and
    load them back with ``ApprovalRules.model_validate_json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trusted_domains: frozenset[str]
    allowed_tags: frozenset[str]
    max_code_bytes: int = Field(gt=0)
    datasets: frozenset[str]
    # Words in run.sh that make a person look first: they fetch or install code from elsewhere.
    review_words: frozenset[str] = frozenset({"curl", "wget", "pip", "pip3", "git", "ssh", "scp", "nc"})

    def trusted_domain(self, job: scq.Job) -> Optional[str]:
        domain = job.requester_email.rpartition("@")[2].lower()
        if domain in self.trusted_domains:
            return None
        return f"{job.requester_email} is not in a trusted domain ({', '.join(sorted(self.trusted_domains))})"

    def tag_allowlist(self, job: scq.Job) -> Optional[str]:
        topics = list(job.tags)
        unknown = sorted(set(topics) - self.allowed_tags)
        if not topics or unknown:
            return f"tagged {unknown or 'with nothing'}, not only {sorted(self.allowed_tags)}"
        return None

    def code_size(self, job: scq.Job) -> Optional[str]:
        size = sum(entry.size for entry in job.files)
        if size > self.max_code_bytes:
            return f"its code is {size} bytes, over the {self.max_code_bytes}-byte limit"
        return None

    def only_these_datasets(self, job: scq.Job) -> Optional[str]:
        others = sorted(set(job.datasets) - self.datasets)
        if others:
            return f"it asks for datasets {others}, not only {sorted(self.datasets)}"
        return None

    def run_sh(self, server: scq.CodeQueueServer) -> Check:
        """A rule that reads the job's ``run.sh`` from the owner's queue. A word screen errs
        toward a person, which is the safe side of an approval; containment is the sandbox's
        job, and commands the owner never allows belong in ``SafeCodeRunner(blocked_commands=...)``,
        which refuses the job outright."""

        def check(job: scq.Job) -> Optional[str]:
            script = server.read_submitted_file(job.uid, "run.sh", max_bytes=64 * 1024)
            if not script.matches_manifest:
                return "run.sh on disk is not the run.sh its manifest names"
            if script.truncated:
                return f"run.sh is {script.entry.size} bytes, too long to screen"
            found = sorted(set(re.findall(r"[\w.+-]+", script.head.decode(errors="replace"))) & self.review_words)
            return f"run.sh uses {found}, which a person must look at first" if found else None

        return check


class Policy:
    """An ``auto_approval_callback`` that approves a job only when every check lets it
    through, and logs why it did not."""

    def __init__(self, *checks: Check) -> None:
        self.checks = checks

    def refusal(self, job: scq.Job) -> Optional[str]:
        return next((why for check in self.checks if (why := check(job)) is not None), None)

    def __call__(self, job: scq.Job) -> bool:
        why = self.refusal(job)
        if why is not None:
            logging.getLogger("approval").info("job %s waits for review: %s", job.uid, why)
        return why is None


def needs_a_ticket(job: scq.Job) -> bool:
    """A rule with a bug: it expects every description to be ``key=value`` words with a
    ``ticket``, and raises on any other description."""
    fields = dict(word.partition("=")[::2] for word in job.description.split())
    return fields["ticket"].startswith("OPS-")


class OneLineErrors(logging.Formatter):
    """The server's log, with an exception as its last line rather than a whole traceback."""

    def formatException(self, ei: Any) -> str:
        return f"    {ei[0].__name__}: {ei[1]}"


class Submission(NamedTuple):
    who: str
    code: Path
    name: str
    tags: list[str]
    description: str = ""
    datasets: tuple[str, ...] = ()


def write_code(folder: Path, run_sh: str, extra: Optional[dict[str, str]] = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.sh").write_text(f"#!/bin/bash\n{run_sh}\n")
    for name, text in (extra or {}).items():
        (folder / name).write_text(text)
    return folder


def publish_datasets(server: scq.CodeQueueServer, folder: Path) -> None:
    """The owner's two datasets: the private files stay in ``folder``, outside the SyftBox
    folder; only a mock of each is published. Readable by other users, because a server
    running as root runs each job as a uid of its own."""
    for name, rows in (("census", "name,age\nada,36\n"), ("patients", "name,diagnosis\nbea,flu\n")):
        for part in ("private", "mock"):
            data = folder / name / part
            data.mkdir(parents=True)
            (data / f"{name}.csv").write_text(
                rows if part == "private" else rows.replace("ada", "x").replace("bea", "y")
            )
            for path in (folder.parent, folder, folder / name, data):
                os.chmod(path, 0o755)
        server.add_dataset(name, private_path=folder / name / "private", mock_path=folder / name / "mock")


def wait_until_held(server: scq.CodeQueueServer, uid: str, timeout: float = 60) -> scq.HeldOutputs:
    """The job's results once its run has ended and they wait for the owner's release."""
    deadline = time.monotonic() + timeout
    while server.get_job(uid).status != scq.JobStatus.awaiting_release:
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {uid} did not finish running within {timeout:g} s")
        time.sleep(0.02)
    return server.get_held_outputs(uid)


def accepted(server: scq.CodeQueueServer, uid: str, timeout: float = 30) -> scq.Job:
    """The job once the server has checked it and decided whether it waits for a person."""
    deadline = time.monotonic() + timeout
    while (job := server.get_job(uid)).state is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server did not accept job {uid} within {timeout:g} s; is it serving?")
        time.sleep(0.02)
    return job


def main() -> int:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OneLineErrors("  log: %(levelname)s %(message)s"))
    logging.getLogger("syft_code_queue").addHandler(handler)  # errors and warnings (the default level)

    rules = ApprovalRules(
        trusted_domains={"university.edu", "research.org"},
        allowed_tags={"statistics", "report"},
        max_code_bytes=4096,
        datasets={"census"},
    )
    with tempfile.TemporaryDirectory(prefix="scq-rules-") as tmp:
        work = Path(tmp)
        root = work / "syftbox"  # an embedded local root: every datasite side by side
        server = scq.create_server(email=OWNER, data_dir=root, auto_approval_enabled=True, job_timeout=60)
        server.start()
        try:
            publish_datasets(server, work / "owner-data")
            clients = {who: scq.create_client(email=who, data_dir=root) for who in (ALICE, BOB, EVE)}
            stats = write_code(work / "stats", 'echo "n=4 mean_age=37.5" > "$SYFT_OUTPUT_DIR/stats.txt"')
            big = write_code(
                work / "big",
                'wc -l < people.csv > "$SYFT_OUTPUT_DIR/rows.txt"',
                {"people.csv": "name,age\n" + "someone,40\n" * 1000},
            )
            fetch = write_code(work / "fetch", 'pip install numpy\npython3 -c "print(1)" > "$SYFT_OUTPUT_DIR/one.txt"')
            approved: list[scq.Job] = []

            def section(
                title: str,
                callback: Callable[[scq.Job], bool],
                jobs: list[Submission],
                explain: Optional[Check] = None,
            ) -> list[scq.Job]:
                """Swap in ``callback``, submit ``jobs`` and print what it decided for each, and
                why a job waits (``explain``; a policy's own refusal by default)."""
                print(f"== {title}")
                server.auto_approval_callback = callback
                decided = []
                for who, code, name, tags, description, datasets in jobs:
                    sent = clients[who].submit_code(
                        OWNER,
                        code,
                        name,
                        description=description,
                        tags=tags,
                        auto_approval=True,
                        datasets=list(datasets),
                    )
                    job = accepted(server, sent.uid)
                    if any(step.status == scq.JobStatus.approved for step in job.history):  # it may be running already
                        approved.append(job)
                        outcome = "auto-approved"
                    else:
                        if explain is not None:
                            why = explain(job)
                        elif isinstance(callback, Policy):
                            why = callback.refusal(job)
                        else:
                            why = "the rule did not approve it"
                        outcome = f"waits for review: {why}"
                    print(f"  {job.name:<22} from {job.requester_email:<31} {outcome}")
                    decided.append(job)
                return decided

            section(
                "trusted domains: the requester's whole domain",
                Policy(rules.trusted_domain),
                [
                    Submission(ALICE, stats, "Age statistics", ["statistics"]),
                    Submission(BOB, stats, "Age statistics", ["statistics"]),
                    Submission(EVE, stats, "Age statistics", ["statistics"]),
                ],
            )
            section(
                "tag allowlist: every tag in the list",
                Policy(rules.tag_allowlist),
                [
                    Submission(ALICE, stats, "Weekly report", ["report", "statistics"]),
                    Submission(ALICE, stats, "Model training", ["statistics", "training"]),
                    Submission(BOB, stats, "Untagged", []),
                ],
            )
            section(
                "code-size limit: all files together",
                Policy(rules.code_size),
                [
                    Submission(BOB, stats, "Small job", ["statistics"]),
                    Submission(BOB, big, "Job with a data file", ["statistics"]),
                ],
            )
            section(
                "only these datasets: what the job says it reads",
                Policy(rules.only_these_datasets),
                [
                    Submission(ALICE, stats, "Census ages", ["statistics"], datasets=("census",)),
                    Submission(ALICE, stats, "Census and patients", ["statistics"], datasets=("census", "patients")),
                ],
            )
            section(
                "a rule that reads run.sh",
                Policy(rules.run_sh(server)),
                [
                    Submission(BOB, stats, "Plain script", ["statistics"]),
                    Submission(BOB, fetch, "Installs a package", ["statistics"]),
                ],
            )
            section(
                "the owner's policy: every rule at once",
                Policy(
                    rules.trusted_domain,
                    rules.code_size,
                    rules.tag_allowlist,
                    rules.only_these_datasets,
                    rules.run_sh(server),
                ),
                [
                    Submission(BOB, stats, "Census ages", ["report"], datasets=("census",)),
                    Submission(EVE, stats, "Census ages", ["report"], datasets=("census",)),
                    Submission(BOB, fetch, "Census ages", ["report"], datasets=("census",)),
                ],
            )
            (raised,) = section(
                "a rule that raises: the job is left pending and the error is logged",
                needs_a_ticket,
                [Submission(ALICE, stats, "Free-text description", ["statistics"], "ages by decade")],
                explain=lambda job: "the rule raised (logged above)",
            )
            print(f"  the owner approves {raised.short_uid} by hand: the server kept serving")
            approved.append(
                server.approve_job(raised.uid, reason="read run.sh", manifest_sha256=raised.state.manifest_sha256)
            )

            print("== results of the approved jobs")
            for job in approved:
                client = clients[job.requester_email]
                if job.datasets:  # it read private data: the owner looks at its results, then releases them
                    held = wait_until_held(server, job.uid)
                    server.release_job(job.uid, reason=f"checked {', '.join(f.path for f in held.files)}")
                done = client.wait_for_job(job.uid, timeout=60)
                output = client.get_job_output(job.uid)
                files = [f"{f.name}={f.read_text().strip()}" for f in sorted(output.iterdir())] if output else []
                print(f"  {job.name:<22} from {job.requester_email:<31} {done.status.value} {', '.join(files)}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
