// The function list: every function of the region with its runtime, memory, code
// size and last change (and its recent invocations and errors where metrics exist).

import { seg } from "../api.js";
import { formatBytes, formatTime, h, fill, table } from "../ui.js";
import { createFunctionCard } from "./create.js";

export async function renderFunctionList(app, api, current, serverSettings) {
  fill(app, h("p", { class: "muted" }, "Loading functions…"));
  const functions = await api.listAll("/2015-03-31/functions/", "Functions");
  if (!current()) return;
  functions.sort((a, b) => a.FunctionName.localeCompare(b.FunctionName));
  const filter = h("input", { type: "search", id: "function-filter", placeholder: "Filter by name", spellcheck: "false" });
  const columns = [
    { title: "Function", cell: (fn) => h("a", { href: `#/functions/${seg(fn.FunctionName)}`, class: "function-link" }, fn.FunctionName) },
    { title: "Runtime", cell: (fn) => fn.Runtime || fn.PackageType },
    { title: "Architecture", cell: (fn) => (fn.Architectures || ["x86_64"]).join(", ") },
    { title: "Memory", cell: (fn) => `${fn.MemorySize} MB` },
    { title: "Code size", cell: (fn) => formatBytes(fn.CodeSize) },
    { title: "Last modified", cell: (fn) => formatTime(fn.LastModified) },
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
}
