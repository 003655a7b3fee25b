// Helpers shared by the syft-code-queue widgets. Dependency-free; every piece of data is
// put into the page as text (textContent / text nodes / attribute values), never as HTML.

// The job statuses, in models.JobStatus's order, and how people read them: Python sends them
// in every widget's `statuses` trait, and a widget's render installs them before it draws.
let statusList = [];
let statusLabels = new Map();
export function setStatuses(entries) {
  statusList = (entries || []).map((e) => e.value);
  statusLabels = new Map((entries || []).map((e) => [e.value, e.label]));
}
export const allStatuses = () => statusList;
export const statusLabel = (status) => statusLabels.get(status) ?? String(status);

// h("div", {class: "scq-x", onclick: f}, "text", child) -> an element. Strings become
// text nodes, so submitted names and file contents can never become markup.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked" || key === "disabled") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// JupyterLab's keyboard shortcuts listen on the document as keys bubble up: a key typed
// into a widget's field must not reach them (Enter would be taken, Shift+Enter would re-run
// the cell and wipe the form). ipywidgets stops them the same way. Enter and Space on the
// widget's buttons and rows stay there too; other keys elsewhere in the widget pass.
const TYPING = new Set(["INPUT", "TEXTAREA", "SELECT"]);
export function keepKeys(root) {
  const stop = (event) => {
    const typing = TYPING.has(event.target.tagName) || event.target.isContentEditable;
    if (typing || event.key === "Enter" || event.key === " ") event.stopPropagation();
  };
  root.addEventListener("keydown", stop);
  root.addEventListener("keypress", stop);
  root.addEventListener("keyup", stop);
  // Notebook 7 also matches its shortcuts before keys bubble; Lumino skips an element so marked.
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  return root;
}

// A field's error is announced with the field: aria-invalid, and aria-describedby naming
// the element that holds the message (kept in the page, empty when there is no error).
export function markInvalid(input, errorEl, text) {
  errorEl.textContent = text || "";
  input.classList.toggle("scq-invalid", !!text);
  if (text) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", errorEl.id);
  } else {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
}

// The first `max` tags, and how many more there are: a row stays one line high.
export function visibleTags(tags, max = 2) {
  const list = Array.isArray(tags) ? tags : [];
  return { shown: list.slice(0, max), more: Math.max(0, list.length - max) };
}

// A text as numbered lines; a final newline does not make an extra empty line.
export function numberedLines(text) {
  const lines = String(text ?? "").split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((line, i) => ({ number: i + 1, text: line }));
}

// [[key, count]] of items by key(item), most first, then by key: "alice: 12, bob: 3".
export function countBy(items, key) {
  const counts = new Map();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) || 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])));
}

export function badge(status) {
  const label = statusLabel(status);
  return h("span", { class: "scq-badge scq-s-" + String(status).replace(/[^a-z]/g, ""), title: label === status ? null : status }, label);
}

// Actions go to Python as custom messages and come back as {kind: "ack", id, ok, ...}.
// Ids carry a per-view prefix: several views of one widget share the model's messages.
// A call that gets no answer within `timeout` seconds (a busy or restarted kernel) resolves
// with an error the view shows, so no button stays busy forever.
export function rpc(model, timeout = 30) {
  const prefix = Math.random().toString(36).slice(2, 10);
  let next = 0;
  const waiting = new Map();
  const onMessage = (msg) => {
    if (!msg || msg.kind !== "ack" || !waiting.has(msg.id)) return;
    const { resolve, timer } = waiting.get(msg.id);
    clearTimeout(timer);
    waiting.delete(msg.id);
    resolve(msg);
  };
  model.on("msg:custom", onMessage);
  return {
    call(kind, payload = {}) {
      const id = `${prefix}-${++next}`;
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve({ kind: "ack", id, ok: false, timed_out: true, error: noAnswer(timeout) });
        }, timeout * 1000);
        waiting.set(id, { resolve, timer });
        model.send({ ...payload, kind, id });
      });
    },
    dispose() {
      model.off("msg:custom", onMessage);
      for (const { timer } of waiting.values()) clearTimeout(timer);
      waiting.clear();
    },
  };
}

export function noAnswer(seconds) {
  return `No answer from the kernel after ${seconds} s: it is busy with another cell or has stopped; wait for it (the action may still happen) or re-run this cell.`;
}

