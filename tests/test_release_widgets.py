"""The owner releases held outputs from the ApprovalPanel without a browser: the held job is
listed and filterable, its section shows the requester's notes and each file's verdict, every
preview is bounded and audited, and release or withhold decide it file by file."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Callable, Iterator

import comm
import pytest
from helpers import OWNER
from widget_helpers import RecordingComm, act, front_end_sets, wait_for

import syft_code_queue as scq
from syft_code_queue.widgets import ApprovalPanel, JobTable, SubmitForm
from syft_code_queue.widgets.base import status_catalog
from syft_code_queue.widgets.release_view import CSV_ROWS, IMAGE_BYTES, TEXT_BYTES

AWAITING = scq.JobStatus.awaiting_release
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5d1b1e50000000049454e44ae426082"
)
SVG = '<svg xmlns="http://www.w3.org/2000/svg"><!-- hidden: TOKEN --><script>alert(1)</script></svg>'
JOB = f"""
printf 'region,count\\nnorth,40\\nsouth,35\\neast,0\\n' > "$SYFT_OUTPUT_DIR/table.csv"
printf 'region,count\\n' > "$SYFT_OUTPUT_DIR/unrounded.csv"
for i in $(seq 1 500); do echo "r$i,$((i * 3 + 1))" >> "$SYFT_OUTPUT_DIR/unrounded.csv"; done
echo {base64.b64encode(PNG).decode()} | base64 -d > "$SYFT_OUTPUT_DIR/plot.png"
echo '{SVG}' > "$SYFT_OUTPUT_DIR/plot.svg"
head -c 300000 /dev/zero | tr '\\0' 'x' > "$SYFT_OUTPUT_DIR/big.txt"
echo "a pickle" > "$SYFT_OUTPUT_DIR/model.pkl"
echo "the run says hello"
echo "and warns" >&2
"""


@pytest.fixture(autouse=True)
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    RecordingComm.log.clear()
    yield


@pytest.fixture
def held(
    server_factory: Callable[..., scq.CodeQueueServer], client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> Iterator[tuple[scq.CodeQueueServer, ApprovalPanel, str]]:
    server = server_factory(auto_approval_enabled=True, release_policy="manual").start()
    notes = "counts rounded to 5; no cell under 10"
    uid = client.submit_code(OWNER, make_code(JOB), "Tables", auto_approval=True, release_notes=notes).uid
    panel = ApprovalPanel(server)
    wait_for(lambda: any(c["uid"] == uid and c["status"] == AWAITING.value for c in panel.jobs), timeout=60)
    yield server, panel, uid
    panel.close()


def card_of(panel: ApprovalPanel, uid: str) -> dict[str, Any]:
    return next(c for c in panel.jobs if c["uid"] == uid)


def test_a_held_job_is_listed_with_the_requesters_notes_and_each_files_verdict(held: Any) -> None:
    server, panel, uid = held
    assert panel.counts[AWAITING.value] == 1 and list(panel.counts)[:2] == ["pending", "awaiting_release"]
    section = card_of(panel, uid)["release"]
    assert section["notes"] == "counts rounded to 5; no cell under 10"
    files = {f["path"]: f for f in section["files"]}
    assert sorted(files) == ["big.txt", "model.pkl", "plot.png", "plot.svg", "table.csv", "unrounded.csv"]
    assert files["table.csv"]["verdict"] == "pass" and files["table.csv"]["ticked"]
    assert files["model.pkl"]["verdict"] == "fail" and not files["model.pkl"]["ticked"]
    assert "not an allowed extension" in files["model.pkl"]["messages"][0]
    assert [f["path"] for f in section["logs"]] == ["stdout.txt", "stderr.txt"] and section["logs_ticked"]

    front_end_sets(panel, query={**panel.query, "status": "pending"})
    assert panel.jobs == [] and panel.query["status"] == "pending"
    front_end_sets(panel, query={**panel.query, "status": "awaiting_release"})
    assert [c["uid"] for c in panel.jobs] == [uid]
    front_end_sets(panel, query={**panel.query, "status": "completed"})
    assert panel.query["status"] == "awaiting_release", "only open statuses are a panel's filter"


def test_previews_are_bounded_images_cannot_run_script_and_every_view_is_audited(held: Any) -> None:
    server, panel, uid = held
    table = act(panel, "held_file", uid=uid, path="table.csv")["preview"]
    assert table["type"] == "table" and table["rows"] == [
        ["region", "count"],
        ["north", "40"],
        ["south", "35"],
        ["east", "0"],
    ]
    count = table["columns"][1]
    assert (count["min"], count["max"], count["min_nonzero"], count["multiples_of_5"]) == (0, 40, 35, True)
    assert table["columns"][0]["numeric"] is False

    long = act(panel, "held_file", uid=uid, path="unrounded.csv")["preview"]
    assert len(long["rows"]) == CSV_ROWS + 1 and long["total_rows"] == 500 and long["more"]
    assert long["columns"][1]["max"] == 1501, "the checks cover every row, not only those shown"
    assert long["columns"][1]["multiples_of_5"] is False

    png = act(panel, "held_file", uid=uid, path="plot.png")["preview"]
    assert (png["type"], png["mime"], base64.b64decode(png["data"])) == ("image", "image/png", PNG)
    svg = act(panel, "held_file", uid=uid, path="plot.svg")["preview"]
    assert (svg["type"], svg["mime"]) == ("image", "image/svg+xml") and "hidden: TOKEN" in svg["source"]

    big = act(panel, "held_file", uid=uid, path="big.txt")["preview"]
    assert big["truncated"] and len(big["text"]) == TEXT_BYTES < big["size"]
    log = act(panel, "held_file", uid=uid, path="stdout.txt", log=True)["preview"]
    assert log["text"] == "the run says hello\n"
    assert not act(panel, "held_file", uid=uid, path="../held.json")["ok"]

    views = [r for r in server.store.audit.read(uid=uid) if r.kind == "file_view"]
    assert [(r.details["path"], r.details["log"]) for r in views] == [
        ("table.csv", False),
        ("unrounded.csv", False),
        ("plot.png", False),
        ("plot.svg", False),
        ("big.txt", False),
        ("stdout.txt", True),
    ]
    assert all(r.details["held"] and r.details["bytes"] <= IMAGE_BYTES + 1 for r in views)


def test_the_owner_releases_only_the_ticked_file_and_the_requester_gets_only_it(
    held: Any, client: scq.CodeQueueClient
) -> None:
    server, panel, uid = held
    nothing = act(panel, "release", uid=uid, files=[], logs=False)
    assert not nothing["ok"] and "withhold" in nothing["error"]
    ack = act(panel, "release", uid=uid, files=["table.csv"], logs=False, reason="the table only")
    assert ack["ok"] and ack["message"] == "Released 1 file of 'Tables'"
    job = client.wait_for_job(uid, timeout=30)
    assert job.status == scq.JobStatus.completed and [f.path for f in job.release.files] == ["table.csv"]
    assert sorted(p.name for p in client.get_job_output(uid).iterdir()) == ["table.csv"]
    assert client.get_job_logs(uid) is None
    assert wait_for(lambda: all(c["uid"] != uid for c in panel.jobs)), "a decided job leaves the panel"


def test_withholding_needs_a_reason_given_under_the_reason_field(held: Any, client: scq.CodeQueueClient) -> None:
    server, panel, uid = held
    ack = act(panel, "withhold", uid=uid, reason="  ")
    assert not ack["ok"] and ack["errors"] == {"reason": ack["error"]} and "reason is required" in ack["error"]
    assert server.get_job(uid).status == AWAITING
    ack = act(panel, "withhold", uid=uid, reason="counts under 10")
    assert ack["ok"] and ack["message"].startswith("Withheld the results of 'Tables'")
    job = client.wait_for_job(uid, timeout=30)
    assert job.status == scq.JobStatus.withheld and job.error == "counts under 10"
    assert not act(panel, "withhold", uid=uid, reason="again")["ok"], "a decided job cannot be withheld again"


def test_every_widget_gets_the_statuses_and_their_labels_from_the_enum(client: scq.CodeQueueClient) -> None:
    table = JobTable(client)
    assert table.statuses == status_catalog()
    assert [s["value"] for s in table.statuses] == [s.value for s in scq.JobStatus]
    labels = {s["value"]: s["label"] for s in table.statuses}
    assert labels["awaiting_release"] == "ran, waiting for the owner's release" and labels["withheld"] == "withheld"
    table.close()


def test_the_requester_gives_release_notes_in_the_form_checked_like_the_other_fields(
    server: scq.CodeQueueServer, client: scq.CodeQueueClient, make_code: Callable[..., Path]
) -> None:
    form = SubmitForm(client)
    fields = dict(target_email=OWNER, code_folder=str(make_code("echo hi\n")), name="Counts")
    ack = act(form, "submit", **fields, release_notes="n" * 10_001)
    assert ack["errors"] == {"release_notes": "This is longer than 10000 characters; please shorten it."}
    ack = act(form, "submit", **fields, release_notes="counts rounded to 5; no cell under 10")
    assert ack["ok"], ack
    assert client.get_job(ack["job"]["uid"]).release_notes == "counts rounded to 5; no cell under 10"
    form.close()


def test_a_held_jobs_section_is_read_once_per_version_of_the_job(held: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server, panel, uid = held
    reads: list[str] = []
    original = server.get_held_outputs
    monkeypatch.setattr(server, "get_held_outputs", lambda u: reads.append(u) or original(u))
    for search in ("Tab", "", "Tables"):
        front_end_sets(panel, query={**panel.query, "search": search})
    assert card_of(panel, uid)["release"]["notes"] and reads == [], "redrawn from what was read"
