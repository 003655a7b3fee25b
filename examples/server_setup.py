#!/usr/bin/env python3
"""A data owner's queue server, configured in Python: the queue's settings, the runner's
limits, an approval rule, and one line for every job that changes status, until stopped.

Who you are comes from SyftBox, as everywhere in the library (a running SyftBox client's
``~/.syftbox/config.json``, ``SYFTBOX_CLIENT_CONFIG_PATH``, or ``SYFTBOX_EMAIL`` plus
``SYFTBOX_DATA_DIR``).

    python examples/server_setup.py [--queue code-queue] [--max-concurrent-jobs 2]
                                    [--job-timeout 600] [--auto-approve-tag T ...] [--require-sandbox]

Without ``--auto-approve-tag`` every job waits for you: approve or reject it with
``scq approve UID`` / ``scq reject UID --reason R`` or in the ``ApprovalPanel`` widget.
Ctrl-C (or SIGTERM) stops the server; jobs still running are stopped and recorded as failed.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Optional

from pydantic import ValidationError

import syft_code_queue as scq

MiB = 1024 * 1024


def build_server(args: argparse.Namespace) -> scq.CodeQueueServer:
    config = scq.QueueConfig(
        queue_name=args.queue,
        max_concurrent_jobs=args.max_concurrent_jobs,
        job_timeout=args.job_timeout,
        cleanup_completed_after=7 * 86400,  # keep a week of logs and outputs, then only the record
        auto_approval_enabled=bool(args.auto_approve_tag),
    )
    # The sandbox (bubblewrap) is what contains a job; the command list only refuses scripts
    # that name these programs. Every limit applies per job.
    runner = scq.SafeCodeRunner(
        timeout=args.job_timeout,
        max_output_size=1 * MiB,  # per log
        blocked_commands=["sudo", "su", "passwd"],
        max_outputs_size=50 * MiB,
        max_memory=1024 * MiB,  # per process
        max_processes=64,
        allow_network=False,
        require_sandbox=args.require_sandbox,  # without bubblewrap: fail jobs rather than run them bare
    )
    tags = frozenset(args.auto_approve_tag)

    def tagged(job: scq.Job) -> bool:
        # Only jobs that asked for auto-approval get here; examples/custom_approval.py has
        # rules that also check who sent the job and which code it runs.
        return not tags.isdisjoint(job.tags)

    return scq.CodeQueueServer(config=config, runner=runner, auto_approval_callback=tagged if tags else None)


def serve(server: scq.CodeQueueServer) -> None:
    """Serve until SIGINT or SIGTERM, printing each status change as the queue sees it."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()  # returns at once: the queue runs in a background thread
    print(f"serving queue {server.queue_name!r} of {server.email} (Ctrl-C to stop)", flush=True)

    shown: dict[str, str] = {}  # uid -> the status last printed
    previous = None
    while not stop.wait(0.5):
        current = server.snapshot()  # cheap: only what changed since the last call is read
        for row in current.changes_since(previous).changed:
            if shown.get(row["uid"]) != row["status"]:
                shown[row["uid"]] = row["status"]
                why = f": {row['error']}" if row["error"] else ""
                print(f"{row['status']:9} {row['name']} [{row['uid'][:8]}] "
                      f"from {row['requester_email']}{why}", flush=True)
        previous = current
    server.stop()
    print("stopped", flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue", default="code-queue", help="queue name (default: code-queue)")
    parser.add_argument("--max-concurrent-jobs", type=int, default=2, help="jobs run at once (default: 2)")
    parser.add_argument("--job-timeout", type=float, default=600, help="seconds per job (default: 600)")
    parser.add_argument("--auto-approve-tag", action="append", default=[], metavar="T",
                        help="approve jobs with this tag that ask for it (repeatable)")
    parser.add_argument("--require-sandbox", action="store_true",
                        help="fail every job when bubblewrap is not available here")
    args = parser.parse_args(argv)
    # The server logs what it serves with, and warns when jobs cannot be sandboxed.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        serve(build_server(args))
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        raise SystemExit(f"invalid setting {field}: {error['msg'].removeprefix('Value error, ')}; see --help.") from None
    except (scq.ConfigurationError, scq.ServerAlreadyRunning, ValueError) as exc:  # each says what to do
        raise SystemExit(str(exc)) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
