"""The review loop: the owner sends a job back, the requester resubmits, the owner reads the
diff and approves with trust, and the same code then approves itself."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Optional

import pytest
from helpers import ALICE, EVE, OWNER, accepted, eventually, wait_status

import syft_code_queue as scq
from syft_code_queue.governance.trust import TRUST_APPROVER, matches
from syft_code_queue.lifecycle import RECEIVED

RUN = 'python3 analysis.py "$(cat params.json)" > "$SYFT_OUTPUT_DIR/result.txt"'
RAW = "import sys\nrows = [3, 4, 5]\nprint(rows)\n"
AGGREGATED = "import sys\nrows = [3, 4, 5]\nprint(sum(rows))\n"


def test_changes_resubmit_diff_trust_and_an_identical_rerun_approves_itself(client, server, make_code):
    first = client.submit_code(OWNER, make_code(RUN, {"analysis.py": RAW, "params.json": "{}"}), "row stats")
    server.request_changes(accepted(server, first.uid), "print an aggregate, never the rows")
    wait_status(client, first.uid, scq.JobStatus.changes_requested)
    sent_back = client.get_job(first.uid)
    assert sent_back.error == "print an aggregate, never the rows"
    assert sent_back.status.label == "sent back for changes"  # as tables and the CLI name it
    assert (sent_back.history[-1].by, sent_back.history[-1].reason) == (OWNER, "print an aggregate, never the rows")

    second = client.resubmit(first.uid, make_code(RUN, {"analysis.py": AGGREGATED, "params.json": "{}"}))
    assert second.supersedes == first.uid and second.name == "row stats" and second.uid != first.uid
    accepted(server, second.uid)
    assert server.get_job(second.uid).history[0].reason == f"{RECEIVED} (resubmission of job {first.uid})"

    diffs = server.job_diffs(second.uid)
    assert diffs.approved is None and diffs.chip is None  # nothing of this name was approved yet
    previous = diffs.previous
    assert previous is not None and (previous.against, previous.basis) == (first.uid, "supersedes")
    assert [(f.path, f.change) for f in previous.files] == [("analysis.py", "changed")]
    assert previous.unchanged == ("params.json", "run.sh")
    assert "-print(rows)\n+print(sum(rows))\n" in previous.files[0].diff
    assert server.diff_job(second.uid) == previous

    server.approve_job(second.uid, trust=scq.TrustRule(variable_files=("params.json",)))
    (rule,) = server.list_trust_rules()
    assert rule.source_uid == second.uid and rule.requesters == (ALICE,) and rule.created_by == OWNER
    assert sorted(f.path for f in rule.files) == ["analysis.py", "run.sh"]
    assert client.wait_for_job(second.uid, timeout=30).status == scq.JobStatus.completed

    third = client.resubmit(second.uid)  # the same code again
    eventually(lambda: server.get_job(third.uid).status != scq.JobStatus.pending, what="the trusted rerun approved")
    approval = server.get_job(third.uid).history[1]
    assert approval.status == scq.JobStatus.approved and approval.by == TRUST_APPROVER
    assert f"trust rule {rule.id}" in approval.reason and second.uid in approval.reason
    assert server.job_diffs(third.uid).chip == f"identical to approved job {second.uid[:8]}"
    assert client.wait_for_job(third.uid, timeout=30).status == scq.JobStatus.completed


def approved_by_trust(server: scq.CodeQueueServer, uid: str) -> bool:
    """Whether the server approved ``uid`` on arrival by a trust rule (waits for the verdict)."""
    accepted(server, uid)
    history = server.get_job(uid).history
    return len(history) > 1 and history[1].by == TRUST_APPROVER


@pytest.fixture
def trusted(client, server, make_code):
    """A job approved with trust, its params.json allowed to vary; returns (job, rule)."""
    job = client.submit_code(OWNER, make_code("cat params.json", {"params.json": "1"}), "trusted")
    server.approve_job(accepted(server, job.uid), trust=scq.TrustRule(variable_files=["params.json"]))
    client.wait_for_job(job.uid, timeout=30)
    return job, server.list_trust_rules()[0]


def test_variable_files_may_differ_but_nothing_else(client, server, make_code, trusted):
    job, _ = trusted
    assert approved_by_trust(
        server, client.submit_code(OWNER, make_code("cat params.json", {"params.json": "2"}), "a").uid
    )
    assert approved_by_trust(server, client.submit_code(OWNER, make_code("cat params.json"), "no params").uid)
    changed = client.submit_code(OWNER, make_code("cat params.json; id", {"params.json": "1"}), "b")
    assert not approved_by_trust(server, changed.uid)
    extra = client.submit_code(OWNER, make_code("cat params.json", {"params.json": "1", "more.sh": "id"}), "c")
    assert not approved_by_trust(server, extra.uid)
    assert server.get_job(extra.uid).status == scq.JobStatus.pending


def test_a_revoked_rule_approves_nothing_more(client, server, make_code, trusted):
    job, rule = trusted
    assert server.revoke_trust(rule.id) == rule
    assert server.list_trust_rules() == []
    assert not approved_by_trust(server, client.resubmit(job.uid).uid)
    with pytest.raises(scq.QueueError, match="no trust rule"):
        server.revoke_trust(rule.id)


def test_an_expired_rule_approves_nothing(client, server, make_code):
    job = client.submit_code(OWNER, make_code("echo once"), "brief trust")
    server.approve_job(accepted(server, job.uid), trust=scq.TrustRule(expires=timedelta(seconds=-1)))
    client.wait_for_job(job.uid, timeout=30)
    assert server.list_trust_rules()[0].expired()
    assert not approved_by_trust(server, client.resubmit(job.uid).uid)


def test_trust_covers_only_the_requesters_it_names(root, client, server, make_code, trusted):
    eve = scq.create_client(email=EVE, data_dir=root)
    same_code = eve.submit_code(OWNER, make_code("cat params.json", {"params.json": "1"}), "copied")
    assert not approved_by_trust(server, same_code.uid)


def test_bad_trust_terms_leave_the_job_pending(client, server, make_code):
    job = client.submit_code(OWNER, make_code("echo"), "terms")
    accepted(server, job.uid)
    with pytest.raises(ValueError, match="not part of job"):
        server.approve_job(job.uid, trust=scq.TrustRule(variable_files=["missing.json"]))
    with pytest.raises(ValueError, match="run.sh cannot be a variable file"):
        scq.TrustRule(variable_files=["run.sh"])
    assert server.get_job(job.uid).status == scq.JobStatus.pending and server.list_trust_rules() == []


def test_request_changes_needs_comments_and_a_pending_job(client, server, make_code):
    job = client.submit_code(OWNER, make_code("echo"), "comments")
    accepted(server, job.uid)
    with pytest.raises(scq.InvalidTransitionError, match="comments are required"):
        server.request_changes(job.uid, "  ")
    server.approve_job(job.uid)
    with pytest.raises(scq.InvalidTransitionError, match="only pending jobs"):
        server.request_changes(job.uid, "too late")


def test_resubmit_refuses_a_job_still_in_review_and_unknown_changes(client, server, make_code):
    job = client.submit_code(OWNER, make_code("echo"), "in review")
    accepted(server, job.uid)
    with pytest.raises(scq.InvalidTransitionError, match="still pending"):
        client.resubmit(job.uid)
    server.reject_job(job.uid, "no")
    wait_status(client, job.uid, scq.JobStatus.rejected)
    with pytest.raises(TypeError, match="cannot change target_email"):
        client.resubmit(job.uid, target_email=EVE)
    renamed = client.resubmit(job.uid, name="second try", tags=["v2"])
    assert (renamed.name, renamed.tags, renamed.supersedes) == ("second try", ["v2"], job.uid)


def test_a_resubmission_of_another_requesters_job_is_refused(root, client, server, make_code):
    theirs = client.submit_code(OWNER, make_code("echo"), "alice's")
    accepted(server, theirs.uid)
    eve = scq.create_client(email=EVE, data_dir=root)
    with pytest.raises(scq.JobNotFoundError):
        eve.resubmit(theirs.uid)
    # A job.json written by hand that claims to supersede it is refused by the owner.
    forged = eve.submit_code(OWNER, make_code("echo"), "forged")
    job_file = eve.store.layout(OWNER).job(eve.store.ref(forged.uid)).job_file
    accepted(server, forged.uid)
    stolen = forged.request.model_copy(update={"uid": "f" * 32, "supersedes": theirs.uid})
    folder = job_file.parent.with_name(stolen.uid)
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "run.sh").write_bytes((job_file.parent / "code" / "run.sh").read_bytes())
    (folder / "job.json").write_text(stolen.model_dump_json())
    refused = eventually(lambda: server.get_job(stolen.uid).state, what="the forged resubmission refused")
    assert refused.status == scq.JobStatus.rejected and "not one of yours in this queue" in refused.error


def test_a_diff_marks_added_removed_and_binary_files(client, server, make_code):
    old = client.submit_code(OWNER, make_code("echo", {"gone.py": "x = 1\n", "data.bin": "a"}), "shape")
    server.approve_job(accepted(server, old.uid))
    client.wait_for_job(old.uid, timeout=30)
    folder = make_code("echo", {"new.py": "y = 2\n"})
    (folder / "data.bin").write_bytes(b"\0\1\2")
    new = client.submit_code(OWNER, folder, "shape")
    diff = server.diff_job(accepted(server, new.uid))
    assert (diff.against, diff.basis) == (old.uid, "approved")
    changes = {f.path: f for f in diff.files}
    assert {p: f.change for p, f in changes.items()} == {"data.bin": "changed", "gone.py": "removed", "new.py": "added"}
    assert changes["data.bin"].diff is None and "binary" in changes["data.bin"].note
    assert (changes["data.bin"].old.size, changes["data.bin"].new.size) == (1, 3)
    assert "+y = 2\n" in changes["new.py"].diff and "-x = 1\n" in changes["gone.py"].diff
    assert diff.summary() == f"1 added, 1 removed, 1 changed against job {old.uid[:8]} (1 unchanged)"
    with pytest.raises(scq.JobNotFoundError, match="name a job to compare it with"):
        server.diff_job(old.uid)


def test_unreadable_trust_rules_approve_nothing_and_say_how_to_fix_them(client, server, make_code, trusted):
    job, _ = trusted
    server.store.private.trust_rules.write_text('{"rules": [{"id": "nope"}]}')
    with pytest.raises(scq.ConfigurationError, match="fix or remove the file"):
        server.list_trust_rules()
    assert not approved_by_trust(server, client.resubmit(job.uid).uid)


def test_trust_covers_only_the_datasets_it_names(client, server, make_code, trusted):
    _, rule = trusted
    files = list(rule.files)  # params.json may vary, so the pinned files alone match

    def request(datasets: list[str]) -> SimpleNamespace:  # the fields matching reads
        return SimpleNamespace(requester_email=ALICE, files=files, datasets=datasets, runtime=None)

    census = rule.model_copy(update={"datasets": ("census",)})
    assert matches(census, request([]), None) and matches(census, request(["census"]), None)
    assert not matches(census, request(["census", "payroll"]), None)
    assert not matches(rule, request(["census"]), None)  # the approved job asked for none


def test_trust_covers_only_the_runtime_and_packages_it_was_approved_with(trusted):
    _, rule = trusted
    pinned = rule.model_copy(update={"runtime": "sci", "lock_sha256": "a" * 64})
    resolved = SimpleNamespace(lock_sha256="a" * 64)

    def request(runtime: Optional[str]) -> SimpleNamespace:
        return SimpleNamespace(requester_email=ALICE, files=list(rule.files), datasets=[], runtime=runtime)

    assert matches(pinned, request("sci"), resolved)
    assert not matches(pinned, request(None), resolved)  # another runtime
    assert not matches(pinned, request("sci"), SimpleNamespace(lock_sha256="b" * 64))  # other packages
    assert not matches(pinned, request("sci"), None)  # nothing resolved
    assert not matches(rule, request("sci"), resolved)  # the approved job asked for the default
