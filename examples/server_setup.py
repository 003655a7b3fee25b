#!/usr/bin/env python3
"""A data owner's queue server as a long-running script, configured in Python.

Who runs it: the data owner, on the machine whose SyftBox client holds their datasite (or
under a scheduler such as systemd). What it shows:

- ``QueueConfig``: every setting of the queue, validated before anything starts, and
  ``create_server`` built from it (its keywords are the same settings);
- ``SafeCodeRunner``: the limits every job runs under (sandbox, time, memory, processes,
  output sizes, network, commands refused at acceptance);
- an auto-approval rule, and one printed line for every job that changes status;
- a clean stop on Ctrl-C or SIGTERM (or after ``--seconds``): jobs still running are stopped
  and recorded as failed, and the queue is released for the next server.

    python examples/server_setup.py [--root DIR] [--email OWNER] [--seconds N]
                                    [--queue code-queue] [--max-concurrent-jobs 2] [--job-timeout 600]
                                    [--auto-approve-tag T ...] [--require-sandbox]

Who you are comes from SyftBox, as everywhere in the library (a running SyftBox client's
``~/.syftbox/config.json``, ``SYFTBOX_CLIENT_CONFIG_PATH``, or ``SYFTBOX_EMAIL`` plus
``SYFTBOX_DATA_DIR``). ``--root DIR`` serves on an embedded local root at DIR instead, as
``--email`` (default owner@example.com); ``--seconds N`` stops after N seconds, so that a
test or a CI job can run it briefly.

Without ``--auto-approve-tag`` every job waits for you: approve or reject it with
``scq approve UID`` / ``scq reject UID --reason R`` or in the ``ApprovalPanel`` widget.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from pydantic import ValidationError

import syft_code_queue as scq

MiB = 1024 * 1024
LOCAL_OWNER = "owner@example.com"


def queue_config(args: argparse.Namespace) -> scq.QueueConfig:
    """Every setting of the queue; a bad value fails here, before anything is served."""
    return scq.QueueConfig(
        queue_name=args.queue,
        max_concurrent_jobs=args.max_concurrent_jobs,
        job_timeout=args.job_timeout,  # seconds; the job and every process it started are killed then
        cleanup_completed_after=7 * 86400,  # keep a week of logs and outputs, then only the record
        auto_approval_enabled=bool(args.auto_approve_tag),
        arrival_timeout=600,  # a submission still syncing after this long is rejected as incomplete
        rescan_interval=2.0,  # pick-up is event driven; this full pass is the safety net
        running_shown_after=0.25,  # jobs shorter than this go from approved straight to their end
        heartbeat_interval=30.0,  # requesters see the queue online while this keeps being rewritten
    )


def safe_runner(args: argparse.Namespace) -> scq.SafeCodeRunner:
    """The sandbox (bubblewrap) is what contains a job; the command list only refuses scripts
    that name these programs, when they are accepted. Every limit applies per job."""
    return scq.SafeCodeRunner(
        timeout=args.job_timeout,
        max_output_size=1 * MiB,  # per log (stdout.txt, stderr.txt)
        blocked_commands=["sudo", "su", "passwd"],
        max_outputs_size=50 * MiB,  # all of $SYFT_OUTPUT_DIR
        max_scratch_size=512 * MiB,  # the job's home and tmp
        max_cpu_time=300,  # CPU seconds, per process
        max_memory=1024 * MiB,  # address space, per process
        max_processes=64,
        max_open_files=256,
        max_file_size=50 * MiB,
        allow_network=False,
        require_sandbox=args.require_sandbox,  # without bubblewrap: fail jobs rather than run them bare
    )


def build_server(args: argparse.Namespace) -> scq.CodeQueueServer:
    config = queue_config(args)
    tags = frozenset(args.auto_approve_tag)

    def tagged(job: scq.Job) -> bool:
        # Asked only for jobs that requested auto-approval. Tags are whatever the requester
        # typed: examples/custom_approval.py has rules that also check who sent the job and
        # what its code does.
        return not tags.isdisjoint(job.tags)

    identity = {"email": args.email or LOCAL_OWNER, "data_dir": args.root} if args.root else {"email": args.email}
    return scq.create_server(
        auto_approval_callback=tagged if tags else None,
        runner=safe_runner(args),
        **identity,
        **config.model_dump(),
    )


def serve(server: scq.CodeQueueServer, seconds: Optional[float]) -> None:
    """Serve until SIGINT (Ctrl-C), SIGTERM or ``seconds``, printing each status change."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _: stop.set())
    server.start()  # returns at once: the queue runs in a background thread
    print(f"serving queue {server.queue_name!r} of {server.email} (Ctrl-C to stop)", flush=True)
    deadline = time.monotonic() + seconds if seconds is not None else None

    shown: dict[str, str] = {}  # uid -> the status last printed
    previous = None
    while not stop.wait(0.2):
        current = server.snapshot()  # cheap: only what changed since the last call is read
        for row in current.changes_since(previous).changed:
            if shown.get(row["uid"]) != row["status"]:
                shown[row["uid"]] = row["status"]
                why = f": {row['error']}" if row["error"] else ""
                print(
                    f"{row['status']:9} {row['name']} [{row['uid'][:8]}] from {row['requester_email']}{why}",
                    flush=True,
                )
        previous = current
        if deadline is not None and time.monotonic() >= deadline:
            print(f"stopping after {seconds:g} s", flush=True)
            break
    else:
        print("stopping: jobs still running are stopped and recorded as failed", flush=True)
    server.stop()
    print("stopped", flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="serve on an embedded local root at this folder")
    parser.add_argument(
        "--email", help=f"the owner's email (default: your SyftBox identity; {LOCAL_OWNER} with --root)"
    )
    parser.add_argument("--seconds", type=float, help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--queue", default="code-queue", help="queue name (default: code-queue)")
    parser.add_argument("--max-concurrent-jobs", type=int, default=2, help="jobs run at once (default: 2)")
    parser.add_argument("--job-timeout", type=float, default=600, help="seconds per job (default: 600)")
    parser.add_argument(
        "--auto-approve-tag",
        action="append",
        default=[],
        metavar="T",
        help="approve jobs with this tag that ask for it (repeatable)",
    )
    parser.add_argument(
        "--require-sandbox", action="store_true", help="fail every job when bubblewrap is not available here"
    )
    args = parser.parse_args(argv)
    if args.seconds is not None and args.seconds <= 0:
        parser.error("--seconds must be more than 0")
    # The server logs what it serves with (the runner's limits), and warns when jobs cannot
    # be sandboxed here.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        serve(build_server(args), args.seconds)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        raise SystemExit(f"invalid setting {field}: {message}; see --help.") from None
    except (scq.ConfigurationError, scq.ServerAlreadyRunning, ValueError) as exc:  # each says what to do
        raise SystemExit(str(exc)) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
