"""Whether the data owner is there, as a requester sees it in JupyterLab: each owner's queue
reads online, offline since, or no queue; a pending job at an absent owner reads "waiting
for the owner's server"; the form asks before it sends a job where there is no queue; a
call the kernel does not answer times out with an error; a widget whose kernel restarted
says so and can no longer be clicked.
"""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
from lab_harness import Lab, run_notebook, screenshot, wait_idle
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KERNEL = "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
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
reviewed = client.submit_code("owner@example.com", folder, "Reviewed soon")
"""


def open_notebook(lab: Lab, page: Any, name: str, cells: list[str]) -> None:
    notebook = new_notebook(cells=[new_code_cell(SETUP), *(new_code_cell(c) for c in cells)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab.root / name)
    run_notebook(page, lab, name)
    wait_idle(page)


def run_in_kernel(page: Any, code: str) -> None:
    page.evaluate(f"code => {{ {KERNEL}.requestExecute({{code}}); }}", code)


def test_the_requesters_table_shows_whether_each_owner_is_there(lab: Lab, page: Any) -> None:
    open_notebook(lab, page, "presence.ipynb", ["mine = scq.JobTable(client)\nmine"])
    table = page.locator(".scq-jobtable")
    owner = table.locator(".scq-presence-owner[data-owner='owner@example.com']")
    owner.filter(has_text="online, last seen").wait_for(timeout=30_000)
    row = table.locator("tr.scq-row", has_text="Reviewed soon")
    row.filter(has_text="in review").wait_for()

    # A job sent to a mistyped owner: nobody serves that queue.
    run_in_kernel(page, 'lost = client.submit_code("nobdy@example.com", folder, "Sent to a typo")')
    lost = table.locator("tr.scq-row", has_text="Sent to a typo")
    lost.filter(has_text="waiting for the owner's server").wait_for(timeout=30_000)
    table.locator(".scq-presence-owner[data-owner='nobdy@example.com']", has_text="offline").wait_for()

    # The owner's server stops: its queue reads offline, its pending job waits for it.
    run_in_kernel(page, "server.stop()")
    owner.filter(has_text="offline since").wait_for(timeout=30_000)
    row.filter(has_text="waiting for the owner's server").wait_for(timeout=30_000)
    assert owner.get_attribute("data-state") == "offline"
    row.click()
    detail = table.locator(".scq-detail")
    detail.locator(".scq-waiting-box", has_text="Waiting for the owner's server").wait_for()
    screenshot(table, "presence_offline.png")

    # Back online: the same job is in review again.
    run_in_kernel(page, "server.start()")
    owner.filter(has_text="online, last seen").wait_for(timeout=30_000)
    row.filter(has_text="in review").wait_for(timeout=30_000)


def test_the_form_shows_the_owner_and_asks_before_sending_where_there_is_no_queue(lab: Lab, page: Any) -> None:
    open_notebook(lab, page, "presence-form.ipynb", ["form = scq.SubmitForm(client, code_folder=folder)\nform"])
    form = page.locator(".scq-submitform")
    target = form.locator('input[name="target_email"]')
    presence = form.locator(".scq-target-presence")
    target.fill("owner@example.com")
    presence.filter(has_text="online, last seen").wait_for(timeout=30_000)

    target.fill("ownr@example.com")
    presence.filter(has_text="no queue at").wait_for(timeout=30_000)
    form.locator('input[name="name"]').fill("To a typo")
    form.locator("button.scq-submit").click()
    warning = form.locator(".scq-form-warning")
    warning.filter(has_text="no queue at ownr@example.com's datasite").wait_for()
    assert form.locator(".scq-new-uid").count() == 0, "nothing was sent yet"
    screenshot(form, "form_no_queue.png")
    warning.locator("button.scq-submit-anyway").click()
    form.locator(".scq-new-uid").wait_for()
    assert warning.is_hidden()


def test_a_call_the_kernel_does_not_answer_times_out_with_an_error(lab: Lab, page: Any) -> None:
    open_notebook(lab, page, "timeout.ipynb", ["panel = scq.ApprovalPanel(server, ack_timeout=3)\npanel"])
    card = page.locator(".scq-panel .scq-card", has_text="Reviewed soon")
    approve = card.locator("button.scq-approve:not([disabled])")
    approve.wait_for()
    run_in_kernel(page, "import time; time.sleep(40)")
    page.wait_for_function(f"() => {KERNEL}.status === 'busy'")
    approve.click()
    card.locator(".scq-card-note.scq-notice-error", has_text="No answer from the kernel after 3 s").wait_for(
        timeout=15_000
    )
    assert card.locator(".scq-busy").count() == 0, "the button is not left busy"
    assert not card.locator("button.scq-approve").is_disabled(), "the job can be approved again"
    page.evaluate(f"() => {KERNEL}.interrupt()")
    page.wait_for_function(f"() => {KERNEL}.status === 'idle'")


def test_after_a_kernel_restart_every_widget_says_it_is_disconnected(lab: Lab, page: Any) -> None:
    open_notebook(
        lab,
        page,
        "restart.ipynb",
        [
            "scq.SubmitForm(client, target_email='owner@example.com', code_folder=folder)",
            "scq.JobTable(client)",
            "scq.ApprovalPanel(server)",
        ],
    )
    page.locator(".scq-panel button.scq-approve:not([disabled])").wait_for()
    assert page.locator(".scq-disconnected-banner:visible").count() == 0
    page.evaluate(f"() => {KERNEL}.restart()")
    for widget in (".scq-submitform", ".scq-jobtable", ".scq-panel"):
        banner = page.locator(f"{widget} .scq-disconnected-banner")
        banner.filter(has_text="Disconnected from the kernel").wait_for(timeout=60_000)
        enabled = page.locator(f"{widget} button:not([disabled]), {widget} input:not([disabled])")
        assert enabled.count() == 0, f"{widget} still has {enabled.count()} enabled controls"
    screenshot(page.locator(".scq-panel"), "panel_disconnected.png")
