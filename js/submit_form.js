// SubmitForm front end: the fields of client.submit_code. Python validates them with the
// API's own model and answers with per-field errors or the new job's uid. Under the owner's
// email it says whether that owner's queue server is there; a datasite with no queue asks
// for a confirmation before the job is sent. Under the code folder it lists that owner's
// datasets (tick those the code reads) and runtimes (pick one); "Test on mock" runs the code
// here on the picked datasets' mocks and shows the run's log tail and output files.
import { h, append, clear, rpc, notice, keepKeys, markInvalid, watchConnection, presenceText, badge, fmtSize, fmtDuration, visibleTags } from "./common.js";

const FIELDS = [
  { key: "target_email", label: "Data owner (datasite email)", type: "email", placeholder: "owner@example.com" },
  { key: "code_folder", label: "Code folder (with run.sh)", type: "text", placeholder: "path/to/my_analysis" },
  { key: "name", label: "Job name", type: "text", placeholder: "Data analysis" },
  { key: "description", label: "Description", type: "textarea", placeholder: "What the code does and why" },
  { key: "tags", label: "Tags (comma-separated)", type: "text", placeholder: "analysis, statistics" },
  { key: "release_notes", label: "Release notes (for the owner's output review)", type: "textarea", placeholder: "What the outputs are and the disclosure controls applied, e.g. counts rounded to 5; no cell under 10" },
];
// Seconds past the form's mock_timeout before a test with no result is given up as lost
// (the runner stops the run at mock_timeout and says so; silence past that is the kernel's).
const MOCK_GRACE = 30;

