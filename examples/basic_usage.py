#!/usr/bin/env python3
"""The whole workflow, as the requester and as the data owner, with nothing to set up.

Who runs it: anyone trying the library, on one machine. ``python examples/basic_usage.py``
creates a temporary embedded SyftBox root (two datasites side by side, as ``scq demo`` does),
starts the data owner's queue server in this process, and plays both people in turn:

1. submit: the requester writes a code folder with a ``run.sh`` and submits it;
2. monitor: the requester follows its status while the owner's server accepts it;
3. approve: the owner lists what waits, reads the job's ``run.sh`` and approves exactly
   those bytes (the approval pins the manifest hash);
4. run: the owner's server runs it, in the bubblewrap sandbox where available;
5. results: the requester reads its history, its results and its logs.

    python examples/basic_usage.py [--root DIR] [--timeout 60]

``--root DIR`` keeps the embedded root in DIR to look at afterwards (by default it is a
temporary folder, removed at the end).

The same workflow against a real data owner, who approves it on their side (``scq approve``
or the approval panel), is ``--to OWNER``: you then play only the requester, as your own
SyftBox identity (a running SyftBox client, or ``SYFTBOX_EMAIL`` and ``SYFTBOX_DATA_DIR``),
and the owner's server must be running (``examples/server_setup.py`` or ``scq serve``):

    python examples/basic_usage.py --to owner@example.com [--tag T ...] [--timeout 300]

Exits 0 when the job completed; otherwise it says why and exits 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import syft_code_queue as scq

OWNER = "owner@example.com"
REQUESTER = "alice@example.com"

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
    comes back to the requester, and only to them."""
    folder = parent / "my_analysis"
    folder.mkdir(parents=True)
    (folder / "run.sh").write_text(RUN_SH)
    (folder / "analysis.py").write_text(ANALYSIS_PY)
    (folder / "data.csv").write_text(DATA_CSV)
    return folder


def submit(client: scq.CodeQueueClient, owner: str, work: Path, tags: list[str]) -> scq.Job:
    """Step 1. The folder is copied into the requester's inbox at the owner's queue, with a
    manifest (size and sha256 of every file), so the owner runs exactly these bytes."""
    try:
        job = client.submit_code(
            target_email=owner,
            code_folder=write_code_folder(work),
            name="Data Analysis Job",
            description="Mean and median age of the people in data.csv",
            tags=tags,
            auto_approval=True,  # granted only if the owner's rules allow it
        )
    except (ValueError, OSError, scq.SubmissionError) as exc:
        raise SystemExit(f"could not submit: {exc}") from None
    print(f"submitted {job.name!r} to {owner} as job {job.uid}")
    return job


def monitor(client: scq.CodeQueueClient, uid: str, timeout: float) -> scq.Job:
    """Step 2. The owner's ``state.json`` is the only source of a job's status: until the
    owner's server has written one, the job has not been looked at."""
    deadline = time.monotonic() + timeout
    while (job := client.get_job(uid)).state is None:
        if time.monotonic() > deadline:
            raise SystemExit(
                f"job {uid} was not picked up within {timeout:g} s: the owner's queue server is not "
                "running; ask them to start it (examples/server_setup.py or scq serve)."
            )
        time.sleep(0.05)
    print(f"status: {job.status.value} (accepted by {job.history[0].by})")
    print(f"{job.target_email}'s queue: {client.queue_status(job.target_email).describe()}")
    for recent in client.list_jobs(limit=5):  # newest first
        print(f"  your jobs: {recent}")
    return job


def approve(server: scq.CodeQueueServer, uid: str) -> None:
    """Step 3, the owner. The code is read from the owner's queue, and ``matches_manifest``
    says whether it is the very bytes that would run; the approval pins that manifest."""
    for pending in server.list_jobs(status=scq.JobStatus.pending):
        files = ", ".join(f"{entry.path} ({entry.size} B)" for entry in pending.files)
        print(f"owner sees pending: {pending.name} [{pending.short_uid}] from {pending.requester_email}: {files}")
    script = server.read_submitted_file(uid, "run.sh")
    print(f"owner reads run.sh (matches the manifest: {script.matches_manifest}):")
    for line in script.head.decode(errors="replace").splitlines():
        print(f"  | {line}")
    job = server.get_job(uid)
    if not script.matches_manifest or job.state is None:
        raise SystemExit(f"job {uid} changed while it was reviewed; review it again.")
    job = server.approve_job(uid, reason="read run.sh and analysis.py", manifest_sha256=job.state.manifest_sha256)
    print(f"owner approved job {job.short_uid}; the server runs it")


