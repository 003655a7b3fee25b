// JobTable front end: shows the page of rows Python sends and asks Python for other views
// (sort, status filter, search, page). Rows are kept by uid and updated in place, so an
// update never loses the selection, the scroll position or the focus.
// Python sends the whole page in `rows` for a new view; when jobs change it sends a delta
// instead: `row_order` (the page's uids) and `changed_rows` (only rows whose content changed).
// mergeDelta folds a delta into the model's `rows` (locally, never saved back), once per
// model in initialize and again, idempotently, before a view renders.
import { STATUSES, h, append, clear, badge, rpc, fmtTime, fmtShortTime, fmtDuration, fmtSize, notice, keepKeys, visibleTags } from "./common.js";

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

function initialize({ model }) {
  const onVersion = () => mergeDelta(model);
  mergeDelta(model);
  model.on("change:version", onVersion);
  return () => model.off("change:version", onVersion);
}

function render({ model, el }) {
  const api = rpc(model);
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
  const root = h("div", { class: "scq scq-jobtable" }, header, toolbar, scroller, empty, footer, status.el, detail);
  el.append(keepKeys(root));
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
    api.call("view", {
      sort: query.sort,
      descending: query.descending,
      statuses: query.statuses,
      search: query.search,
      page: Math.max(0, query.page),
    }).then((ack) => { if (!ack.ok) status.show(ack.error, "error"); });
  }

  function togglePause() {
    const paused = !model.get("paused");
    api.call("pause", { paused }).then((ack) => status.ack(ack, paused ? "Paused" : "Live again"));
  }

  function select(uid) {
    const next = model.get("selected") === uid ? null : uid;
    api.call("select", { uid: next }).then((ack) => { if (!ack.ok) status.show(ack.error, "error"); });
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
  const statusChips = STATUSES.map((s) => {
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
          changeView({ statuses: STATUSES.filter((x) => statuses.has(x)), page: 0 });
        },
      },
      s + " ",
      h("span", { class: "scq-count" }),
    );
    return { status: s, chip };
  });
  chips.append(allChip, ...statusChips.map((c) => c.chip));

  function renderChips() {
    const counts = model.get("counts") || {};
    const all = STATUSES.reduce((n, s) => n + (counts[s] || 0), 0);
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

  function section(title, ...children) {
    return h("div", { class: "scq-section" }, h("div", { class: "scq-section-title" }, title), ...children);
  }

  function renderDetail() {
    const d = model.get("detail") || {};
    clear(detail);
    detail.hidden = !d.uid;
    markSelection();
    if (!d.uid) return;
    const close = h("button", { class: "scq-btn scq-close", type: "button", title: "Close", onclick: () => select(d.uid) }, "✕");
    if (d.missing) {
      append(detail, [h("div", { class: "scq-detail-head" }, h("strong", {}, `Job ${d.uid}`), close), h("div", { class: "scq-muted" }, "This job is no longer listed.")]);
      return;
    }
    append(detail, [
      h(
        "div",
        { class: "scq-detail-head" },
        h("div", {}, h("strong", { class: "scq-detail-name" }, d.name), " ", badge(d.status), h("span", { class: "scq-mono scq-muted" }, " " + d.uid)),
        close,
      ),
      d.description ? h("div", { class: "scq-description" }, d.description) : null,
      h("div", { class: "scq-muted" }, `${d.requester} → ${d.target}` + (d.exit_code !== null && d.exit_code !== undefined ? ` · exit code ${d.exit_code}` : "")),
      d.error ? h("div", { class: "scq-error-box" }, d.error) : null,
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
              ? h("ul", { class: "scq-files" }, d.outputs.map((f) => h("li", {}, h("span", { class: "scq-mono" }, f.path), h("span", { class: "scq-muted" }, " " + fmtSize(f.size)))))
              : h("div", { class: "scq-muted" }, "No output files."),
        ),
      ),
      section(
        d.log_truncated ? "Log (last lines)" : "Log",
        d.log_tail ? h("pre", { class: "scq-log" }, d.log_tail) : h("div", { class: "scq-muted" }, d.status === "running" ? "No output yet." : "No log."),
      ),
    ]);
  }

  function onVersion() {
    mergeDelta(model);
    const incoming = model.get("query") || {};
    // Python clamps the page; keep what the user is typing in the search box.
    query = { ...incoming, search: document.activeElement === search ? search.value : incoming.search };
    if (document.activeElement !== search) search.value = incoming.search || "";
    renderHead();
    renderChips();
    renderRows();
    renderStatusLine();
  }

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
  }, 1000);
  // A running job's log grows without a status change: re-read it while it is open.
  const logPoll = setInterval(() => {
    const d = model.get("detail") || {};
    if (d.uid && d.status === "running" && model.get("selected") === d.uid) api.call("select", { uid: d.uid });
  }, 2000);

  return () => {
    clearInterval(ticker);
    clearInterval(logPoll);
    clearTimeout(searchTimer);
    model.off("change:version", onVersion);
    model.off("change:detail", renderDetail);
    model.off("change:selected", markSelection);
    model.off("change:paused", renderStatusLine);
    api.dispose();
  };
}

export default { initialize, render };
