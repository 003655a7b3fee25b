"""The SubmitForm's datasets, runtimes and "Test on mock", and the datasets and runtime in a
JobTable's detail, without a browser: the requester picks the owner's dataset from a list
with its summary, tests the code on its mock (the log tail and output files come back while
the notebook stays free), then submits it with that dataset and a runtime; each bad input is
reported under its field.

Tests marked ``index`` declare a runtime, which resolves and builds against the package index.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import comm
import pytest
from helpers import MOCK_CSV, OWNER, accepted, publish_census, wait_for
from widget_helpers import RecordingComm, act, front_end_sets
from widget_helpers import wait_for as eventually

import syft_code_queue as scq
from syft_code_queue.widgets import JobTable, SubmitForm

READS_THE_MOCK = """
echo "kind=$SYFT_DATA_KIND"
for i in $(seq 1 30); do echo "line $i"; done
cp "$SYFT_DATASET_DIR/census.csv" "$SYFT_OUTPUT_DIR/copy.csv"
wc -l < "$SYFT_DATASET_DIR/census.csv" > "$SYFT_OUTPUT_DIR/rows.txt"
"""


@pytest.fixture
def widgets(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Widgets whose messages are recorded instead of sent; closed after the test."""
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    RecordingComm.log.clear()
    made: list[Any] = []
    yield made
    for widget in made:
        widget.close()


@pytest.fixture
def form(widgets: list[Any], client: scq.CodeQueueClient) -> Callable[..., SubmitForm]:
    def make(**kwargs: Any) -> SubmitForm:
        widget = SubmitForm(client, target_email=OWNER, **kwargs)
        widgets.append(widget)
        return widget

    return make


def finished_test(form: SubmitForm, timeout: float = 60) -> dict[str, Any]:
    return eventually(lambda: form.mock_run if form.mock_run.get("state") not in (None, "running") else None, timeout)


def test_the_form_lists_the_owners_datasets_with_their_summaries_and_runtimes_default_first(
    form, server, owner_data, client
) -> None:
    publish_census(server, owner_data, readme="# Census\nOne row per person.\n" + "x" * 5000)
    widget = form()

    assert widget.datasets["state"] == "ready" and widget.datasets["owner"] == OWNER
    [census] = widget.datasets["items"]
    assert census["name"] == "census" and census["summary"] == "Census extract, one row per person"
    assert census["mock_note"] == "4 synthetic rows, same columns"
    assert census["readme"].startswith("# Census\nOne row per person.\nxxx") and len(census["readme"]) == 4000
    assert census["readme_cut"], "a long README is cut, and says so"
    assert (census["files"], census["size"], census["pending"]) == (1, len(MOCK_CSV), 0)
    [default] = widget.runtimes["items"]
    assert default["default"] and default["name"] == "default" and default["python"].startswith("3.")

    widget.target = "nobody@example.com"
    assert widget.datasets["state"] == "not_synced"
    assert "Nothing of nobody@example.com's datasite has synced here yet" in widget.datasets["message"]
    assert widget.runtimes["state"] == "none" and "default environment" in widget.runtimes["message"]
    widget.target = "not an email"
    assert widget.datasets == {"owner": "", "state": "", "message": "", "items": []}

    server.remove_dataset("census")
    widget.target = OWNER
    assert widget.datasets["state"] == "none"
    assert widget.datasets["message"] == (
        f"{OWNER} has published no datasets that you may use (or none has synced here yet)."
    )


def test_a_listing_that_cannot_be_read_is_shown_as_an_error_with_its_cause(form, server, client, monkeypatch) -> None:
    def unreadable(owner: str) -> None:
        raise PermissionError(13, "Permission denied", owner)

    monkeypatch.setattr(client, "list_datasets", unreadable)
    widget = form()
    assert widget.datasets["state"] == "error"
    assert widget.datasets["message"].startswith(f"Could not read {OWNER}'s datasets ([Errno 13] Permission denied")
    assert widget.datasets["message"].endswith("; check the email and try again.")
    assert widget.runtimes["state"] == "ready", "the runtimes are read on their own"


