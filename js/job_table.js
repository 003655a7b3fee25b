// JobTable front end: shows the page of rows Python sends. The view is synced state the
// front end sets itself (`query`: sort, status filter, search, page; `paused`; `selected`);
// Python answers with that page, the page it clamped written back into `query`. Only the
// job actions (log, output, cancel, resubmit, dismiss) are messages with acknowledgements.
// Rows are kept by uid and updated in place, so an update never loses the selection, the
// scroll position or the focus.
// Python sends the whole page in `rows` for a new view; when jobs change it sends a delta
// instead: `row_order` (the page's uids) and `changed_rows` (only rows whose content changed).
// mergeDelta folds a delta into the model's `rows` (locally, never saved back), once per
// model in initialize and again, idempotently, before a view renders.
// On the requester's side a line under the header says whether each owner's server is
// there. A job's detail streams its log (only what follows the shown text is fetched, so
// scrolling and a selection survive), previews and downloads outputs, cancels, resubmits.
import { setStatuses, allStatuses, statusLabel, previewBody, h, append, clear, badge, rpc, fmtTime, fmtShortTime, fmtDuration, fmtSize, notice, keepKeys, visibleTags, watchConnection, presenceText, foldLogChunk, codePointTail, downloadBlob, fromBase64, notificationBar } from "./common.js";

const COLUMNS = [
  { key: "name", label: "Name" },
  { key: "uid", label: "UID" },
  { key: "party", label: "" },
  { key: "status", label: "Status" },
  { key: "created", label: "Created" },
  { key: "started", label: "Started" },
  { key: "finished", label: "Finished" },
  { key: "duration", label: "Duration" },
  { key: "tags", label: "Tags" },
];
const DESCENDING_FIRST = new Set(["created", "started", "finished", "duration"]);

function mergeDelta(model) {
  const order = model.get("row_order");
  if (!Array.isArray(order)) return;
  const byUid = new Map();
  for (const row of model.get("rows") || []) byUid.set(row.uid, row);
  for (const row of model.get("changed_rows") || []) byUid.set(row.uid, row);
  const merged = [];
  for (const uid of order) if (byUid.has(uid)) merged.push(byUid.get(uid));
  model.set("rows", merged);
}

// Run `fn` once after the current update has been applied whole. JupyterLab sets every key
// of an update before it signals a change; marimo signals each key as it sets it, so at
// `change:version` the delta's other keys may not have arrived yet.
function afterUpdate(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      fn();
    });
  };
}

function initialize({ model }) {
  const onVersion = afterUpdate(() => mergeDelta(model));
  mergeDelta(model);
  model.on("change:version", onVersion);
  return () => model.off("change:version", onVersion);
}

