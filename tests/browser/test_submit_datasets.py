"""The requester's SubmitForm with the owner's datasets and runtimes, in JupyterLab: the owner
publishes a dataset with a mock (and a runtime); the form lists the dataset with its summary,
the requester picks it with the keyboard, tests the code on the mock and sees the mock's log
and outputs, then submits; the JobTable's detail shows the job's datasets and its runtime.

The runtime test declares a runtime, which resolves and builds against the package index.
"""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
from lab_harness import Lab, run_notebook, screenshot, wait_idle
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SETUP = """
import os, tempfile
from pathlib import Path
import syft_code_queue as scq

workdir = tempfile.TemporaryDirectory()
base = Path(workdir.name)
os.chmod(base, 0o755)
root = base / "syftbox"
server = scq.create_server(
    email="owner@example.com", data_dir=root, release_policy="auto", auto_approval_enabled=True
).start()
client = scq.create_client(email="alice@example.com", data_dir=root)

def folder(name, files):
    path = base / name
    path.mkdir()
    os.chmod(path, 0o755)
    for rel, text in files.items():
        (path / rel).write_text(text)
        os.chmod(path / rel, 0o644)
    return path

server.add_dataset(
    "census",
    private_path=folder("census", {"census.csv": "name,age\\nada,36\\nalan,41\\ngrace,45\\nlinus,28\\n"}),
    mock_path=folder("census-mock", {"census.csv": "name,age\\np1,30\\np2,40\\np3,50\\np4,60\\n"}),
    summary="Census extract, one row per person",
    mock_note="4 synthetic rows, same columns",
    readme="# Census\\nOne row per person; ages in whole years.\\n",
)
code = folder("mean_age", {"run.sh": '''sleep 1
echo "reading the $SYFT_DATA_KIND data"
cat "$SYFT_DATASET_DIR/census.csv"
awk -F, 'NR > 1 { s += $2; n++ } END { print "mean_age"; print s / n }' "$SYFT_DATASET_DIR/census.csv" > "$SYFT_OUTPUT_DIR/mean.csv"
echo done > "$SYFT_OUTPUT_DIR/status.txt"
'''})
"""
FORM = "form = scq.SubmitForm(client, target_email='owner@example.com', code_folder=code)\nform"
TABLE = "mine = scq.JobTable(client)\nmine"


