"""The widgets outside JupyterLab: in marimo, new jobs appear in the JobTable (it once read
"1–3 of 4" with three rows: marimo signals each key of an update as it sets it); in
Notebook 7, keys typed into the form stay in the form and the table follows a live change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import nbformat
import pytest
from helpers import need
from lab_harness import Lab, run_notebook, running_lab, running_marimo, screenshot, wait_idle
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KERNEL = "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
MARIMO_NOTEBOOK = """
import marimo

app = marimo.App()


@app.cell
def _():
    import tempfile, threading, time
    from pathlib import Path
    import marimo as mo
    import syft_code_queue as scq

    workdir = tempfile.mkdtemp()
    root = Path(workdir) / "syftbox"
    server = scq.create_server(email="owner@example.com", data_dir=root, heartbeat_interval=1).start()
    client = scq.create_client(email="alice@example.com", data_dir=root)
    folder = Path(workdir) / "code"
    folder.mkdir()
    (folder / "run.sh").write_text("echo hi\\\\n")
    first = client.submit_code("owner@example.com", folder, "job 0")

    def later():
        time.sleep(6)  # the page shows the table with one job first
        for i in range(1, 4):
            client.submit_code("owner@example.com", folder, f"job {i}")
            time.sleep(0.5)
        server.approve_job(first.uid)

    threading.Thread(target=later, daemon=True).start()
    return client, mo, scq


@app.cell
def _(client, mo, scq):
    table = mo.ui.anywidget(scq.JobTable(client))
    table
    return


if __name__ == "__main__":
    app.run()
"""


def test_new_jobs_appear_in_the_job_table_in_marimo(browser: Any, tmp_path: Path) -> None:
    pytest.importorskip("marimo")
    notebook = tmp_path / "jobs.py"
    notebook.write_text(MARIMO_NOTEBOOK)
    with running_marimo(notebook) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        table = page.locator(".scq-jobtable")
        rows = table.locator("tr.scq-row")
        rows.first.wait_for(timeout=90_000)
        table.locator(".scq-range", has_text="of 4").wait_for(timeout=60_000)
        page.wait_for_timeout(1500)  # any later update lands too
        assert rows.count() == 4, f"{rows.count()} rows under {table.locator('.scq-range').text_content()!r}"
        assert sorted(rows.locator(".scq-col-name").all_text_contents()) == [f"job {i}" for i in range(4)]
        table.locator("tr.scq-row", has_text="job 0").locator(".scq-s-completed").wait_for(timeout=60_000)
        assert rows.count() == 4
        screenshot(table, "marimo_job_table.png")

        # The view is state the front end sets (marimo's model.save_changes); Python renders it.
        assert rows.first.locator(".scq-col-name").text_content() == "job 3", "newest first"
        table.locator("th[data-key='name'] button").click()
        first_name = table.locator("tbody tr.scq-row:first-child .scq-col-name", has_text="job 0")
        first_name.wait_for(timeout=30_000)
        table.locator("tr.scq-row", has_text="job 2").click()
        detail = table.locator(".scq-detail")
        detail.locator(".scq-detail-name", has_text="job 2").wait_for(timeout=30_000)
        page.keyboard.press("Escape")
        page.wait_for_function("el => el.hidden", arg=detail.element_handle(), timeout=30_000)
        table.locator("button.scq-pause").click()
        table.locator(".scq-updated", has_text="Paused").wait_for(timeout=10_000)
        page.close()
        assert not errors, errors


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    need("chromium")
    pytest.importorskip("notebook")
    with running_lab(tmp_path_factory.mktemp("notebook7"), app="notebook") as running:
        yield running


SETUP = """
import tempfile
from pathlib import Path
import syft_code_queue as scq

workdir = tempfile.TemporaryDirectory()
root = Path(workdir.name) / "syftbox"
server = scq.create_server(email="owner@example.com", data_dir=root, heartbeat_interval=1).start()
client = scq.create_client(email="alice@example.com", data_dir=root)
folder = Path(workdir.name) / "code"
folder.mkdir()
(folder / "run.sh").write_text("echo hi\\n")
job = client.submit_code("owner@example.com", folder, "Waits for review")
"""


def test_keys_stay_in_the_form_and_the_table_follows_in_notebook7(notebook7: Lab, browser: Any) -> None:
    cells = [
        SETUP,
        "form = scq.SubmitForm(client, target_email='owner@example.com', code_folder=folder)\nform",
        "scq.JobTable(client)",
    ]
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, notebook7.root / "nb7.ipynb")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    run_notebook(page, notebook7, "nb7.ipynb")
    wait_idle(page)

    form = page.locator(".scq-submitform")
    form.evaluate("el => { el.scqMark = true; }")
    description = form.locator('textarea[name="description"]')
    description.click()
    page.keyboard.type("a")
    page.keyboard.press("Enter")
    page.keyboard.type("b")
    assert description.input_value() == "a\nb"
    counts = page.locator(".jp-InputPrompt").all_text_contents()
    name = form.locator('input[name="name"]')
    name.click()
    page.keyboard.type("kept")
    page.keyboard.press("Shift+Enter")
    page.wait_for_timeout(1500)
    assert page.locator(".jp-InputPrompt").all_text_contents() == counts, "no cell ran"
    assert form.evaluate("el => el.isConnected && el.scqMark === true") and name.input_value() == "kept"

    table = page.locator(".scq-jobtable")
    row = table.locator("tr.scq-row", has_text="Waits for review")
    row.locator(".scq-s-pending").wait_for()
    page.evaluate(f"() => {{ {KERNEL}.requestExecute({{code: 'server.reject_job(job.uid, reason=\"not now\")'}}); }}")
    row.locator(".scq-s-rejected").wait_for(timeout=30_000)
    screenshot(table, "notebook7_job_table.png")
    page.close()
