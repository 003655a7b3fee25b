"""The owner's review in JupyterLab: a resubmitted job's diff with the changed lines marked,
"Approve and trust", the identical rerun that approves itself and the rule that can be
revoked; a run on the mocks whose log and outputs only the owner sees; and the notifications
the owner and the requester get while their widgets are open. Every new text is readable in
the light and the dark theme.
"""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
from lab_harness import Lab, run_notebook, screenshot, wait_idle
from nbformat.v4 import new_code_cell, new_notebook
from test_widget_usability import readable_everywhere

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LONG = "x = '" + "a" * 300 + "'"
SETUP = f"""
import os, tempfile, threading, time
from pathlib import Path
import syft_code_queue as scq

workdir = tempfile.TemporaryDirectory()
root = Path(workdir.name) / "syftbox"
server = scq.create_server(email="owner@example.com", data_dir=root, heartbeat_interval=1).start()
client = scq.create_client(email="alice@example.com", data_dir=root)

def code(name, files):
    folder = Path(workdir.name) / name
    folder.mkdir()
    for rel, text in files.items():
        (folder / rel).write_text(text)
    return folder

def accepted(uid):
    while server.get_job(uid).state is None:
        time.sleep(0.05)
    return uid

def later(work):
    threading.Thread(target=work, daemon=True).start()

RUN = 'python3 analysis.py > "$SYFT_OUTPUT_DIR/result.txt"\\n'
LONG = {LONG!r}
"""


