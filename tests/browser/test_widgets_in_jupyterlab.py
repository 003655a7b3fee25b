"""The widgets in a real JupyterLab page, clicked in a real Chromium.

These prove what the comm-level tests cannot: the front-end modules load from the wheel's
files, the buttons reach Python in a live kernel, updates pushed from the server's threads
arrive while the page is open, and no submitted text ever runs as markup.
"""

from __future__ import annotations

import json
from typing import Any

import nbformat
import pytest
from lab_harness import Lab, run_notebook, screenshot, wait_idle
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KERNEL = "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
XSS_NAME = '<img src=x onerror="window.__pwned=1">'
XSS_FILE = "</script><script>window.__pwned=1</script>"


def test_demo_notebook_approve_in_the_panel_and_watch_the_table(lab: Lab, page: Any) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    run_notebook(page, lab, "demo.ipynb")

    panel = page.locator(".scq-panel")
    card = panel.locator(".scq-card", has_text="Sum of 1..100")
    approve = card.locator("button.scq-approve")
    approve.wait_for()
    page.wait_for_function("el => !el.disabled", arg=approve.element_handle())
    uid = card.get_attribute("data-uid")
    owner_table = page.locator(".scq-jobtable").first
    row = owner_table.locator(f'tr[data-uid="{uid}"]')
    row.wait_for()
    row.evaluate("el => { el.scqMark = true; }")  # the same <tr> must be updated in place
    rows_before = owner_table.locator("tr.scq-row").count()

    # Review first: open the card, look at run.sh.
    card.locator(".scq-card-toggle").click()
    card.locator("button.scq-file", has_text="run.sh").click()
    viewer = card.locator(".scq-viewer .scq-code")
    viewer.wait_for()
    assert "Adding up 1..100" in viewer.text_content()
    assert "matches the manifest" in card.locator(".scq-viewer-head").text_content()
    card.locator(".scq-reason").fill("reviewed in the browser")
    card.locator("button.scq-approve").click()
    panel.locator(".scq-notice.scq-notice-ok", has_text="Approved 'Sum of 1..100'").wait_for()

    # Keep the kernel busy with another cell's work: the table must still follow the job,
    # pushed from the server's threads through the UI pump.
    page.evaluate(f"() => {{ {KERNEL}.requestExecute({{code: 'import time; time.sleep(60)'}}); }}")
    page.wait_for_function(f"() => {KERNEL}.status === 'busy'")
    row.locator(".scq-s-completed").wait_for(timeout=50_000)
    assert row.evaluate("el => el.scqMark === true"), "a job change updates its row in place"
    assert owner_table.locator("tr.scq-row").count() == rows_before, "the delta kept the other rows"
    assert page.evaluate(f"() => {KERNEL}.status") == "busy", "updated while another cell was running"
    page.evaluate(f"() => {KERNEL}.interrupt()")
    page.wait_for_function(f"() => {KERNEL}.status === 'idle'")
    row.click()
    detail = owner_table.locator(".scq-detail")
    detail.locator(".scq-log", has_text="The sum is 5050").wait_for()
    assert "reviewed in the browser" in detail.text_content()

    # The requester's own table (a client polling in the background) follows too.
    mine = page.locator(".scq-jobtable").nth(1)
    mine.locator(f'tr[data-uid="{uid}"] .scq-s-completed').wait_for(timeout=60_000)

    # The form submits a job that shows up in the panel, with its uid shown under the form.
    form = page.locator(".scq-submitform")
    form.locator('input[name="name"]').fill("Submitted from the form")
    form.locator('input[name="tags"]').fill("form, demo")
    form.locator("button.scq-submit").click()
    new_uid = form.locator(".scq-new-uid").first
    new_uid.wait_for()
    form_uid = new_uid.text_content()
    new_card = panel.locator(f'.scq-card[data-uid="{form_uid}"]')
    new_card.locator("button.scq-approve:not([disabled])").wait_for()

    # An action the server refuses is shown in the panel: rejecting needs a reason.
    new_card.locator("button.scq-reject").click()
    new_card.locator(".scq-card-note.scq-notice-error", has_text="reason").wait_for()

    new_card.locator(".scq-card-toggle").click()
    new_card.locator("button.scq-file", has_text="run.sh").click()
    new_card.locator(".scq-viewer .scq-code").wait_for()
    wait_idle(page)
    screenshot(panel, "approval_panel.png")
    screenshot(owner_table, "job_table.png")
    screenshot(form, "submit_form.png")
    assert not errors, errors