function render({ model, el }) {
  const api = rpc(model, model.get("ack_timeout"));
  const status = notice();
  const defaults = model.get("defaults") || {};
  const inputs = {};
  const errors = {};
  const targetPresence = h("div", { class: "scq-target-presence", "aria-live": "polite" });

  const rows = FIELDS.map((f) => {
    const id = `scq-${f.key}-${Math.random().toString(36).slice(2, 8)}`;
    const input =
      f.type === "textarea"
        ? h("textarea", { id, class: "scq-input", rows: 3, placeholder: f.placeholder, name: f.key })
        : h("input", { id, class: "scq-input", type: f.type, placeholder: f.placeholder, name: f.key, value: defaults[f.key] || "" });
    input.addEventListener("input", () => setError(f.key, ""));
    inputs[f.key] = input;
    errors[f.key] = h("div", { class: "scq-field-error", id: `${id}-error`, role: "alert" });
    const extra = f.key === "target_email" ? targetPresence : null;
    return h("div", { class: "scq-field", dataset: { field: f.key } }, h("label", { for: id }, f.label), input, errors[f.key], extra);
  });
  // The owner's datasets (a checkbox each) and runtimes (a radio each), after the code folder.
  const offersId = Math.random().toString(36).slice(2, 8);
  const datasetNote = h("div", { class: "scq-muted scq-offers-note scq-dataset-note", "aria-live": "polite" });
  const datasetList = h("div", { class: "scq-options scq-dataset-list", role: "group", "aria-labelledby": `scq-datasets-${offersId}` });
  errors.datasets = h("div", { class: "scq-field-error", id: `scq-datasets-${offersId}-error`, role: "alert" });
  const datasetField = h(
    "div",
    { class: "scq-field", dataset: { field: "datasets" } },
    h("div", { class: "scq-field-label", id: `scq-datasets-${offersId}` }, "Datasets (the owner's data your code reads)"),
    datasetNote,
    datasetList,
    errors.datasets,
  );
  const runtimeNote = h("div", { class: "scq-muted scq-offers-note scq-runtime-note", "aria-live": "polite" });
  const runtimeList = h("div", { class: "scq-options scq-runtime-list", role: "radiogroup", "aria-labelledby": `scq-runtimes-${offersId}` });
  errors.runtime = h("div", { class: "scq-field-error", id: `scq-runtimes-${offersId}-error`, role: "alert" });
  const runtimeField = h(
    "div",
    { class: "scq-field", dataset: { field: "runtime" } },
    h("div", { class: "scq-field-label", id: `scq-runtimes-${offersId}` }, "Runtime (the owner's Python environment)"),
    runtimeNote,
    runtimeList,
    errors.runtime,
  );
  const groups = { datasets: datasetList, runtime: runtimeList };
  rows.splice(FIELDS.findIndex((f) => f.key === "code_folder") + 1, 0, datasetField, runtimeField);
  const testButton = h("button", { type: "button", class: "scq-btn scq-test-mock", title: "Run the code here on the picked datasets' mocks, as the owner's server will run it on the real data" }, "Test on mock");
  const mockResult = h("div", { class: "scq-mock-result", "aria-live": "polite", hidden: true });
  const mockStale = h("div", { class: "scq-mock-stale", hidden: true }, "The owner, code folder or datasets changed since this test; test again before you submit.");

  const auto = h("input", { type: "checkbox", name: "auto_approval" });
  errors.auto_approval = h("div", { class: "scq-field-error", id: `scq-auto-${Math.random().toString(36).slice(2, 8)}-error` });
  const submit = h("button", { type: "submit", class: "scq-btn scq-btn-primary scq-submit" }, "Submit job");
  const result = h("div", { class: "scq-submitted" });
  const warning = h("div", { class: "scq-form-warning", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "scq-form", novalidate: true },
    rows,
    h("div", { class: "scq-field" }, h("label", { class: "scq-check" }, auto, " Ask for auto-approval (the owner's rules decide)"), errors.auto_approval),
    warning,
    h("div", { class: "scq-actions" }, testButton, submit, status.el),
    mockResult,
  );
  const root = h(
    "div",
    { class: "scq scq-submitform" },
    h("div", { class: "scq-header" }, h("div", { class: "scq-title" }, "Submit code"), h("div", { class: "scq-muted" }, "as " + model.get("requester"))),
    form,
    result,
  );
  el.append(keepKeys(root));
  const unwatch = watchConnection(model, el, root);

  // The owner's email as typed is view state: Python follows that owner's presence.
  let targetTimer = null;
  inputs.target_email.addEventListener("input", () => {
    clearTimeout(targetTimer);
    warning.hidden = true;
    setError("datasets", "");
    setError("runtime", "");
    markStale();
    targetTimer = setTimeout(() => {
      model.set("target", inputs.target_email.value.trim());
      model.save_changes();
    }, 300);
  });
  function renderPresence() {
    const p = model.get("target_presence") || {};
    targetPresence.dataset.state = p.state || "";
    targetPresence.textContent = p.state ? `This owner's queue: ${presenceText(p)}` : "";
  }
  model.on("change:target_presence", renderPresence);
  renderPresence();
  const ticker = setInterval(renderPresence, 1000);

  function setError(key, text) {
    const input = inputs[key] || groups[key] || (key === "auto_approval" ? auto : null);
    if (input && errors[key]) markInvalid(input, errors[key], text);
    else if (text) status.show(text, "error");
  }

  // Enter in a field submits, as in any web form; Shift/Ctrl+Enter is a notebook habit
  // ("run this cell") and must not send a job by accident.
  form.addEventListener("keydown", (event) => {
    const modified = event.shiftKey || event.ctrlKey || event.metaKey || event.altKey;
    if (event.key === "Enter" && modified && event.target.tagName === "INPUT") event.preventDefault();
  });

  function send(confirmed) {
    for (const key of Object.keys(errors)) setError(key, "");
    warning.hidden = true;
    const payload = { auto_approval: auto.checked, confirmed, datasets: pickedDatasets(), runtime: chosenRuntime };
    for (const f of FIELDS) payload[f.key] = inputs[f.key].value;
    submit.disabled = true;
    for (const input of Object.values(inputs)) input.disabled = true;
    submit.textContent = "Submitting…";
    api.call("submit", payload).then((ack) => {
      if (root.classList.contains("scq-disconnected")) return;
      submit.disabled = false;
      for (const input of Object.values(inputs)) input.disabled = false;
      submit.textContent = "Submit job";
      if (ack.needs_confirmation) return confirmNoQueue(ack.warning);
      for (const [key, text] of Object.entries(ack.errors || {})) setError(key, text);
      status.ack(ack);
      if (ack.ok) {
        inputs.name.value = "";
        inputs.description.value = "";
        inputs.release_notes.value = "";
      }
    });
  }

  function confirmNoQueue(text) {
    const anyway = h("button", { type: "button", class: "scq-btn scq-btn-cancel scq-submit-anyway", onclick: () => send(true) }, "Submit anyway");
    const back = h("button", { type: "button", class: "scq-btn scq-submit-back", onclick: () => { warning.hidden = true; inputs.target_email.focus(); } }, "Check the email");
    clear(warning).hidden = false;
    append(warning, [h("span", {}, text), anyway, back]);
    back.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(false);
  });

  function renderSubmitted() {
    const jobs = model.get("submitted") || [];
    clear(result);
    if (!jobs.length) return;
    append(result, [
      h("div", { class: "scq-section-title" }, "Submitted from this form"),
      h(
        "ul",
        { class: "scq-files" },
        jobs.map((j) =>
          h(
            "li",
            { dataset: { uid: j.uid } },
            h("strong", {}, j.name),
            " → ",
            j.target,
            (j.datasets || []).length ? ` · on ${j.datasets.join(", ")}` : null,
            " · uid ",
            h("code", { class: "scq-mono scq-new-uid" }, j.uid),
          ),
        ),
      ),
    ]);
  }
  model.on("change:submitted", renderSubmitted);
  renderSubmitted();

  // -- the owner's datasets and runtimes --------------------------------------------------
  const picked = new Set();
  const openReadmes = new Set(); // READMEs opened stay open when the list is drawn again
  let datasetsOwner = null;
  function pickedDatasets() {
    return ((model.get("datasets") || {}).items || []).map((d) => d.name).filter((name) => picked.has(name));
  }
  function renderDatasets() {
    const view = model.get("datasets") || {};
    if (view.owner !== datasetsOwner) {
      picked.clear();
      datasetsOwner = view.owner;
    }
    const items = view.items || [];
    const listed = new Set(items.map((d) => d.name));
    for (const name of [...picked]) if (!listed.has(name)) picked.delete(name);
    const focused = datasetList.contains(document.activeElement) ? document.activeElement.value : null;
    datasetNote.dataset.state = view.state || "";
    datasetNote.textContent = view.state ? view.message : "Type the owner's email to see the datasets they share with you.";
    clear(datasetList).hidden = !items.length;
    for (const d of items) {
      const box = h("input", { type: "checkbox", class: "scq-dataset-check", value: d.name, checked: picked.has(d.name) });
      box.addEventListener("change", () => {
        if (box.checked) picked.add(d.name);
        else picked.delete(d.name);
        setError("datasets", "");
        markStale();
      });
      const mock = d.files ? `mock: ${d.files} file${d.files === 1 ? "" : "s"}, ${fmtSize(d.size)}` : "no mock files";
      append(datasetList, [
        h(
          "label",
          { class: "scq-option scq-dataset", dataset: { name: d.name } },
          box,
          h(
            "span",
            { class: "scq-option-body" },
            h(
              "span",
              { class: "scq-option-head" },
              h("span", { class: "scq-option-name" }, d.name),
              h("span", { class: "scq-muted" }, " · " + mock),
              d.pending ? h("span", { class: "scq-mock-pending" }, ` · mock not synced yet (${d.pending} of ${d.files} files arriving)`) : null,
            ),
            d.summary ? h("span", { class: "scq-option-summary" }, d.summary) : null,
            d.mock_note ? h("span", { class: "scq-muted scq-option-note" }, "Mock: " + d.mock_note) : null,
          ),
        ),
        d.readme
          ? h(
              "details",
              { class: "scq-dataset-readme", dataset: { name: d.name }, open: openReadmes.has(d.name), ontoggle: (e) => (e.target.open ? openReadmes.add(d.name) : openReadmes.delete(d.name)) },
              h("summary", {}, `README of ${d.name}`),
              h("div", { class: "scq-readme-text" }, d.readme + (d.readme_cut ? "…" : "")),
            )
          : null,
      ]);
      if (focused === d.name) box.focus();
    }
  }

  let chosenRuntime = null;
  let runtimesOwner = null;
  function renderRuntimes() {
    const view = model.get("runtimes") || {};
    const items = view.items || [];
    if (view.owner !== runtimesOwner) {
      chosenRuntime = null;
      runtimesOwner = view.owner;
    }
    if (!items.some((r) => r.name === chosenRuntime)) chosenRuntime = (items.find((r) => r.default) || items[0] || {}).name || null;
    const focused = runtimeList.contains(document.activeElement);
    runtimeField.hidden = !view.state;
    runtimeNote.textContent = view.state === "ready" ? "" : view.message || "";
    clear(runtimeList).hidden = !items.length;
    const group = `scq-runtime-${offersId}`;
    for (const r of items) {
      const radio = h("input", { type: "radio", class: "scq-runtime-radio", name: group, value: r.name, checked: r.name === chosenRuntime });
      radio.addEventListener("change", () => {
        if (radio.checked) chosenRuntime = r.name;
        setError("runtime", "");
      });
      const { shown, more } = visibleTags(r.packages, 6);
      runtimeList.append(
        h(
          "label",
          { class: "scq-option scq-runtime", dataset: { name: r.name } },
          radio,
          h(
            "span",
            { class: "scq-option-body" },
            h(
              "span",
              { class: "scq-option-head" },
              h("span", { class: "scq-option-name" }, r.name),
              h("span", { class: "scq-muted scq-runtime-python" }, ` · Python ${r.python}`),
              r.default ? h("span", { class: "scq-muted" }, " · the owner's own environment") : null,
              r.allow_requirements ? h("span", { class: "scq-muted" }, " · installs your requirements.txt") : null,
            ),
            shown.length
              ? h("span", { class: "scq-mono scq-runtime-packages", title: r.packages.join("\n") }, shown.join(", ") + (more ? ` +${more} more` : ""))
              : null,
          ),
        ),
      );
      if (focused && r.name === chosenRuntime) radio.focus();
    }
  }
  model.on("change:datasets", renderDatasets);
  model.on("change:runtimes", renderRuntimes);
  renderDatasets();
  renderRuntimes();

  // -- test on mock -------------------------------------------------------------------------
  testButton.addEventListener("click", () => {
    for (const key of ["target_email", "code_folder", "datasets"]) setError(key, "");
    testButton.disabled = true;
    const payload = { target_email: inputs.target_email.value, code_folder: inputs.code_folder.value, datasets: pickedDatasets() };
    api.call("test_mock", payload).then((ack) => {
      if (root.classList.contains("scq-disconnected")) return;
      for (const [key, text] of Object.entries(ack.errors || {})) setError(key, text);
      status.ack(ack);
      renderMockRun();
    });
  });

  // A result shown is of the owner, folder and datasets it was run with: say when they differ.
  function markStale() {
    const run = model.get("mock_run") || {};
    const same =
      run.target_email === inputs.target_email.value.trim() &&
      run.code_folder === inputs.code_folder.value.trim() &&
      (run.datasets || []).join("\n") === pickedDatasets().join("\n");
    mockStale.hidden = run.state !== "done" || same;
  }
  inputs.code_folder.addEventListener("input", markStale);

  const runSeen = new Map(); // a running test's id -> when this view first saw it
  let drawnRun = "";
  function mockElapsed(run) {
    if (!runSeen.has(run.id)) runSeen.set(run.id, Date.now());
    return Math.round((Date.now() - runSeen.get(run.id)) / 1000);
  }
  function renderMockRun() {
    const run = model.get("mock_run") || {};
    const timeout = model.get("mock_timeout");
    const running = run.state === "running";
    const elapsed = running ? mockElapsed(run) : 0;
    const lost = running && elapsed > timeout + MOCK_GRACE;
    testButton.disabled = running && !lost;
    testButton.textContent = running && !lost ? `Testing on mock… ${elapsed} s` : "Test on mock";
    mockResult.setAttribute("aria-busy", running && !lost ? "true" : "false");
    const key = `${run.id}:${run.state}:${lost}`;
    if (!run.id || key === drawnRun) return;
    drawnRun = key;
    clear(mockResult).hidden = false;
    mockResult.dataset.state = lost ? "lost" : run.state;
    if (lost) {
      append(mockResult, [h("div", { class: "scq-error-box scq-mock-lost" }, `No result after ${elapsed} s: the kernel is busy with another cell or has stopped; wait for it, or re-run this cell.`)]);
    } else if (running) {
      append(mockResult, [h("div", { class: "scq-muted scq-mock-running" }, `Running run.sh on the mock of ${(run.datasets || []).join(", ")}… (stopped after ${timeout} s)`)]);
    } else if (run.state === "error") {
      for (const [field, text] of Object.entries(run.errors || {})) setError(field, text);
      append(mockResult, [h("div", { class: "scq-error-box scq-mock-error" }, run.error)]);
    } else {
      append(mockResult, [mockStale, mockResultView(run)]);
      markStale();
      const ok = run.status === "completed";
      if (runSeen.has(run.id)) status.show(ok ? "The test on the mock completed." : "The test on the mock failed; its log is below.", ok ? "ok" : "error");
    }
  }

  function mockResultView(run) {
    const logLines = run.log_tail ? run.log_tail.split("\n").length : 0;
    const runtime = ((model.get("runtimes") || {}).items || []).find((r) => r.name === chosenRuntime);
    return [
      h(
        "div",
        { class: "scq-mock-head" },
        h("strong", {}, "Test on mock "),
        badge(run.status),
        h("span", { class: "scq-muted" }, ` exit code ${run.exit_code ?? "none"} · ${fmtDuration(run.seconds)} · mock of ${run.datasets.join(", ")}`),
      ),
      run.error ? h("div", { class: "scq-error-box" }, run.error) : null,
      h(
        "div",
        { class: "scq-section" },
        h("div", { class: "scq-section-title" }, run.log_lines > logLines ? `Log (last ${logLines} of ${run.log_lines} lines)` : "Log"),
        run.log_tail ? h("pre", { class: "scq-log scq-mock-log", tabindex: "0", "aria-label": "Log of the test on mock" }, run.log_tail) : h("div", { class: "scq-muted" }, "The run printed nothing."),
      ),
      h(
        "div",
        { class: "scq-section" },
        h("div", { class: "scq-section-title" }, "Output files"),
        run.outputs.length ? h("ul", { class: "scq-files scq-mock-outputs" }, run.outputs.map(mockOutput)) : h("div", { class: "scq-muted" }, "No output files."),
        run.more_outputs ? h("div", { class: "scq-muted" }, `… and ${run.more_outputs} more.`) : null,
      ),
      h(
        "div",
        { class: "scq-muted scq-mock-where" },
        `The outputs are in ${run.output_dir}, which SyftBox never syncs.`,
        runtime && !runtime.default ? ` This test ran in your own Python; the owner's run uses their runtime ${runtime.name}.` : null,
      ),
    ];
  }

  function mockOutput(f) {
    let preview = null;
    if (f.type === "text") {
      preview = h("pre", { class: "scq-log scq-mock-preview", tabindex: "0", "aria-label": `Start of ${f.path}` }, f.text + (f.truncated ? "…" : ""));
    } else if (f.type === "table") {
      const [first = [], ...rest] = f.rows;
      preview = h(
        "div",
        { class: "scq-output-table-wrap scq-mock-preview" },
        h("table", { class: "scq-output-table", "aria-label": `Start of ${f.path}` }, h("thead", {}, h("tr", {}, first.map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rest.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))),
        f.more ? h("div", { class: "scq-muted" }, "The first rows only.") : null,
      );
    } else if (f.type === "image") {
      preview = h("img", { class: "scq-output-image scq-mock-preview", alt: `Output ${f.path}`, src: `data:${f.mime};base64,${f.data}` });
    } else if (f.note) {
      preview = h("div", { class: "scq-muted" }, f.note);
    }
    return h("li", { class: "scq-mock-output", dataset: { path: f.path } }, h("div", {}, h("span", { class: "scq-mono scq-mock-output-name" }, f.path), h("span", { class: "scq-muted" }, " " + fmtSize(f.size))), preview);
  }
  model.on("change:mock_run", renderMockRun);
  renderMockRun();
  const mockTicker = setInterval(() => {
    if ((model.get("mock_run") || {}).state === "running") renderMockRun();
  }, 1000);

  return () => {
    clearInterval(ticker);
    clearInterval(mockTicker);
    model.off("change:datasets", renderDatasets);
    model.off("change:runtimes", renderRuntimes);
    model.off("change:mock_run", renderMockRun);
    clearTimeout(targetTimer);
    model.off("change:submitted", renderSubmitted);
    model.off("change:target_presence", renderPresence);
    unwatch();
    api.dispose();
  };
}

export default { render };
