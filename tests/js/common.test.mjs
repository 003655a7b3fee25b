// The widgets' pure helpers, as a reader of the table and the code viewer relies on them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { allStatuses, countBy, csvCheckRows, diffLines, fmtDuration, fmtShortTime, fmtSize, fmtStat, fmtTime, numberedLines, setStatuses, statusLabel, visibleTags } from "../../js/common.js";

test("a row shows two tags and counts the rest", () => {
  assert.deepEqual(visibleTags(["a", "b", "c", "d", "e"]), { shown: ["a", "b"], more: 3 });
  assert.deepEqual(visibleTags(["a"]), { shown: ["a"], more: 0 });
  assert.deepEqual(visibleTags(undefined), { shown: [], more: 0 });
});

test("code is numbered line by line; a final newline adds no empty line", () => {
  assert.deepEqual(numberedLines("#!/bin/bash\necho hi\n"), [
    { number: 1, text: "#!/bin/bash" },
    { number: 2, text: "echo hi" },
  ]);
  assert.deepEqual(numberedLines("a\n\nb"), [
    { number: 1, text: "a" },
    { number: 2, text: "" },
    { number: 3, text: "b" },
  ]);
  assert.deepEqual(numberedLines(""), [{ number: 1, text: "" }]);
});

test("a table's times are short, and longer the further away they are", () => {
  const now = new Date(2025, 5, 15, 12, 0, 0);
  assert.equal(fmtShortTime(new Date(2025, 5, 15, 9, 5, 7).toISOString(), now), "09:05:07");
  assert.equal(fmtShortTime(new Date(2025, 2, 4, 18, 30, 0).toISOString(), now), "Mar 4 18:30");
  assert.equal(fmtShortTime(new Date(2023, 11, 31, 23, 0, 0).toISOString(), now), "2023-12-31");
  assert.equal(fmtTime(new Date(2025, 2, 4, 18, 30, 5).toISOString(), now), "2025-03-04 18:30:05");
  assert.equal(fmtShortTime(null, now), "");
  assert.equal(fmtShortTime("not a date", now), "");
});

test("durations and sizes read naturally", () => {
  assert.equal(fmtDuration(3.4), "3.4s");
  assert.equal(fmtDuration(75), "1m 15s");
  assert.equal(fmtDuration(3 * 3600 + 120), "3h 02m");
  assert.equal(fmtDuration(null), "");
  assert.equal(fmtSize(512), "512 B");
  assert.equal(fmtSize(2048), "2.0 KB");
});

test("a bulk decision is summed up per requester, the busiest first", () => {
  const jobs = [{ by: "bob" }, { by: "alice" }, { by: "bob" }, { by: "carol" }, { by: "alice" }, { by: "bob" }];
  assert.deepEqual(countBy(jobs, (j) => j.by), [["bob", 3], ["alice", 2], ["carol", 1]]);
  assert.deepEqual(countBy([], (j) => j.by), []);
});

test("a CSV's column checks read as a checker reads them, unrounded counts flagged", () => {
  const columns = [
    { name: "region", numeric: false, integers: false, min: null, max: null, min_nonzero: null, multiples_of_5: null },
    { name: "count", numeric: true, integers: true, min: 0, max: 40, min_nonzero: 35, multiples_of_5: true },
    { name: "raw", numeric: true, integers: true, min: 3, max: 1501, min_nonzero: 3, multiples_of_5: false },
    { name: "mean", numeric: true, integers: false, min: -1.23456789, max: 2.5, min_nonzero: 0.1, multiples_of_5: null },
  ];
  const rows = csvCheckRows(columns);
  assert.deepEqual(rows.map((r) => r.label), ["min", "max", "min non-zero", "multiples of 5"]);
  assert.deepEqual(rows.map((r) => r.cells.map((c) => c.text)), [
    ["—", "0", "3", "-1.23457"],
    ["—", "40", "1501", "2.5"],
    ["—", "35", "3", "0.1"],
    ["—", "yes", "no", "—"],
  ]);
  assert.deepEqual(rows[3].cells.map((c) => c.warn), [false, false, true, false]);
  assert.deepEqual(rows.slice(0, 3).flatMap((r) => r.cells.map((c) => c.warn)), Array(12).fill(false));
  assert.deepEqual(csvCheckRows(undefined).map((r) => r.cells), [[], [], [], []]);
});

test("a number JSON cannot carry arrives as text and is shown as it came", () => {
  assert.equal(fmtStat("inf"), "inf");
  assert.equal(fmtStat(null), "—");
  assert.equal(fmtStat(5), "5");
  assert.equal(fmtStat(1e21), "1e+21");
});

test("statuses and their labels are the ones Python sends, in its order", () => {
  setStatuses([
    { value: "pending", label: "pending" },
    { value: "awaiting_release", label: "ran, waiting for the owner's release" },
  ]);
  assert.deepEqual(allStatuses(), ["pending", "awaiting_release"]);
  assert.equal(statusLabel("awaiting_release"), "ran, waiting for the owner's release");
  assert.equal(statusLabel("unknown_status"), "unknown_status", "a status from a newer server reads as its name");
  setStatuses(undefined);
  assert.deepEqual(allStatuses(), []);
});

test("a diff's lines are told apart: added, removed, context, hunks and notes, without the file names", () => {
  const diff = "--- a/1a2b/analysis.py\n+++ b/3c4d/analysis.py\n@@ -1,2 +1,2 @@\n rows = [3, 4]\n-print(rows)\n+print(sum(rows))\n--- a removed line of dashes\n\\ No newline at end of file\n";
  assert.deepEqual(diffLines(diff), [
    { kind: "hunk", text: "@@ -1,2 +1,2 @@" },
    { kind: "context", text: " rows = [3, 4]" },
    { kind: "removed", text: "-print(rows)" },
    { kind: "added", text: "+print(sum(rows))" },
    { kind: "removed", text: "--- a removed line of dashes" },
    { kind: "note", text: "\\ No newline at end of file" },
  ]);
  assert.deepEqual(diffLines(""), []);
});
