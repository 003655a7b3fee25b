"""A job's detail in the JobTable, in JupyterLab: a running job's log streams (only what is
new arrives, the scroll and a selection stay, a follow toggle), a finished job's whole log
is shown and downloads; the requester cancels a job, resubmits one, and previews and
downloads its outputs (text, a CSV as a table, an image that cannot run script).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import nbformat
import pytest
from lab_harness import Lab, run_notebook, screenshot, wait_idle
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# A 1x1 PNG, and an SVG that would run script if it were ever shown as an image or a page.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5d1b1e50000000049454e44ae426082"
    )
).decode()
SVG = '<svg xmlns="http://www.w3.org/2000/svg"><script>window.__pwned=1</script></svg>'
LOG_LINES = 600
SETUP = f"""
import tempfile
from pathlib import Path
import syft_code_queue as scq

workdir = tempfile.TemporaryDirectory()
root = Path(workdir.name) / "syftbox"
server = scq.create_server(email="owner@example.com", data_dir=root, heartbeat_interval=1).start()
client = scq.create_client(email="alice@example.com", data_dir=root)

def code(name, script):
    folder = Path(workdir.name) / name
    folder.mkdir()
    (folder / "run.sh").write_text(script)
    return folder

slow = code("slow", 'for i in $(seq 1 {LOG_LINES}); do echo "line $i of a log that streams while it runs"; sleep 0.02; done\\n')
outputs = code("outputs", '''
echo "mean,count" > "$SYFT_OUTPUT_DIR/table.csv"
echo "4.5,10" >> "$SYFT_OUTPUT_DIR/table.csv"
echo "the answer is 42" > "$SYFT_OUTPUT_DIR/answer.txt"
echo {PNG} | base64 -d > "$SYFT_OUTPUT_DIR/plot.png"
echo '{SVG}' > "$SYFT_OUTPUT_DIR/evil.svg"
''')
waits = code("waits", "sleep 120\\n")
"""


def notebook(lab: Lab, page: Any, name: str, cells: list[str]) -> None:
    nb = new_notebook(cells=[new_code_cell(SETUP), *(new_code_cell(c) for c in cells)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / name)
    run_notebook(page, lab, name)
    wait_idle(page)


def test_a_running_jobs_log_streams_keeps_scroll_and_selection_and_the_whole_log_downloads(
    lab: Lab, page: Any, tmp_path: Path
) -> None:
    frames: list[bytes] = []

    def on_socket(ws: Any) -> None:
        ws.on(
            "framereceived", lambda payload: frames.append(payload if isinstance(payload, bytes) else payload.encode())
        )

    page.on("websocket", on_socket)
    notebook(
        lab,
        page,
        "logs.ipynb",
        [
            "job = client.submit_code('owner@example.com', slow, 'Streams a log')\n"
            "import time\n"
            "while server.get_job(job.uid).state is None: time.sleep(0.05)\n"
            "server.approve_job(job.uid)",
            "table = scq.JobTable(server)\ntable",
        ],
    )
    table = page.locator(".scq-jobtable")
    row = table.locator("tr.scq-row", has_text="Streams a log")
    row.locator(".scq-s-running").wait_for(timeout=30_000)
    row.click()
    log = table.locator(".scq-detail pre.scq-log")
    log.filter(has_text="line 40 of").wait_for(timeout=30_000)
    assert table.locator(".scq-follow").is_checked(), "a running log follows by default"
    page.wait_for_function("el => el.scrollHeight > el.clientHeight + 50", arg=log.element_handle(), timeout=30_000)
    page.wait_for_timeout(1500)
    near_bottom = log.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight")
    assert near_bottom < 30, f"following: the newest lines are in view ({near_bottom} px below)"

    # The reader scrolls up and selects a line: following stops, both survive new lines.
    log.evaluate("el => { el.scqMark = true; el.scrollTop = 0; }")
    page.wait_for_timeout(300)
    assert not table.locator(".scq-follow").is_checked(), "scrolling up stops following"
    selected = log.evaluate(
        "el => { const t = el.firstChild; const r = document.createRange(); r.setStart(t, 0); r.setEnd(t, 14);"
        " const s = getSelection(); s.removeAllRanges(); s.addRange(r); return s.toString(); }"
    )
    assert selected == "line 1 of a lo"
    before = log.evaluate("el => el.textContent.length")
    page.wait_for_function("([el, n]) => el.textContent.length > n + 200", arg=[log.element_handle(), before])
    assert log.evaluate("el => el.scqMark === true"), "the log element is kept, not rebuilt"
    assert log.evaluate("el => el.scrollTop") == 0, "the scroll position stays"
    assert page.evaluate("() => getSelection().toString()") == "line 1 of a lo", "the selection stays"

    # Finished: the whole log, from its first line, not a tail cut mid-line.
    row.locator(".scq-s-completed").wait_for(timeout=60_000)
    log.filter(has_text=f"line {LOG_LINES} of").wait_for(timeout=30_000)
    text = log.text_content()
    assert text.startswith("line 1 of a log") and len(text) > 4000
    assert text.count("\n") == LOG_LINES
    first_line = b"line 1 of a log that streams while it runs\\nline 2 of"
    sent = sum(frame.count(first_line) for frame in frames)
    assert 1 <= sent <= 2, f"the first lines were sent {sent} times: only new text is sent (and the final log once)"

    with page.expect_download() as download:
        table.locator("button.scq-log-download").click()
    saved = tmp_path / "job.log"
    download.value.save_as(saved)
    assert saved.read_text() == text
    screenshot(table.locator(".scq-detail"), "log_viewer.png")


def test_the_requester_cancels_resubmits_and_opens_outputs(lab: Lab, page: Any, tmp_path: Path) -> None:
    page.add_init_script("window.__pwned = undefined;")
    notebook(
        lab,
        page,
        "detail.ipynb",
        [
            "done = client.submit_code('owner@example.com', outputs, 'Makes outputs')\n"
            "waiting = client.submit_code('owner@example.com', waits, 'Waits a long time')\n"
            "import time\n"
            "while server.get_job(done.uid).state is None: time.sleep(0.05)\n"
            "server.approve_job(done.uid)\n"
            "client.wait_for_job(done.uid, timeout=60).status",
            "mine = scq.JobTable(client)\nmine",
        ],
    )
    table = page.locator(".scq-jobtable")
    detail = table.locator(".scq-detail")

    # Cancel a job that has not run yet.
    table.locator("tr.scq-row", has_text="Waits a long time").click()
    detail.locator(".scq-detail-reason").fill("not needed after all")
    detail.locator("button.scq-detail-cancel").click()
    table.locator("tr.scq-row", has_text="Waits a long time").locator(".scq-s-cancelled").wait_for(timeout=30_000)
    table.locator(".scq-notice-ok", has_text="Cancellation of 'Waits a long time'").wait_for()

    # Open the finished job's outputs.
    table.locator("tr.scq-row", has_text="Makes outputs").click()
    outputs = detail.locator(".scq-outputs")
    outputs.locator("li").nth(3).wait_for()
    view = detail.locator(".scq-output-view")
    outputs.locator("li[data-path='answer.txt'] .scq-output-open").click()
    view.locator(".scq-output-text", has_text="the answer is 42").wait_for()
    outputs.locator("li[data-path='table.csv'] .scq-output-open").click()
    csv = view.locator("table.scq-output-table")
    csv.wait_for()
    assert csv.locator("th").all_text_contents() == ["mean", "count"]
    assert csv.locator("td").all_text_contents() == ["4.5", "10"]
    outputs.locator("li[data-path='plot.png'] .scq-output-open").click()
    image = view.locator("img.scq-output-image")
    image.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth === 1", arg=image.element_handle())
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    screenshot(detail, "job_outputs.png")
    outputs.locator("li[data-path='evil.svg'] .scq-output-open").click()
    view.locator(".scq-output-text", has_text="<script>").wait_for()
    assert view.locator("img").count() == 0, "an SVG is shown as text, never as an image"
    with page.expect_download() as download:
        outputs.locator("li[data-path='table.csv'] .scq-output-download").click()
    saved = tmp_path / "table.csv"
    download.value.save_as(saved)
    assert saved.read_text() == "mean,count\n4.5,10\n"
    assert page.evaluate("() => window.__pwned") is None

    # Resubmit it: a new job with the same code, which names the one it supersedes.
    uid = table.locator("tr.scq-row", has_text="Makes outputs").get_attribute("data-uid")
    detail.locator("button.scq-detail-resubmit").click()
    table.locator(".scq-notice-ok", has_text="Resubmitted 'Makes outputs' as a new job").wait_for()
    rows = table.locator("tr.scq-row", has_text="Makes outputs")
    page.wait_for_function(
        "el => el.querySelectorAll('tr.scq-row').length === 3", arg=table.element_handle(), timeout=30_000
    )
    newest = rows.first
    assert newest.get_attribute("data-uid") != uid
    newest.click()
    detail.filter(has_text=f"Resubmits job {uid}").wait_for()
