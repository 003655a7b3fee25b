// Helpers shared by the syft-code-queue widgets. Dependency-free; every piece of data is
// put into the page as text (textContent / text nodes / attribute values), never as HTML.

export const STATUSES = ["pending", "approved", "running", "completed", "failed", "rejected", "cancelled"];

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
  return h("span", { class: "scq-badge scq-s-" + String(status).replace(/[^a-z]/g, "") }, status);
}

// Actions go to Python as custom messages and come back as {kind: "ack", id, ok, ...}.
// Ids carry a per-view prefix: several views of one widget share the model's messages.
export function rpc(model) {
  const prefix = Math.random().toString(36).slice(2, 10);
  let next = 0;
  const waiting = new Map();
  const onMessage = (msg) => {
    if (!msg || msg.kind !== "ack" || !waiting.has(msg.id)) return;
    const resolve = waiting.get(msg.id);
    waiting.delete(msg.id);
    resolve(msg);
  };
  model.on("msg:custom", onMessage);
  return {
    call(kind, payload = {}) {
      const id = `${prefix}-${++next}`;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        model.send({ ...payload, kind, id });
      });
    },
    dispose() {
      model.off("msg:custom", onMessage);
      waiting.clear();
    },
  };
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
