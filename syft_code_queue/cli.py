"""``scq``: the command line face of the queue (requester and owner commands, and a demo)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Optional, Sequence

from pydantic import ValidationError

from .client import CodeQueueClient
from .errors import QueueError, UsageError
from .models import Job, JobStatus, QueueConfig
from .server import CodeQueueServer
from .syftbox import Workspace

DEFAULT_QUEUE = QueueConfig().queue_name


def _workspace(args: argparse.Namespace) -> Workspace:
    return Workspace.discover(email=args.email, data_dir=args.data_dir)


def _config(args: argparse.Namespace, **overrides: object) -> QueueConfig:
    return QueueConfig(queue_name=args.queue, **overrides)  # type: ignore[arg-type]


def _client(args: argparse.Namespace) -> CodeQueueClient:
    return CodeQueueClient(config=_config(args), workspace=_workspace(args))


def _owner(args: argparse.Namespace) -> CodeQueueServer:
    """A server object used for owner actions; it is not started, so it runs nothing."""
    return CodeQueueServer(config=_config(args), workspace=_workspace(args))


def _fmt_time(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else ""


def _print_jobs(jobs: Sequence[Job], as_json: bool) -> None:
    if as_json:
        print(json.dumps([job.summary() for job in jobs], default=str, indent=2))
        return
    if not jobs:
        print("no jobs")
        return
    # Emails are printed whole: a cut one names the wrong person.
    parties = [f"{job.requester_email} -> {job.target_email}" for job in jobs]
    width = max(len("REQUESTER -> TARGET"), *(len(p) for p in parties))
    print(f"{'UID':8}  {'STATUS':9}  {'CREATED':19}  {'REQUESTER -> TARGET':{width}}  NAME")
    for job, who in zip(jobs, parties, strict=True):
        print(f"{job.short_uid:8}  {job.status.value:9}  {_fmt_time(job.created_at):19}  {who:{width}}  {job.name}")


def _print_job(job: Job, as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    **job.summary(),
                    "description": job.description,
                    "history": [t.model_dump(mode="json") for t in job.history],
                },
                default=str,
                indent=2,
            )
        )
        return
    print(f"{job.name}  [{job.uid}]")
    print(f"  status:     {job.status.value}")
    print(f"  requester:  {job.requester_email}")
    print(f"  target:     {job.target_email}")
    if job.description:
        print(f"  description: {job.description}")
    if job.tags:
        print(f"  tags:       {', '.join(job.tags)}")
    print(f"  files:      {', '.join(f.path for f in job.files)}")
    if job.exit_code is not None:
        print(f"  exit code:  {job.exit_code}")
    if job.error:
        print(f"  reason:     {job.error}")
    for t in job.history:
        reason = f": {t.reason}" if t.reason else ""
        print(f"  {_fmt_time(t.at)}  {t.status.value:9} by {t.by}{reason}")


def _resolve(uid: str, jobs: Callable[[], Sequence[Job]]) -> str:
    """Accept a unique uid prefix (the short uid the tables show)."""
    if len(uid) == 32:
        return uid
    matches = [j.uid for j in jobs() if j.uid.startswith(uid)]
    if len(matches) == 1:
        return matches[0]
    raise UsageError(f"no job matches {uid!r}" if not matches else f"{uid!r} is ambiguous: {len(matches)} jobs match")


# --- commands ------------------------------------------------------------------------


def cmd_submit(args: argparse.Namespace) -> None:
    job = _client(args).submit_code(
        target_email=args.to,
        code_folder=args.folder,
        name=args.name,
        description=args.description,
        tags=args.tag,
        auto_approval=args.auto_approval,
    )
    print(job.uid)


def cmd_resubmit(args: argparse.Namespace) -> None:
    client = _client(args)
    changes = {key: value for key, value in (("name", args.name), ("target_email", args.to)) if value is not None}
    job = client.resubmit(_resolve(args.uid, client.list_jobs), code_folder=args.folder, **changes)
    print(job.uid)


def cmd_status(args: argparse.Namespace) -> None:
    status = _client(args).queue_status(args.owner_email)
    print(f"{args.owner_email}: {status.describe()}")


def cmd_list(args: argparse.Namespace) -> None:
    source = _owner(args) if args.owner else _client(args)
    if args.owner:
        jobs = source.list_jobs(status=args.status, limit=args.limit)  # type: ignore[union-attr]
    else:
        jobs = source.list_jobs(limit=args.limit, status=args.status, target_email=args.to)  # type: ignore[call-arg]
    _print_jobs(jobs, args.json)


def _side(args: argparse.Namespace) -> CodeQueueServer | CodeQueueClient:
    return _owner(args) if getattr(args, "owner", False) else _client(args)


def cmd_show(args: argparse.Namespace) -> None:
    side = _side(args)
    _print_job(side.get_job(_resolve(args.uid, side.list_jobs)), args.json)


def cmd_logs(args: argparse.Namespace) -> None:
    side = _side(args)
    logs = side.get_job_logs(_resolve(args.uid, side.list_jobs))
    if logs is None:
        raise UsageError("no logs yet: the job has not finished, or its logs have not synced")
    sys.stdout.write(logs)


def cmd_output(args: argparse.Namespace) -> None:
    side = _side(args)
    path = side.get_job_output(_resolve(args.uid, side.list_jobs))
    if path is None:
        raise UsageError("no outputs yet: the job has not finished, or its outputs have not synced")
    print(path)
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        print(f"  {file.relative_to(path)}  ({file.stat().st_size} bytes)")


def cmd_cancel(args: argparse.Namespace) -> None:
    side = _side(args)
    uid = _resolve(args.uid, side.list_jobs)
    side.cancel_job(uid, args.reason) if args.reason else side.cancel_job(uid)
    print(f"cancellation requested for {uid}")


def cmd_approve(args: argparse.Namespace) -> None:
    owner = _owner(args)
    job = owner.approve_job(_resolve(args.uid, owner.list_jobs), reason=args.reason or "")
    print(f"{job.uid} {job.status.value}")


def cmd_reject(args: argparse.Namespace) -> None:
    owner = _owner(args)
    job = owner.reject_job(_resolve(args.uid, owner.list_jobs), reason=args.reason)
    print(f"{job.uid} {job.status.value}")


def cmd_serve(args: argparse.Namespace) -> None:
    config = _config(
        args,
        max_concurrent_jobs=args.max_concurrent_jobs,
        job_timeout=args.job_timeout,
        auto_approval_enabled=args.auto_approve,
    )
    server = CodeQueueServer(config=config, workspace=_workspace(args))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"serving queue {config.queue_name!r} of {server.email} (Ctrl-C to stop)", flush=True)
    stop.wait()
    server.stop()
    print("stopped")


def cmd_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    run_demo(Path(args.root), queue_name=args.queue)


# --- parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    identity = argparse.ArgumentParser(add_help=False)
    identity.add_argument("--email", help="your SyftBox email (default: from SyftBox config or $SYFTBOX_EMAIL)")
    identity.add_argument("--data-dir", help="your SyftBox folder (default: from SyftBox config or $SYFTBOX_DATA_DIR)")
    identity.add_argument("--queue", default=DEFAULT_QUEUE, help=f"queue name (default: {DEFAULT_QUEUE})")
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON instead of text")
    as_owner = argparse.ArgumentParser(add_help=False)
    as_owner.add_argument("--owner", action="store_true", help="act as the data owner of the queue")

    parser = argparse.ArgumentParser(
        prog="scq",
        description="Send code to a data owner's SyftBox datasite, review and run it, get results back.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the queue does")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="full submit/approve/run/results round trip on a local root")
    p.add_argument("--root", default="demo-root", help="folder for the embedded SyftBox root (default: ./demo-root)")
    p.add_argument("--queue", default=DEFAULT_QUEUE, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", parents=[identity], help="run the owner's queue server until Ctrl-C")
    p.add_argument("--auto-approve", action="store_true", help="approve jobs that ask for auto-approval")
    p.add_argument("--max-concurrent-jobs", type=int, default=3, help="jobs run at once (default: 3)")
    p.add_argument("--job-timeout", type=float, default=600, help="seconds before a job is killed (default: 600)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("submit", parents=[identity], help="submit a code folder (with run.sh); prints the uid")
    p.add_argument("folder", help="folder containing run.sh")
    p.add_argument("--to", required=True, help="the data owner's email")
    p.add_argument("--name", required=True, help="a human-readable job name")
    p.add_argument("--description", default="", help="what the job does")
    p.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    p.add_argument("--auto-approval", action="store_true", help="ask for the owner's auto-approval")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("resubmit", parents=[identity], help="submit a job's code again as a new job; prints the uid")
    p.add_argument("uid", help="the earlier job's uid (or a unique prefix)")
    p.add_argument("--folder", help="send the code in this folder instead of the earlier job's")
    p.add_argument("--name", help="a new job name (default: the earlier job's)")
    p.add_argument("--to", help="another data owner (default: the earlier job's)")
    p.set_defaults(func=cmd_resubmit)

    p = sub.add_parser("status", parents=[identity], help="whether an owner's queue server is online")
    p.add_argument("owner_email", help="the data owner's email")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("list", parents=[identity, as_json, as_owner], help="list jobs, newest first")
    p.add_argument("--status", choices=[s.value for s in JobStatus], help="only jobs with this status")
    p.add_argument("--limit", type=int, help="at most this many jobs")
    p.add_argument("--to", help="only jobs sent to this owner (requester view)")
    p.set_defaults(func=cmd_list)

    for name, func, text in (
        ("show", cmd_show, "show a job's details and history"),
        ("logs", cmd_logs, "print a finished job's stdout and stderr"),
        ("output", cmd_output, "print the folder holding a finished job's outputs"),
    ):
        p = sub.add_parser(
            name, parents=[identity, as_json, as_owner] if name == "show" else [identity, as_owner], help=text
        )
        p.add_argument("uid", help="job uid (or a unique prefix)")
        p.set_defaults(func=func)

    p = sub.add_parser("cancel", parents=[identity, as_owner], help="cancel a job that has not finished")
    p.add_argument("uid", help="job uid (or a unique prefix)")
    p.add_argument("--reason", help="why (shown in the job's history)")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("approve", parents=[identity], help="(owner) approve a pending job")
    p.add_argument("uid", help="job uid (or a unique prefix)")
    p.add_argument("--reason", help="optional note recorded in the history")
    p.set_defaults(func=cmd_approve)

    p = sub.add_parser("reject", parents=[identity], help="(owner) reject a pending job")
    p.add_argument("uid", help="job uid (or a unique prefix)")
    p.add_argument("--reason", required=True, help="why; shown to the requester")
    p.set_defaults(func=cmd_reject)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except (QueueError, FileNotFoundError, NotADirectoryError, ValueError, ValidationError) as exc:
        print(f"scq: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
