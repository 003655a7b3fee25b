"""Output release in JupyterLab: jobs that read the owner's dataset ran and wait for the
owner's release; in the ApprovalPanel the owner reads the requester's release notes,
previews a CSV as a table with its column checks, ticks only one of two files and releases
it, and the requester's JobTable and API then hold that one file only. Withholding asks for
a reason under its field first. Every new text is readable in the light and the dark theme.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from lab_harness import Lab, run_notebook, screenshot, wait_idle
from nbformat.v4 import new_code_cell, new_notebook
from test_widget_usability import readable_everywhere

import syft_code_queue as scq

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OWNER, ALICE = "owner@example.com", "alice@example.com"
NOTES = "bands of 20 years; counts not rounded yet"
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><script>window.__pwned=1</script>'
    '<rect width="40" height="20" fill="teal"/></svg>'
)
AGE_BANDS = (
    """
python3 - <<'PY'
import csv, os
rows = list(csv.DictReader(open(os.path.join(os.environ["SYFT_DATASET_DIR"], "census.csv"))))
bands = {}
for row in rows:
    band = f"{int(row['age']) // 20 * 20}-{int(row['age']) // 20 * 20 + 19}"
    bands.setdefault(band, []).append(int(row["age"]))
out = os.environ["SYFT_OUTPUT_DIR"]
with open(os.path.join(out, "age_bands.csv"), "w") as fh:
    fh.write("band,people,mean_age\\n")
    for band, ages in sorted(bands.items()):
        fh.write(f"{band},{len(ages)},{sum(ages) / len(ages)}\\n")
with open(os.path.join(out, "summary.txt"), "w") as fh:
    fh.write(f"{len(rows)} people\\n")
print("banded", len(rows), "rows")
PY
"""
    + f"""if [ "$SYFT_JOB_NAME" = "Second look" ]; then echo '{SVG}' > "$SYFT_OUTPUT_DIR/plot.svg"; fi
"""
)


def setup(root: Path) -> str:
    return f"""
import os, tempfile, time
from pathlib import Path
import syft_code_queue as scq

root = Path({str(root)!r})
data = Path(tempfile.mkdtemp(prefix="scq-owner-data-"))
for name, rows in (("census", "ada,36\\nalan,41\\ngrace,45\\nlinus,28\\n"), ("census-mock", "p1,30\\np2,40\\n")):
    (data / name).mkdir()
    (data / name / "census.csv").write_text("name,age\\n" + rows)
    for path in (data, data / name, data / name / "census.csv"):
        os.chmod(path, 0o755)
server = scq.create_server(email={OWNER!r}, data_dir=root, auto_approval_enabled=True).start()
server.add_dataset("census", private_path=data / "census", mock_path=data / "census-mock", summary="one row per person")
client = scq.create_client(email={ALICE!r}, data_dir=root)
code = Path(tempfile.mkdtemp()) / "bands"
code.mkdir()
(code / "run.sh").write_text({AGE_BANDS!r})
jobs = [
    client.submit_code({OWNER!r}, code, name, auto_approval=True, datasets=["census"], release_notes={NOTES!r})
    for name in ("Age bands", "Second look")
]
deadline = time.monotonic() + 120
while any(client.get_job(j.uid).status != scq.JobStatus.awaiting_release for j in jobs):
    assert time.monotonic() < deadline, [client.get_job(j.uid).status for j in jobs]
    time.sleep(0.2)