// A unified diff as lines to show, each with its kind: "added", "removed", "context", "hunk"
// (an @@ line) or "note" ("\\ No newline at end of file"). The ---/+++ file names are dropped:
// the view names the file.
export function diffLines(text) {
  const lines = String(text ?? "").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const out = [];
  let header = true;
  for (const line of lines) {
    if (header && (line.startsWith("--- ") || line.startsWith("+++ "))) continue;
    header = false;
    const kind = line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "added" : line.startsWith("-") ? "removed" : line.startsWith("\\") ? "note" : "context";
    out.push({ kind, text: line });
  }
  return out;
}

// A widget's notification (Python's `notification` trait: {id, text, count}): one line that
// is announced politely, never takes the focus, and goes when dismissed.
export function notificationBar(model, api) {
  const text = h("span", { class: "scq-notification-text" });
  const close = h("button", { type: "button", class: "scq-btn scq-notification-dismiss", "aria-label": "Dismiss the notification" }, "Dismiss");
  const el = h("div", { class: "scq-notification", role: "status", "aria-live": "polite", hidden: true }, h("span", { class: "scq-notification-icon", "aria-hidden": "true" }, "●"), text, close);
  const show = () => {
    const n = model.get("notification") || {};
    el.hidden = !n.text;
    text.textContent = n.text || "";
  };
  close.addEventListener("click", () => {
    el.hidden = true;
    api.call("dismiss").then((ack) => { if (!ack.ok) show(); });
  });
  model.on("change:notification", show);
  show();
  return { el, dispose: () => model.off("change:notification", show) };
}

// A widget whose kernel restarted or stopped cannot act any more: its Python object is gone.
// Say so, and disable every control (also those drawn later). JupyterLab and Notebook 7 tell
// through the widget manager's kernel; a manager that marks dead comms is heard too.
const GONE = new Set(["restarting", "autorestarting", "dead"]);
export function watchConnection(model, el, root) {
  const banner = h("div", { class: "scq-disconnected-banner", role: "alert", hidden: true }, "Disconnected from the kernel (it restarted or stopped): re-run this cell to use the widget again.");
  root.prepend(banner);
  let dead = false;
  const disable = () => {
    for (const control of root.querySelectorAll("button, input, textarea, select")) if (!control.disabled) control.disabled = true;
  };
  const markDead = () => {
    if (dead) return;
    dead = true;
    banner.hidden = false;
    root.classList.add("scq-disconnected");
    disable();
  };
  const observer = new MutationObserver(() => { if (dead) disable(); });
  observer.observe(root, { childList: true, subtree: true, attributes: true, attributeFilter: ["disabled"] });
  const onLive = () => setTimeout(() => { if (el.closest(".jupyter-widgets-disconnected")) markDead(); }, 0);
  model.on("comm_live_update", onLive);
  const kernel = model.widget_manager && model.widget_manager.kernel;
  const onStatus = (_kernel, status) => { if (GONE.has(status)) markDead(); };
  if (kernel && kernel.statusChanged) kernel.statusChanged.connect(onStatus);
  if (kernel && kernel.disposed) kernel.disposed.connect(markDead);
  return () => {
    model.off("comm_live_update", onLive);
    if (kernel && kernel.statusChanged) kernel.statusChanged.disconnect(onStatus);
    if (kernel && kernel.disposed) kernel.disposed.disconnect(markDead);
    observer.disconnect();
  };
}

// What a requester can tell about an owner's queue, as QueueStatus.describe() words it,
// with the age counted in the browser between updates.
export function presenceText(p, nowMs = Date.now()) {
  if (!p) return "";
  if (p.state === "no_queue") return `no queue at ${p.owner}'s datasite (or it has not synced yet)`;
  if (!p.last_seen) return "offline: its server has not been seen yet";
  if (p.state === "online") return `online, last seen ${Math.max(0, Math.round((nowMs - Date.parse(p.last_seen)) / 1000))} s ago`;
  return `offline since ${fmtTime(p.last_seen, new Date(nowMs))}`;
}

// A log shown as it grows: a chunk {start, end, text, reset} from Python is appended when it
// starts where the shown text ends; otherwise the log is read again from `offset`.
export function foldLogChunk(log, chunk) {
  if (chunk.reset || chunk.start === 0) return { text: chunk.text, end: chunk.end, source: chunk.source, replaced: true };
  if (chunk.source !== log.source || chunk.start !== log.end) return null;
  return { text: log.text + chunk.text, end: chunk.end, source: chunk.source, replaced: false, appended: chunk.text };
}

// The last `count` characters of a text, whole (a character outside the BMP is two UTF-16
// units in JavaScript and one in Python, which compares it).
export function codePointTail(text, count) {
  return Array.from(String(text).slice(-2 * count)).slice(-count).join("");
}

