// The account page: the region's limits and usage (GetAccountSettings), concurrency
// in use and throttles (CloudWatch's account-wide AWS/Lambda metrics), and what the
// workload would cost on AWS (Cost Explorer's GetCostAndUsage).

import { seg } from "../api.js";
import { lineChart } from "../charts.js";
import { getMetricData, metricsMissing, zeroFilled } from "../metrics.js";
import { describeError, facts, fill, formatBytes, h, notice, table } from "../ui.js";

const WINDOW_MS = 3 * 3600e3;
const PERIOD_S = 60;

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function money(metric) {
  if (!metric) return "-";
  const amount = Number(metric.Amount);
  return `${amount.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: amount < 1 ? 6 : 2 })} ${metric.Unit}`;
}

async function concurrencyPanel(api, current) {
  const end = Date.now();
  const start = end - WINDOW_MS;
  let data;
  try {
    data = await getMetricData(api, [
      { id: "concurrent", metric: "ConcurrentExecutions", stat: "Maximum" },
      { id: "unreserved", metric: "UnreservedConcurrentExecutions", stat: "Maximum" },
      { id: "throttles", metric: "Throttles", stat: "Sum" },
    ], start, end, PERIOD_S);
  } catch (error) {
    return notice(metricsMissing(error) ? "info" : "error", metricsMissing(error)
      ? "This server does not offer CloudWatch metrics."
      : describeError(error));
  }
  if (!current()) return null;
  const concurrent = data.get("concurrent") || [];
  const throttles = zeroFilled(data.get("throttles") || [], start, end, PERIOD_S);
  const latest = concurrent.length ? concurrent[concurrent.length - 1].v : 0;
  const peak = concurrent.length ? Math.max(...concurrent.map((p) => p.v)) : 0;
  const throttled = throttles.reduce((n, p) => n + p.v, 0);
  return h("div", {},
    facts([["In use (last minute)", latest], ["Peak (3 h)", peak], ["Throttles (3 h)", throttled]], { id: "account-concurrency" }),
    h("div", { class: "chart-grid" },
      lineChart({ id: "chart-account-concurrency", title: "Concurrent executions", start, end, series: [
        { label: "All functions", color: "#1f6feb", points: concurrent, summary: peak },
        { label: "Unreserved", color: "#7c3aed", points: data.get("unreserved") || [] },
      ] }),
      lineChart({ id: "chart-account-throttles", title: "Throttles", start, end, series: [
        { label: "Throttles", color: "#d97706", points: throttles, summary: throttled },
      ] })));
}

async function costPanel(api, current) {
  const today = new Date();
  const monthStart = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1));
  const tomorrow = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + 1));
  const fortnightAgo = new Date(tomorrow.getTime() - 14 * 86400e3);
  let byType, byFunction;
  try {
    [byType, byFunction] = await Promise.all([
      api.rpc("ce", "AWSInsightsIndexService.GetCostAndUsage", {
        TimePeriod: { Start: isoDay(monthStart), End: isoDay(tomorrow) },
        Granularity: "MONTHLY",
        Metrics: ["UnblendedCost", "UsageQuantity"],
        GroupBy: [{ Type: "DIMENSION", Key: "USAGE_TYPE" }],
      }),
      api.rpc("ce", "AWSInsightsIndexService.GetCostAndUsageWithResources", {
        TimePeriod: { Start: isoDay(fortnightAgo), End: isoDay(tomorrow) },
        Granularity: "MONTHLY",
        Metrics: ["UnblendedCost"],
        Filter: { Dimensions: { Key: "SERVICE", Values: ["AWS Lambda"] } },
        GroupBy: [{ Type: "DIMENSION", Key: "RESOURCE_ID" }],
      }),
    ]);
  } catch (error) {
    return notice(metricsMissing(error) ? "info" : "error", metricsMissing(error)
      ? "This server does not offer cost reports."
      : describeError(error));
  }
  if (!current()) return null;
  const month = (byType.ResultsByTime || [])[0] || { Total: {}, Groups: [] };
  const typeGroups = month.Groups || [];
  const totalCost = typeGroups.reduce((n, g) => n + Number(g.Metrics.UnblendedCost.Amount), 0);
  const unit = typeGroups.length ? typeGroups[0].Metrics.UnblendedCost.Unit : "USD";
  const perFunction = new Map();
  for (const period of byFunction.ResultsByTime || []) {
    for (const group of period.Groups || []) {
      const arn = group.Keys[0];
      perFunction.set(arn, (perFunction.get(arn) || 0) + Number(group.Metrics.UnblendedCost.Amount));
    }
  }
  const functionRows = [...perFunction.entries()].sort((a, b) => b[1] - a[1]);
  return h("div", { id: "account-cost" },
    facts([
      ["Month to date", money({ Amount: totalCost, Unit: unit })],
      ["Period", `${isoDay(monthStart)} – ${isoDay(today)}${month.Estimated ? " (estimated)" : ""}`],
    ]),
    h("h3", {}, "By usage type (month to date)"),
    h("div", { id: "account-cost-types" }, table([
      { title: "Usage type", cell: (g) => g.Keys[0] },
      { title: "Quantity", cell: (g) => `${Number(g.Metrics.UsageQuantity.Amount).toLocaleString(undefined, { maximumFractionDigits: 6 })} ${g.Metrics.UsageQuantity.Unit}` },
      { title: "Cost", cell: (g) => money(g.Metrics.UnblendedCost) },
    ], typeGroups, "No usage this month.")),
    h("h3", {}, "By function (last 14 days)"),
    h("div", { id: "account-cost-functions" }, table([
      { title: "Function", cell: ([arn]) => {
        const name = arn.split(":")[6] || arn;
        return h("a", { href: `#/functions/${seg(name)}/monitor` }, name);
      } },
      { title: "Cost", cell: ([, amount]) => money({ Amount: amount, Unit: unit }) },
    ], functionRows, "No function used anything in the last 14 days.")),
    h("p", { class: "muted small" }, "What this workload would cost on AWS Lambda at its published prices, free tier applied."));
}

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
  const concurrencySlot = h("div", { class: "card" }, h("h2", {}, "Concurrency and throttles"), h("p", { class: "muted" }, "Loading metrics…"));
  const costSlot = h("div", { class: "card" }, h("h2", {}, "Cost"), h("p", { class: "muted" }, "Loading the bill…"));
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
        ], reserved.filter((r) => r.reserved !== undefined), "No function reserves concurrency."))),
    concurrencySlot,
    costSlot);
  const [concurrency, cost] = await Promise.all([concurrencyPanel(api, current), costPanel(api, current)]);
  if (!current()) return;
  fill(concurrencySlot, h("h2", {}, "Concurrency and throttles"), concurrency);
  fill(costSlot, h("h2", {}, "Cost"), cost);
}
