// ApprovalPanel front end: one card per job that needs a decision (or may still be
// stopped), a file browser over its submitted code, bulk decisions with a confirmation
// step, and the queue's recent activity. Cards are kept by uid, so an update never
// clears a reason being typed or a ticked checkbox. Python sends one page of cards for the
// view (`query`: search, requester, tag, status, page), synced state this front end sets
// itself, as it sets the open card (`selected`); ticked jobs stay ticked across pages and
// views. Only actions (approve, reject, open a file, ...) are acknowledged messages. A job awaiting release gets an "Outputs to release" section
// (the release* functions below): previews, verdicts, release selected or withhold.
// The review aids (reviewParts, below render) add to each card what changed since the job's
// earlier versions, its runtime and datasets, a run on the mocks and "Approve and trust",
// and to the panel the trust rules and a notification of new jobs.
import { h, append, clear, badge, rpc, fmtTime, fmtSize, notice, keepKeys, markInvalid, numberedLines, countBy, watchConnection, setStatuses, statusLabel, previewBody, diffLines, notificationBar } from "./common.js";

function render({ model, el }) {
  setStatuses(model.get("statuses"));
  const api = rpc(model, model.get("ack_timeout"));
  const status = notice();
  const review = reviewParts(model, api, status);
  const cards = new Map(); // uid -> {el, key, reason, check, note, viewer}
  const checked = new Map(); // uid -> the card's job, as it was when ticked
  let query = { ...(model.get("query") || {}) };

  const counts = h("div", { class: "scq-counts" });
  const updated = h("span", { class: "scq-updated" });
  const header = h(
    "div",
    { class: "scq-header" },
    h("div", { class: "scq-title" }, model.get("title")),
    h("div", { class: "scq-header-right" }, counts, h("span", { class: "scq-live-dot" }), updated),
  );

  const search = h("input", { type: "search", class: "scq-search scq-panel-search", placeholder: "Search name, uid, requester, tag…", "aria-label": "Search jobs to review", value: query.search || "" });
  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => changeView({ search: search.value, page: 0 }), 250);
  });
  const requesterFilter = h("select", { class: "scq-input scq-filter-requester", "aria-label": "Only jobs from this requester", onchange: () => changeView({ requester: requesterFilter.value, page: 0 }) });
  const tagFilter = h("select", { class: "scq-input scq-filter-tag", "aria-label": "Only jobs with this tag", onchange: () => changeView({ tag: tagFilter.value, page: 0 }) });
  const statusFilter = h("select", { class: "scq-input scq-filter-status", "aria-label": "Only jobs of this status", onchange: () => changeView({ status: statusFilter.value, page: 0 }) });
  const range = h("span", { class: "scq-range", "aria-live": "polite" });
  const prev = h("button", { type: "button", class: "scq-btn scq-prev", onclick: () => changeView({ page: query.page - 1 }) }, "‹ Prev");
  const next = h("button", { type: "button", class: "scq-btn scq-next", onclick: () => changeView({ page: query.page + 1 }) }, "Next ›");
  const filters = h("div", { class: "scq-toolbar scq-panel-filters" }, search, statusFilter, requesterFilter, tagFilter, h("span", { class: "scq-pager" }, range, prev, next));

  function changeView(change) {
    query = { ...query, ...change, page: Math.max(0, (change.page ?? query.page) || 0) };
    model.set("query", { search: query.search || "", requester: query.requester || "", tag: query.tag || "", status: query.status || null, page: query.page });
    model.save_changes();
  }

  function fillFilter(select, entries, current, allLabel, label = (value) => value) {
    const key = JSON.stringify([entries, current]);
    if (select.dataset.key === key) return;
    select.dataset.key = key;
    clear(select).append(h("option", { value: "" }, allLabel));
    const values = entries.map(([value]) => value);
    if (current && !values.includes(current)) entries = [[current, 0], ...entries];
    for (const [value, count] of entries) select.append(h("option", { value }, `${label(value)} (${count})`));
    select.value = current || "";
  }

  const selectAll = h("input", { type: "checkbox", class: "scq-select-all", "aria-label": "Select the pending jobs on this page" });
  selectAll.addEventListener("change", () => {
    for (const job of pendingJobs()) {
      if (selectAll.checked) checked.set(job.uid, job);
      else checked.delete(job.uid);
    }
    for (const [uid, card] of cards) card.check.checked = checked.has(uid);
    renderBulk();
  });
  const bulkCount = h("span", { class: "scq-muted" });
  const bulkReason = h("input", { type: "text", class: "scq-input scq-bulk-reason", placeholder: "Reason for all selected (required to reject)", "aria-label": "Reason for the bulk decision" });
  const bulkApprove = h("button", { type: "button", class: "scq-btn scq-btn-approve scq-bulk-approve", onclick: () => confirmBulk("approve") }, "Approve selected");
  const bulkReject = h("button", { type: "button", class: "scq-btn scq-btn-reject scq-bulk-reject", onclick: () => confirmBulk("reject") }, "Reject selected");
  const confirmBar = h("div", { class: "scq-confirm", hidden: true });
  const bulk = h("div", { class: "scq-toolbar scq-bulk" }, h("label", { class: "scq-check" }, selectAll, " Select pending on this page"), bulkCount, bulkReason, bulkApprove, bulkReject);

  const list = h("div", { class: "scq-cards" });
  const empty = h("div", { class: "scq-empty" }, "Nothing to review. New submissions appear here as they arrive.");
  const activity = h("ol", { class: "scq-activity" });
  const root = h(
    "div",
    { class: "scq scq-panel" },
    header,
    review.notification.el,
    filters,
    bulk,
    confirmBar,
    status.el,
    list,
    empty,
    review.rules,
    h("div", { class: "scq-section" }, h("div", { class: "scq-section-title" }, "Recent activity"), activity),
  );
  el.append(keepKeys(root));
  const unwatch = watchConnection(model, el, root);

  const pendingJobs = () => (model.get("jobs") || []).filter((j) => j.allowed.includes("approve"));

  function renderBulk() {
    // A ticked job this page shows as decided is no longer pending: untick it.
    for (const job of model.get("jobs") || []) if (checked.has(job.uid) && !job.allowed.includes("approve")) checked.delete(job.uid);
    const pending = pendingJobs();
    bulkCount.textContent = checked.size ? `${checked.size} selected` : "";
    bulkApprove.disabled = bulkReject.disabled = checked.size === 0;
    selectAll.disabled = pending.length === 0;
    selectAll.checked = pending.length > 0 && pending.every((j) => checked.has(j.uid));
  }

  function confirmBulk(decision) {
    const jobs = [...checked.values()];
    if (!jobs.length) return;
    const verb = decision === "approve" ? "Approve" : "Reject";
    clear(confirmBar).hidden = false;
    const yes = h("button", { type: "button", class: `scq-btn scq-btn-${decision} scq-confirm-yes` }, `Yes, ${verb.toLowerCase()} ${jobs.length}`);
    const no = h("button", { type: "button", class: "scq-btn scq-confirm-no", onclick: () => (confirmBar.hidden = true) }, "Cancel");
    yes.addEventListener("click", () => {
      yes.disabled = no.disabled = true;
      api
        .call("bulk", {
          decision,
          reason: bulkReason.value,
          items: jobs.map((j) => ({ uid: j.uid, manifest_sha256: j.manifest_sha256 })),
        })
        .then((ack) => {
          confirmBar.hidden = true;
          status.ack(ack);
          if (ack.ok) {
            checked.clear();
            bulkReason.value = "";
          }
          renderBulk();
        });
    });
    const perRequester = countBy(jobs, (j) => j.requester);
    append(confirmBar, [
      h("span", {}, `${verb} ${jobs.length} job${jobs.length === 1 ? "" : "s"} from ${perRequester.length} requester${perRequester.length === 1 ? "" : "s"}?`),
      h("ul", { class: "scq-confirm-list" }, perRequester.map(([who, n]) => h("li", {}, h("strong", {}, who), `: ${n} job${n === 1 ? "" : "s"}`))),
      yes,
      no,
    ]);
    yes.focus();
  }

  function act(job, card, kind, button, extra = {}) {
    const payload = { uid: job.uid, reason: card.reason.value, ...extra };
    if (kind === "approve" || kind === "approve_trust") payload.manifest_sha256 = job.manifest_sha256;
    for (const b of card.buttons) b.disabled = true;
    button.classList.add("scq-busy");
    api.call(kind, payload).then((ack) => {
      button.classList.remove("scq-busy");
      const note = ack.ok ? { text: ack.message, kind: "ok" } : { text: ack.error, kind: "error" };
      card.noteState = note;
      showNote(card);
      if (ack.ok) status.ack(ack); // stays visible after a decided job's card leaves
      if (ack.ok) card.reason.value = "";
      // Re-enable per the job's current status (an update may already have arrived).
      const current = (model.get("jobs") || []).find((j) => j.uid === job.uid);
      for (const b of card.buttons) b.disabled = !current || !current.allowed.includes(b.dataset.action);
    });
  }

  function showNote(card) {
    const note = card.noteState;
    card.note.textContent = note ? note.text : "";
    card.note.className = "scq-card-note" + (note ? ` scq-notice-${note.kind}` : "");
  }

  function toggle(job) {
    model.set("selected", model.get("selected") === job.uid ? "" : job.uid);
    model.save_changes();
  }

  function openFile(job, path) {
    api.call("open_file", { uid: job.uid, path }).then((ack) => { if (!ack.ok) status.show(ack.error, "error"); });
  }

  function renderViewer(uid, viewer) {
    const f = model.get("file_view") || {};
    clear(viewer);
    if (f.uid !== uid) {
      viewer.hidden = true;
      return;
    }
    viewer.hidden = false;
    const check = f.matches_manifest
      ? h("span", { class: "scq-ok" }, "✓ matches the manifest")
      : h("span", { class: "scq-warn" }, "⚠ differs from the manifest: this is not the code an approval would run");
    append(viewer, [
      h("div", { class: "scq-viewer-head" }, h("span", { class: "scq-mono scq-viewer-path" }, f.path), h("span", { class: "scq-muted" }, " " + fmtSize(f.size) + " · "), check),
      f.binary
        ? h("div", { class: "scq-muted scq-binary" }, `Binary file (${fmtSize(f.size)}); contents not shown.`)
        : h(
            "pre",
            { class: "scq-code", tabindex: "0", "aria-label": `Contents of ${f.path}` },
            numberedLines(f.text).map((line) => h("span", { class: "scq-line", dataset: { line: line.number } }, h("span", { class: "scq-line-text" }, line.text))),
          ),
      f.truncated && !f.binary ? h("div", { class: "scq-muted" }, `Showing the first ${fmtSize(f.shown_bytes)} of ${fmtSize(f.size)}.`) : null,
    ]);
  }

  function buildCard(job, old) {
    const open = model.get("selected") === job.uid;
    const reason = old ? old.reason : h("input", { type: "text", class: "scq-input scq-reason", placeholder: "Reason (required to reject)", "aria-label": `Reason for ${job.name}` });
    const check = old ? old.check : h("input", { type: "checkbox", class: "scq-card-check", "aria-label": `Select ${job.name}` });
    if (!old) check.addEventListener("change", () => { if (check.checked) checked.set(job.uid, card.job); else checked.delete(job.uid); renderBulk(); });
    check.checked = checked.has(job.uid);
    check.disabled = !job.allowed.includes("approve");
    const note = h("div", { class: "scq-card-note" });
    const viewer = h("div", { class: "scq-viewer", hidden: true });
    const card = { job, reason, check, note, viewer, buttons: [], noteState: old ? old.noteState : null };
    const button = (kind, label) => {
      const b = h("button", { type: "button", class: `scq-btn scq-btn-${kind} scq-${kind}`, dataset: { action: kind }, disabled: !job.allowed.includes(kind) }, label);
      b.addEventListener("click", () => act(job, card, kind, b));
      card.buttons.push(b);
      return b;
    };
    const files = h(
      "ul",
      { class: "scq-filelist" },
      job.files.map((f) =>
        h(
          "li",
          {},
          h("button", { type: "button", class: "scq-file", dataset: { path: f.path }, onclick: () => openFile(job, f.path) }, h("span", { class: "scq-mono" }, f.path)),
          h("span", { class: "scq-muted" }, fmtSize(f.size)),
        ),
      ),
    );
    card.el = h(
      "div",
      { class: `scq-card scq-card-${job.status}` + (open ? " scq-open" : ""), dataset: { uid: job.uid } },
      h(
        "div",
        { class: "scq-card-head" },
        check,
        h(
          "button",
          { type: "button", class: "scq-card-toggle", "aria-expanded": open ? "true" : "false", onclick: () => toggle(job) },
          h("span", { class: "scq-caret" }, open ? "▾" : "▸"),
          h("span", { class: "scq-card-name" }, job.name),
        ),
        badge(job.status),
        h("span", { class: "scq-mono scq-muted", title: job.uid }, job.short_uid),
      ),
      h(
        "div",
        { class: "scq-card-meta" },
        h("span", {}, "from ", h("strong", {}, job.requester)),
        h("span", { class: "scq-muted" }, " · submitted " + fmtTime(job.created)),
        h("span", { class: "scq-muted" }, ` · ${job.files.length} file${job.files.length === 1 ? "" : "s"}, ${fmtSize(job.total_size)}`),
        job.auto_approval ? h("span", { class: "scq-muted" }, " · asked for auto-approval") : null,
        " ",
        (job.tags || []).map((t) => h("span", { class: "scq-tag" }, t)),
        review.chips(job),
      ),
      job.description ? h("div", { class: "scq-description" }, job.description) : null,
      !job.accepted ? h("div", { class: "scq-muted" }, "Still arriving: waiting for all files to sync.") : null,
      open
        ? h(
            "div",
            { class: "scq-card-body" },
            h("div", { class: "scq-manifest" }, "Manifest sha256 (approval pins it): ", h("code", { class: "scq-mono scq-hash" }, job.manifest_sha256 || "not accepted yet")),
            review.body(job),
            h("div", { class: "scq-browser" }, files, viewer),
            h(
              "details",
              { class: "scq-audit" },
              h("summary", {}, `Audit history (${job.history.length})`),
              h(
                "ol",
                { class: "scq-history" },
                job.history.map((t) => h("li", {}, h("span", { class: "scq-muted scq-mono" }, fmtTime(t.at)), " ", badge(t.status), " ", h("span", { class: "scq-by" }, t.by), t.reason ? " — " + t.reason : "")),
              ),
            ),
          )
        : null,
      job.release ? releaseSection(job, card) : h("div", { class: "scq-actions" }, reason, button("approve", "Approve"), review.trustButton(job, card, act), button("reject", "Reject"), button("cancel", "Cancel job")),
      note,
    );
    showNote(card);
    renderViewer(job.uid, viewer);
    return card;
  }

  // -- Outputs to release ---------------------------------------------------------------
  // What the owner chose for a held job (ticks, the logs' box, the reason typed, the preview
  // open) lives here by uid, so a card redrawn by an update keeps it.
  const releases = new Map();

  function releaseState(job) {
    let r = releases.get(job.uid);
    if (r) return r;
    const id = `scq-release-${Math.random().toString(36).slice(2, 10)}`;
    r = {
      ticks: new Map(), // path -> ticked, once the owner changed it
      logs: null, // the logs' box once changed
      reason: h("input", { type: "text", id, class: "scq-input scq-release-reason", placeholder: "Reason (required to withhold)", "aria-label": `Reason for the release decision on ${job.name}` }),
      error: h("div", { class: "scq-field-error scq-release-reason-error", id: `${id}-error`, role: "alert" }),
      viewer: h("div", { class: "scq-output-view scq-held-view", hidden: true }),
    };
    r.reason.addEventListener("input", () => markInvalid(r.reason, r.error, ""));
    releases.set(job.uid, r);
    return r;
  }

  const verdictBadge = (verdict) => h("span", { class: `scq-verdict scq-verdict-${verdict}` }, verdict);

  function releaseFile(job, r, f, log) {
    const box = log ? null : h("input", { type: "checkbox", class: "scq-release-check", checked: r.ticks.has(f.path) ? r.ticks.get(f.path) : f.ticked, disabled: !f.releasable, "aria-label": `Release ${f.path}` });
    if (box) box.addEventListener("change", () => r.ticks.set(f.path, box.checked));
    return h(
      "li",
      { class: "scq-held-file", dataset: { path: f.path, verdict: f.verdict, log: log ? "true" : "false" } },
      h(
        "div",
        { class: "scq-held-row" },
        box,
        h("button", { type: "button", class: "scq-file scq-held-open", title: `Preview ${f.path}`, onclick: () => openHeld(job, r, f, log) }, h("span", { class: "scq-mono" }, f.path)),
        h("span", { class: "scq-muted" }, fmtSize(f.size)),
        verdictBadge(f.verdict),
      ),
      f.messages.length ? h("ul", { class: "scq-verdict-messages" }, f.messages.map((m) => h("li", {}, m))) : null,
      f.releasable ? null : h("div", { class: "scq-muted" }, "SyftBox never syncs a file named like this: it cannot be released."),
    );
  }

  function openHeld(job, r, f, log) {
    api.call("held_file", { uid: job.uid, path: f.path, log }).then((ack) => {
      if (!ack.ok) return status.show(ack.error, "error");
      r.preview = ack.preview;
      drawHeldPreview(r);
    });
  }

  function drawHeldPreview(r) {
    const p = r.preview;
    clear(r.viewer).hidden = !p;
    if (!p) return;
    append(r.viewer, [
      h("div", { class: "scq-viewer-head" }, h("span", { class: "scq-mono scq-viewer-path" }, p.path), h("span", { class: "scq-muted" }, " " + fmtSize(p.size) + (p.log ? " · log" : ""))),
      previewBody(p),
      p.truncated ? h("div", { class: "scq-muted" }, "Showing the start of the file.") : null,
    ]);
  }

  function decideRelease(job, card, r, kind, logsBox, buttons) {
    const payload = { uid: job.uid, reason: r.reason.value };
    if (kind === "release") {
      payload.files = job.release.files.filter((f) => f.releasable && (r.ticks.has(f.path) ? r.ticks.get(f.path) : f.ticked)).map((f) => f.path);
      payload.logs = !!(logsBox && logsBox.checked);
    }
    markInvalid(r.reason, r.error, "");
    for (const b of buttons) b.disabled = true;
    api.call(kind, payload).then((ack) => {
      for (const b of buttons) b.disabled = false;
      const fieldError = (ack.errors || {}).reason; // shown under the reason field instead
      card.noteState = ack.ok ? { text: ack.message, kind: "ok" } : fieldError ? null : { text: ack.error, kind: "error" };
      showNote(card);
      if (ack.ok) status.ack(ack); // stays visible after the decided job's card leaves
      if (fieldError) {
        markInvalid(r.reason, r.error, fieldError);
        r.reason.focus();
      }
    });
  }

  function releaseSection(job, card) {
    const rel = job.release;
    if (rel.error) return h("div", { class: "scq-release scq-error-box" }, rel.error);
    const r = releaseState(job);
    const logsBox = rel.logs.length ? h("input", { type: "checkbox", class: "scq-release-logs", checked: r.logs ?? rel.logs_ticked }) : null;
    if (logsBox) logsBox.addEventListener("change", () => (r.logs = logsBox.checked));
    const releaseButton = h("button", { type: "button", class: "scq-btn scq-btn-approve scq-release-selected" }, "Release selected");
    const withholdButton = h("button", { type: "button", class: "scq-btn scq-btn-reject scq-withhold" }, "Withhold");
    const buttons = [releaseButton, withholdButton];
    releaseButton.addEventListener("click", () => decideRelease(job, card, r, "release", logsBox, buttons));
    withholdButton.addEventListener("click", () => decideRelease(job, card, r, "withhold", logsBox, buttons));
    drawHeldPreview(r);
    const ran = rel.exit_code === null || rel.exit_code === undefined ? "It ran" : `It ran (exit code ${rel.exit_code})`;
    return h(
      "div",
      { class: "scq-release", role: "group", "aria-label": `Outputs to release of ${job.name}` },
      h("div", { class: "scq-section-title" }, "Outputs to release"),
      h("div", { class: "scq-muted" }, `${ran}; nothing leaves this machine until you release it. ` + (rel.passed ? "Every file passed the output policy." : "Some files need a look: see their verdicts.")),
      h(
        "div",
        { class: "scq-release-grid" },
        h(
          "div",
          { class: "scq-release-files" },
          h("div", { class: "scq-release-notes" }, h("div", { class: "scq-release-label" }, "The requester's release notes"), rel.notes ? h("div", { class: "scq-description" }, rel.notes) : h("div", { class: "scq-muted" }, "None given.")),
          h("div", { class: "scq-release-label" }, `Output files (${rel.files.length})`),
          rel.files.length ? h("ul", { class: "scq-filelist scq-held-files" }, rel.files.map((f) => releaseFile(job, r, f, false))) : h("div", { class: "scq-muted" }, "The run wrote no output files."),
          h("div", { class: "scq-release-label" }, "Logs"),
          rel.logs.length
            ? [h("ul", { class: "scq-filelist scq-held-logs" }, rel.logs.map((f) => releaseFile(job, r, f, true))), h("label", { class: "scq-check" }, logsBox, " Release the logs (stdout and stderr)")]
            : h("div", { class: "scq-muted" }, "The run left no logs."),
        ),
        r.viewer,
      ),
      h("div", { class: "scq-actions scq-release-actions" }, h("div", { class: "scq-release-reason-field" }, r.reason, r.error), releaseButton, withholdButton),
    );
  }

  function renderCards() {
    const jobs = model.get("jobs") || [];
    const selected = model.get("selected");
    const seen = new Set();
    let cursor = list.firstChild;
    for (const job of jobs) {
      seen.add(job.uid);
      const key = JSON.stringify(job) + (selected === job.uid ? "|open" : "");
      let card = cards.get(job.uid);
      if (!card || card.key !== key) {
        const fresh = buildCard(job, card);
        fresh.key = key;
        if (card) card.el.replaceWith(fresh.el);
        if (card && cursor === card.el) cursor = fresh.el;
        card = fresh;
        cards.set(job.uid, card);
      }
      if (card.el !== cursor) list.insertBefore(card.el, cursor);
      else cursor = cursor.nextSibling;
    }
    for (const [uid, card] of cards) {
      if (!seen.has(uid)) {
        card.el.remove();
        cards.delete(uid);
        releases.delete(uid);
      }
    }
    const total = model.get("total") || 0;
    const size = model.get("page_size");
    const page = query.page || 0;
    const first = page * size + 1;
    range.textContent = total ? `${first}–${first + jobs.length - 1} of ${total}` : "0 of 0";
    prev.disabled = page <= 0;
    next.disabled = (page + 1) * size >= total;
    const filtered = query.search || query.requester || query.tag || query.status;
    empty.textContent = filtered ? "No open job matches this search." : "Nothing to review. New submissions appear here as they arrive.";
    empty.hidden = jobs.length > 0;
  }

  function renderActivity() {
    clear(activity);
    const entries = model.get("activity") || [];
    if (!entries.length) activity.append(h("li", { class: "scq-muted" }, "No activity yet."));
    for (const a of entries) {
      activity.append(
        h(
          "li",
          {},
          h("span", { class: "scq-muted scq-mono" }, fmtTime(a.at)),
          " ",
          badge(a.status),
          " ",
          h("strong", {}, a.name),
          h("span", { class: "scq-muted scq-mono" }, " " + a.short_uid),
          " by ",
          h("span", { class: "scq-by" }, a.by),
          a.reason ? h("span", { class: "scq-reason" }, " — " + a.reason) : null,
        ),
      );
    }
  }

  function onVersion() {
    const incoming = model.get("query") || {};
    query = { ...incoming, search: document.activeElement === search ? search.value : incoming.search };
    if (document.activeElement !== search) search.value = incoming.search || "";
    fillFilter(requesterFilter, model.get("requesters") || [], query.requester, "All requesters");
    fillFilter(tagFilter, model.get("tags") || [], query.tag, "All tags");
    const c = model.get("counts") || {}; // every open status, in Python's order
    fillFilter(statusFilter, Object.entries(c), query.status, "All open statuses", statusLabel);
    clear(counts);
    append(counts, Object.keys(c).map((s) => h("span", { class: `scq-count-pill scq-s-${s.replace(/[^a-z]/g, "")}` + (c[s] ? "" : " scq-zero"), dataset: { status: s } }, `${statusLabel(s)} ${c[s]}`)));
    updated.textContent = "updated " + fmtTime(model.get("updated_at"));
    renderCards();
    renderBulk();
    renderActivity();
  }

  const onFileView = () => {
    for (const [uid, card] of cards) renderViewer(uid, card.viewer);
  };
  model.on("change:version", onVersion);
  model.on("change:selected", renderCards);
  model.on("change:file_view", onFileView);
  onVersion();

  return () => {
    clearTimeout(searchTimer);
    review.dispose();
    model.off("change:version", onVersion);
    model.off("change:selected", renderCards);
    model.off("change:file_view", onFileView);
    unwatch();
    api.dispose();
  };
}

