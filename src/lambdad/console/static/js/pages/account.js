// The account page: the region's limits and usage (GetAccountSettings) and each
// function's share of concurrency.

import { seg } from "../api.js";
import { facts, fill, formatBytes, h, table } from "../ui.js";

export async function renderAccount(app, api, current) {
  fill(app, h("p", { class: "muted" }, "Loading the account…"));
  const [settings, functions] = await Promise.all([
    api.lambda("GET", "/2016-08-19/account-settings/"),
    api.listAll("/2015-03-31/functions/", "Functions"),
  ]);
  const reserved = await Promise.all(functions.map(async (fn) => {
    const answer = await api.lambda("GET", `/2019-09-30/functions/${seg(fn.FunctionName)}/concurrency`);
    return { name: fn.FunctionName, reserved: answer.ReservedConcurrentExecutions };
  }));
  if (!current()) return;
  const limit = settings.AccountLimit || {};
  const usage = settings.AccountUsage || {};
  const figures = [
    ["Concurrent executions (limit)", limit.ConcurrentExecutions],
    ["Unreserved concurrency", limit.UnreservedConcurrentExecutions],
    ["Functions", usage.FunctionCount],
    ["Code stored", formatBytes(usage.TotalCodeSize)],
    ["Code storage limit", formatBytes(limit.TotalCodeSize)],
    ["Zipped code size limit", formatBytes(limit.CodeSizeZipped)],
    ["Unzipped code size limit", formatBytes(limit.CodeSizeUnzipped)],
  ];
  fill(app,
    h("div", { class: "page-head" }, h("h1", {}, "Account"), h("span", { class: "muted" }, api.session.region)),
    h("div", { class: "columns" },
      h("div", { class: "card" },
        h("h2", {}, "Limits and usage"),
        facts(figures, { class: "stacked", id: "account-facts" })),
      h("div", { class: "card" },
        h("h2", {}, "Reserved concurrency"),
        table([
          { title: "Function", cell: (r) => h("a", { href: `#/functions/${seg(r.name)}/concurrency` }, r.name) },
          { title: "Reserved", cell: (r) => r.reserved ?? "unreserved" },
        ], reserved.filter((r) => r.reserved !== undefined), "No function reserves concurrency."))));
}