"""


def open_notebook(lab: Lab, page: Any, root: Path) -> None:
    cells = [setup(root), "panel = scq.ApprovalPanel(server)\npanel", "mine = scq.JobTable(client)\nmine"]
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / "release.ipynb")
    run_notebook(page, lab, "release.ipynb")
    wait_idle(page)


def theme(page: Any, name: str) -> None:
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: {name!r}}})")
    light = "true" if name.endswith("Light") else "false"
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
    page.wait_for_timeout(500)  # transitions settle


def test_the_owner_previews_a_csv_releases_one_of_two_files_and_the_requester_gets_only_it(
    lab: Lab, page: Any, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    root = tmp_path / "syftbox"
    open_notebook(lab, page, root)
    panel = page.locator(".scq-panel")
    mine = page.locator(".scq-jobtable")

    # The requester reads where the held jobs are.
    waiting = mine.locator("tr.scq-row", has_text="Age bands").locator(".scq-s-awaitingrelease")
    waiting.wait_for()
    assert waiting.text_content() == "ran, waiting for the owner's release"
    chip = mine.locator(".scq-chip[data-status='awaiting_release']")
    assert chip.text_content() == "ran, waiting for the owner's release 2"
    mine.locator("tr.scq-row", has_text="Second look").click()
    mine.locator(".scq-detail .scq-muted", has_text="Held until the owner releases them.").wait_for()
    mine.locator(".scq-log-note", has_text="The log is held until the owner releases it.").wait_for()

    # The owner lists only what waits for a release, and reads the requester's notes.
    panel.locator("select.scq-filter-status").select_option("awaiting_release")
    card = panel.locator(".scq-card", has_text="Age bands")
    section = card.locator(".scq-release")
    section.wait_for()
    assert panel.locator(".scq-card").count() == 2
    assert NOTES in section.locator(".scq-release-notes").text_content()
    files = section.locator(".scq-held-files li.scq-held-file")
    assert [f.get_attribute("data-path") for f in files.all()] == ["age_bands.csv", "summary.txt"]
    assert [f.get_attribute("data-verdict") for f in files.all()] == ["pass", "pass"]
    assert section.locator(".scq-release-check").evaluate_all("els => els.map(e => e.checked)") == [True, True]

    # The CSV previews as a table, with the checks an output checker looks at.
    section.locator("li[data-path='age_bands.csv'] .scq-held-open").click()
    checks = section.locator("table.scq-csv-checks")
    checks.wait_for()
    assert checks.locator("thead th").all_text_contents() == ["check", "band", "people", "mean_age"]
    cells = {
        row.locator("th").text_content(): row.locator("td").all_text_contents()
        for row in checks.locator("tbody tr").all()
    }
    assert cells == {
        "min": ["—", "2", "32"],
        "max": ["—", "2", "43"],
        "min non-zero": ["—", "2", "32"],
        "multiples of 5": ["—", "no", "no"],
    }
    assert checks.locator("td.scq-check-warn").count() == 2, "unrounded counts stand out"
    rows = section.locator("table.scq-csv-rows")
    assert rows.locator("thead th").all_text_contents() == ["band", "people", "mean_age"]
    assert rows.locator("tbody tr").first.locator("td").all_text_contents() == ["20-39", "2", "32.0"]
    section.locator(".scq-held-logs li[data-path='stdout.txt'] .scq-held-open").click()
    section.locator(".scq-held-view .scq-output-text", has_text="banded 4 rows").wait_for()
    section.locator("li[data-path='age_bands.csv'] .scq-held-open").click()
    checks.wait_for()

    # Withholding without a reason: the error is under the reason field, announced with it.
    other_card = panel.locator(".scq-card", has_text="Second look")
    other = other_card.locator(".scq-release")
    other.locator("button.scq-withhold").click()
    reason = other.locator("input.scq-release-reason")
    page.wait_for_function("el => el.getAttribute('aria-invalid') === 'true'", arg=reason.element_handle())
    described = page.locator(f"#{reason.get_attribute('aria-describedby')}")
    assert "reason is required" in described.text_content()
    other.locator("li[data-path='plot.svg'] .scq-held-open").click()
    image = other.locator(".scq-held-view img.scq-output-image")
    image.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth === 40", arg=image.element_handle())
    assert image.get_attribute("src").startswith("data:image/svg+xml;base64,")
    assert "<script>" in other.locator(".scq-svg-source pre").text_content(), "its source is there to read"
    assert page.evaluate("() => window.__pwned") is None, "an SVG shown as an image runs no script"
    assert other_card.locator(".scq-card-note").text_content() == "", "said once, under the field"

    for name in ("JupyterLab Light", "JupyterLab Dark"):
        theme(page, name)
        page.mouse.move(0, 0)
        tag = name.split()[-1].lower()
        for shot, shown in (("release_preview", card), ("withhold_needs_a_reason", other_card)):
            shown.scroll_into_view_if_needed()
            screenshot(shown, f"{tag}_{shot}.png")
        texts = readable_everywhere(page)
        seen = {t["text"] for t in texts}
        assert {"Outputs to release", "multiples of 5", "pass", "no"} <= seen, "the check saw the section"
        assert [t for t in texts if t["ratio"] < 4.5] == [], tag
    theme(page, "JupyterLab Light")

    # Only the CSV is released: the text file and the logs stay on the owner's machine.
    section.locator("li[data-path='summary.txt'] .scq-release-check").uncheck()
    section.locator("input.scq-release-logs").uncheck()
    section.locator("input.scq-release-reason").fill("the banded table only")
    section.locator("button.scq-release-selected").click()
    panel.locator(".scq-notice.scq-notice-ok", has_text="Released 1 file of 'Age bands'").wait_for()
    card.wait_for(state="detached")

    row = mine.locator("tr.scq-row", has_text="Age bands")
    row.locator(".scq-s-completed").wait_for(timeout=60_000)
    row.click()
    outputs = mine.locator(".scq-detail .scq-outputs li")
    outputs.first.wait_for()
    assert [o.get_attribute("data-path") for o in outputs.all()] == ["age_bands.csv"]
    screenshot(mine, "release_requester_sees_one_file.png")

    requester = scq.create_client(email=ALICE, data_dir=root)
    uid = row.get_attribute("data-uid")
    job = requester.get_job(uid)
    assert [f.path for f in job.release.files] == ["age_bands.csv"] and not job.release.logs_released
    assert job.release.reason == "the banded table only"
    assert sorted(p.name for p in requester.get_job_output(uid).iterdir()) == ["age_bands.csv"]
    assert requester.get_job_logs(uid) is None

    # Withholding with a reason: the requester sees it, and gets nothing.
    other.locator("input.scq-release-reason").fill("a second look is not needed")
    assert reason.get_attribute("aria-invalid") != "true", "typing clears the mark"
    other.locator("button.scq-withhold").click()
    panel.locator(".scq-notice.scq-notice-ok", has_text="Withheld the results of 'Second look'").wait_for()
    withheld = mine.locator("tr.scq-row", has_text="Second look").locator(".scq-s-withheld")
    withheld.wait_for(timeout=60_000)
    second = requester.get_job(mine.locator("tr.scq-row", has_text="Second look").get_attribute("data-uid"))
    assert second.status == scq.JobStatus.withheld and second.error == "a second look is not needed"
    assert requester.get_job_output(second.uid) is None
    assert errors == []
