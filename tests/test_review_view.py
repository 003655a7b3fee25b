"""The ApprovalPanel's review aids without a browser: the owner sees what changed since the
last version and the last approval, approves and trusts, revokes, sees a job's runtime and
datasets, runs it on the mocks while the panel keeps answering, and is told of new jobs; a
requester's JobTable tells them when a job of theirs changes status."""

from __future__ import annotations

import comm
import pytest
from helpers import ALICE, OWNER, accepted, eventually, publish_census, wait_status
from widget_helpers import RecordingComm, act, wait_for

import syft_code_queue as scq
from syft_code_queue.governance.trust import TRUST_APPROVER
from syft_code_queue.models import ResolvedRuntime
from syft_code_queue.widgets import ApprovalPanel, JobTable, review_view

RUN = 'python3 analysis.py > "$SYFT_OUTPUT_DIR/result.txt"'
RAW = "rows = [3, 4, 5]\nprint(rows)\n"
AGGREGATED = "rows = [3, 4, 5]\nprint(sum(rows))\n"


@pytest.fixture(autouse=True)
def recording(monkeypatch):
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    RecordingComm.log.clear()
    widgets = []
    for cls in (JobTable, ApprovalPanel):
        original = cls.__init__

        def init(self, *args, _original=original, **kwargs):
            _original(self, *args, **kwargs)
            widgets.append(self)

        monkeypatch.setattr(cls, "__init__", init)
    yield
    for widget in widgets:
        widget.close()


def card_of(panel, uid, **expected):
    return wait_for(
        lambda: next(
            (c for c in panel.jobs if c["uid"] == uid and all(c.get(k) == v for k, v in expected.items())), None
        ),
        message=f"no card for {uid} with {expected}",
    )


def test_the_owner_reads_the_diff_approves_and_trusts_and_revokes(client, server, make_code):
    first = client.submit_code(OWNER, make_code(RUN, {"analysis.py": RAW, "params.json": "{}"}), "row stats")
    server.request_changes(accepted(server, first.uid), "print an aggregate, never the rows")
    wait_status(client, first.uid, scq.JobStatus.changes_requested)
    second = client.resubmit(first.uid, make_code(RUN, {"analysis.py": AGGREGATED, "params.json": "{}"}))
    panel = ApprovalPanel(server)

    card = card_of(panel, second.uid, accepted=True)
    assert card["supersedes"] == first.uid
    assert card["previous"]["summary"] == f"1 changed against job {first.uid[:8]} (2 unchanged)"
    assert card["last_approved"] is None and card["chip"] is None
    assert card["may_vary"] == ["analysis.py", "params.json"], "run.sh can never vary"
    assert card["runtime"] is None and card["datasets"] == []

    ack = act(panel, "diff", uid=second.uid)
    assert ack["ok"], ack
    (changed,) = ack["diffs"]["previous"]["files"]
    assert (changed["path"], changed["change"], changed["cut"]) == ("analysis.py", "changed", None)
    assert "-print(rows)\n+print(sum(rows))\n" in changed["diff"]
    assert ack["diffs"]["previous"]["unchanged"] == ["params.json", "run.sh"]

    ack = act(
        panel,
        "approve_trust",
        uid=second.uid,
        manifest_sha256=card["manifest_sha256"],
        variable_files=["params.json"],
        expires_days=30,
    )
    assert ack["ok"], ack
    (rule,) = server.list_trust_rules()
    assert f"rule {rule.id}" in ack["message"]
    (row,) = panel.trust_rules
    assert (row["id"], row["source_uid"], row["source_name"]) == (rule.id, second.uid, "row stats")
    assert row["variable_files"] == ["params.json"] and row["requesters"] == [ALICE] and row["expires"]
    client.wait_for_job(second.uid, timeout=30)

    third = client.resubmit(second.uid, make_code(RUN, {"analysis.py": AGGREGATED, "params.json": '{"n": 2}'}))
    eventually(lambda: server.get_job(third.uid).history[1:], what="the trusted resubmission approved")
    assert server.get_job(third.uid).history[1].by == TRUST_APPROVER

    assert act(panel, "revoke_trust", rule_id=rule.id)["ok"]
    assert panel.trust_rules == [] and server.list_trust_rules() == []
    again = act(panel, "revoke_trust", rule_id=rule.id)
    assert not again["ok"] and "no trust rule" in again["error"]


def test_the_chip_says_identical_to_the_last_approved_job(client, server, make_code):
    folder = make_code("echo same")
    first = client.submit_code(OWNER, folder, "same")
    server.approve_job(accepted(server, first.uid))
    client.wait_for_job(first.uid, timeout=30)
    second = client.submit_code(OWNER, folder, "same")
    panel = ApprovalPanel(server)
    card = card_of(panel, second.uid, accepted=True)
    assert card["chip"] == f"identical to approved job {first.uid[:8]}"
    assert card["last_approved"]["identical"] and card["previous"] is None