def notebook(lab: Lab, page: Any, name: str, cells: list[str]) -> None:
    nb = new_notebook(cells=[new_code_cell(SETUP), *(new_code_cell(c) for c in cells)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / name)
    run_notebook(page, lab, name)
    wait_idle(page)


def dark(page: Any) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.mouse.move(0, 0)
    page.wait_for_timeout(500)


def unreadable(page: Any, selector: str) -> list[dict[str, Any]]:
    results = readable_everywhere(page)
    mine = [r for r in results if any(c in r["cls"] for c in selector.split())]
    assert mine, f"the contrast check saw none of {selector}"
    return [r for r in results if r["ratio"] < 4.5]


def test_the_owner_reads_the_diff_trusts_the_code_and_revokes_the_rule(lab: Lab, page: Any) -> None:
    notebook(
        lab,
        page,
        "review.ipynb",
        [
            "first = client.submit_code('owner@example.com', code('v1', {'run.sh': RUN,"
            " 'analysis.py': LONG + '\\nrows = [3, 4, 5]\\nprint(rows)\\n', 'params.json': '{}'}), 'row stats')\n"
            "server.request_changes(accepted(first.uid), 'print an aggregate, never the rows')\n"
            "while client.get_job(first.uid).status.value != 'changes_requested': time.sleep(0.05)\n"
            "second = client.resubmit(first.uid, code('v2', {'run.sh': RUN,"
            " 'analysis.py': LONG + '\\nrows = [3, 4, 5]\\nprint(sum(rows))\\n', 'params.json': '{}'}))\n"
            "accepted(second.uid)",
            # Once the owner has approved and trusted it, the requester sends the same code again.
            "def rerun():\n"
            "    while not server.list_trust_rules(): time.sleep(0.1)\n"
            "    client.wait_for_job(second.uid, timeout=120)\n"
            "    global third, fourth\n"
            "    third = client.resubmit(second.uid)\n"
            "    client.wait_for_job(third.uid, timeout=120)\n"
            "    while server.list_trust_rules(): time.sleep(0.1)\n"
            "    fourth = client.resubmit(third.uid)  # once the rule is revoked\n"
            "later(rerun)",
            "panel = scq.ApprovalPanel(server)\npanel",
        ],
    )
    panel = page.locator(".scq-panel")
    card = panel.locator(".scq-card", has_text="row stats")
    card.locator(".scq-supersedes").wait_for()
    card.locator(".scq-card-toggle").click()
    diff = card.locator(".scq-diff-basis[data-basis='supersedes']")
    diff.wait_for()
    assert "1 changed" in diff.locator(".scq-diff-title").text_content()
    changed = diff.locator(".scq-diff-file[data-path='analysis.py']")
    assert changed.get_attribute("data-change") == "changed"
    assert changed.locator(".scq-diff-removed").all_text_contents() == ["-print(rows)"]
    assert changed.locator(".scq-diff-added").all_text_contents() == ["+print(sum(rows))"]
    assert "Unchanged: params.json, run.sh" in diff.text_content()
    pre = changed.locator("pre.scq-diff")
    assert pre.evaluate("el => getComputedStyle(el.querySelector('.scq-diff-line')).whiteSpace") == "pre"
    heights = pre.locator(".scq-diff-line").evaluate_all("ls => ls.map(l => l.getBoundingClientRect().height)")
    assert max(heights) <= min(heights) * 1.2, f"no diff line wraps: {heights}"
    assert pre.evaluate("el => el.scrollWidth > el.clientWidth"), "the long line scrolls sideways"
    screenshot(card, "review_diff.png")

    card.locator(".scq-trust-vary[data-path='params.json']").check()
    card.locator(".scq-trust-expiry").select_option("30")
    card.locator("button.scq-approve-trust").click()
    panel.locator(".scq-notice", has_text="trusted its code").wait_for()
    rule = panel.locator(".scq-trust-rule")
    rule.wait_for()
    assert "row stats" in rule.text_content() and "may differ: params.json" in rule.text_content()
    assert "expires" in rule.text_content()

    # The identical rerun approves itself: the owner is told, and the history names the rule.
    rule_id = rule.get_attribute("data-rule")
    note = panel.locator(".scq-notification")
    note.filter(has_text="New job 'row stats'").wait_for(timeout=120_000)
    assert "approved by trust-rule" in note.text_content()
    assert note.get_attribute("aria-live") == "polite"
    panel.locator(".scq-activity li", has_text="trust-rule").first.wait_for(timeout=60_000)
    screenshot(panel, "review_trust_rules.png")

    new_texts = "scq-diff-line scq-change scq-trust-rule scq-notification-text scq-supersedes"
    assert not unreadable(page, new_texts), "in the light theme"
    dark(page)
    bad = unreadable(page, new_texts)
    screenshot(panel, "dark_review_panel.png")
    assert not bad, bad

    rule.locator("button.scq-revoke").click()
    panel.locator(".scq-notice", has_text=f"Revoked trust rule {rule_id}").wait_for()
    panel.locator(".scq-trust-list", has_text="No trust rules").wait_for()

    # Revoked: the same code again waits for a person, and its card says it is unchanged.
    again = panel.locator(".scq-card", has_text="row stats")
    chip = again.locator(".scq-review-chip")
    chip.wait_for(timeout=60_000)
    assert chip.text_content().startswith("✓ identical to approved job ")
    assert again.locator(".scq-badge").text_content() == "pending"
    screenshot(again, "review_identical_chip.png")


MOCK_SETUP = """
def data(folder, text):
    folder.mkdir()
    (folder / "census.csv").write_text(text)
    os.chmod(folder, 0o755); os.chmod(folder / "census.csv", 0o644)
    return folder
owner_data = Path(tempfile.mkdtemp(prefix="owner-data-"))
os.chmod(owner_data, 0o755)
server.add_dataset("census", private_path=data(owner_data / "census", "name,age\\nada,36\\nalan,41\\n"),
                   mock_path=data(owner_data / "census-mock", "name,age\\np1,30\\np2,40\\np3,50\\n"),
                   summary="Census extract, one row per person")
script = 'echo "rows: $(wc -l < "$SYFT_DATASET_DIR/census.csv")"\\nsleep 4\\nhead -2 "$SYFT_DATASET_DIR/census.csv" > "$SYFT_OUTPUT_DIR/head.csv"\\n'
job = client.submit_code("owner@example.com", code("mock", {"run.sh": script}), "census head", datasets=["census"])
accepted(job.uid)
"""


def test_the_owner_runs_a_job_on_the_mock_and_sees_its_log_and_outputs(lab: Lab, page: Any) -> None:
    notebook(lab, page, "mock.ipynb", [MOCK_SETUP, "panel = scq.ApprovalPanel(server)\npanel"])
    panel = page.locator(".scq-panel")
    card = panel.locator(".scq-card", has_text="census head")
    card.locator(".scq-card-toggle").click()
    dataset = card.locator(".scq-dataset-list li[data-dataset='census']")
    assert "Census extract, one row per person" in dataset.text_content()
    assert "private part 24 B" in dataset.text_content()

    button = card.locator("button.scq-run-mock")
    button.click()
    busy = card.locator("button.scq-run-mock.scq-busy[disabled]")
    busy.wait_for()
    card.locator("button.scq-file", has_text="run.sh").click()
    card.locator(".scq-viewer-head", has_text="matches the manifest").wait_for()
    assert busy.count() == 1, "the kernel answered another action while the mock run went on"
    log = card.locator("pre.scq-mock-log")
    log.wait_for(timeout=60_000)
    assert log.text_content() == "rows: 4"
    assert "completed" in card.locator(".scq-mock-result").text_content()
    output = card.locator(".scq-mock-outputs li[data-path='head.csv']")
    table = output.locator(".scq-mock-preview table.scq-csv-rows")  # a CSV reads as a table, as in the form
    assert table.locator("th").all_text_contents() == ["name", "age"]
    assert table.locator("td").all_text_contents() == ["p1", "30"]
    assert button.is_enabled() and button.text_content() == "Run on mock again"
    assert "null" not in card.locator(".scq-mock-run").text_content(), "nothing absent is shown as text"
    screenshot(card, "review_mock_run.png")

    new_texts = "scq-mock-log scq-dataset-name scq-mock-preview scq-runtime"
    assert not unreadable(page, new_texts), "in the light theme"
    dark(page)
    bad = unreadable(page, new_texts)
    screenshot(card, "dark_review_mock_run.png")
    assert not bad, bad


def test_the_owner_and_the_requester_are_told_what_happened(lab: Lab, page: Any) -> None:
    notebook(
        lab,
        page,
        "notify.ipynb",
        [
            "panel = scq.ApprovalPanel(server)\npanel",
            "mine = scq.JobTable(client)\nmine",
            "def burst():\n"
            "    time.sleep(2)\n"
            "    folder = code('burst', {'run.sh': 'echo hi\\n'})\n"
            "    jobs = [client.submit_code('owner@example.com', folder, f'burst {i}') for i in range(3)]\n"
            "    for job in jobs: accepted(job.uid)\n"
            "    time.sleep(2)\n"
            "    server.reject_job(jobs[0].uid, 'not this one')\n"
            "later(burst)",
        ],
    )
    owner = page.locator(".scq-panel .scq-notification")
    owner.filter(has_text="3 new jobs").wait_for(timeout=60_000)
    text = owner.locator(".scq-notification-text").text_content()
    assert text.startswith("3 new jobs: 'burst 2' from alice@example.com"), text
    requester = page.locator(".scq-jobtable .scq-notification")
    requester.filter(has_text="is now rejected").wait_for(timeout=60_000)
    assert "'burst 0'" in requester.text_content() and requester.get_attribute("role") == "status"
    screenshot(page.locator(".scq-panel"), "notification_owner.png")
    screenshot(page.locator(".scq-jobtable"), "notification_requester.png")

    owner.locator("button.scq-notification-dismiss").click()
    owner.wait_for(state="hidden")
    page.wait_for_timeout(1500)  # a later refresh does not bring it back
    assert owner.is_hidden()
    requester.locator("button.scq-notification-dismiss").click()
    requester.wait_for(state="hidden")
