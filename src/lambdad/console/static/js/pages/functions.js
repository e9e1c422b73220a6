// The function list: every function of the region with its runtime, memory, code
// size and last change (and its recent invocations and errors where metrics exist).

import { seg } from "../api.js";
import { formatBytes, formatTime, h, fill, table } from "../ui.js";
import { createFunctionCard } from "./create.js";
import { sparkline } from "../charts.js";
import { getMetricData, metricsMissing, zeroFilled } from "../metrics.js";

const SPARK_WINDOW_MS = 3 * 3600e3;
const SPARK_PERIOD_S = 300;

/** Fills each function's cell with its invocations and errors of the last 3 hours. */
async function loadSparklines(api, names, cells, current) {
  if (!names.length) return;
  const end = Date.now();
  const start = end - SPARK_WINDOW_MS;
  const queries = names.flatMap((name, i) => [
    { id: `i${i}`, metric: "Invocations", stat: "Sum", dimensions: { FunctionName: name } },
    { id: `e${i}`, metric: "Errors", stat: "Sum", dimensions: { FunctionName: name } },
  ]);
  let data;
  try {
    data = await getMetricData(api, queries, start, end, SPARK_PERIOD_S);
  } catch (error) {
    const why = metricsMissing(error) ? "This server does not offer CloudWatch metrics." : `${error.name}: ${error.message}`;
    for (const cell of cells.values()) {
      cell.textContent = "–";
      cell.title = why;
    }
    return;
  }
  if (!current()) return;
  names.forEach((name, i) => {
    const invocations = zeroFilled(data.get(`i${i}`) || [], start, end, SPARK_PERIOD_S);
    const errors = zeroFilled(data.get(`e${i}`) || [], start, end, SPARK_PERIOD_S);
    const sum = (points) => points.reduce((n, p) => n + p.v, 0);
    const title = `${sum(invocations)} invocations, ${sum(errors)} errors in the last 3 hours`;
    const cell = cells.get(name);
    fill(cell, sparkline([
      { points: invocations, color: "#1f6feb" },
      { points: errors, color: "#c62828" },
    ], start, end, title), h("span", { class: "spark-figures" }, `${sum(invocations)} · ${sum(errors)}`));
  });
}

export async function renderFunctionList(app, api, current, serverSettings) {
  fill(app, h("p", { class: "muted" }, "Loading functions…"));
  const functions = await api.listAll("/2015-03-31/functions/", "Functions");
  if (!current()) return;
  functions.sort((a, b) => a.FunctionName.localeCompare(b.FunctionName));
  const filter = h("input", { type: "search", id: "function-filter", placeholder: "Filter by name", spellcheck: "false" });
  const sparkCells = new Map();
  const spark = (fn) => {
    const cell = sparkCells.get(fn.FunctionName) || h("span", { class: "spark" }, "…");
    sparkCells.set(fn.FunctionName, cell);
    return cell;
  };
  const columns = [
    { title: "Function", cell: (fn) => h("a", { href: `#/functions/${seg(fn.FunctionName)}`, class: "function-link" }, fn.FunctionName) },
    { title: "Runtime", cell: (fn) => fn.Runtime || fn.PackageType },
    { title: "Architecture", cell: (fn) => (fn.Architectures || ["x86_64"]).join(", ") },
    { title: "Memory", cell: (fn) => `${fn.MemorySize} MB` },
    { title: "Code size", cell: (fn) => formatBytes(fn.CodeSize) },
    { title: "Last modified", cell: (fn) => formatTime(fn.LastModified) },
    { title: "Invocations · errors (3 h)", cell: spark },
  ];
  const body = h("div", { id: "function-table" }, table(columns, functions, "No functions in this region yet."));
  filter.addEventListener("input", () => {
    const term = filter.value.trim().toLowerCase();
    const shown = functions.filter((fn) => fn.FunctionName.toLowerCase().includes(term));
    fill(body, table(columns, shown, "No function matches."));
  });
  const createSlot = h("div");
  const openCreate = h("button", { class: "primary", id: "open-create", onclick: () => {
    fill(createSlot, createSlot.childElementCount ? null : createFunctionCard(api, serverSettings.accountId || "000000000000"));
  } }, "Create function");
  fill(app,
    h("div", { class: "page-head" },
      h("h1", {}, "Functions"),
      h("span", { class: "muted" }, `${functions.length} in ${api.session.region}`)),
    h("div", { class: "toolbar" }, filter, openCreate),
    createSlot,
    body);
  loadSparklines(api, functions.map((fn) => fn.FunctionName), sparkCells, current);
}