def test_a_long_diff_is_cut_and_says_where_to_read_it_whole(client, server, make_code, monkeypatch):
    monkeypatch.setattr(review_view, "DIFF_FILE_LINES", 10)
    old = client.submit_code(OWNER, make_code("echo", {"data.txt": "".join(f"{i}\n" for i in range(50))}), "long")
    server.reject_job(accepted(server, old.uid), "too long")
    wait_status(client, old.uid, scq.JobStatus.rejected)
    new = client.resubmit(old.uid, make_code("echo", {"data.txt": "".join(f"{i}!\n" for i in range(50))}))
    panel = ApprovalPanel(server)
    card_of(panel, new.uid, accepted=True)
    (f,) = act(panel, "diff", uid=new.uid)["diffs"]["previous"]["files"]
    assert f["diff"].count("\n") == 10 and "scq diff" in f["cut"]


def test_the_card_shows_the_datasets_and_a_mock_run_answers_while_it_runs(client, server, owner_data, make_code):
    publish_census(server, owner_data)
    script = 'echo "rows: $(wc -l < "$SYFT_DATASET_DIR/census.csv")"\nsleep 1\necho p1 > "$SYFT_OUTPUT_DIR/names.txt"'
    job = client.submit_code(OWNER, make_code(script), "on census", datasets=["census"])
    panel = ApprovalPanel(server)
    card = card_of(panel, job.uid, accepted=True)
    (census,) = card["datasets"]
    assert census["name"] == "census" and census["summary"].startswith("Census extract")
    assert census["private_size"] == len("name,age\nada,36\nalan,41\ngrace,45\nlinus,28\n")

    ack = act(panel, "run_on_mock", uid=job.uid)
    assert ack["ok"] and "on the mocks (census)" in ack["message"], ack
    assert panel.mock_runs[job.uid]["state"] == "running", "the action answers before the run ends"
    busy = act(panel, "run_on_mock", uid=job.uid)
    assert not busy["ok"] and "already running" in busy["error"]

    run = wait_for(lambda: panel.mock_runs[job.uid]["state"] != "running" and panel.mock_runs[job.uid], timeout=60)
    assert run["state"] == "completed" and run["exit_code"] == 0, run
    assert run["log_tail"] == "rows: 5"
    (output,) = run["outputs"]
    assert (output["path"], output["size"], output["type"], output["text"]) == ("names.txt", 3, "text", "p1\n")
    assert server.get_job(job.uid).status == scq.JobStatus.pending


def test_the_owner_is_told_of_new_jobs_once_and_in_one_line(client, server, make_code):
    before = client.submit_code(OWNER, make_code("echo"), "already there")
    accepted(server, before.uid)
    panel = ApprovalPanel(server)
    assert panel.notification == {}, "the jobs there before the panel opened are not news"
    folder = make_code("echo")
    one = client.submit_code(OWNER, folder, "first new")
    wait_for(lambda: panel.notification.get("count") == 1)
    assert panel.notification["text"] == f"New job 'first new' from {ALICE}"
    for name in ("second new", "third new"):
        client.submit_code(OWNER, folder, name)
    wait_for(lambda: panel.notification.get("count") == 3)
    assert panel.notification["text"].startswith("3 new jobs: 'third new' from")
    assert act(panel, "dismiss")["ok"] and panel.notification == {}
    server.approve_job(one.uid)
    wait_for(lambda: server.get_job(one.uid).status != scq.JobStatus.approved)
    assert panel.notification == {}, "a decision is not a new job"


def test_the_requester_is_told_when_a_job_of_theirs_changes_status(client, server, make_code):
    job = client.submit_code(OWNER, make_code("echo"), "watched")
    accepted(server, job.uid)
    mine = JobTable(client)
    assert mine.notification == {}
    server.reject_job(job.uid, "not now")
    wait_for(lambda: mine.notification.get("text") == f"Job 'watched' [{job.short_uid}] is now rejected", timeout=30)
    assert act(mine, "dismiss")["ok"] and mine.notification == {}
    owner_side = JobTable(server)
    assert owner_side.notification == {}, "the owner's table does not notify (the panel does)"


def test_the_card_shows_the_runtime_and_pins_the_approval_covers(client, server, make_code):
    job = client.submit_code(OWNER, make_code("python -c 'import attrs'", {"requirements.txt": "attrs\n"}), "pins")
    panel = ApprovalPanel(server)
    card_of(panel, job.uid, accepted=True)
    seen = server.get_job(job.uid)
    runtime = ResolvedRuntime(
        name="sci", python="3.11.9", lock_sha256="ab" * 32, pins=("attrs==24.2.0",), requirements=True
    )
    with_runtime = seen.model_copy(update={"state": seen.state.model_copy(update={"runtime": runtime})})
    card = panel.review_card(with_runtime, {}, {})
    assert card["runtime"] == {
        "name": "sci",
        "python": "3.11.9",
        "lock_sha256": "ab" * 32,
        "pins": ["attrs==24.2.0"],
        "requirements": True,
    }
    assert card["may_vary"] == ["requirements.txt"]