function render({ model, el }) {
  setStatuses(model.get("statuses"));
  const api = rpc(model, model.get("ack_timeout"));
  const status = notice();
  let query = { ...model.get("query") };
  let clockOffset = 0; // Python's clock minus the browser's, for live durations
  const rowsByUid = new Map();

  const pauseButton = h("button", { class: "scq-btn scq-pause", type: "button", onclick: togglePause });
  const updated = h("span", { class: "scq-updated" });
  const liveDot = h("span", { class: "scq-live-dot" });
  const header = h(
    "div",
    { class: "scq-header" },
    h("div", { class: "scq-title" }, model.get("title")),
    h("div", { class: "scq-header-right" }, liveDot, updated, pauseButton),
  );
  const presenceLine = h("div", { class: "scq-presence", "aria-live": "polite" });

  const search = h("input", {
    class: "scq-search",
    type: "search",
    placeholder: "Search name, uid, email, tag…",
    value: query.search || "",
    "aria-label": "Search jobs",
  });
  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => changeView({ search: search.value, page: 0 }), 250);
  });
  const chips = h("div", { class: "scq-chips" });
  const toolbar = h("div", { class: "scq-toolbar" }, search, chips);

  const headRow = h("tr");
  const tbody = h("tbody");
  const table = h("table", { class: "scq-grid", "aria-label": model.get("title") }, h("thead", {}, headRow), tbody);
  const scroller = h("div", { class: "scq-scroll" }, table);
  const empty = h("div", { class: "scq-empty" });

  const range = h("span", { class: "scq-range" });
  const prev = h("button", { class: "scq-btn", type: "button", onclick: () => changeView({ page: query.page - 1 }) }, "‹ Prev");
  const next = h("button", { class: "scq-btn", type: "button", onclick: () => changeView({ page: query.page + 1 }) }, "Next ›");
  const footer = h("div", { class: "scq-footer" }, range, h("span", { class: "scq-pager" }, prev, next));

  const detail = h("div", { class: "scq-detail", hidden: true });
  const notification = notificationBar(model, api); // the requester's: their jobs' status changes
  const root = h("div", { class: "scq scq-jobtable" }, header, notification.el, presenceLine, toolbar, scroller, empty, footer, status.el, detail);
  el.append(keepKeys(root));
  const unwatch = watchConnection(model, el, root);
  root.addEventListener("keydown", (event) => {
    const open = (model.get("detail") || {}).uid;
    if (event.key !== "Escape" || !open) return;
    event.stopPropagation();
    select(open);
    const row = rowsByUid.get(open);
    if (row && detail.contains(document.activeElement)) row.tr.focus();
  });

  function changeView(change) {
    query = { ...query, ...change };
    renderHead();
    renderChips();
    const { sort, descending, statuses, search } = query;
    model.set("query", { sort, descending, statuses, search, page: Math.max(0, query.page) });
    model.save_changes();
  }

  function togglePause() {
    model.set("paused", !model.get("paused"));
    model.save_changes();
  }

  function select(uid) {
    model.set("selected", model.get("selected") === uid ? "" : uid);
    model.save_changes();
  }

  // Headers and chips are built once and updated in place: an update that changes
  // nothing touches nothing, so focus, hover and a slow click survive the live updates.
  const heads = COLUMNS.map((col) => {
    const arrow = h("span", { class: "scq-arrow", "aria-hidden": "true" });
    const label = h("span", {});
    const button = h("button", { type: "button", class: "scq-sort", onclick: () => sortBy(col.key) }, label, arrow);
    const th = h("th", { class: `scq-sortable scq-col-${col.key}`, dataset: { key: col.key }, scope: "col" }, button);
    headRow.append(th);
    return { col, th, button, label, arrow };
  });

  function sortBy(key) {
    const active = query.sort === key;
    changeView(active ? { descending: !query.descending, page: 0 } : { sort: key, descending: DESCENDING_FIRST.has(key), page: 0 });
  }

  function setAttr(el, name, value) {
    if (el.getAttribute(name) !== value) el.setAttribute(name, value);
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function renderHead() {
    for (const { col, th, button, label, arrow } of heads) {
      const name = col.key === "party" ? model.get("party_label") : col.label;
      const active = query.sort === col.key;
      setText(label, name);
      setText(arrow, active ? (query.descending ? " ▼" : " ▲") : "");
      setAttr(button, "title", `Sort by ${name}`);
      setAttr(th, "aria-sort", active ? (query.descending ? "descending" : "ascending") : "none");
      th.classList.toggle("scq-sorted", active);
    }
  }

  const allChip = h("button", { type: "button", class: "scq-chip", dataset: { status: "all" }, onclick: () => changeView({ statuses: [], page: 0 }) }, "All ", h("span", { class: "scq-count" }));
  const statusChips = allStatuses().map((s) => {
    const chip = h(
      "button",
      {
        type: "button",
        class: `scq-chip scq-chip-${s}`,
        dataset: { status: s },
        onclick: () => {
          const statuses = new Set(query.statuses || []);
          if (statuses.has(s)) statuses.delete(s);
          else statuses.add(s);
          changeView({ statuses: allStatuses().filter((x) => statuses.has(x)), page: 0 });
        },
      },
      statusLabel(s) + " ",
      h("span", { class: "scq-count" }),
    );
    return { status: s, chip };
  });
  chips.append(allChip, ...statusChips.map((c) => c.chip));

  function renderChips() {
    const counts = model.get("counts") || {};
    const all = allStatuses().reduce((n, s) => n + (counts[s] || 0), 0);
    const selected = new Set(query.statuses || []);
    setText(allChip.lastChild, String(all));
    allChip.classList.toggle("scq-chip-on", !selected.size);
    setAttr(allChip, "aria-pressed", selected.size ? "false" : "true");
    for (const { status: s, chip } of statusChips) {
      const on = selected.has(s);
      setText(chip.lastChild, String(counts[s] || 0));
      chip.classList.toggle("scq-chip-on", on);
      chip.classList.toggle("scq-chip-zero", !counts[s]);
      setAttr(chip, "aria-pressed", on ? "true" : "false");
    }
  }

  function liveDuration(row) {
    if (row.status !== "running" || !row.started) return row.duration;
    return Math.max(0, (Date.now() + clockOffset - Date.parse(row.started)) / 1000);
  }

  function rowElement(row) {
    let entry = rowsByUid.get(row.uid);
    if (!entry) {
      const cells = {};
      const tr = h("tr", { class: "scq-row", dataset: { uid: row.uid }, tabindex: "0", onclick: () => select(row.uid) });
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(row.uid); } });
      for (const col of COLUMNS) {
        cells[col.key] = h("td", { class: `scq-col-${col.key}` });
        tr.append(cells[col.key]);
      }
      entry = { tr, cells, key: "" };
      rowsByUid.set(row.uid, entry);
    }
    entry.row = row;
    const key = JSON.stringify(row);
    if (entry.key !== key) {
      entry.key = key;
      const c = entry.cells;
      c.name.textContent = row.name;
      c.name.title = row.name;
      c.uid.textContent = row.short_uid;
      c.uid.title = row.uid;
      c.party.textContent = row.party;
      clear(c.status).append(badge(row.status));
      if (row.status === "pending" && model.get("party_label") === "Target") {
        const hint = row.waiting ? "waiting for the owner's server" : "in review";
        c.status.append(h("span", { class: "scq-hint" + (row.waiting ? " scq-hint-waiting" : ""), title: hint }, hint));
      }
      c.created.textContent = fmtShortTime(row.created);
      c.created.title = fmtTime(row.created);
      c.started.textContent = fmtShortTime(row.started);
      c.started.title = fmtTime(row.started);
      c.finished.textContent = fmtShortTime(row.finished);
      c.finished.title = fmtTime(row.finished);
      const tags = visibleTags(row.tags);
      clear(c.tags);
      append(c.tags, tags.shown.map((t) => h("span", { class: "scq-tag" }, t)));
      if (tags.more) c.tags.append(h("span", { class: "scq-tag scq-tag-more" }, `+${tags.more}`));
      c.tags.title = (row.tags || []).join(", ");
    }
    entry.cells.duration.textContent = fmtDuration(liveDuration(row));
    return entry.tr;
  }

  function renderRows() {
    clockOffset = model.get("clock") * 1000 - Date.now();
    const rows = model.get("rows") || [];
    const seen = new Set();
    let cursor = tbody.firstChild;
    for (const row of rows) {
      seen.add(row.uid);
      const tr = rowElement(row);
      if (tr !== cursor) tbody.insertBefore(tr, cursor);
      else cursor = cursor.nextSibling;
    }
    for (const [uid, entry] of rowsByUid) {
      if (!seen.has(uid)) {
        entry.tr.remove();
        rowsByUid.delete(uid);
      }
    }
    markSelection();
    const total = model.get("total");
    const size = model.get("page_size");
    const page = query.page;
    const first = total ? page * size + 1 : 0;
    setText(range, total ? `${first}–${first + rows.length - 1} of ${total.toLocaleString()}` : "");
    prev.disabled = page <= 0;
    next.disabled = (page + 1) * size >= total;
    setText(empty, total ? "" : (query.search || (query.statuses || []).length ? "No jobs match." : "No jobs yet."));
    empty.hidden = total > 0;
  }

  function markSelection() {
    const selected = model.get("selected");
    for (const [uid, entry] of rowsByUid) entry.tr.classList.toggle("scq-selected", uid === selected);
  }

  function renderStatusLine() {
    const paused = model.get("paused");
    setText(pauseButton, paused ? "▶ Resume" : "❚❚ Pause");
    setAttr(pauseButton, "aria-pressed", paused ? "true" : "false");
    liveDot.classList.toggle("scq-paused", paused);
    const when = fmtTime(model.get("updated_at"));
    setText(updated, (paused ? "Paused · last updated " : "Live · updated ") + when);
  }

  // One line per owner the requester sent jobs to; the age ticks in the browser.
  const presenceEntries = new Map();
  function renderPresence() {
    const list = model.get("presence") || [];
    presenceLine.hidden = !list.length;
    const seen = new Set();
    for (const p of list) {
      seen.add(p.owner);
      let entry = presenceEntries.get(p.owner);
      if (!entry) {
        const dot = h("span", { class: "scq-presence-dot" });
        const text = h("span", { class: "scq-presence-text" });
        entry = { el: h("span", { class: "scq-presence-owner", dataset: { owner: p.owner } }, dot, h("strong", {}, p.owner), ": ", text), dot, text };
        presenceEntries.set(p.owner, entry);
        presenceLine.append(entry.el);
      }
      entry.p = p;
      entry.dot.className = `scq-presence-dot scq-p-${p.state}`;
      entry.el.dataset.state = p.state;
    }
    for (const [owner, entry] of presenceEntries) {
      if (!seen.has(owner)) {
        entry.el.remove();
        presenceEntries.delete(owner);
      }
    }
    tickPresence();
  }
  function tickPresence() {
    const now = Date.now() + clockOffset;
    for (const entry of presenceEntries.values()) setText(entry.text, presenceText(entry.p, now));
  }

  function section(title, ...children) {
    return h("div", { class: "scq-section" }, h("div", { class: "scq-section-title" }, title), ...children);
  }

  // The datasets the job reads and the runtime it runs in (recorded once the owner accepted it).
  function dataAndRuntime(d) {
    const datasets = d.datasets || [];
    const rt = d.runtime || {};
    const { shown, more } = visibleTags(rt.pins, 8);
    return [
      section(
        "Datasets",
        datasets.length
          ? h("ul", { class: "scq-files scq-detail-datasets" }, datasets.map((name) => h("li", { class: "scq-mono", dataset: { name } }, name)))
          : h("div", { class: "scq-muted scq-detail-datasets-none" }, "None: the job reads none of the owner's data."),
      ),
      section(
        "Runtime",
        h(
          "div",
          { class: "scq-runtime-record" },
          h("strong", { class: "scq-runtime-name" }, rt.name),
          rt.recorded
            ? [
                h("span", { class: "scq-runtime-python" }, ` · Python ${rt.python}`),
                rt.lock_sha256
                  ? [" · lock ", h("code", { class: "scq-mono scq-runtime-lock", title: rt.lock_sha256 }, rt.lock_sha256.slice(0, 12))]
                  : h("span", { class: "scq-muted" }, " · the owner's own environment"),
              ]
            : h("span", { class: "scq-muted" }, ` · ${rt.note}`),
        ),
        shown.length ? h("div", { class: "scq-mono scq-runtime-pins", title: rt.pins.join("\n") }, shown.join(", ") + (more ? ` +${more} more` : "")) : null,
      ),
    ];
  }

  // The detail: its upper part is rebuilt when the job changes; the log below it is one
  // element that only ever grows (or is replaced when the log is laid out anew).
  const detailMain = h("div", { class: "scq-detail-main" });
  const logPre = h("pre", { class: "scq-log", tabindex: "0", "aria-label": "Log" });
  const logNote = h("div", { class: "scq-muted scq-log-note" });
  const follow = h("input", { type: "checkbox", class: "scq-follow", checked: true });
  const logDownload = h("button", { type: "button", class: "scq-btn scq-log-download", onclick: downloadLog }, "Download log");
  const logTitle = h("div", { class: "scq-section-title" }, "Log");
  const logSection = h(
    "div",
    { class: "scq-section scq-log-section" },
    h("div", { class: "scq-log-head" }, logTitle, h("label", { class: "scq-check scq-muted" }, follow, " Follow"), logDownload),
    logPre,
    logNote,
  );
  const outputView = h("div", { class: "scq-output-view", hidden: true });
  detail.append(detailMain, logSection);
  let log = { uid: null, text: "", end: 0, source: "", complete: false, fetching: false };

  logPre.addEventListener("scroll", () => {
    const atBottom = logPre.scrollHeight - logPre.scrollTop - logPre.clientHeight < 4;
    if (!atBottom && follow.checked && !log.scrolling) follow.checked = false;
  });
  follow.addEventListener("change", () => { if (follow.checked) scrollLog(); });

  function scrollLog() {
    log.scrolling = true;
    logPre.scrollTop = logPre.scrollHeight;
    requestAnimationFrame(() => (log.scrolling = false));
  }

  function openLog(uid) {
    log = { uid, text: "", end: 0, source: "", complete: false, fetching: false };
    logPre.textContent = "";
    logNote.textContent = "";
    follow.checked = true;
    fetchLog();
  }

  function fetchLog() {
    const d = model.get("detail") || {};
    if (!log.uid || log.uid !== d.uid) return;
    if (log.fetching) return void (log.again = true);
    log.fetching = true;
    log.again = false;
    const uid = log.uid;
    api.call("log", { uid, offset: log.end, source: log.source, tail: codePointTail(log.text, 32) }).then((chunk) => {
      if (uid !== log.uid) return;
      log.fetching = false;
      if (log.again) setTimeout(fetchLog, 0);
      if (!chunk.ok) {
        logNote.textContent = chunk.error;
        return;
      }
      const folded = foldLogChunk(log, chunk);
      if (!folded) return fetchLog();
      const keep = follow.checked ? null : logPre.scrollTop;
      if (folded.replaced) logPre.textContent = folded.text;
      else if (folded.appended) logPre.append(document.createTextNode(folded.appended));
      Object.assign(log, { text: folded.text, end: folded.end, source: folded.source, complete: chunk.complete });
      if (follow.checked) scrollLog();
      else if (folded.replaced && keep !== null) logPre.scrollTop = keep;
      const more = chunk.end < chunk.size;
      const status = (model.get("detail") || {}).status;
      logNote.textContent = !chunk.available
        ? status === "awaiting_release"
          ? "The log is held until the owner releases it."
          : status === "running" || status === "approved" || status === "pending" ? "The log is released when the job finishes." : "No log."
        : more
          ? `Loading… ${fmtSize(chunk.end)} of ${fmtSize(chunk.size)}`
          : chunk.size === 0
            ? (status === "running" ? "No output yet." : "The log is empty.")
            : "";
      logTitle.textContent = chunk.source === "live" ? "Log (live)" : "Log";
      if (more) fetchLog();
    });
  }

  function downloadLog() {
    const d = model.get("detail") || {};
    downloadBlob(new Blob([log.text], { type: "text/plain" }), `${d.name || "job"}-${d.short_uid || ""}.log`);
  }

  function detailAction(kind, payload, button) {
    button.disabled = true;
    api.call(kind, payload).then((ack) => {
      button.disabled = false;
      status.ack(ack);
    });
  }

  function openOutput(d, f) {
    api.call("output", { uid: d.uid, path: f.path }).then((ack) => {
      if (!ack.ok) return status.show(ack.error, "error");
      clear(outputView).hidden = false;
      const head = h("div", { class: "scq-viewer-head" }, h("span", { class: "scq-mono scq-viewer-path" }, ack.path), h("span", { class: "scq-muted" }, " " + fmtSize(ack.size)));
      const body = previewBody(ack);
      append(outputView, [head, body, ack.truncated ? h("div", { class: "scq-muted" }, "Showing the start; download the file for all of it.") : null]);
    });
  }

  function downloadOutput(d, f, button) {
    button.disabled = true;
    api.call("output", { uid: d.uid, path: f.path, download: true }).then((ack) => {
      button.disabled = false;
      if (!ack.ok) return status.show(ack.error, "error");
      downloadBlob(new Blob([fromBase64(ack.data)]), ack.path.split("/").pop());
    });
  }

  let detailUid = null;
  function renderDetail() {
    const d = model.get("detail") || {};
    clear(detailMain);
    detail.hidden = !d.uid;
    markSelection();
    if (d.uid !== detailUid) {
      detailUid = d.uid || null;
      clear(outputView).hidden = true;
      if (d.uid && !d.missing) openLog(d.uid);
      else log = { uid: null, text: "", end: 0, source: "", complete: false };
    } else if (d.uid && !log.complete) {
      fetchLog(); // the job changed (e.g. finished): its log may have arrived
    }
    logSection.hidden = !d.uid || !!d.missing;
    if (!d.uid) return;
    const close = h("button", { class: "scq-btn scq-close", type: "button", title: "Close", onclick: () => select(d.uid) }, "✕");
    if (d.missing) {
      append(detailMain, [h("div", { class: "scq-detail-head" }, h("strong", {}, `Job ${d.uid}`), close), h("div", { class: "scq-muted" }, "This job is no longer listed.")]);
      return;
    }
    const allowed = d.allowed || [];
    const reason = h("input", { type: "text", class: "scq-input scq-detail-reason", placeholder: "Reason (optional)", "aria-label": "Reason for cancelling" });
    const cancel = h("button", { type: "button", class: "scq-btn scq-btn-cancel scq-detail-cancel" }, "Cancel job");
    cancel.addEventListener("click", () => detailAction("cancel", { uid: d.uid, reason: reason.value }, cancel));
    const resubmit = h("button", { type: "button", class: "scq-btn scq-detail-resubmit", title: "Submit this job's code again as a new job" }, "Resubmit");
    resubmit.addEventListener("click", () => detailAction("resubmit", { uid: d.uid }, resubmit));
    const pending = d.status === "pending" && d.presence;
    append(detailMain, [
      h(
        "div",
        { class: "scq-detail-head" },
        h("div", {}, h("strong", { class: "scq-detail-name" }, d.name), " ", badge(d.status), h("span", { class: "scq-mono scq-muted" }, " " + d.uid)),
        close,
      ),
      d.description ? h("div", { class: "scq-description" }, d.description) : null,
      h("div", { class: "scq-muted" }, `${d.requester} → ${d.target}` + (d.exit_code !== null && d.exit_code !== undefined ? ` · exit code ${d.exit_code}` : "")),
      d.supersedes ? h("div", { class: "scq-muted" }, "Resubmits job ", h("span", { class: "scq-mono" }, d.supersedes)) : null,
      pending
        ? h(
            "div",
            { class: d.waiting ? "scq-waiting-box" : "scq-muted" },
            d.waiting
              ? `Waiting for the owner's server: ${d.target}'s queue is ${presenceText(d.presence, Date.now() + clockOffset)}. The job is reviewed once it is back.`
              : `In review: ${d.target}'s queue is ${presenceText(d.presence, Date.now() + clockOffset)}.`,
          )
        : null,
      d.error ? h("div", { class: "scq-error-box" }, d.error) : null,
      allowed.length ? h("div", { class: "scq-actions" }, allowed.includes("cancel") ? [reason, cancel] : null, allowed.includes("resubmit") ? resubmit : null) : null,
      h(
        "div",
        { class: "scq-detail-grid" },
        section(
          "History",
          h(
            "ol",
            { class: "scq-history" },
            (d.history || []).map((t) =>
              h("li", {}, h("span", { class: "scq-muted scq-mono" }, fmtTime(t.at)), " ", badge(t.status), " ", h("span", { class: "scq-by" }, t.by), t.reason ? h("span", { class: "scq-reason" }, " — " + t.reason) : null),
            ),
          ),
        ),
        section(
          "Outputs",
          d.cleaned_up
            ? h("div", { class: "scq-muted" }, "Cleaned up (kept only the audit record).")
            : (d.outputs || []).length
              ? h(
                  "ul",
                  { class: "scq-files scq-outputs" },
                  d.outputs.map((f) => {
                    const get = h("button", { type: "button", class: "scq-btn scq-output-download", "aria-label": `Download ${f.path}` }, "Download");
                    get.addEventListener("click", () => downloadOutput(d, f, get));
                    return h(
                      "li",
                      { dataset: { path: f.path } },
                      h("button", { type: "button", class: "scq-file scq-output-open", onclick: () => openOutput(d, f) }, h("span", { class: "scq-mono" }, f.path)),
                      h("span", { class: "scq-muted" }, " " + fmtSize(f.size) + " "),
                      get,
                    );
                  }),
                )
              : h("div", { class: "scq-muted" }, d.status === "awaiting_release" ? "Held until the owner releases them." : "No output files."),
        ),
        dataAndRuntime(d),
      ),
      outputView,
    ]);
  }

  const onVersion = afterUpdate(() => {
    mergeDelta(model);
    const incoming = model.get("query") || {};
    // Python clamps the page; keep what the user is typing in the search box.
    query = { ...incoming, search: document.activeElement === search ? search.value : incoming.search };
    if (document.activeElement !== search) search.value = incoming.search || "";
    renderHead();
    renderChips();
    renderRows();
    renderStatusLine();
    renderPresence();
  });

  model.on("change:version", onVersion);
  model.on("change:detail", renderDetail);
  model.on("change:selected", markSelection);
  model.on("change:paused", renderStatusLine);
  onVersion();
  renderDetail();

  const ticker = setInterval(() => {
    for (const entry of rowsByUid.values()) {
      if (entry.row.status === "running") entry.cells.duration.textContent = fmtDuration(liveDuration(entry.row));
    }
    tickPresence();
  }, 1000);
  // A running job's log grows without a status change: ask for what follows while it is open.
  const logPoll = setInterval(() => {
    const d = model.get("detail") || {};
    if (d.uid && d.status === "running" && log.uid === d.uid) fetchLog();
  }, 1000);

  return () => {
    clearInterval(ticker);
    clearInterval(logPoll);
    clearTimeout(searchTimer);
    model.off("change:version", onVersion);
    model.off("change:detail", renderDetail);
    model.off("change:selected", markSelection);
    model.off("change:paused", renderStatusLine);
    unwatch();
    notification.dispose();
    api.dispose();
  };
}

export default { initialize, render };