export function fromBase64(data) {
  const raw = atob(data);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

// Save a blob as a file: the browser's own download, nothing is opened or run.
export function downloadBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name || "download", hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// A number of a CSV column's summary as a checker reads it: whole numbers whole, others to
// six significant digits; a value Python could not send as a number arrives as text.
export function fmtStat(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
}

// The per-column checks of a CSV (Python's ColumnSummary: min, max, min non-zero, whether its
// counts are multiples of 5) as rows of a table: [{label, cells: [{text, warn}]}]. A column
// of whole numbers that are not all multiples of 5 is flagged: unrounded counts.
export function csvCheckRows(columns) {
  const cols = columns || [];
  const stat = (key) => cols.map((c) => ({ text: c.numeric ? fmtStat(c[key]) : "—", warn: false }));
  const fives = cols.map((c) => (c.multiples_of_5 === null || c.multiples_of_5 === undefined ? { text: "—", warn: false } : c.multiples_of_5 ? { text: "yes", warn: false } : { text: "no", warn: true }));
  return [
    { label: "min", cells: stat("min") },
    { label: "max", cells: stat("max") },
    { label: "min non-zero", cells: stat("min_nonzero") },
    { label: "multiples of 5", cells: fives },
  ];
}

// A file's preview as Python sends it ({type: image | table | text | binary, path, ...}), drawn
// with text nodes only. An image (an SVG too) goes into an <img> from a data: URL, where no
// script runs and nothing is fetched; a table with `columns` gets its per-column checks.
export function previewBody(p) {
  if (p.type === "image") {
    return [
      h("img", { class: "scq-output-image", alt: `Preview of ${p.path}`, src: `data:${p.mime};base64,${p.data}` }),
      p.source !== undefined ? h("details", { class: "scq-svg-source" }, h("summary", {}, "SVG source (text an image does not show)"), h("pre", { class: "scq-log scq-output-text", tabindex: "0" }, p.source)) : null,
    ];
  }
  if (p.type === "table") {
    const [first = [], ...rest] = p.rows;
    const checks = p.columns
      ? h(
          "table",
          { class: "scq-output-table scq-csv-checks", "aria-label": `Column checks of ${p.path}` },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "check"), p.columns.map((c) => h("th", { scope: "col" }, c.name)))),
          h("tbody", {}, csvCheckRows(p.columns).map((row) => h("tr", { dataset: { check: row.label } }, h("th", { scope: "row" }, row.label), row.cells.map((c) => h("td", { class: c.warn ? "scq-check-warn" : null }, c.text))))),
        )
      : null;
    return h(
      "div",
      { class: "scq-output-table-wrap" },
      checks,
      h("table", { class: "scq-output-table scq-csv-rows", "aria-label": `Contents of ${p.path}` }, h("thead", {}, h("tr", {}, first.map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rest.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))),
      p.more ? h("div", { class: "scq-muted" }, p.total_rows !== undefined ? `Showing ${rest.length} of ${p.total_rows} rows.` : "Showing the first rows; download the file for all of them.") : null,
    );
  }
  if (p.type === "text") return h("pre", { class: "scq-log scq-output-text", tabindex: "0" }, p.text);
  return h("div", { class: "scq-muted" }, p.note);
}

const pad = (n) => String(n).padStart(2, "0");

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// Full local time, for history and tooltips.
export function fmtTime(iso, now = new Date()) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

// A table cell's time: as short as still unambiguous, so a row fits a notebook's width.
export function fmtShortTime(iso, now = new Date()) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  if (d.toDateString() === now.toDateString()) return fmtTime(iso, now);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (d.getFullYear() === now.getFullYear()) return `${MONTHS[d.getMonth()]} ${d.getDate()} ${hm}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "";
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
}

export function fmtSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// A status line that shows the latest acknowledgement (or error) of an action.
export function notice() {
  const el = h("div", { class: "scq-notice", role: "status", "aria-live": "polite" });
  let timer = null;
  return {
    el,
    show(text, kind = "ok") {
      clearTimeout(timer);
      el.textContent = text;
      el.className = `scq-notice scq-notice-${kind}`;
      if (kind === "ok") timer = setTimeout(() => (el.className = "scq-notice scq-notice-fade"), 6000);
    },
    ack(msg, okText) {
      if (msg.ok) this.show(msg.message || okText || "Done", "ok");
      else this.show(msg.error || "Failed", "error");
    },
  };
}
