// The Monitor tab: the function's CloudWatch metrics (AWS/Lambda) as charts over a
// chosen window: invocations and errors, throttles, duration, concurrency.

import { fill, h, notice } from "../ui.js";
import { lineChart } from "../charts.js";
import { getMetricData, metricsMissing, periodFor, zeroFilled } from "../metrics.js";
import { tracesCard } from "../traces.js";

const WINDOWS = [["1h", 3600e3], ["3h", 3 * 3600e3], ["12h", 12 * 3600e3], ["1d", 24 * 3600e3], ["1w", 7 * 24 * 3600e3]];
const BLUE = "#1f6feb", RED = "#c62828", ORANGE = "#d97706", GREEN = "#1a7f37", PURPLE = "#7c3aed";

const QUERIES = [
  { id: "invocations", metric: "Invocations", stat: "Sum", sum: true },
  { id: "errors", metric: "Errors", stat: "Sum", sum: true },
  { id: "throttles", metric: "Throttles", stat: "Sum", sum: true },
  { id: "durAvg", metric: "Duration", stat: "Average" },
  { id: "durP99", metric: "Duration", stat: "p99" },
  { id: "durMax", metric: "Duration", stat: "Maximum" },
  { id: "concurrency", metric: "ConcurrentExecutions", stat: "Maximum" },
];

function total(points) {
  return points.reduce((n, p) => n + p.v, 0);
}

export async function renderMonitor(panel, api, fn, { current }) {
  const name = fn.Configuration.FunctionName;
  const windowSelect = h("select", { id: "monitor-window" }, WINDOWS.map(([label]) => h("option", { value: label }, `Last ${label}`)));
  windowSelect.value = "3h";
  const qualifier = h("input", { id: "monitor-qualifier", placeholder: "alias (optional)", spellcheck: "false" });
  const refresh = h("button", { id: "monitor-refresh" }, "Refresh");
  const charts = h("div", { class: "chart-grid", id: "monitor-charts" }, h("p", { class: "muted" }, "Loading metrics…"));

  const draw = async () => {
    const windowMs = WINDOWS.find(([label]) => label === windowSelect.value)[1];
    const end = Date.now();
    const start = end - windowMs;
    const period = periodFor(windowMs);
    const dimensions = qualifier.value.trim()
      ? { FunctionName: name, Resource: `${name}:${qualifier.value.trim()}` }
      : { FunctionName: name };
    let data;
    try {
      data = await getMetricData(api, QUERIES.map((q) => ({ ...q, dimensions })), start, end, period);
    } catch (error) {
      if (!current()) return;
      fill(charts, notice(metricsMissing(error) ? "info" : "error", metricsMissing(error)
        ? "This server does not offer CloudWatch metrics."
        : `${error.name}: ${error.message}`));
      return;
    }
    if (!current()) return;
    const series = (id) => {
      const q = QUERIES.find((x) => x.id === id);
      const points = data.get(id) || [];
      return q.sum ? zeroFilled(points, start, end, period) : points;
    };
    const invocations = series("invocations");
    const errors = series("errors");
    const throttles = series("throttles");
    const concurrency = series("concurrency");
    const peak = (points) => (points.length ? Math.max(...points.map((p) => p.v)) : "");
    const ms = (points) => (points.length ? `${Math.max(...points.map((p) => p.v)).toFixed(1)} ms peak` : "");
    fill(charts,
      lineChart({ id: "chart-invocations", title: "Invocations and errors", start, end, series: [
        { label: "Invocations", color: BLUE, points: invocations, summary: total(invocations) },
        { label: "Errors", color: RED, points: errors, summary: total(errors) },
      ] }),
      lineChart({ id: "chart-throttles", title: "Throttles", start, end, series: [
        { label: "Throttles", color: ORANGE, points: throttles, summary: total(throttles) },
      ] }),
      lineChart({ id: "chart-duration", title: "Duration", unit: "ms", start, end, series: [
        { label: "Average", color: GREEN, points: series("durAvg"), summary: ms(series("durAvg")) },
        { label: "p99", color: PURPLE, points: series("durP99"), summary: ms(series("durP99")) },
        { label: "Maximum", color: RED, points: series("durMax"), summary: ms(series("durMax")) },
      ] }),
      lineChart({ id: "chart-concurrency", title: "Concurrent executions", start, end, series: [
        { label: "Maximum", color: BLUE, points: concurrency, summary: peak(concurrency) },
      ] }),
      h("p", { class: "muted small" }, `One point per ${period / 60} min.`));
  };
  windowSelect.addEventListener("change", draw);
  qualifier.addEventListener("change", draw);
  refresh.addEventListener("click", draw);
  const traces = h("div", { id: "traces-slot" });
  fill(panel, h("div", { class: "toolbar" }, windowSelect, qualifier, refresh), charts, traces);
  const mode = (fn.Configuration.TracingConfig || {}).Mode || "PassThrough";
  const [, card] = await Promise.all([draw(), tracesCard(api, name, mode)]);
  if (current()) fill(traces, card);
}
