"""``scq``: the command line face of the queue (requester and owner commands, and a demo)."""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional, Sequence

from pydantic import ValidationError

from .client import CodeQueueClient
from .datasets import Dataset
from .errors import QueueError, UsageError
from .models import UNPRINTABLE, Job, JobStatus, QueueConfig, TrustRule, utcnow
from .protocol.audit import to_csv, to_json
from .runtimes.documents import PublishedRuntime
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
    # Emails are printed whole: a cut one names the wrong person.
    parties = [_safe(f"{job.requester_email} -> {job.target_email}") for job in jobs]
    width = max(len("REQUESTER -> TARGET"), *(len(p) for p in parties))
    status = max(9, *(len(job.status.value) for job in jobs))
    print(f"{'UID':8}  {'STATUS':{status}}  {'CREATED':19}  {'REQUESTER -> TARGET':{width}}  NAME")
    for job, who in zip(jobs, parties, strict=True):
        created = _fmt_time(job.created_at)
        print(f"{job.short_uid:8}  {job.status.value:{status}}  {created:19}  {who:{width}}  {_safe(job.name)}")


def _print_job(job: Job, as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    **job.summary(),
                    "description": job.description,
                    "history": [t.model_dump(mode="json") for t in job.history],
                    "release_notes": job.release_notes,
                    "release": job.release.model_dump(mode="json") if job.release else None,
                },
                default=str,
                indent=2,
            )
        )
        return
    lines = [
        f"{job.name}  [{job.requester_email}/{job.uid}]",
        f"  status:     {job.status.label}",
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
    if job.release_notes:
        lines.append(f"  release notes: {job.release_notes}")
    if job.supersedes:
        lines.append(f"  supersedes: {job.supersedes}")
    if job.exit_code is not None:
        lines.append(f"  exit code:  {job.exit_code}")
    if job.error:
        lines.append(f"  reason:     {job.error}")
    if job.release is not None:
        release = job.release
        released = [f.path for f in release.files] + [f.path for f in release.logs]
        decided = f"by {release.decided_by} at {_fmt_time(release.decided_at)}: {release.reason or '-'}"
        lines.append(f"  release:    {decided}")
        withheld = f"{release.withheld_files} held files not released"
        lines.append(f"    released: {', '.join(released) or 'nothing'}; {withheld}")
    if job.runtime is not None:
        lock = f", lock {job.runtime.lock_sha256[:12]}" if job.runtime.lock_sha256 else ""
        lines.append(f"  runtime:    {job.runtime.name} (Python {job.runtime.python}{lock})")
    if job.state is not None and job.state.runtime is not None and job.state.runtime.pins:
        lines.append(f"  pins:       {', '.join(job.state.runtime.pins)}")
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


DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _duration(text: str) -> Optional[timedelta]:
    match = DURATION.match(text.strip())
    return timedelta(**{UNITS[match.group(2)]: float(match.group(1))}) if match else None


def _when(text: str, option: str, ahead: bool) -> datetime:
    """An ISO 8601 date or time (UTC unless it says otherwise), or a duration such as 30m,
    12h or 7d counted back from now (``ahead``: forward)."""
    delta = _duration(text)
    if delta is not None:
        return utcnow() + delta if ahead else utcnow() - delta
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is neither a time nor a duration; give e.g. 2026-01-31, 2026-01-31T09:00 or 7d"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


# --- commands ------------------------------------------------------------------------


def cmd_submit(args: argparse.Namespace) -> None:
    job = _client(args).submit_code(
        target_email=args.to,
        code_folder=args.folder,
        name=args.name,
        description=args.description,
        tags=args.tag,
        auto_approval=args.auto_approval,
        release_notes=args.release_notes,
        runtime=args.runtime,
        datasets=args.dataset,
    )
    print(job.uid)


def cmd_status(args: argparse.Namespace) -> None:
    status = _client(args).queue_status(args.owner_email)
    print(f"{args.owner_email}: {status.describe()}")


def cmd_run_local(args: argparse.Namespace) -> None:
    result = _client(args).run_local(args.folder, args.to, args.dataset)
    sys.stdout.write(result.logs)
    print(f"{result.status} (exit code {result.exit_code}){': ' + result.error if result.error else ''}")
    print(f"outputs: {result.output_dir}")
    for rel in result.outputs:
        print(f"  {rel}")
    if result.status != "completed":
        raise SystemExit(1)


def _print_datasets(datasets: Sequence[Dataset], as_json: bool) -> None:
    if as_json:
        print(json.dumps([d.summary_row() for d in datasets], default=str, indent=2))
        return
    if not datasets:
        print("no datasets")
        return
    print(f"{'NAME':20}  {'OWNER':30}  {'MOCK':>10}  SUMMARY")
    for d in datasets:
        print(f"{d.name:20}  {d.owner:30}  {d.mock_size:>10}  {d.summary}")


def _print_dataset(d: Dataset, as_json: bool) -> None:
    if as_json:
        print(json.dumps({**d.summary_row(), "readme": d.readme, "files": [f.path for f in d.files]}, default=str))
        return
    print(f"{d.owner}/{d.name}  ({d.source})")
    print(f"  summary:    {d.summary}")
    if d.tags:
        print(f"  tags:       {', '.join(d.tags)}")
    if d.mock_note:
        print(f"  mock note:  {d.mock_note}")
    print(f"  mock:       {d.mock_path} ({len(d.files)} files, {d.mock_size} bytes)")
    for entry in d.files:
        print(f"    {entry.path}  ({entry.size} bytes)")
    if d.private_path is not None:
        print(f"  private:    {d.private_path} ({d.private_size} bytes; never synced)")
        print(f"  users:      {', '.join(d.users or ())}")
    if d.readme:
        print("  readme:")
        print("    " + d.readme.strip().replace("\n", "\n    "))


def cmd_dataset_add(args: argparse.Namespace) -> None:
    dataset = _owner(args).add_dataset(
        args.name,
        private_path=args.private,
        mock_path=args.mock,
        summary=args.summary,
        readme=args.readme,
        tags=args.tag,
        users=args.user or "*",
        mock_note=args.mock_note,
    )
    print(f"published {dataset.owner}/{dataset.name} ({len(dataset.files)} mock files)")


def cmd_dataset_list(args: argparse.Namespace) -> None:
    if args.owner:
        _print_datasets(_client(args).list_datasets(args.owner), args.json)
    else:
        _print_datasets(_owner(args).list_datasets(), args.json)


def cmd_dataset_show(args: argparse.Namespace) -> None:
    owner, _, name = args.name.rpartition("/")
    if owner:
        _print_dataset(_client(args).get_dataset(owner, name), args.json)
    else:
        _print_dataset(_owner(args).get_dataset(name), args.json)


def cmd_dataset_remove(args: argparse.Namespace) -> None:
    _owner(args).remove_dataset(args.name)
    print(f"removed {args.name} (its private folder is left as it is)")


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
    uid = _resolve(args.uid, owner)
    terms = args.variable_file or args.trust_requester or args.expires
    if terms and not args.trust:
        raise UsageError("--variable-file, --trust-requester and --expires shape a trust rule: add --trust")
    trust: bool | TrustRule = args.trust
    if args.trust:
        trust = TrustRule(
            requesters=tuple(args.trust_requester) or None,
            variable_files=tuple(args.variable_file),
            expires=_when(args.expires, "--expires", ahead=True) if args.expires else None,
        )
    job = owner.approve_job(uid, reason=args.reason or "", manifest_sha256=args.manifest, trust=trust)
    print(f"{job.uid} {job.status.value}")
    if args.trust:
        rule = next(r for r in owner.list_trust_rules() if r.source_uid == job.uid)
        print(f"trust rule {rule.id}: later submissions of this code approve themselves")


def cmd_request_changes(args: argparse.Namespace) -> None:
    owner = _owner(args)
    job = owner.request_changes(_resolve(args.uid, owner), comments=args.comments)
    print(f"{job.uid} {job.status.value}")


def cmd_resubmit(args: argparse.Namespace) -> None:
    client = _client(args)
    changes = {
        key: value
        for key, value in (("name", args.name), ("description", args.description), ("tags", args.tag))
        if value is not None
    }
    job = client.resubmit(_resolve(args.uid, client), code_folder=args.folder, **changes)
    print(job.uid)


def cmd_diff(args: argparse.Namespace) -> None:
    owner = _owner(args)
    against = _resolve(args.against, owner) if args.against else None
    sys.stdout.write(_safe(owner.diff_job(_resolve(args.uid, owner), against=against).text(), keep="\n\t"))


def cmd_trust(args: argparse.Namespace) -> None:
    owner = _owner(args)
    if args.action == "revoke":
        if not args.rule_id:
            raise UsageError("name the rule to revoke: scq trust revoke RULE_ID (scq trust list shows them)")
        rule = owner.revoke_trust(args.rule_id)
        print(f"revoked trust rule {rule.id} (the code of job {rule.source_uid})")
        return
    rules = owner.list_trust_rules()
    if args.json:
        print(json.dumps([rule.model_dump(mode="json") for rule in rules], indent=2))
        return
    if not rules:
        print("no trust rules")
    for rule in rules:
        expires = f"until {_fmt_time(rule.expires)}" if rule.expires else "no expiry"
        state = " (expired)" if rule.expired() else ""
        print(f"{rule.id}  job {rule.source_uid}  {expires}{state}")
        print(f"  requesters: {', '.join(rule.requesters or ())}")
        print(f"  datasets: {', '.join(rule.datasets or ()) or '(none)'}")
        print(f"  pinned files: {', '.join(f.path for f in rule.files)}")
        if rule.variable_files:
            print(f"  variable files: {', '.join(rule.variable_files)}")


def cmd_audit(args: argparse.Namespace) -> None:
    since = _when(args.since, "--since", ahead=False) if args.since else None
    records = _owner(args).store.audit.read(since=since, uid=args.uid)
    if args.format == "json":
        print(to_json(records))
    elif args.format == "csv":
        sys.stdout.write(to_csv(records))
    else:
        for r in records:
            job = f"  {r.requester}/{r.uid}" if r.uid else ""
            details = ", ".join(f"{k}={v}" for k, v in r.details.items() if v not in (None, ""))
            print(_safe(f"{_fmt_time(r.at)}  {r.kind:13}  {r.by}{job}  {details}"))


def cmd_reject(args: argparse.Namespace) -> None:
    owner = _owner(args)
    job = owner.reject_job(_resolve(args.uid, owner), reason=args.reason)
    print(f"{job.uid} {job.status.value}")


def cmd_held(args: argparse.Namespace) -> None:
    owner = _owner(args)
    jobs = owner.list_jobs(status=JobStatus.awaiting_release)
    if not jobs:
        print("no results awaiting release")
        return
    for job in jobs:
        held = owner.get_held_outputs(f"{job.requester_email}/{job.uid}")
        lines = [f"{job.short_uid}  {job.name}  from {job.requester_email}  (exit code {held.exit_code})"]
        if held.release_notes:
            lines.append(f"  notes: {held.release_notes}")
        for entry, shown in [(f, f.path) for f in held.files] + [(f, f"[log] {f.path}") for f in held.log_files]:
            lines.append(f"  {entry.verdict:6}  {entry.size:>10}  {shown}")
            lines.extend(f"          {message}" for message in entry.messages)
        print("\n".join(_safe(line) for line in lines))


def cmd_release(args: argparse.Namespace) -> None:
    owner = _owner(args)
    job = owner.release_job(
        _resolve(args.uid, owner), files=args.file or None, logs=not args.no_logs, reason=args.reason or ""
    )
    release = job.release
    assert release is not None
    logs = " and the logs" if release.logs_released else ""
    print(f"{job.uid} {job.status.value}: released {len(release.files)} files{logs}")


def cmd_withhold(args: argparse.Namespace) -> None:
    owner = _owner(args)
    job = owner.withhold_job(_resolve(args.uid, owner), reason=args.reason)
    print(f"{job.uid} {job.status.value}")


def cmd_serve(args: argparse.Namespace) -> None:
    config = _config(
        args,
        max_concurrent_jobs=args.max_concurrent_jobs,
        job_timeout=args.job_timeout,
        auto_approval_enabled=args.auto_approve,
        release_policy=args.release_policy,
        allow_requirements=args.allow_requirements,
        forbidden_packages=tuple(args.forbid),
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


def cmd_runtime_add(args: argparse.Namespace) -> None:
    runtime = _owner(args).add_runtime(
        args.name, args.python, args.package, index_url=args.index_url, allow_requirements=args.allow_requirements
    )
    _print_runtimes([runtime], as_json=False)


def cmd_runtime_list(args: argparse.Namespace) -> None:
    runtimes = _client(args).list_runtimes(args.to) if args.to else _owner(args).list_runtimes()
    _print_runtimes(runtimes, args.json)


def cmd_runtime_remove(args: argparse.Namespace) -> None:
    _owner(args).remove_runtime(args.name)
    print(f"removed runtime {args.name!r}")


def _print_runtimes(runtimes: Sequence[PublishedRuntime], as_json: bool) -> None:
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in runtimes], indent=2))
        return
    if not runtimes:
        print("no runtimes listed (has the owner's list synced?)")
    for r in runtimes:
        lock = f"lock {r.lock_sha256[:12]}" if r.lock_sha256 else "the owner's own environment"
        requirements = ", requirements.txt installed" if r.allow_requirements else ""
        print(f"{r.name}  Python {r.python}, {lock}{requirements}")
        for pin in r.packages:
            print(f"    {pin}")


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
    p.add_argument(
        "--release-policy",
        choices=["manual", "auto", "checks"],
        help="who releases results (default: manual for jobs that read a dataset, auto otherwise)",
    )
    p.add_argument("--allow-requirements", action="store_true", help="install what a job's requirements.txt names")
    p.add_argument("--forbid", action="append", default=[], help="a package no job may install (repeatable)")
    p.set_defaults(func=cmd_serve)

    runtime = sub.add_parser("runtime", help="the Python environments jobs run in").add_subparsers(
        dest="runtime_command", required=True, metavar="ACTION"
    )
    p = runtime.add_parser("add", parents=[identity], help="(owner) declare a runtime; resolved and built at once")
    p.add_argument("name", help="its name, as requesters choose it")
    p.add_argument("--python", help="an installed Python version, e.g. 3.11 (default: the serving one)")
    p.add_argument("--package", action="append", default=[], help="a requirement, e.g. 'pandas==2.2.*' (repeatable)")
    p.add_argument("--index-url", help="the package index to resolve against (default: uv's, normally PyPI)")
    p.add_argument("--allow-requirements", action="store_true", help="also install a job's requirements.txt")
    p.set_defaults(func=cmd_runtime_add)
    p = runtime.add_parser("list", parents=[identity, as_json], help="runtimes of your queue, or of --to OWNER's")
    p.add_argument("--to", help="the owner whose runtimes to list (requester view)")
    p.set_defaults(func=cmd_runtime_list)
    p = runtime.add_parser("remove", parents=[identity], help="(owner) withdraw a runtime")
    p.add_argument("name", help="the runtime's name")
    p.set_defaults(func=cmd_runtime_remove)

    p = sub.add_parser("submit", parents=[identity], help="submit a code folder (with run.sh); prints the uid")
    p.add_argument("folder", help="folder containing run.sh")
    p.add_argument("--to", required=True, help="the data owner's email")
    p.add_argument("--name", required=True, help="a human-readable job name")
    p.add_argument("--description", default="", help="what the job does")
    p.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    p.add_argument("--auto-approval", action="store_true", help="ask for the owner's auto-approval")
    p.add_argument("--release-notes", default="", help="for the owner's output review: disclosure controls applied")
    p.add_argument("--runtime", help="one of the owner's runtimes (scq runtime list --to OWNER)")
    p.add_argument("--dataset", action="append", default=[], help="an owner's dataset the job reads (repeatable)")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("status", parents=[identity], help="whether an owner's queue server is online")
    p.add_argument("owner_email", help="the data owner's email")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "run-local", parents=[identity], help="run a code folder here on the mocks of an owner's datasets"
    )
    p.add_argument("folder", help="folder containing run.sh")
    p.add_argument("--to", required=True, help="the data owner's email")
    p.add_argument("--dataset", action="append", default=[], help="a dataset whose mock the run reads (repeatable)")
    p.set_defaults(func=cmd_run_local)

    p = sub.add_parser("dataset", help="publish, list, show and remove datasets")
    datasets = p.add_subparsers(dest="dataset_command", required=True, metavar="ACTION")
    p = datasets.add_parser("add", parents=[identity], help="(owner) publish a dataset: its mock and metadata")
    p.add_argument("name", help="the dataset's name (letters, digits, '_' or '-')")
    p.add_argument("--private", required=True, help="the folder of private data (outside the SyftBox folder)")
    p.add_argument("--mock", help="the folder of mock data, published to the dataset's users")
    p.add_argument("--summary", default="", help="one line on what the data is")
    p.add_argument("--readme", help="a Markdown file describing the data")
    p.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    p.add_argument("--user", action="append", default=[], help="an email who may use it (repeatable; default: all)")
    p.add_argument("--mock-note", default="", help="how the mock differs from the private data")
    p.set_defaults(func=cmd_dataset_add)
    p = datasets.add_parser("list", parents=[identity, as_json], help="list your datasets, or an owner's")
    p.add_argument("--owner", help="list this owner's datasets (as a requester)")
    p.set_defaults(func=cmd_dataset_list)
    p = datasets.add_parser("show", parents=[identity, as_json], help="show a dataset: yours (NAME) or OWNER/NAME")
    p.add_argument("name", metavar="[OWNER/]NAME")
    p.set_defaults(func=cmd_dataset_show)
    p = datasets.add_parser("remove", parents=[identity], help="(owner) unpublish a dataset")
    p.add_argument("name")
    p.set_defaults(func=cmd_dataset_remove)

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
    p.add_argument(
        "--trust", action="store_true", help="also trust this code: later submissions of it approve themselves"
    )
    p.add_argument("--variable-file", action="append", default=[], help="(with --trust) a file allowed to differ")
    p.add_argument(
        "--trust-requester", action="append", default=[], help="(with --trust) a requester trusted (default: this one)"
    )
    p.add_argument("--expires", help="(with --trust) when the rule ends: a time, or a duration such as 30d")
    p.set_defaults(func=cmd_approve)

    p = sub.add_parser("request-changes", parents=[identity], help="(owner) send a pending job back with comments")
    p.add_argument("uid", help="job uid (or a unique prefix)")
    p.add_argument("--comments", required=True, help="what should change; shown to the requester")
    p.set_defaults(func=cmd_request_changes)

    p = sub.add_parser("resubmit", parents=[identity], help="send a new version of a finished job; prints the new uid")
    p.add_argument("uid", help="the job it replaces (uid or a unique prefix)")
    p.add_argument("folder", nargs="?", help="folder with the new code (default: the same code again)")
    p.add_argument("--name", help="a new name (default: the old job's)")
    p.add_argument("--description", help="a new description (default: the old job's)")
    p.add_argument("--tag", action="append", help="a tag (repeatable; default: the old job's tags)")
    p.set_defaults(func=cmd_resubmit)

    p = sub.add_parser("diff", parents=[identity], help="(owner) what changed in a job's code, file by file")
    p.add_argument("uid", help="job uid (or a unique prefix)")
    p.add_argument(
        "--against", help="the job to compare with (default: the one it supersedes, else the last approved of its name)"
    )
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("trust", parents=[identity, as_json], help="(owner) list or revoke trust rules")
    p.add_argument("action", choices=["list", "revoke"], help="list the rules, or revoke one")
    p.add_argument("rule_id", nargs="?", help="the rule to revoke")
    p.set_defaults(func=cmd_trust)

    p = sub.add_parser("audit", parents=[identity], help="(owner) print the audit log")
    p.add_argument("--since", help="only records from then on: a time (2026-01-31T09:00) or a duration ago (7d)")
    p.add_argument("--uid", help="only records of this job (uid or a prefix)")
    p.add_argument("--format", choices=["text", "csv", "json"], default="text", help="output format (default: text)")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("reject", parents=[identity], help="(owner) reject a pending job")
    p.add_argument("uid", help="job uid, a unique prefix, or REQUESTER/UID (owner)")
    p.add_argument("--reason", required=True, help="why; shown to the requester")
    p.set_defaults(func=cmd_reject)

    p = sub.add_parser("held", parents=[identity], help="(owner) results awaiting release, each file's verdict")
    p.set_defaults(func=cmd_held)

    p = sub.add_parser("release", parents=[identity], help="(owner) release a job's held results")
    p.add_argument("uid", help="job uid (or a unique prefix)")
    p.add_argument("--file", action="append", default=[], help="an output to release (repeatable; default: all)")
    p.add_argument("--no-logs", action="store_true", help="do not release stdout and stderr")
    p.add_argument("--reason", help="why; shown to the requester")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("withhold", parents=[identity], help="(owner) release none of a job's held results")
    p.add_argument("uid", help="job uid (or a unique prefix)")
    p.add_argument("--reason", required=True, help="why; shown to the requester")
    p.set_defaults(func=cmd_withhold)
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
