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

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
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
