"""The widgets without a browser: their state and actions through ipywidgets' comm
machinery, with the front end's messages simulated."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import comm
import pytest
from helpers import ALICE, EVE, OWNER
from widget_helpers import RecordingComm, act, front_end_sets, state_updates, update_bytes, wait_for

import syft_code_queue as scq
from syft_code_queue.errors import JobNotFoundError
from syft_code_queue.governance import notify
from syft_code_queue.listing.table import jobs_to_html
from syft_code_queue.models import FileEntry, Job, JobRef, JobRequest, JobState, JobStatus, Transition, utcnow
from syft_code_queue.widgets import ApprovalPanel, JobTable, SubmitForm, sources
from syft_code_queue.widgets.assets import asset_dir, esm
from syft_code_queue.widgets.pump import UpdatePump
from syft_code_queue.widgets.sources import JobSource

REPO = Path(__file__).resolve().parents[1]
XSS_NAME = '<img src=x onerror="window.__pwned=1">'
XSS_FILE = "</script><script>window.__pwned=1</script>"


@pytest.fixture(autouse=True)
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    RecordingComm.log.clear()
    created: list[Any] = []
    for cls in (JobTable, ApprovalPanel, SubmitForm):
        original = cls.__init__

        def init(self: Any, *args: Any, _original: Callable[..., None] = original, **kwargs: Any) -> None:
            _original(self, *args, **kwargs)
            created.append(self)

        monkeypatch.setattr(cls, "__init__", init)
    yield
    for widget in created:
        widget.close()


def submit(client: scq.CodeQueueClient, make_code: Callable[..., Path], name: str = "job", **kw: Any) -> Job:
    folder = make_code('echo hello from $SYFT_JOB_NAME\necho result > "$SYFT_OUTPUT_DIR/out.txt"\n')
    return client.submit_code(OWNER, folder, name, **kw)


# -- the pump -----------------------------------------------------------------------------


def test_pump_coalesces_bursts_and_limits_the_rate() -> None:
    pump = UpdatePump(min_interval=0.2)
    calls: list[float] = []

    class Target:
        def refresh(self) -> None:
            calls.append(time.monotonic())

    target = Target()
    threads = [threading.Thread(target=lambda: [pump.request(target) for _ in range(200)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pump.flush()
    assert 1 <= len(calls) <= 3, f"800 requests should coalesce into a few refreshes, got {len(calls)}"
    for _ in range(3):
        pump.request(target)
        pump.flush()
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert all(gap >= 0.19 for gap in gaps), gaps


def test_a_failing_widget_does_not_stop_the_pump() -> None:
    pump = UpdatePump(min_interval=0.01)
    seen: list[str] = []

    class Broken:
        def refresh(self) -> None:
            raise RuntimeError("boom")

    class Fine:
        def refresh(self) -> None:
            seen.append("ok")

    pump.request(Broken())
    pump.request(Fine())
    pump.flush()
    assert seen == ["ok"]


# -- round trip: form -> panel -> table ----------------------------------------------------


def test_submit_approve_run_and_table_shows_completed(
    server: scq.CodeQueueServer,
    client: scq.CodeQueueClient,
    make_code: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The requester's table follows by events alone: no re-list, no resync within the test.
    monkeypatch.setattr(sources, "CLIENT_RESYNC_SECONDS", 3600)
    monkeypatch.setattr(notify, "RESYNC_SECONDS", 3600)
    folder = make_code('echo "hello"\necho 42 > "$SYFT_OUTPUT_DIR/answer.txt"\n')
    form = SubmitForm(client, target_email=OWNER, code_folder=folder)
    panel = ApprovalPanel(server)
    table = JobTable(server)
    mine = JobTable(client)

    ack = act(
        form,
        "submit",
        target_email=OWNER,
        code_folder=str(folder),
        name="Answer",
        tags="a, b",
        description="",
        auto_approval=False,
    )
    assert ack["ok"], ack
    uid = ack["job"]["uid"]
    assert form.submitted[0]["uid"] == uid and form.job is not None and form.job.uid == uid

    card = wait_for(lambda: next((c for c in panel.jobs if c["uid"] == uid and c["accepted"]), None))
    assert card["allowed"] == ["approve", "reject"]
    assert [f["path"] for f in card["files"]] == ["run.sh"]
    assert card["manifest_sha256"] == server.get_job(uid).state.manifest_sha256
    assert wait_for(lambda: [r for r in table.rows if r["uid"] == uid])[0]["tags"] == ["a", "b"]

    ack = act(panel, "approve", uid=uid, manifest_sha256=card["manifest_sha256"], reason="looks fine")
    assert ack == {"kind": "ack", "id": ack["id"], "ok": True, "message": f"Approved 'Answer' [{uid[:8]}]"}

    row = wait_for(lambda: next((r for r in table.rows if r["uid"] == uid and r["status"] == "completed"), None))
    assert row["duration"] is not None and row["started"] and row["finished"]
    assert table.counts == {"completed": 1}
    assert wait_for(lambda: not panel.jobs), "a finished job leaves the panel"
    assert [a["status"] for a in panel.activity[:4]] == ["completed", "running", "approved", "pending"]
    assert panel.activity[2]["reason"] == "looks fine"

    front_end_sets(table, selected=uid)
    assert table.detail["status"] == "completed"
    log = act(table, "log", uid=uid)
    assert log["ok"] and log["complete"] and "hello" in log["text"]
    assert table.detail["outputs"] == [{"path": "answer.txt", "size": 3}]
    assert [h["status"] for h in table.detail["history"]] == ["pending", "approved", "running", "completed"]

    # The requester's table (no server in its process, told by file events) sees the same outcome.
    assert wait_for(lambda: [r for r in mine.rows if r["uid"] == uid and r["status"] == "completed"])
    assert mine.party_label == "Target" and mine.rows[0]["party"] == OWNER


# -- approval panel -------------------------------------------------------------------------


def test_panel_refuses_what_is_not_allowed_and_says_why(
    server: scq.CodeQueueServer, client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    job = submit(client, make_code)
    panel = ApprovalPanel(server)
    card = wait_for(lambda: next((c for c in panel.jobs if c["accepted"]), None))

    no_reason = act(panel, "reject", uid=job.uid, reason="   ")
    assert not no_reason["ok"] and "reason is required" in no_reason["error"]
    wrong = act(panel, "approve", uid=job.uid, manifest_sha256="0" * 64)
    assert not wrong["ok"] and "manifest differs" in wrong["error"]
    bad_uid = act(panel, "approve", uid="../../etc", manifest_sha256=card["manifest_sha256"])
    assert not bad_uid["ok"] and "uid" in bad_uid["error"]
    unknown = act(panel, "explode", uid=job.uid)
    assert not unknown["ok"] and "explode" in unknown["error"]
    assert server.get_job(job.uid).status == JobStatus.pending

    assert act(panel, "reject", uid=job.uid, reason="not today")["ok"]
    again = act(panel, "approve", uid=job.uid, manifest_sha256=card["manifest_sha256"])
    assert not again["ok"] and "only pending jobs can be approved" in again["error"]
    assert wait_for(lambda: not panel.jobs)
    assert panel.activity[0]["status"] == "rejected" and panel.activity[0]["reason"] == "not today"


def test_panel_buttons_follow_the_status(
    server_factory: Callable[..., scq.CodeQueueServer], client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    server = server_factory().start()
    slow = client.submit_code(OWNER, make_code("sleep 30\n"), "slow")
    panel = ApprovalPanel(server)
    card = wait_for(lambda: next((c for c in panel.jobs if c["accepted"]), None))
    assert act(panel, "approve", uid=slow.uid, manifest_sha256=card["manifest_sha256"])["ok"]
    running = wait_for(lambda: next((c for c in panel.jobs if c["status"] == "running"), None))
    assert running["allowed"] == ["cancel"]
    ack = act(panel, "cancel", uid=slow.uid, reason="taking too long")
    assert ack["ok"], ack
    assert wait_for(lambda: server.get_job(slow.uid).status == JobStatus.cancelled, timeout=30)
    assert wait_for(lambda: not panel.jobs)


def test_bulk_decisions_pin_each_manifest_and_report_failures(
    server: scq.CodeQueueServer, client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    jobs = [submit(client, make_code, name=f"bulk {i}") for i in range(3)]
    panel = ApprovalPanel(server)
    cards = wait_for(
        lambda: [c for c in panel.jobs if c["accepted"]] if len([c for c in panel.jobs if c["accepted"]]) == 3 else None
    )
    by_uid = {c["uid"]: c for c in cards}

    refused = act(panel, "bulk", decision="reject", items=[{"uid": jobs[0].uid}], reason="")
    assert not refused["ok"] and "reason is required" in refused["error"]

    items = [{"uid": j.uid, "manifest_sha256": by_uid[j.uid]["manifest_sha256"]} for j in jobs[:2]]
    items.append({"uid": jobs[2].uid, "manifest_sha256": "f" * 64})
    ack = act(panel, "bulk", decision="approve", items=items, reason="batch")
    assert not ack["ok"] and ack["message"] == "Approved 2 of 3 jobs"
    assert [f["uid"] for f in ack["failures"]] == [jobs[2].uid]
    for job in jobs[:2]:
        wait_for(lambda job=job: server.get_job(job.uid).status == JobStatus.completed)
    ack = act(panel, "bulk", decision="reject", items=[{"uid": jobs[2].uid}], reason="wrong hash")
    assert ack["ok"] and ack["message"] == "Rejected 1 of 1 jobs"


def test_file_browser_shows_text_binary_truncated_and_tampered_files(
    server: scq.CodeQueueServer, client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    folder = make_code("echo hi\n", extra={"lib/a.py": "print('a')\n", "big.txt": "x" * 100_000})
    (folder / "data.bin").write_bytes(b"\x00\x01\x02binary")
    job = client.submit_code(OWNER, folder, "files")
    panel = ApprovalPanel(server)
    card = wait_for(lambda: next((c for c in panel.jobs if c["accepted"]), None))
    assert [f["path"] for f in card["files"]] == ["run.sh", "big.txt", "data.bin", "lib/a.py"]

    assert act(panel, "open_file", uid=job.uid, path="lib/a.py")["ok"]
    assert panel.file_view["text"] == "print('a')\n" and panel.file_view["matches_manifest"]
    assert panel.selected == job.uid
    act(panel, "open_file", uid=job.uid, path="data.bin")
    assert panel.file_view["binary"] and panel.file_view["text"] == ""
    act(panel, "open_file", uid=job.uid, path="big.txt")
    assert panel.file_view["truncated"] and len(panel.file_view["text"]) == 64 * 1024
    assert panel.file_view["size"] == 100_000

    outside = act(panel, "open_file", uid=job.uid, path="../../job.json")
    assert not outside["ok"] and "not part of job" in outside["error"]

    code_dir = server.store.layout.job(JobRef(ALICE, job.uid)).code_dir
    (code_dir / "lib" / "a.py").write_text("print('something else')\n")
    act(panel, "open_file", uid=job.uid, path="lib/a.py")
    assert panel.file_view["matches_manifest"] is False

    front_end_sets(panel, selected="")  # the card is closed: its file goes with it
    assert panel.selected == "" and panel.file_view == {}


def test_panel_needs_a_server(client: scq.CodeQueueClient) -> None:
    with pytest.raises(TypeError, match="CodeQueueServer"):
        ApprovalPanel(client)  # type: ignore[arg-type]


# -- submit form ------------------------------------------------------------------------


def test_form_validates_with_the_api_model_and_reports_per_field(
    client: scq.CodeQueueClient, make_code: Callable[..., Path], tmp_path: Path
) -> None:
    form = SubmitForm(client)
    ack = act(form, "submit", target_email="not-an-email", code_folder="", name="  ", tags="ok", description="")
    assert not ack["ok"]
    assert set(ack["errors"]) == {"target_email", "code_folder", "name"}
    assert "not a valid email" in ack["errors"]["target_email"].lower()

    ack = act(form, "submit", target_email=OWNER, code_folder=str(tmp_path / "nope"), name="x")
    assert ack["errors"] == {"code_folder": f"Code folder not found: {tmp_path / 'nope'}; please check the path."}
    no_run = tmp_path / "empty"
    no_run.mkdir()
    ack = act(form, "submit", target_email=OWNER, code_folder=str(no_run), name="x")
    assert "run.sh" in ack["errors"]["code_folder"]
    assert act(form, "submit", target_email=OWNER, code_folder="x", name="x", extra="field")["ok"] is False
    assert form.submitted == [] and client.list_jobs() == []

    fields = dict(target_email=OWNER, code_folder=str(make_code("echo hi\n")), name="ok", tags="one, two,")
    ack = act(form, "submit", **fields, auto_approval=True)
    assert ack["needs_confirmation"] and "no queue" in ack["warning"], "no server ever ran here: asked first"
    assert client.list_jobs() == []
    ack = act(form, "submit", **fields, auto_approval=True, confirmed=True)
    assert ack["ok"]
    job = client.get_job(ack["job"]["uid"])
    assert job.tags == ["one", "two"] and job.auto_approval and job.requester_email == ALICE


def test_form_errors_are_sentences_under_their_field_and_tags_are_checked(
    client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    form = SubmitForm(client)
    code = str(make_code("echo hi\n"))
    ack = act(form, "submit", target_email=OWNER, code_folder=code, name="x", tags="ok, " + "t" * 80)
    assert set(ack["errors"]) == {"tags"}, "a long tag is reported under Tags, not under the button"
    assert "longer than 64 characters" in ack["errors"]["tags"] and "pydantic" not in ack["errors"]["tags"]
    ack = act(form, "submit", target_email=OWNER, code_folder=code, name="x", tags="a, b, a")
    assert ack["errors"] == {"tags": "Tag 'a' is listed twice; please list each tag once."}
    ack = act(form, "submit", target_email="bad", code_folder="", name="", tags="")
    sentences = list(ack["errors"].values())
    assert len(sentences) == 3 and all(t[0].isupper() and t.endswith(".") for t in sentences), sentences
    assert ack["errors"]["name"] == "This is required; please fill it in."
    assert client.list_jobs() == []


# -- job table --------------------------------------------------------------------------


class FakeApi:
    """Thousands of jobs without the disk: what a server or client would list."""

    email = ALICE

    def __init__(self, count: int) -> None:
        start = utcnow() - timedelta(days=1)
        entry = FileEntry(path="run.sh", size=1, sha256="0" * 64)
        statuses = list(JobStatus)
        self.jobs: dict[str, Job] = {}
        for i in range(count):
            created = start + timedelta(seconds=i)
            status = statuses[(i // 2) % len(statuses)]  # both tags in every status, whatever their count
            history = [Transition(status=JobStatus.pending, at=created, by=OWNER)]
            if status != JobStatus.pending:
                history.append(Transition(status=status, at=created + timedelta(seconds=5), by=OWNER))
            uid = f"{i:032x}"
            request = JobRequest(
                uid=uid,
                name=f"job {i:05d}",
                tags=["even" if i % 2 == 0 else "odd"],
                requester_email=f"r{i % 10}@example.com",
                target_email=OWNER,
                created_at=created,
                files=[entry],
            )
            self.jobs[uid] = Job(
                request=request,
                state=JobState(uid=uid, requester_email=request.requester_email, status=status, history=history),
            )

    def list_jobs(self) -> list[Job]:
        return list(self.jobs.values())

    def get_job(self, uid: str) -> Job:
        if uid not in self.jobs:
            raise JobNotFoundError(uid)
        return self.jobs[uid]

    def get_job_logs(self, uid: str) -> str:
        return "line\n" * 2000

    def touch(self, uid: str, status: JobStatus) -> None:
        job = self.jobs[uid]
        history = (*job.state.history, Transition(status=status, at=utcnow(), by=OWNER))
        self.jobs[uid] = Job(
            request=job.request, state=job.state.model_copy(update={"status": status, "history": history})
        )


@pytest.fixture(scope="module")
def ten_thousand() -> FakeApi:
    return FakeApi(10_000)


def test_ten_thousand_jobs_send_only_the_page_shown(ten_thousand: FakeApi) -> None:
    source = JobSource(ten_thousand, poll_interval=3600, listen=False)
    table = JobTable(source)
    first = state_updates(table)
    assert len(table.rows) == 50 and table.total == 10_000
    assert table.rows[0]["name"] == "job 09999", "newest first by default"
    assert sum(table.counts.values()) == 10_000

    before = len(update_bytes(table))
    front_end_sets(
        table, query=dict(sort="name", descending=False, statuses=["failed", "running"], search="odd", page=3)
    )
    sizes = update_bytes(table)[before:]
    assert len(sizes) == 1, "one view request, one update message"
    assert table.query["page"] == 3 and len(table.rows) == 50
    assert all(r["status"] in ("failed", "running") and r["tags"] == ["odd"] for r in table.rows)
    names = [r["name"] for r in table.rows]
    assert names == sorted(names)
    odd_pending = sum(1 for j in ten_thousand.jobs.values() if j.status == JobStatus.pending and j.tags == ["odd"])
    assert table.counts["pending"] == odd_pending, "chip counts follow the search, not the status filter"
    assert sizes[0] < 20_000, f"a page update should stay small, was {sizes[0]} bytes"
    assert len(table.df) == table.total

    # A change to a job that is not on the page sends no rows at all, only counts and version.
    off_page = next(uid for uid, j in ten_thousand.jobs.items() if j.status == JobStatus.pending and "even" in j.tags)
    ten_thousand.touch(off_page, JobStatus.approved)
    before = len(update_bytes(table))
    source.job_changed(off_page)
    wait_for(lambda: len(update_bytes(table)) > before)
    update = state_updates(table)[-1]
    assert "rows" not in update and update_bytes(table)[-1] < 1000, update

    last_page = table.total // 50 - (table.total % 50 == 0)
    before = len(update_bytes(table))
    front_end_sets(table, query={**table.query, "page": 10_000})
    assert table.query["page"] == last_page and len(update_bytes(table)) == before + 1, "one update, page clamped"
    assert state_updates(table)[-1]["query"]["page"] == last_page, "the front end is told the page it shows"
    assert first, "the table pushed its first snapshot"


def test_one_job_change_on_the_page_sends_only_that_row(ten_thousand: FakeApi) -> None:
    source = JobSource(ten_thousand, poll_interval=3600, listen=False)
    table = JobTable(source)
    front_end_sets(table, query=dict(sort="created", descending=True, statuses=[], search="", page=0))
    page = [dict(r) for r in table.rows]
    assert len(page) == 50
    target = next(r for r in page if r["status"] == "pending")

    ten_thousand.touch(target["uid"], JobStatus.approved)
    before = len(update_bytes(table))
    source.job_changed(target["uid"])
    wait_for(lambda: len(update_bytes(table)) > before)
    sizes, updates = update_bytes(table)[before:], state_updates(table)[before:]
    assert len(updates) == 1, "one change, one update message"
    update = updates[0]
    delta_bytes = sum(sizes)
    assert delta_bytes < 10_000, f"a single-job change sent {delta_bytes} bytes"
    assert "rows" not in update, "the page is not sent again"
    assert [r["uid"] for r in update["changed_rows"]] == [target["uid"]], "exactly the changed row"
    assert update["changed_rows"][0]["status"] == "approved"
    # The Python side still holds the whole page, which is what the front end rebuilds.
    merged = {r["uid"]: r for r in page} | {r["uid"]: r for r in update["changed_rows"]}
    assert [merged[uid] for uid in table.row_order] == table.rows
    assert [r["uid"] for r in table.rows] == [r["uid"] for r in page]

    # A change of sort is a new view: the whole page again, and no delta.
    before = len(update_bytes(table))
    front_end_sets(table, query=dict(sort="name", descending=False, statuses=[], search="", page=0))
    update = state_updates(table)[before:][0]
    assert len(update["rows"]) == 50 and update["rows"] == table.rows
    assert delta_bytes * 5 < update_bytes(table)[before], "the delta is a small part of a page"
    assert update["row_order"] == [r["uid"] for r in table.rows] and update["changed_rows"] == []

    # A job that leaves the page sends the new order and only the row that moves in.
    front_end_sets(table, query=dict(sort="status", descending=False, statuses=[], search="", page=0))
    first, old_order = table.rows[0], list(table.row_order)
    ten_thousand.touch(first["uid"], JobStatus.cancelled)
    before = len(update_bytes(table))
    source.job_changed(first["uid"])
    wait_for(lambda: len(update_bytes(table)) > before)
    update = state_updates(table)[before:][0]
    assert "rows" not in update and "row_order" in update
    entered = [uid for uid in table.row_order if uid not in old_order]
    assert len(entered) == 1 and [r["uid"] for r in update["changed_rows"]] == entered
    assert first["uid"] not in table.row_order and update["row_order"] == old_order[1:] + entered


def test_sorting_keeps_unset_values_last_in_both_directions(ten_thousand: FakeApi) -> None:
    table = JobTable(JobSource(ten_thousand, poll_interval=3600, listen=False), page_size=200)
    for descending in (False, True):
        front_end_sets(table, query=dict(sort="started", descending=descending, page=0))
        front_end_sets(table, query=dict(sort="started", descending=descending, page=table.total // 200))
        assert table.rows[-1]["started"] is None
        front_end_sets(table, query=dict(sort="started", descending=descending, page=0))
        assert table.rows[0]["started"] is not None


def test_pause_freezes_the_rows_and_resume_catches_up() -> None:
    api = FakeApi(200)
    source = JobSource(api, poll_interval=3600, listen=False)
    table = JobTable(source)
    top = table.rows[0]["uid"]
    front_end_sets(table, paused=True)
    assert table.paused
    version = table.version
    api.touch(top, JobStatus.cancelled)
    source.job_changed(top)
    source.pump.flush()
    assert table.version == version, "no updates while paused"
    front_end_sets(table, query=dict(search="JOB 0019", page=0))
    assert table.total == 10, "the paused snapshot can still be browsed"
    assert table.rows[0]["uid"] == top and table.rows[0]["status"] != "cancelled"
    front_end_sets(table, query=dict(search="", page=0))
    assert table.rows[0]["uid"] == top and table.rows[0]["status"] != "cancelled"
    front_end_sets(table, paused=False)
    assert not table.paused and table.rows[0]["status"] == "cancelled"


def test_an_empty_html_list_says_so() -> None:
    assert "No jobs" in jobs_to_html([])


def test_a_tables_dataframe_is_current_even_before_its_next_live_update(
    server: scq.CodeQueueServer, client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    job = client.submit_code(OWNER, make_code("echo hi\n"), "decided")
    wait_for(lambda: server.get_job(job.uid).state is not None)
    table = JobTable(JobSource(server, poll_interval=3600, listen=False))
    assert [r["status"] for r in table.rows] == ["pending"]
    server.reject_job(job.uid, reason="not now")
    assert list(table.df["status"]) == ["rejected"], "what the previous cell did, not the last update"
    table.paused = True  # from Python, as the front end's Pause does
    assert list(table.df["status"]) == ["pending"], "a paused table keeps what it froze"


def test_selection_survives_updates_and_the_whole_log_streams_without_repeats() -> None:
    source = JobSource(FakeApi(200), poll_interval=3600, listen=False)
    table = JobTable(source)
    uid = table.rows[0]["uid"]
    front_end_sets(table, selected=uid)
    whole = act(table, "log", uid=uid)
    assert whole["text"] == "line\n" * 2000 and whole["start"] == 0 and whole["complete"], "the whole log, not a tail"
    again = act(table, "log", uid=uid, offset=whole["end"], source=whole["source"], tail=whole["text"][-64:])
    assert again["text"] == "" and not again["reset"], "nothing new: nothing sent"
    stale = act(table, "log", uid=uid, offset=5, source=whole["source"], tail="not what the log says")
    assert stale["reset"] and stale["start"] == 0, "a view whose text no longer matches gets the log again"
    source.job_changed(uid)
    wait_for(lambda: True)
    assert table.selected == uid and table.detail["uid"] == uid
    front_end_sets(table, selected="")
    assert table.detail == {} and table.selected == ""
    table.selected = uid  # Python opens a detail as a click does
    assert table.detail["uid"] == uid


def test_view_state_the_front_end_gets_wrong_is_replaced_by_the_last_valid_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = JobTable(JobSource(FakeApi(200), poll_interval=3600, listen=False))
    uid = table.rows[3]["uid"]
    front_end_sets(table, query={**table.query, "sort": "name", "page": 1}, selected=uid)
    view, version, rows = dict(table.query), table.version, list(table.rows)
    before = len(state_updates(table))

    with caplog.at_level("WARNING", logger="syft_code_queue.widgets.base"):
        front_end_sets(table, query={**view, "sort": "password"})
        front_end_sets(table, query=["not", "a", "view"], paused="yes", selected="../../etc/passwd")
    assert table.query == view and not table.paused and table.selected == uid, "the last valid values"
    assert table.version == version and table.rows == rows and table.detail["uid"] == uid, "nothing re-rendered"
    sent = state_updates(table)[before:]
    assert {"query": view} in sent and {"paused": False} in sent and {"selected": uid} in sent, (
        "the front end is sent back what Python shows"
    )
    refused = [r.getMessage() for r in caplog.records]
    assert len(refused) == 4 and "refused query=" in refused[0] and "sort" in refused[0], refused


def test_python_writing_back_the_clamped_page_does_not_render_again() -> None:
    table = JobTable(JobSource(FakeApi(120), poll_interval=3600, listen=False))
    version, before = table.version, len(state_updates(table))
    front_end_sets(table, query={**table.query, "page": 9})
    assert table.query["page"] == 2 and table.version == version + 1, "one render for one view"
    assert [u["query"]["page"] for u in state_updates(table)[before:] if "query" in u] == [2]
    front_end_sets(table, query=dict(table.query))
    assert table.version == version + 1, "an unchanged view is no new view"

    table.query = {"statuses": ["failed"]}  # from Python, in part: the rest are the defaults
    assert table.query["sort"] == "created" and table.query["page"] == 0 and table.version == version + 2
    assert table.rows and {r["status"] for r in table.rows} == {"failed"}


def test_escaped_html_repr_and_raw_text_in_widget_state(
    server: scq.CodeQueueServer, client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    job = client.submit_code(OWNER, make_code("echo hi\n", extra={XSS_FILE: XSS_FILE}), XSS_NAME, tags=[XSS_NAME])
    html = jobs_to_html([job]) + client.list_jobs()._repr_html_() + job._repr_html_()
    assert "<img" not in html and "<script" not in html and "&lt;img src=x onerror=" in html
    panel = ApprovalPanel(server)
    card = wait_for(lambda: next((c for c in panel.jobs if c["accepted"]), None))
    # The widget state carries the text as it is; the front end only ever sets textContent
    # (the browser tests prove that no markup runs).
    assert card["name"] == XSS_NAME and XSS_FILE in [f["path"] for f in card["files"]]
    act(panel, "open_file", uid=job.uid, path=XSS_FILE)
    assert panel.file_view["text"] == XSS_FILE


def test_other_requesters_jobs_stay_out_of_a_clients_table(
    server: scq.CodeQueueServer, root: Path, client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    eve = scq.create_client(email=EVE, data_dir=root)
    submit(client, make_code, name="alice's")
    eve_job = eve.submit_code(OWNER, make_code("echo eve\n"), "eve's")
    table = JobTable(eve)
    assert [r["uid"] for r in table.rows] == [eve_job.uid]
    owner_table = JobTable(server)
    assert wait_for(lambda: owner_table.total == 2)


# -- packaging and import cost ------------------------------------------------------------


def test_front_end_modules_are_self_contained() -> None:
    for name in ("job_table.js", "approval_panel.js", "submit_form.js"):
        module = esm(name)
        assert "./common.js" not in module and "export default" in module
        assert "innerHTML" not in module and "insertAdjacentHTML" not in module and "http" not in module
    css = (asset_dir() / "widgets.css").read_text()
    selectors = [line.split("{")[0] for line in css.splitlines() if "{" in line and not line.lstrip().startswith("@")]
    classes = {c.split(":")[0].split(" ")[0] for s in selectors for c in s.replace(",", " ").split(".")[1:]}
    assert classes and all(c.startswith("scq") for c in classes), classes - {c for c in classes if c.startswith("scq")}


@pytest.mark.slow
def test_wheel_ships_the_front_end(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
    )
    wheel = next(tmp_path.glob("*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path / "site")
    names = {p.name for p in (tmp_path / "site" / "syft_code_queue" / "widgets" / "js").iterdir()}
    assert {"common.js", "job_table.js", "approval_panel.js", "submit_form.js", "widgets.css"} <= names
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from syft_code_queue.widgets.assets import asset_dir, esm; esm('job_table.js'); print(asset_dir())",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(out.stdout.strip()) == tmp_path / "site" / "syft_code_queue" / "widgets" / "js"


def test_importing_the_package_does_not_load_the_widgets() -> None:
    code = (
        "import sys, syft_code_queue as scq; assert 'anywidget' not in sys.modules;"
        "assert scq.JobTable.__name__ == 'JobTable' and 'anywidget' in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_the_private_ipywidgets_hook_the_table_relies_on_is_still_there() -> None:
    """JobTable keeps a delta's ``rows`` from being sent by overriding ipywidgets' private
    ``Widget._should_send_property``. If ipywidgets renames or reshapes it, fail here, loudly,
    rather than silently sending every page whole (or never)."""
    import inspect

    import ipywidgets

    hook = getattr(ipywidgets.Widget, "_should_send_property", None)
    assert hook is not None, "ipywidgets no longer has Widget._should_send_property: JobTable's deltas need a new hook"
    assert list(inspect.signature(hook).parameters) == ["self", "key", "value"]
    assert "_should_send_property" in inspect.getsource(ipywidgets.Widget.notify_change), (
        "Widget.notify_change no longer asks _should_send_property: JobTable would send every delta's rows"
    )
