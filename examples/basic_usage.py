#!/usr/bin/env python3
"""The requester's whole workflow: write a code folder, submit it to a data owner's queue,
wait while the owner reviews and runs it, then read its history, results and logs.

Who you are comes from SyftBox, as everywhere in the library: a running SyftBox client's
``~/.syftbox/config.json``, ``SYFTBOX_CLIENT_CONFIG_PATH``, or ``SYFTBOX_EMAIL`` plus
``SYFTBOX_DATA_DIR``. The owner's queue server must be running to answer
(``examples/server_setup.py`` or ``scq serve``).

    python examples/basic_usage.py --to owner@example.com [--tag T ...] [--timeout 300]

Exits 0 when the job completed; otherwise it says why and exits 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Optional

import syft_code_queue as scq

RUN_SH = """\
#!/bin/bash
set -e
echo "Job $SYFT_JOB_NAME for $SYFT_REQUESTER"
python3 analysis.py > "$SYFT_OUTPUT_DIR/results.txt"
echo "Analysis complete!"
"""

ANALYSIS_PY = """\
import csv
import statistics

ages = [int(row["age"]) for row in csv.DictReader(open("data.csv"))]
print(f"n={len(ages)} mean_age={statistics.mean(ages):.1f} median_age={statistics.median(ages)}")
"""

DATA_CSV = "name,age\nada,36\nalan,41\ngrace,45\nlinus,28\n"


def write_code_folder(parent: Path) -> Path:
    """A code folder is any folder with a ``run.sh``; what it writes to ``$SYFT_OUTPUT_DIR``
    comes back to you."""
    folder = parent / "my_analysis"
    folder.mkdir()
    (folder / "run.sh").write_text(RUN_SH)
    (folder / "analysis.py").write_text(ANALYSIS_PY)
    (folder / "data.csv").write_text(DATA_CSV)
    return folder


def wait_for_result(client: scq.CodeQueueClient, uid: str, timeout: float) -> scq.Job:
    """The finished job with its results synced, or a SystemExit that says what it waits for."""
    try:
        return client.wait_for_job(uid, timeout=timeout)
    except TimeoutError as exc:
        job = client.get_job(uid)
        if job.state is None:
            hint = ("the owner's queue server has not picked it up: ask them to start it "
                    "(examples/server_setup.py or scq serve)")
        elif job.status == scq.JobStatus.pending:
            hint = "the owner has not reviewed it yet"
        else:
            hint = "it has not finished yet"
        raise SystemExit(f"{exc}: {hint}. Follow it later with `scq show {uid}`.") from None


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--to", required=True, metavar="OWNER", help="the data owner's email")
    parser.add_argument("--tag", action="append", dest="tags", metavar="T",
                        help="a tag for the job (repeatable; default: analysis, statistics)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the result")
    args = parser.parse_args(argv)

    try:
        client = scq.create_client()
    except scq.ConfigurationError as exc:
        raise SystemExit(str(exc)) from None

    # 1. Submit: the folder is copied into your inbox at the owner's queue, with a manifest
    #    (size and sha256 of every file) so the owner runs exactly these bytes.
    with tempfile.TemporaryDirectory(prefix="scq-example-") as work:
        try:
            job = client.submit_code(
                target_email=args.to,
                code_folder=write_code_folder(Path(work)),
                name="Data Analysis Job",
                description="Mean and median age of the people in data.csv",
                tags=args.tags or ["analysis", "statistics"],
                auto_approval=True,  # granted only if the owner's rules allow it
            )
        except (ValueError, scq.SubmissionError) as exc:
            raise SystemExit(f"could not submit: {exc}") from None
    print(f"submitted {job.name!r} to {args.to} as job {job.uid}")
    print(f"waiting for {args.to} to review and run it "
          f"(they can approve it with `scq approve {job.short_uid}` or in the approval panel)...",
          flush=True)

    # 2. Follow it: the owner's state.json is the only source of status.
    job = wait_for_result(client, job.uid, args.timeout)
    print(f"status: {job.status.value} (exit code {job.exit_code}, {job.duration or 0:.2f} s)")
    print("history:")
    for step in job.history:
        print(f"  {step.status.value:9} by {step.by}: {step.reason}")
    if job.status != scq.JobStatus.completed:
        print(f"the job did not complete: {job.error}", file=sys.stderr)
        return 1

    # 3. Results: only you can read them, and only once they have fully synced.
    output = client.get_job_output(job.uid)
    if output is not None:
        for file in sorted(output.iterdir()):
            print(f"{file.name}: {file.read_text().strip()}")
    print("logs:")
    for line in (client.get_job_logs(job.uid) or "").splitlines():
        print(f"  {line}")

    print("your latest jobs:")
    for recent in client.list_jobs(limit=5):
        print(f"  {recent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