// -- review aids ---------------------------------------------------------------------------
// What a card shows and does beyond deciding, kept per uid so a card rebuilt by an update
// keeps its loaded diff, its trust terms and its mock run.
const EXPIRY_DAYS = [["", "never expires"], ["1", "expires in 1 day"], ["7", "expires in 7 days"], ["30", "expires in 30 days"], ["90", "expires in 90 days"]];

function reviewParts(model, api, status) {
  const states = new Map(); // uid -> {diffKey, diff, diffError, diffEl, mockEl, mockError, vary, expiry, timer}
  const state = (uid) => {
    if (!states.has(uid)) states.set(uid, { vary: new Set(), expiry: "" });
    return states.get(uid);
  };
  const notification = notificationBar(model, api);
  const rulesList = h("ul", { class: "scq-trust-list" });
  const rulesTitle = h("div", { class: "scq-section-title" });
  const rules = h("div", { class: "scq-section scq-trust-rules" }, rulesTitle, rulesList);

  function chips(job) {
    return [
      job.supersedes ? h("span", { class: "scq-muted scq-supersedes", title: job.supersedes }, ` · resubmission of ${job.supersedes.slice(0, 8)}`) : null,
      job.chip ? h("span", { class: "scq-review-chip" }, "✓ " + job.chip) : null,
    ];
  }

  function body(job) {
    return h("div", { class: "scq-review" }, runtimeSection(job), datasetsSection(job), diffSection(job), trustTerms(job), mockSection(job));
  }

  function runtimeSection(job) {
    const r = job.runtime;
    if (!job.accepted) return null;
    if (!r) return h("div", { class: "scq-runtime" }, h("strong", {}, "Runtime: "), "the server's own Python environment (the default)");
    const pins = r.pins || [];
    return h(
      "div",
      { class: "scq-runtime" },
      h("strong", {}, "Runtime: "),
      h("span", { class: "scq-mono scq-runtime-name" }, r.name),
      ` · Python ${r.python}`,
      r.lock_sha256 ? h("span", { class: "scq-muted" }, " · lock ", h("code", { class: "scq-mono", title: r.lock_sha256 }, r.lock_sha256.slice(0, 12))) : null,
      pins.length
        ? h(
            "details",
            { class: "scq-pins" },
            h("summary", {}, `${pins.length} pinned package${pins.length === 1 ? "" : "s"}${r.requirements ? " resolved from requirements.txt" : ""}; the approval covers them`),
            h("ul", { class: "scq-pin-list" }, pins.map((p) => h("li", { class: "scq-mono" }, p))),
          )
        : null,
    );
  }

  function datasetsSection(job) {
    const sets = job.datasets || [];
    if (!sets.length) return null;
    return h(
      "div",
      { class: "scq-datasets-used" },
      h("strong", {}, "Datasets "),
      h("span", { class: "scq-muted" }, "(the approval lets the job read these, read-only at /job/data/<name>)"),
      h(
        "ul",
        { class: "scq-dataset-list" },
        sets.map((d) =>
          h(
            "li",
            { dataset: { dataset: d.name } },
            h("span", { class: "scq-mono scq-dataset-name" }, d.name),
            d.missing ? h("span", { class: "scq-warn" }, " ⚠ not registered any more: the job would fail") : null,
            d.summary ? h("span", {}, " — " + d.summary) : null,
            d.private_size !== null && d.private_size !== undefined ? h("span", { class: "scq-muted" }, ` · private part ${fmtSize(d.private_size)}`) : null,
          ),
        ),
      ),
    );
  }

  function diffSection(job) {
    if (!job.previous && !job.last_approved) return null;
    const s = state(job.uid);
    s.diffEl = h("div", { class: "scq-diffs" });
    const key = [job.manifest_sha256, job.previous && job.previous.against, job.last_approved && job.last_approved.against].join("|");
    if (s.diffKey !== key) {
      s.diffKey = key;
      s.diff = null;
      s.diffError = null;
      api.call("diff", { uid: job.uid }).then((ack) => {
        if (s.diffKey !== key) return;
        if (ack.ok) s.diff = ack.diffs;
        else s.diffError = ack.error;
        renderDiff(s);
      });
    }
    renderDiff(s);
    return h("div", { class: "scq-diff-section" }, h("div", { class: "scq-section-title" }, "What changed"), s.diffEl);
  }

  function renderDiff(s) {
    const el = clear(s.diffEl);
    if (s.diffError) return el.append(h("div", { class: "scq-notice-error" }, s.diffError));
    if (!s.diff) return el.append(h("div", { class: "scq-muted" }, "Reading the diff…"));
    const { previous, approved } = s.diff;
    for (const d of [previous, approved]) {
      if (!d || (d === approved && previous && previous.against === approved.against)) continue;
      const what = d.basis === "supersedes" ? "Against the job it supersedes: " : "Against the last approved job of this name: ";
      el.append(
        h(
          "div",
          { class: "scq-diff-basis", dataset: { basis: d.basis } },
          h("div", { class: "scq-diff-title", title: d.against }, what, h("span", { class: d.identical ? "scq-ok" : "" }, d.summary)),
          d.files.map((f) => fileDiff(f)),
          d.unchanged.length ? h("div", { class: "scq-muted scq-unchanged" }, `Unchanged: ${d.unchanged.join(", ")}`) : null,
        ),
      );
    }
  }

  function fileDiff(f) {
    const sizes = [f.old_size, f.new_size].filter((x) => x !== null && x !== undefined).map(fmtSize).join(" → ");
    return h(
      "div",
      { class: "scq-diff-file", dataset: { path: f.path, change: f.change } },
      h("div", { class: "scq-diff-head" }, h("span", { class: `scq-change scq-change-${f.change}` }, f.change), " ", h("span", { class: "scq-mono scq-diff-path" }, f.path), h("span", { class: "scq-muted" }, ` ${sizes}`)),
      f.note ? h("div", { class: "scq-muted" }, f.note) : null,
      f.diff
        ? h(
            "pre",
            { class: "scq-diff", tabindex: "0", "aria-label": `Changes to ${f.path}` },
            h("span", { class: "scq-diff-lines" }, diffLines(f.diff).map((line) => h("span", { class: `scq-diff-line scq-diff-${line.kind}` }, line.text))),
          )
        : null,
      f.cut ? h("div", { class: "scq-muted" }, f.cut) : null,
    );
  }

  function trustTerms(job) {
    if (!job.allowed.includes("approve")) return null;
    const s = state(job.uid);
    const expiry = h("select", { class: "scq-input scq-trust-expiry", "aria-label": `How long the trust in ${job.name} lasts`, onchange: () => (s.expiry = expiry.value) }, EXPIRY_DAYS.map(([value, label]) => h("option", { value }, label)));
    expiry.value = s.expiry;
    const vary = (job.may_vary || []).map((path) => {
      const box = h("input", { type: "checkbox", class: "scq-trust-vary", checked: s.vary.has(path), dataset: { path } });
      box.addEventListener("change", () => (box.checked ? s.vary.add(path) : s.vary.delete(path)));
      return h("label", { class: "scq-check" }, box, " ", h("span", { class: "scq-mono" }, path));
    });
    return h(
      "fieldset",
      { class: "scq-trust-terms" },
      h("legend", {}, "Terms for “Approve and trust”"),
      h("span", { class: "scq-muted" }, `The same code from ${job.requester}${(job.datasets || []).length ? " for the same datasets" : ""} is then approved without you; `),
      expiry,
      vary.length ? h("div", { class: "scq-trust-vary-list" }, h("span", { class: "scq-muted" }, "Files that may differ: "), vary) : null,
    );
  }

  function trustButton(job, card, act) {
    const s = state(job.uid);
    const b = h("button", { type: "button", class: "scq-btn scq-approve-trust", dataset: { action: "approve" }, disabled: !job.allowed.includes("approve"), title: "Approve, and approve identical later submissions of this code automatically" }, "Approve and trust");
    b.addEventListener("click", () => act(job, card, "approve_trust", b, { variable_files: [...s.vary], expires_days: s.expiry ? Number(s.expiry) : null }));
    card.buttons.push(b);
    return b;
  }

  function mockSection(job) {
    if (!job.accepted || job.status !== "pending") return null;
    const s = state(job.uid);
    s.mockEl = h("div", { class: "scq-mock-run" });
    s.mockJob = job;
    renderMock(job.uid);
    return h("div", { class: "scq-mock-section" }, h("div", { class: "scq-section-title" }, "Run on mock"), s.mockEl);
  }

  function renderMock(uid) {
    const s = state(uid);
    if (!s.mockEl) return;
    const job = s.mockJob;
    const run = (model.get("mock_runs") || {})[uid];
    clearTimeout(s.timer);
    const el = clear(s.mockEl);
    const running = run && run.state === "running";
    const button = h("button", { type: "button", class: "scq-btn scq-run-mock" + (running || s.asking ? " scq-busy" : ""), disabled: running || s.asking, "aria-busy": running || s.asking ? "true" : "false" }, running ? "Running on mock…" : run ? "Run on mock again" : "Run on mock");
    button.addEventListener("click", () => {
      s.asking = true;
      s.mockError = null;
      renderMock(uid);
      api.call("run_on_mock", { uid }).then((ack) => {
        s.asking = false;
        if (!ack.ok) s.mockError = ack.error;
        renderMock(uid);
      });
    });
    const sets = (job.datasets || []).map((d) => d.name).join(", ");
    el.append(button, " ", h("span", { class: "scq-muted" }, sets ? `Runs the code in the sandbox on the mocks of ${sets}; only you see the result, nothing is published.` : "Runs the code in the sandbox with no data; only you see the result, nothing is published."));
    if (s.mockError) el.append(h("div", { class: "scq-notice-error scq-mock-error", role: "alert" }, s.mockError));
    if (!run) return;
    if (running) {
      const waited = (Date.now() - Date.parse(run.started)) / 1000;
      if (waited > run.deadline) {
        el.append(h("div", { class: "scq-notice-error scq-mock-error", role: "alert" }, `No result after ${Math.round(waited)} s: the mock run did not answer; the kernel may have stopped. Re-run this cell to try again.`));
      } else {
        el.append(h("div", { class: "scq-muted", role: "status" }, `Started ${fmtTime(run.started)}; the result appears here.`));
        s.timer = setTimeout(() => renderMock(uid), (run.deadline - waited) * 1000 + 500);
      }
      return;
    }
    if (run.state === "error") return el.append(h("div", { class: "scq-notice-error scq-mock-error", role: "alert" }, run.error));
    append(el, [
      h("div", { class: "scq-mock-result" }, badge(run.state), run.exit_code !== null && run.exit_code !== undefined ? ` exit code ${run.exit_code}` : "", h("span", { class: "scq-muted" }, ` · finished ${fmtTime(run.finished)}`), run.error ? h("span", { class: "scq-warn" }, " · " + run.error) : null),
      h("div", { class: "scq-muted" }, "Log (last lines):"),
      h("pre", { class: "scq-log scq-mock-log", tabindex: "0", "aria-label": "The mock run's log" }, run.log_tail || "(no output)"),
      h("div", { class: "scq-muted" }, run.outputs.length ? "Outputs:" : "No output files."),
      h(
        "ul",
        { class: "scq-mock-outputs" },
        run.outputs.map((o) => h("li", { dataset: { path: o.path } }, h("span", { class: "scq-mono" }, o.path), h("span", { class: "scq-muted" }, " " + fmtSize(o.size)), o.type !== "none" ? h("div", { class: "scq-mock-preview" }, previewBody(o)) : null)),
      ),
      run.more_outputs ? h("div", { class: "scq-muted" }, `and ${run.more_outputs} more files`) : null,
    ]);
  }

  function renderMocks() {
    for (const uid of states.keys()) renderMock(uid);
  }

  function renderRules() {
    const list = model.get("trust_rules") || [];
    const error = model.get("trust_error");
    rulesTitle.textContent = `Trust rules (${list.length})`;
    clear(rulesList);
    if (error) rulesList.append(h("li", { class: "scq-notice-error" }, error));
    if (!list.length && !error) rulesList.append(h("li", { class: "scq-muted" }, "No trust rules. “Approve and trust” on a card adds one."));
    for (const r of list) {
      const revoke = h("button", { type: "button", class: "scq-btn scq-revoke", "aria-label": `Revoke trust rule ${r.id}` }, "Revoke");
      revoke.addEventListener("click", () => {
        revoke.disabled = true;
        api.call("revoke_trust", { rule_id: r.id }).then((ack) => {
          status.ack(ack);
          if (!ack.ok) revoke.disabled = false;
        });
      });
      rulesList.append(
        h(
          "li",
          { class: "scq-trust-rule" + (r.expired ? " scq-expired" : ""), dataset: { rule: r.id } },
          h("code", { class: "scq-mono" }, r.id),
          " the code of job ",
          h("code", { class: "scq-mono", title: r.source_uid || "" }, (r.source_uid || "").slice(0, 8)),
          r.source_name ? ` (${r.source_name})` : "",
          ` from ${r.requesters.join(", ")}`,
          r.datasets.length ? ` for ${r.datasets.join(", ")}` : "",
          r.variable_files.length ? h("span", { class: "scq-muted" }, ` · may differ: ${r.variable_files.join(", ")}`) : null,
          h("span", { class: r.expired ? "scq-warn" : "scq-muted" }, r.expired ? " · expired" : r.expires ? ` · expires ${fmtTime(r.expires)}` : " · never expires"),
          h("span", { class: "scq-muted" }, ` · by ${r.created_by || "?"} ${fmtTime(r.created_at)} `),
          revoke,
        ),
      );
    }
  }

  model.on("change:mock_runs", renderMocks);
  model.on("change:trust_rules", renderRules);
  model.on("change:trust_error", renderRules);
  renderRules();
  return {
    notification,
    rules,
    chips,
    body,
    trustButton,
    dispose() {
      for (const s of states.values()) clearTimeout(s.timer);
      notification.dispose();
      model.off("change:mock_runs", renderMocks);
      model.off("change:trust_rules", renderRules);
      model.off("change:trust_error", renderRules);
    },
  };
}

export default { render };