def _xss_notebook() -> Any:
    setup = f"""
import tempfile
from pathlib import Path
import syft_code_queue as scq

XSS_NAME, XSS_FILE = {XSS_NAME!r}, {XSS_FILE!r}
workdir = tempfile.TemporaryDirectory()
root = Path(workdir.name) / "syftbox"
server = scq.create_server(email="owner@example.com", data_dir=root).start()
client = scq.create_client(email="eve@example.com", data_dir=root)
folder = Path(workdir.name) / "payload"
(folder / XSS_FILE).parent.mkdir(parents=True)
(folder / XSS_FILE).write_text(XSS_FILE)
(folder / "run.sh").write_text("echo " + repr(XSS_FILE) + "; echo " + repr(XSS_NAME) + " >&2; exit 3\\n")
job = client.submit_code("owner@example.com", folder, XSS_NAME, description=XSS_FILE, tags=[XSS_NAME, XSS_FILE])
"""
    cells = [
        setup,
        "scq.SubmitForm(client, target_email='owner@example.com', code_folder=folder)",
        "scq.ApprovalPanel(server)",
        "scq.JobTable(server)",
        "scq.JobTable(client)",
        "client.list_jobs()",
        "job",
    ]
    notebook = new_notebook(cells=[new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def test_submitted_markup_never_runs_in_any_widget(lab: Lab, page: Any) -> None:
    nbformat.write(_xss_notebook(), lab.root / "xss.ipynb")
    page.add_init_script("window.__pwned = undefined;")
    run_notebook(page, lab, "xss.ipynb")

    # The same payload typed into the form.
    form = page.locator(".scq-submitform")
    form.locator('input[name="name"]').fill(XSS_NAME)
    form.locator('textarea[name="description"]').fill(XSS_FILE)
    form.locator("button.scq-submit").click()
    form.locator(".scq-new-uid").wait_for()

    panel = page.locator(".scq-panel")
    cards = panel.locator(".scq-card")
    page.wait_for_function(
        "() => document.querySelectorAll('.scq-panel .scq-card button.scq-approve:not([disabled])').length === 2"
    )
    first = cards.first
    assert first.locator(".scq-card-name").text_content() == XSS_NAME
    first.locator(".scq-card-toggle").click()
    first.locator("button.scq-file", has_text="script>").click()
    code = first.locator(".scq-viewer .scq-code")
    code.wait_for()
    assert code.text_content() == XSS_FILE
    assert first.locator(".scq-viewer-path").text_content() == XSS_FILE

    # Approve it so it runs, fails, and its log and error (full of markup) are shown.
    first.locator("button.scq-approve").click()
    owner_table = page.locator(".scq-jobtable").first
    failed = owner_table.locator("tr", has=page.locator(".scq-s-failed")).first
    failed.wait_for(timeout=90_000)
    failed.click()
    owner_table.locator(".scq-detail .scq-log", has_text=XSS_FILE).wait_for()
    owner_table.locator(".scq-search").fill(XSS_NAME)
    owner_table.locator(".scq-range", has_text="of 2").wait_for()
    panel.locator(".scq-activity", has_text=XSS_NAME).wait_for()

    wait_idle(page)
    texts = page.locator(".scq").all_text_contents()
    assert sum(t.count(XSS_NAME) for t in texts) >= 6, "the payload is shown, as text, in every widget"
    html_outputs = page.locator(".jp-RenderedHTMLCommon table.scq-jobs")
    assert html_outputs.count() == 2 and XSS_NAME in html_outputs.first.text_content()
    assert page.locator(".scq img, .jp-OutputArea img").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    assert json.dumps(page.evaluate("() => typeof window.__pwned")) == '"undefined"'


def test_table_deltas_reach_every_view_and_a_later_one(lab: Lab, page: Any) -> None:
    """Job changes arrive as deltas (the changed rows only); a view opened after several of
    them still shows the whole, current page."""
    setup = """
import tempfile, time
from pathlib import Path
import syft_code_queue as scq

workdir = tempfile.TemporaryDirectory()
root = Path(workdir.name) / "syftbox"
server = scq.create_server(email="owner@example.com", data_dir=root).start()
client = scq.create_client(email="alice@example.com", data_dir=root)
folder = Path(workdir.name) / "code"
folder.mkdir()
(folder / "run.sh").write_text("echo hi\\n")
jobs = [client.submit_code("owner@example.com", folder, f"job {i}") for i in range(6)]
"""
    changes = """
time.sleep(3)
server.reject_job(jobs[0].uid, reason="no")
time.sleep(1.5)
server.reject_job(jobs[1].uid, reason="no")
time.sleep(1.5)
"""
    cells = [setup, "table = scq.JobTable(server)\ntable", changes, "table"]
    notebook = new_notebook(cells=[new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab.root / "deltas.ipynb")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    run_notebook(page, lab, "deltas.ipynb")
    wait_idle(page)

    views = page.locator(".scq-jobtable")
    page.wait_for_function("() => document.querySelectorAll('.scq-jobtable').length === 2")
    orders = []
    for i in range(2):
        view = views.nth(i)
        page.wait_for_function(
            "el => el.querySelectorAll('tr.scq-row').length === 6"
            " && el.querySelectorAll('tr.scq-row .scq-s-rejected').length === 2",
            arg=view.element_handle(),
            timeout=30_000,
        )
        orders.append(
            view.locator("tr.scq-row").evaluate_all("rows => rows.map(r => r.dataset.uid + ' ' + r.textContent)")
        )
    assert orders[0] == orders[1], "the later view shows what the first one does"
    assert len({o.split(" ")[0] for o in orders[0]}) == 6
    assert not errors, errors