def test_a_mock_that_is_still_syncing_shows_as_such_and_turns_ready_by_itself(form, server, owner_data, client) -> None:
    publish_census(server, owner_data)
    mock = client.get_dataset(OWNER, "census").mock_path / "census.csv"
    mock.write_text(MOCK_CSV[:10])  # part of the file has arrived
    widget = form()
    assert widget.datasets["items"][0]["pending"] == 1

    mock.write_text(MOCK_CSV)
    eventually(lambda: widget.datasets["items"][0]["pending"] == 0, timeout=15)


def test_test_on_mock_runs_the_code_on_the_mock_in_the_background_and_shows_its_log_and_outputs(
    form, server, owner_data, make_code
) -> None:
    publish_census(server, owner_data)
    widget = form()
    folder = make_code(READS_THE_MOCK)

    started = time.monotonic()
    ack = act(widget, "test_mock", target_email=OWNER, code_folder=str(folder), datasets=["census"])
    assert ack["ok"] and ack["message"] == "Testing on the mock of census…", ack
    assert time.monotonic() - started < 2, "the kernel is not held while the code runs"
    run = finished_test(widget)

    assert (run["state"], run["status"], run["exit_code"], run["datasets"]) == ("done", "completed", 0, ["census"])
    assert (run["target_email"], run["code_folder"]) == (OWNER, str(folder)), "what the result is of"
    assert run["log_tail"].splitlines() == [f"line {i}" for i in range(11, 31)], "the last 20 lines"
    assert run["log_lines"] == 31 and run["error"] is None
    copy, rows = run["outputs"]
    assert (copy["path"], copy["size"], copy["type"]) == ("copy.csv", len(MOCK_CSV), "table")
    assert copy["rows"] == [line.split(",") for line in MOCK_CSV.splitlines()], "the mock's rows, not the private ones"
    assert (rows["path"], rows["type"], rows["text"]) == ("rows.txt", "text", "5\n")
    assert Path(run["output_dir"], "copy.csv").read_text() == MOCK_CSV
    assert not Path(run["output_dir"]).is_relative_to(widget.client.workspace.datasites), "never synced"
    assert widget.client.list_jobs() == [], "a test sends nothing to the owner"


def test_bad_input_for_a_test_on_mock_is_reported_under_its_field(
    form, server, owner_data, make_code, tmp_path
) -> None:
    widget = form()
    code = str(make_code("sleep 5\n"))
    ack = act(widget, "test_mock", target_email=OWNER, code_folder="", datasets=[])
    assert ack["errors"] == {
        "code_folder": "The path of a folder holding run.sh is required; please fill it in.",
        "datasets": f"{OWNER} has published no dataset you may use, so there is no mock to test on; submit as it is.",
    }
    ack = act(widget, "test_mock", target_email="nope", code_folder=code, datasets=["census"])
    assert ack["errors"] == {"target_email": "Not a valid email address: 'nope'."}

    publish_census(server, owner_data)
    ack = act(widget, "test_mock", target_email=OWNER, code_folder=code, datasets=[])
    assert ack["errors"] == {"datasets": "Pick the datasets your code reads; the test runs on their mocks."}
    ack = act(widget, "test_mock", target_email=OWNER, code_folder=code, datasets=["salaries"])
    assert ack["errors"]["datasets"].startswith(f"{OWNER} publishes no dataset 'salaries' that has synced here")
    ack = act(widget, "test_mock", target_email=OWNER, code_folder=code, datasets=["census", "census"])
    assert ack["errors"] == {"datasets": "Dataset 'census' is named twice; name each dataset once."}

    mock = widget.client.get_dataset(OWNER, "census").mock_path / "census.csv"
    mock.unlink()  # not synced yet
    ack = act(widget, "test_mock", target_email=OWNER, code_folder=code, datasets=["census"])
    assert ack["errors"] == {
        "datasets": "The mock of 'census' has not synced here yet (1 of 1 files still arriving); "
        "wait for SyftBox and test again."
    }
    mock.write_text(MOCK_CSV)

    ack = act(widget, "test_mock", target_email=OWNER, code_folder=str(tmp_path / "gone"), datasets=["census"])
    assert ack["ok"], "the folder is checked by the run itself"
    run = finished_test(widget)
    assert run["errors"] == {"code_folder": f"Code folder not found: {tmp_path / 'gone'}; please check the path."}

    assert act(widget, "test_mock", target_email=OWNER, code_folder=code, datasets=["census"])["ok"]
    again = act(widget, "test_mock", target_email=OWNER, code_folder=code, datasets=["census"])
    assert again == {**again, "ok": False, "error": "A test on the mock is still running; wait for its result."}