def open_notebook(lab: Lab, page: Any, name: str, setup: str, cells: list[str]) -> None:
    notebook = new_notebook(cells=[new_code_cell(setup), *(new_code_cell(c) for c in cells)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab.root / name)
    run_notebook(page, lab, name)
    wait_idle(page)


def submit_with_auto_approval(form: Any, name: str) -> None:
    form.locator('input[name="name"]').fill(name)
    form.locator('input[name="auto_approval"]').check()
    form.locator("button.scq-submit").click()
    form.locator(".scq-submitted li", has_text=name).wait_for(timeout=30_000)


def test_the_requester_picks_a_dataset_tests_on_its_mock_and_submits_it(lab: Lab, page: Any) -> None:
    open_notebook(lab, page, "datasets.ipynb", SETUP, [FORM, TABLE])
    form = page.locator(".scq-submitform")
    census = form.locator(".scq-dataset[data-name='census']")
    census.wait_for(timeout=30_000)
    assert "Census extract, one row per person" in census.text_content()
    assert "Mock: 4 synthetic rows, same columns" in census.text_content()
    readme = form.locator(".scq-dataset-readme[data-name='census']")
    readme.locator("summary").click()
    assert "ages in whole years" in readme.locator(".scq-readme-text").text_content()
    default = form.locator(".scq-runtime[data-name='default'] input")
    assert default.is_checked(), "the owner's default runtime is picked unless another is"

    # Nothing picked yet: the test says what is missing, under the datasets.
    test = form.locator("button.scq-test-mock")
    test.click()
    datasets_error = form.locator("[data-field='datasets'] .scq-field-error")
    datasets_error.filter(has_text="Pick the datasets your code reads").wait_for()
    assert form.locator(".scq-dataset-list").get_attribute("aria-invalid") == "true"

    # Picked with the keyboard, the error goes; the test runs while the page stays usable.
    form.locator('input[name="code_folder"]').focus()
    page.keyboard.press("Tab")
    assert census.locator("input").evaluate("el => document.activeElement === el"), "the dataset is next in tab order"
    page.keyboard.press("Space")
    assert census.locator("input").is_checked()
    assert datasets_error.text_content() == ""

    # A folder that is not there: the run says so, under the code folder.
    folder = form.locator('input[name="code_folder"]')
    path = folder.input_value()
    folder.fill(path + "-gone")
    test.click()
    form.locator("[data-field='code_folder'] .scq-field-error", has_text="Code folder not found").wait_for()
    assert form.locator(".scq-mock-result .scq-mock-error").text_content() == "Please fix the highlighted fields."
    folder.fill(path)

    test.click()
    form.locator("button.scq-test-mock:disabled", has_text="Testing on mock…").wait_for()
    form.locator(".scq-mock-running", has_text="Running run.sh on the mock of census…").wait_for()
    form.locator('input[name="name"]').fill("typed while it runs")
    result = form.locator(".scq-mock-result")
    result.locator(".scq-s-completed").wait_for(timeout=60_000)
    form.locator(".scq-notice-ok", has_text="The test on the mock completed.").wait_for()
    assert "exit code 0" in result.locator(".scq-mock-head").text_content()
    log = result.locator("pre.scq-mock-log").text_content()
    assert "reading the mock data" in log and "p1,30" in log and "ada" not in log
    mean = result.locator(".scq-mock-output[data-path='mean.csv']")
    assert mean.locator("th").all_text_contents() == ["mean_age"]
    assert mean.locator("td").all_text_contents() == ["45"], "the mock's mean, not the private data's"
    assert result.locator(".scq-mock-output[data-path='status.txt'] pre").text_content() == "done\n"
    assert "which SyftBox never syncs" in result.text_content()
    assert not test.is_disabled() and test.text_content() == "Test on mock"
    screenshot(form, "submit_form_mock_run.png")

    # The result is of what was tested: unpicking the dataset says so, picking it again not.
    stale = result.locator(".scq-mock-stale")
    assert stale.is_hidden()
    census.locator("input").uncheck()
    stale.wait_for()
    assert "changed since this test" in stale.text_content()
    census.locator("input").check()
    assert stale.is_hidden()

    # Submitted with the dataset: it runs on the private data, and the detail says so.
    submit_with_auto_approval(form, "Mean age")
    assert "on census" in form.locator(".scq-submitted li", has_text="Mean age").text_content()
    table = page.locator(".scq-jobtable")
    row = table.locator("tr.scq-row", has_text="Mean age")
    row.locator(".scq-s-completed").wait_for(timeout=60_000)
    row.click()
    detail = table.locator(".scq-detail")
    detail.locator(".scq-detail-name", has_text="Mean age").wait_for()
    assert detail.locator(".scq-detail-datasets li").all_text_contents() == ["census"]
    runtime = detail.locator(".scq-runtime-record")
    runtime.filter(has_text="the owner's own environment").wait_for()
    assert runtime.locator(".scq-runtime-name").text_content() == "default"
    assert runtime.locator(".scq-runtime-python").text_content().startswith(" · Python 3.")
    detail.locator("pre.scq-log", has_text="reading the private data").wait_for(timeout=30_000)
    screenshot(detail, "job_detail_datasets.png")


def test_a_mock_that_has_not_synced_is_reported_under_the_datasets(lab: Lab, page: Any) -> None:
    unsynced = "mock = client.get_dataset('owner@example.com', 'census').mock_path / 'census.csv'\nmock.unlink()"
    open_notebook(lab, page, "unsynced.ipynb", SETUP, [unsynced, FORM])
    form = page.locator(".scq-submitform")
    census = form.locator(".scq-dataset[data-name='census']")
    census.locator(".scq-mock-pending", has_text="mock not synced yet (1 of 1 files arriving)").wait_for()
    census.locator("input").check()
    form.locator("button.scq-test-mock").click()
    error = form.locator("[data-field='datasets'] .scq-field-error")
    error.filter(has_text="The mock of 'census' has not synced here yet").wait_for()
    assert form.locator(".scq-mock-result").is_hidden(), "nothing ran"

    form.locator('input[name="target_email"]').fill("nobody@example.com")
    form.locator(
        ".scq-dataset-note", has_text="Nothing of nobody@example.com's datasite has synced here yet"
    ).wait_for()
    assert form.locator(".scq-dataset").count() == 0


@pytest.mark.index
def test_the_requester_picks_a_runtime_and_the_detail_shows_its_record(lab: Lab, page: Any) -> None:
    declare = "tiny = server.add_runtime('tiny', packages=['termcolor'])\ntiny.lock_sha256"
    open_notebook(lab, page, "runtimes.ipynb", SETUP, [declare, FORM, TABLE])
    form = page.locator(".scq-submitform")
    runtimes = form.locator(".scq-runtime")
    runtimes.nth(1).wait_for(timeout=30_000)
    assert [runtimes.nth(i).get_attribute("data-name") for i in range(2)] == ["default", "tiny"], "default first"
    tiny = form.locator(".scq-runtime[data-name='tiny']")
    assert tiny.locator(".scq-runtime-python").text_content().startswith(" · Python 3.")
    assert "termcolor==" in tiny.locator(".scq-runtime-packages").text_content()

    form.locator(".scq-runtime[data-name='default'] input").focus()
    page.keyboard.press("ArrowDown")
    assert tiny.locator("input").is_checked(), "the runtimes are a radio group the arrow keys move in"
    form.locator(".scq-dataset[data-name='census'] input").check()
    submit_with_auto_approval(form, "In tiny")

    table = page.locator(".scq-jobtable")
    row = table.locator("tr.scq-row", has_text="In tiny")
    row.locator(".scq-s-completed").wait_for(timeout=120_000)
    row.click()
    table.locator(".scq-detail .scq-detail-name", has_text="In tiny").wait_for()
    record = table.locator(".scq-detail .scq-runtime-record")
    record.locator(".scq-runtime-lock").wait_for()
    assert record.locator(".scq-runtime-name").text_content() == "tiny"
    lock = record.locator(".scq-runtime-lock")
    declared = page.locator(".jp-OutputArea-output").first.text_content().strip().strip("'")
    assert len(declared) == 64 and lock.get_attribute("title") == declared, "the lock the owner declared"
    assert lock.text_content() == declared[:12]
    assert "termcolor==" in table.locator(".scq-detail .scq-runtime-pins").text_content()
    screenshot(form, "submit_form_runtimes.png")
    screenshot(table.locator(".scq-detail"), "job_detail_runtime.png")


def test_a_test_whose_result_never_comes_is_given_up_with_an_error(lab: Lab, page: Any) -> None:
    """The runner stops a test at ``mock_timeout``; a result that still does not arrive (the
    kernel stopped answering) leaves the form usable, with an error that says so."""
    lost = "form = scq.SubmitForm(client, target_email='owner@example.com', code_folder=code, mock_timeout=1)\n"
    lost += "form._mock_done = lambda run_id, view: None  # the result never reaches the page\nform"
    open_notebook(lab, page, "lost.ipynb", SETUP, [lost])
    form = page.locator(".scq-submitform")
    form.locator(".scq-dataset[data-name='census'] input").check()
    test = form.locator("button.scq-test-mock")
    test.click()
    form.locator("button.scq-test-mock:disabled", has_text="Testing on mock…").wait_for()
    error = form.locator(".scq-mock-result .scq-mock-lost")
    error.wait_for(timeout=60_000)
    assert error.text_content().startswith("No result after 3")
    assert "the kernel is busy with another cell or has stopped" in error.text_content()
    assert not test.is_disabled() and test.text_content() == "Test on mock"
