"""The user's story on an embedded root: submit, approve, run, read the result."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import ALICE, EVE, OWNER, accepted, wait_accepted, wait_status

import syft_code_queue as scq
from syft_code_queue.models import JobRef

ANALYSIS = """
echo "Analyzing data..."
python3 analysis.py > "$SYFT_OUTPUT_DIR/results.txt"
echo "Analysis complete!"
"""


def test_submit_approve_run_and_read_results(client, server, make_code):
    code = make_code(ANALYSIS, {"analysis.py": "print(6 * 7)\n"})
    job = client.submit_code(OWNER, code, "Data Analysis Job", "Statistical analysis", ["analysis"])
    assert job.status == scq.JobStatus.pending

    server.approve_job(accepted(server, job.uid), reason="looks fine")
    job = client.wait_for_job(job.uid, timeout=30)

    assert job.status == scq.JobStatus.completed
    assert job.exit_code == 0
    assert (client.get_job_output(job.uid) / "results.txt").read_text() == "42\n"
    assert client.get_job_logs(job.uid) == "Analyzing data...\nAnalysis complete!\n"
    assert [t.status for t in job.history] == ["pending", "approved", "running", "completed"]
    assert job.history[1].by == OWNER and job.history[1].reason == "looks fine"
    assert job.started_at is not None and job.finished_at >= job.started_at


def test_run_sh_sees_the_four_syft_variables(client, server_factory, make_code):
    server_factory(auto_approval_enabled=True).start()
    code = make_code('env | grep ^SYFT_ | sort > "$SYFT_OUTPUT_DIR/env.txt"')
    job = client.submit_code(OWNER, code, "env check", auto_approval=True)
    job = client.wait_for_job(job.uid, timeout=30)
    lines = (client.get_job_output(job.uid) / "env.txt").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines)
    assert env["SYFT_JOB_ID"] == job.uid
    assert env["SYFT_JOB_NAME"] == "env check"
    assert env["SYFT_REQUESTER"] == ALICE
    assert set(env) == {"SYFT_JOB_ID", "SYFT_JOB_NAME", "SYFT_OUTPUT_DIR", "SYFT_REQUESTER"}


def test_failing_job_is_failed_with_its_exit_code_and_logs(client, server_factory, make_code):
    server_factory(auto_approval_enabled=True).start()
    job = client.submit_code(OWNER, make_code("echo oops >&2\nexit 3"), "fails", auto_approval=True)
    job = client.wait_for_job(job.uid, timeout=30)
    assert job.status == scq.JobStatus.failed
    assert job.exit_code == 3
    assert job.error == "run.sh exited with code 3"
    assert "oops" in client.get_job_logs(job.uid)


def test_rejected_job_tells_the_requester_why(client, server, make_code):
    job = client.submit_code(OWNER, make_code("echo hi"), "to reject")
    server.reject_job(accepted(server, job.uid), reason="Security concerns")
    job = client.wait_for_job(job.uid, timeout=10)
    assert job.status == scq.JobStatus.rejected
    assert job.error == "Security concerns"
    assert client.get_job_output(job.uid) is None


def test_cancel_a_pending_job_and_a_running_one(client, server, make_code):
    waiting = client.submit_code(OWNER, make_code("echo never"), "waits")
    accepted(server, waiting.uid)
    client.cancel_job(waiting.uid, reason="changed my mind")
    assert client.wait_for_job(waiting.uid, timeout=10).status == scq.JobStatus.cancelled
    assert client.get_job(waiting.uid).error == "changed my mind"

    running = client.submit_code(OWNER, make_code("echo started\nsleep 60"), "long")
    server.approve_job(accepted(server, running.uid))
    wait_status(client, running.uid, scq.JobStatus.running)
    client.cancel_job(running.uid)
    job = client.wait_for_job(running.uid, timeout=10)
    assert job.status == scq.JobStatus.cancelled
    assert job.duration < 10


def test_list_jobs_newest_first_filters_before_limit(client, server_factory, make_code, root):
    other_owner = "other@example.com"
    server_factory(auto_approval_enabled=True).start()
    uids = []
    for i in range(5):
        target = OWNER if i % 2 == 0 else other_owner
        uids.append(client.submit_code(target, make_code("echo x"), f"job {i}", auto_approval=True).uid)
    for uid in uids[::2]:
        client.wait_for_job(uid, timeout=30)

    assert [j.uid for j in client.list_jobs()] == uids[::-1]
    assert [j.uid for j in client.list_jobs(limit=2)] == uids[:2:-1]
    assert [j.uid for j in client.list_jobs(target_email=other_owner)] == [uids[3], uids[1]]
    pending = client.list_jobs(status=scq.JobStatus.pending, limit=1)
    assert [j.uid for j in pending] == [uids[3]]
    assert {j.uid for j in client.list_jobs(status="completed")} == set(uids[::2])
    assert list(client.jobs_dataframe()["uid"]) == uids[::-1]


def test_another_requester_cannot_see_or_touch_the_job(client, server, make_code, root):
    job = client.submit_code(OWNER, make_code("echo secret > $SYFT_OUTPUT_DIR/r.txt"), "private")
    server.approve_job(accepted(server, job.uid))
    client.wait_for_job(job.uid, timeout=30)

    eve = scq.create_client(email=EVE, data_dir=root)
    assert eve.list_jobs() == []
    for call in (eve.get_job, eve.get_job_output, eve.get_job_logs, eve.cancel_job):
        with pytest.raises(scq.JobNotFoundError):
            call(job.uid)


def test_permission_files_give_each_requester_only_their_folders(client, server, make_code, root):
    client.submit_code(OWNER, make_code("echo hi"), "acl")
    queue_root = root / "datasites" / OWNER / "app_data" / "code-queue"
    pub = (queue_root / "syft.pub.yaml").read_text()
    assert "terminal: true" in pub
    assert "pattern: 'inbox/{{.UserEmail}}/**'" in pub
    assert "pattern: 'review/{{.UserEmail}}/**'" in pub
    review_rule = pub.split("review/{{.UserEmail}}/**")[1].split("- pattern:")[0]
    assert "read: ['USER']" in review_rule and "write" not in review_rule
    # all that everyone may read is the server's heartbeat and the runtimes it offers, and
    # nothing may be written
    everyone = [rule for rule in pub.split("- pattern:")[1:] if "'*'" in rule]
    assert [rule.split("\n")[0].strip() for rule in everyone] == ["'heartbeat.json'", "'runtimes.json'"]
    assert not [rule for rule in everyone if "write" in rule]


def test_auto_approval_needs_owner_opt_in_job_request_and_callback(client, server_factory, make_code, caplog):
    def rules(job: scq.Job) -> bool:
        if "boom" in job.tags:
            raise RuntimeError("rule bug")
        return "analysis" in job.tags

    server_factory(auto_approval_callback=rules).start()
    approved = client.submit_code(OWNER, make_code("echo a"), "a", tags=["analysis"], auto_approval=True)
    not_asked = client.submit_code(OWNER, make_code("echo b"), "b", tags=["analysis"], auto_approval=False)
    wrong_tag = client.submit_code(OWNER, make_code("echo c"), "c", tags=["other"], auto_approval=True)
    raising = client.submit_code(OWNER, make_code("echo d"), "d", tags=["boom"], auto_approval=True)

    assert client.wait_for_job(approved.uid, timeout=30).status == scq.JobStatus.completed
    for uid in (not_asked.uid, wrong_tag.uid, raising.uid):
        wait_accepted(client, uid)
        assert client.get_job(uid).status == scq.JobStatus.pending
    assert "auto-approval callback raised" in caplog.text


def test_owner_disabled_auto_approval_ignores_the_callback(client, server_factory, make_code):
    server = server_factory(auto_approval_callback=lambda job: True, auto_approval_enabled=False).start()
    job = client.submit_code(OWNER, make_code("echo a"), "a", auto_approval=True)
    accepted(server, job.uid)
    assert client.get_job(job.uid).status == scq.JobStatus.pending


def test_status_lives_only_in_the_owners_state_file(client, server, make_code, root):
    job = client.submit_code(OWNER, make_code("echo hi"), "one truth")
    server.approve_job(accepted(server, job.uid))
    client.wait_for_job(job.uid, timeout=30)
    submission = root / "datasites" / OWNER / "app_data" / "code-queue" / "inbox" / ALICE / job.uid
    assert "status" not in json.loads((submission / "job.json").read_text())
    state = root / "datasites" / OWNER / "app_data" / "code-queue" / "review" / ALICE / job.uid / "state.json"
    assert json.loads(state.read_text())["status"] == "completed"


def rewrite_in_place(path: Path, data: bytes) -> None:
    """Other bytes of the same size into the same file, as a sync client writing in place
    leaves it: only the modification time tells (set a second later, not left to the clock)."""
    before = os.stat(path)
    assert len(data) == before.st_size
    with open(path, "r+b") as fh:
        fh.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert os.stat(path).st_ino == before.st_ino


def test_results_that_change_after_they_arrived_are_not_returned(client, server_factory, make_code):
    server = server_factory(auto_approval_enabled=True).start()
    code = make_code('echo 42 > "$SYFT_OUTPUT_DIR/results.txt"\necho done')
    job = client.submit_code(OWNER, code, "checked", auto_approval=True)
    client.wait_for_job(job.uid, timeout=30)
    server.stop()
    output = client.get_job_output(job.uid)
    assert output is not None and client.get_job_logs(job.uid) == "done\n"
    results, stdout = output / "results.txt", output.parent / "stdout.txt"

    rewrite_in_place(results, b"24\n")
    assert client.get_job_output(job.uid) is None
    with pytest.raises(TimeoutError):
        client.wait_for_job(job.uid, timeout=0)
    rewrite_in_place(results, b"42\n")
    assert client.get_job_output(job.uid) == output
    assert client.wait_for_job(job.uid, timeout=0).status == scq.JobStatus.completed

    other = results.with_name("other.txt")
    other.write_bytes(b"24\n")
    os.replace(other, results)  # another file of the same size in its place
    assert client.get_job_output(job.uid) is None
    results.unlink()
    assert client.get_job_output(job.uid) is None
    results.write_bytes(b"42\n")
    assert client.get_job_output(job.uid) == output

    rewrite_in_place(stdout, b"enod\n")
    assert client.get_job_logs(job.uid) is None
    with pytest.raises(TimeoutError):
        client.wait_for_job(job.uid, timeout=0)
    rewrite_in_place(stdout, b"done\n")
    assert client.get_job_logs(job.uid) == "done\n"


def test_each_new_state_is_seen_at_once_however_it_is_written(client, server, make_code):
    job = client.submit_code(OWNER, make_code('echo 42 > "$SYFT_OUTPUT_DIR/results.txt"'), "followed")
    wait_accepted(client, accepted(server, job.uid))
    assert client.get_job(job.uid).status == scq.JobStatus.pending
    server.approve_job(job.uid)  # the owner replaces state.json with its next version
    assert client.get_job(job.uid).status != scq.JobStatus.pending
    done = client.wait_for_job(job.uid, timeout=30)
    server.stop()
    assert client.get_job_output(job.uid) is not None

    # The owner's next version, written into the same file with the same size by a sync client
    state_file = server.store.layout.job(JobRef(ALICE, job.uid)).state_file
    cleaned = done.state.model_copy(update={"cleaned_up": True}).model_dump_json().encode()
    rewrite_in_place(state_file, cleaned.ljust(state_file.stat().st_size))
    assert client.get_job(job.uid).state.cleaned_up
    assert client.get_job_output(job.uid) is None
    assert client.wait_for_job(job.uid, timeout=0).state.cleaned_up