def test_a_test_on_mock_that_outlasts_the_forms_timeout_is_stopped_and_says_so(
    form, server, owner_data, make_code
) -> None:
    publish_census(server, owner_data)
    widget = form(mock_timeout=1)
    ack = act(widget, "test_mock", target_email=OWNER, code_folder=str(make_code("sleep 30\n")), datasets=["census"])
    assert ack["ok"]
    run = finished_test(widget, timeout=20)
    assert run["status"] == "failed" and run["error"].startswith("timed out after 1 s"), run
    assert run["seconds"] < 15


def test_the_form_submits_the_picked_datasets_and_runtime_and_checks_them(
    form, server, owner_data, make_code, client
) -> None:
    publish_census(server, owner_data)
    widget = form()
    fields = dict(target_email=OWNER, code_folder=str(make_code("true\n")), name="Mean age")

    ack = act(widget, "submit", **fields, datasets=["salaries"], runtime="default")
    assert ack["errors"]["datasets"].startswith(f"{OWNER} publishes no dataset 'salaries' that has synced here")
    ack = act(widget, "submit", **fields, datasets=["census"], runtime="gpu")
    assert ack["errors"] == {"runtime": f"{OWNER} no longer offers the runtime 'gpu'; pick one of: default."}
    assert client.list_jobs() == []

    ack = act(widget, "submit", **fields, datasets=["census"], runtime="default")
    assert ack["ok"], ack
    job = client.get_job(ack["job"]["uid"])
    assert job.datasets == ["census"] and job.request.runtime is None, "the default runtime is not named"
    assert widget.submitted[0]["datasets"] == ["census"]


def test_the_job_tables_detail_shows_the_jobs_datasets_and_runtime(
    widgets, server_factory, owner_data, make_code, client
) -> None:
    server = server_factory(release_policy="auto").start()
    publish_census(server, owner_data)
    job = client.submit_code(OWNER, make_code("true\n"), "Mean age", datasets=["census"])
    table = JobTable(client)
    widgets.append(table)
    eventually(lambda: table.source.get(job.uid))
    front_end_sets(table, selected=job.uid)
    assert table.detail["datasets"] == ["census"]
    assert table.detail["runtime"] == {"name": "default", "recorded": False, "note": "recorded when the job runs"}

    server.approve_job(accepted(server, job.uid))
    assert wait_for(server, job.uid).status == scq.JobStatus.completed
    eventually(lambda: table.detail["status"] == "completed")
    python = server.list_runtimes()[0].python
    expected = {"name": "default", "python": python, "lock_sha256": None, "pins": [], "recorded": True}
    assert table.detail["runtime"] == expected


@pytest.mark.index
def test_a_declared_runtime_is_offered_with_its_packages_and_recorded_with_its_pins(
    form, widgets, server_factory, owner_data, make_code, client
) -> None:
    server = server_factory(release_policy="auto").start()
    declared = server.add_runtime("tiny", packages=["termcolor"])
    widget = form()
    eventually(lambda: len(widget.runtimes.get("items", [])) == 2, timeout=15)
    default, tiny = widget.runtimes["items"]
    assert default["default"] and tiny["name"] == "tiny" and not tiny["default"]
    assert tiny["packages"] == list(declared.packages) and any(p.startswith("termcolor==") for p in tiny["packages"])
    assert tiny["lock_sha256"] == declared.lock_sha256

    fields = dict(target_email=OWNER, code_folder=str(make_code("python -c 'import termcolor'\n")), name="tiny")
    ack = act(widget, "submit", **fields, runtime="tiny")
    assert ack["ok"], ack
    uid = ack["job"]["uid"]
    server.approve_job(accepted(server, uid, timeout=120))
    assert wait_for(server, uid, timeout=120).status == scq.JobStatus.completed
    table = JobTable(client)
    widgets.append(table)
    eventually(lambda: table.source.get(uid) and table.source.get(uid).status == scq.JobStatus.completed)
    front_end_sets(table, selected=uid)
    runtime = table.detail["runtime"]
    assert (runtime["name"], runtime["lock_sha256"], runtime["recorded"]) == ("tiny", declared.lock_sha256, True)
    assert runtime["pins"] == list(declared.packages)
