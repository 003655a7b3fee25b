"""``scq``: the command line face of the queue (requester and owner commands, and a demo)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Optional, Sequence

from pydantic import ValidationError

from .client import CodeQueueClient
from .errors import QueueError, UsageError
from .models import UNPRINTABLE, Job, JobStatus, QueueConfig
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


def _safe(text: object, keep: str = "") -> str:
    """Text a requester (or a job) wrote, with every control and bidirectional character
    shown escaped (except those in ``keep``): it cannot retitle the owner's terminal, hide
    text or forge rows."""
    return UNPRINTABLE.sub(lambda m: m[0] if m[0] in keep else m[0].encode("unicode_escape").decode(), str(text))


def _fmt_time(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else ""


def _print_jobs(jobs: Sequence[Job], as_json: bool) -> None:
    if as_json:
        print(json.dumps([job.summary() for job in jobs], default=str, indent=2))
        return
    if not jobs:
        print("no jobs")
        return
    print(f"{'UID':8}  {'STATUS':9}  {'CREATED':19}  {'REQUESTER -> TARGET':40}  NAME")
    for job in jobs:
        who = _safe(f"{job.requester_email} -> {job.target_email}")
        name = _safe(job.name)
        print(f"{job.short_uid:8}  {job.status.value:9}  {_fmt_time(job.created_at):19}  {who[:40]:40}  {name}")


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
    lines = [
        f"{job.name}  [{job.requester_email}/{job.uid}]",
        f"  status:     {job.status.value}",
        f"  requester:  {job.requester_email}",
        f"  target:     {job.target_email}",
        f"  manifest:   {job.request.manifest_sha256}  (approve --manifest pins it)",
    ]
    if job.changed_after_acceptance:
        lines.append("  warning:    the requester's job.json changed after it was accepted; shown as accepted")
    if job.description:
        lines.append(f"  description: {job.description}")
    if job.tags:
        lines.append(f"  tags:       {', '.join(job.tags)}")
    lines.append(f"  files:      {', '.join(f.path for f in job.files)}")
    if job.exit_code is not None:
        lines.append(f"  exit code:  {job.exit_code}")
    if job.error:
        lines.append(f"  reason:     {job.error}")
    for t in job.history:
        reason = f": {t.reason}" if t.reason else ""
        lines.append(f"  {_fmt_time(t.at)}  {t.status.value:9} by {t.by}{reason}")
    print("\n".join(_safe(line) for line in lines))


def _resolve(given: str, side: CodeQueueServer | CodeQueueClient) -> str:
    """The job ``given`` names: ``REQUESTER/UID`` (owner), a uid or a unique uid prefix (the
    short uid the tables show). For the owner, a uid that several requesters' jobs use is
    refused: it must be named as ``REQUESTER/UID``."""
    if "/" in given:
        return given
    matches = [job for job in side.list_jobs() if job.uid.startswith(given)]
    if not matches:
        raise UsageError(f"no job matches {given!r}")
    if len({job.uid for job in matches}) > 1:
        raise UsageError(f"{given!r} is ambiguous: {len(matches)} jobs match")
    if isinstance(side, CodeQueueServer):
        if len(matches) > 1:
            named = ", ".join(sorted(_safe(f"{job.requester_email}/{job.uid}") for job in matches))
            raise UsageError(f"uid {matches[0].uid} is used by several requesters; name one of {named}")
        return f"{matches[0].requester_email}/{matches[0].uid}"
    return matches[0].uid


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
    _print_job(side.get_job(_resolve(args.uid, side)), args.json)


def cmd_logs(args: argparse.Namespace) -> None:
    side = _side(args)
    logs = side.get_job_logs(_resolve(args.uid, side))
    if logs is None:
        raise UsageError("no logs yet: the job has not finished, or its logs have not synced")
    sys.stdout.write(_safe(logs, keep="\n\t"))


def cmd_output(args: argparse.Namespace) -> None:
    side = _side(args)
    path = side.get_job_output(_resolve(args.uid, side))
    if path is None:
        raise UsageError("no outputs yet: the job has not finished, or its outputs have not synced")
    print(path)
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        print(f"  {_safe(file.relative_to(path))}  ({file.stat().st_size} bytes)")


def cmd_cancel(args: argparse.Namespace) -> None:
    side = _side(args)
    uid = _resolve(args.uid, side)
    side.cancel_job(uid, args.reason) if args.reason else side.cancel_job(uid)
    print(f"cancellation requested for {uid}")


def cmd_approve(args: argparse.Namespace) -> None:
    owner = _owner(args)
    job = owner.approve_job(_resolve(args.uid, owner), reason=args.reason or "", manifest_sha256=args.manifest)
    print(f"{job.uid} {job.status.value}")


def cmd_reject(args: argparse.Namespace) -> None:
    owner = _owner(args)
    job = owner.reject_job(_resolve(args.uid, owner), reason=args.reason)
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
        p.add_argument("uid", help="job uid, a unique prefix, or REQUESTER/UID (owner)")
        p.set_defaults(func=func)

    p = sub.add_parser("cancel", parents=[identity, as_owner], help="cancel a job that has not finished")
    p.add_argument("uid", help="job uid, a unique prefix, or REQUESTER/UID (owner)")
    p.add_argument("--reason", help="why (shown in the job's history)")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("approve", parents=[identity], help="(owner) approve a pending job")
    p.add_argument("uid", help="job uid, a unique prefix, or REQUESTER/UID (owner)")
    p.add_argument("--reason", help="optional note recorded in the history")
    p.add_argument("--manifest", help="approve only if the code is this manifest (as `scq show --owner` printed)")
    p.set_defaults(func=cmd_approve)

    p = sub.add_parser("reject", parents=[identity], help="(owner) reject a pending job")
    p.add_argument("uid", help="job uid, a unique prefix, or REQUESTER/UID (owner)")
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
    except (QueueError, OSError, ValueError, ValidationError) as exc:  # OSError: e.g. an unreadable data folder
        print(f"scq: error: {_safe(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
