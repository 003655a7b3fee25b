// SubmitForm front end: the fields of client.submit_code. Python validates them with the
// API's own model and answers with per-field errors or the new job's uid. Under the owner's
// email it says whether that owner's queue server is there; a datasite with no queue asks
// for a confirmation before the job is sent.
import { h, append, clear, rpc, notice, keepKeys, markInvalid, watchConnection, presenceText } from "./common.js";

const FIELDS = [
  { key: "target_email", label: "Data owner (datasite email)", type: "email", placeholder: "owner@example.com" },
  { key: "code_folder", label: "Code folder (with run.sh)", type: "text", placeholder: "path/to/my_analysis" },
  { key: "name", label: "Job name", type: "text", placeholder: "Data analysis" },
  { key: "description", label: "Description", type: "textarea", placeholder: "What the code does and why" },
  { key: "tags", label: "Tags (comma-separated)", type: "text", placeholder: "analysis, statistics" },
  { key: "release_notes", label: "Release notes (for the owner's output review)", type: "textarea", placeholder: "What the outputs are and the disclosure controls applied, e.g. counts rounded to 5; no cell under 10" },
];

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
    h("div", { class: "scq-actions" }, submit, status.el),
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
    const input = inputs[key] || (key === "auto_approval" ? auto : null);
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
    const payload = { auto_approval: auto.checked, confirmed };
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
        jobs.map((j) => h("li", { dataset: { uid: j.uid } }, h("strong", {}, j.name), " → ", j.target, " · uid ", h("code", { class: "scq-mono scq-new-uid" }, j.uid))),
      ),
    ]);
  }
  model.on("change:submitted", renderSubmitted);
  renderSubmitted();

  return () => {
    clearInterval(ticker);
    clearTimeout(targetTimer);
    model.off("change:submitted", renderSubmitted);
    model.off("change:target_presence", renderPresence);
    unwatch();
    api.dispose();
  };
}

export default { render };