def wait_for_result(client: scq.CodeQueueClient, uid: str, timeout: float) -> scq.Job:
    """Step 4. Wait until the job finished and its results have fully synced back, or say
    what it still waits for."""
    try:
        return client.wait_for_job(uid, timeout=timeout)
    except TimeoutError as exc:
        job = client.get_job(uid)
        if job.state is None:
            hint = "the owner's queue server has not picked it up: ask them to start it (scq serve)"
        elif job.status == scq.JobStatus.pending:
            hint = "the owner has not reviewed it yet"
        else:
            hint = "it has not finished yet"
        raise SystemExit(f"{exc}: {hint}. Follow it later with `scq show {uid}`.") from None


def read_results(client: scq.CodeQueueClient, uid: str, timeout: float) -> int:
    """Step 5. Results and logs are readable by the requester only, once fully synced."""
    job = wait_for_result(client, uid, timeout)
    print(f"status: {job.status.value} (exit code {job.exit_code}, {job.duration or 0:.2f} s)")
    print("history:")
    for step in job.history:
        print(f"  {step.status.value:9} by {step.by}: {step.reason}")
    if job.status != scq.JobStatus.completed:
        print(f"the job did not complete: {job.error}", file=sys.stderr)
        return 1
    output = client.get_job_output(uid)
    for file in sorted(output.iterdir()) if output is not None else ():
        print(f"{file.name}: {file.read_text().strip()}")
    print("logs:")
    for line in (client.get_job_logs(uid) or "").splitlines():
        print(f"  {line}")
    return 0


def both_sides(root: Path, timeout: float) -> int:
    """Requester and owner on one embedded root; ``create_server``/``create_client`` with an
    explicit identity need no SyftBox client."""
    print(f"embedded SyftBox root: {root} (datasites of {OWNER} and {REQUESTER})")
    server = scq.create_server(email=OWNER, data_dir=root, job_timeout=timeout)
    server.start()  # returns at once: the queue runs in a background thread
    try:
        client = scq.create_client(email=REQUESTER, data_dir=root)
        job = submit(client, OWNER, root / "alice-work", ["analysis", "statistics"])
        monitor(client, job.uid, timeout)
        approve(server, job.uid)
        return read_results(client, job.uid, timeout)
    finally:
        server.stop()


def requester_only(owner: str, tags: list[str], timeout: float) -> int:
    """Your SyftBox identity, a real owner: they review and approve on their side."""
    try:
        client = scq.create_client()
    except scq.ConfigurationError as exc:
        raise SystemExit(str(exc)) from None
    queue = client.queue_status(owner)  # from the heartbeat the owner's server publishes
    if queue.state == "no_queue":
        raise SystemExit(
            f"{queue.describe()}: a job sent there never runs. Ask {owner} to start their queue "
            "server (examples/server_setup.py or scq serve), then run this again."
        )
    print(f"{owner}'s queue: {queue.describe()}")
    with tempfile.TemporaryDirectory(prefix="scq-example-") as work:
        job = submit(client, owner, Path(work), tags)
    print(
        f"waiting for {owner} to review and run it "
        f"(they can approve it with `scq approve {job.short_uid}` or in the approval panel)...",
        flush=True,
    )
    return read_results(client, job.uid, timeout)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="keep the embedded root in this folder (default: a temporary one)")
    parser.add_argument("--to", metavar="OWNER", help="play only the requester, sending to this data owner's queue")
    parser.add_argument("--tag", action="append", dest="tags", metavar="T", help="with --to: a tag (repeatable)")
    parser.add_argument("--timeout", type=float, help="seconds to wait for each step (default: 60, or 300 with --to)")
    args = parser.parse_args(argv)
    if args.to:
        if args.root:
            parser.error("--root is for the embedded root; with --to your SyftBox identity says where you are")
        return requester_only(args.to, args.tags or ["analysis", "statistics"], args.timeout or 300)
    if args.tags:
        parser.error("--tag goes with --to; the embedded workflow tags its job itself")
    if args.root:
        if args.root.exists() and any(args.root.iterdir()):
            parser.error(f"--root {args.root} is not empty: give a new or empty folder")
        return both_sides(args.root.resolve(), args.timeout or 60)
    with tempfile.TemporaryDirectory(prefix="scq-basic-") as tmp:
        return both_sides(Path(tmp) / "syftbox", args.timeout or 60)


if __name__ == "__main__":
    sys.exit(main())
