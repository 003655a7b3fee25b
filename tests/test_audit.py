"""The owner's audit log: every step, every file viewed, every trust-rule change, kept
privately and appended to only; and the review loop from the command line."""

from __future__ import annotations

import csv
import io
import json

from helpers import ALICE, OWNER, accepted

import syft_code_queue as scq
from syft_code_queue.cli import main
from syft_code_queue.models import JobRef


def scq_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_step_view_and_rule_change_is_recorded_privately(root, client, server, make_code):
    job = client.submit_code(OWNER, make_code("echo", {"a.py": "x = 1\n"}), "audited")
    accepted(server, job.uid)
    server.read_submitted_file(job.uid, "a.py")
    server.approve_job(job.uid, trust=True)
    client.wait_for_job(job.uid, timeout=30)
    rule = server.list_trust_rules()[0]
    server.revoke_trust(rule.id)

    records = server.store.audit.read(uid=job.uid)
    steps = [(r.details["status"], r.by) for r in records if r.kind == "transition"]
    assert steps == [("pending", OWNER), ("approved", OWNER), ("running", OWNER), ("completed", OWNER)]
    (view,) = [r for r in records if r.kind == "file_view"]
    assert (view.by, view.requester, view.details["path"]) == (OWNER, ALICE, "a.py")
    (added,) = [r for r in records if r.kind == "trust_added"]
    assert added.details["rule"] == rule.id
    revoked = [r for r in server.store.audit.read() if r.kind == "trust_revoked"]
    assert [r.details["rule"] for r in revoked] == [rule.id]

    log = server.store.private.audit_log
    assert root / "datasites" not in log.parents  # never synced
    assert not any(p.name == log.name for p in (root / "datasites").rglob("*"))


def test_the_log_is_only_appended_to_and_survives_a_torn_line(server):
    log = server.store.audit
    ref = JobRef(ALICE, "a" * 32)
    first = log.record("release", by=OWNER, job=ref, file="out.csv", decision="released")
    before = log.path.read_bytes()
    with open(log.path, "ab") as fh:
        fh.write(b'{"at": "2026-')  # a power cut mid-line
    second = log.record("release", by=OWNER, job=ref, file="raw.csv", decision="withheld")
    assert log.path.read_bytes().startswith(before)
    assert [r for r in log.read() if r.kind == "release"] == [first, second]


def test_scq_audit_filters_by_job_and_time_and_prints_csv_or_json(capsys, root, client, server, make_code):
    owner = ["--email", OWNER, "--data-dir", str(root)]
    kept = client.submit_code(OWNER, make_code("echo"), "kept")
    other = client.submit_code(OWNER, make_code("echo"), "other")
    accepted(server, kept.uid)
    accepted(server, other.uid)
    server.reject_job(kept.uid, "not this one")

    rc, out, _ = scq_cli(capsys, "audit", "--uid", kept.uid[:8], "--format", "csv", *owner)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and {row["uid"] for row in rows} == {kept.uid}
    assert [json.loads(row["details"])["status"] for row in rows] == ["pending", "rejected"]

    rc, out, _ = scq_cli(capsys, "audit", "--since", "1h", "--format", "json", *owner)
    assert rc == 0 and {r["uid"] for r in json.loads(out)} == {kept.uid, other.uid}
    rc, out, _ = scq_cli(capsys, "audit", "--since", "2999-01-01", "--format", "json", *owner)
    assert json.loads(out) == []
    rc, out, _ = scq_cli(capsys, "audit", "--uid", kept.uid, *owner)
    assert "transition" in out and "status=rejected, reason=not this one" in out

    rc, _, err = scq_cli(capsys, "audit", "--since", "last tuesday", *owner)
    assert rc == 2 and "neither a time nor a duration" in err


def test_the_review_loop_from_the_command_line(capsys, root, client, server, make_code):
    me = ["--email", ALICE, "--data-dir", str(root)]
    owner = ["--email", OWNER, "--data-dir", str(root)]
    first = client.submit_code(OWNER, make_code("echo", {"p.json": "1"}), "cli loop")
    accepted(server, first.uid)
    rc, out, _ = scq_cli(capsys, "request-changes", first.uid[:8], "--comments", "say hello", *owner)
    assert rc == 0 and "changes_requested" in out

    rc, out, _ = scq_cli(capsys, "resubmit", first.uid[:8], str(make_code("echo hello", {"p.json": "1"})), *me)
    second = out.strip()
    assert rc == 0 and client.get_job(second).supersedes == first.uid
    rc, out, _ = scq_cli(capsys, "show", second, *me)
    assert f"supersedes: {first.uid}" in out
    accepted(server, second)
    rc, out, _ = scq_cli(capsys, "diff", second[:8], *owner)
    assert rc == 0 and "changed  run.sh" in out and "+echo hello" in out
    rc, out, _ = scq_cli(capsys, "diff", second[:8], "--against", second, *owner)
    assert out.startswith("identical to job")

    rc, _, err = scq_cli(capsys, "approve", second[:8], "--variable-file", "p.json", *owner)
    assert rc == 2 and "add --trust" in err
    rc, out, _ = scq_cli(
        capsys, "approve", second[:8], "--trust", "--variable-file", "p.json", "--expires", "7d", *owner
    )
    assert rc == 0 and "trust rule" in out
    rule = server.list_trust_rules()[0]
    rc, out, _ = scq_cli(capsys, "trust", "list", *owner)
    assert rule.id in out and "variable files: p.json" in out and f"requesters: {ALICE}" in out
    rc, out, _ = scq_cli(capsys, "trust", "revoke", rule.id, *owner)
    assert rc == 0 and server.list_trust_rules() == []
    rc, _, err = scq_cli(capsys, "trust", "revoke", rule.id, *owner)
    assert rc == 2 and "no trust rule" in err
    assert client.wait_for_job(second, timeout=30).status == scq.JobStatus.completed
