// X-Ray traces of a function: recent trace summaries (GetTraceSummaries) and one
// trace's segments as a waterfall (BatchGetTraces), over X-Ray's REST JSON API.

import { describeError, fill, formatTime, h, notice, table } from "./ui.js";
import { metricsMissing } from "./metrics.js";

const WINDOW_S = 3600;
const MAX_PAGES = 10;

async function xray(api, path, body) {
  const response = await api.send({
    service: "xray",
    method: "POST",
    path,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return JSON.parse(new TextDecoder().decode(response.bytes) || "{}");
}

/** The last hour's trace summaries whose entry point or services name the function. */
export async function recentTraces(api, name) {
  const end = Date.now() / 1000;
  const found = [];
  let token;
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await xray(api, "/TraceSummaries", {
      StartTime: end - WINDOW_S,
      EndTime: end,
      Sampling: false,
      ...(token ? { NextToken: token } : {}),
    });
    for (const summary of answer.TraceSummaries || []) {
      const names = [(summary.EntryPoint || {}).Name, ...(summary.ServiceIds || []).map((s) => s.Name)];
      if (names.includes(name)) found.push(summary);
    }
    token = answer.NextToken;
    if (!token) break;
  }
  return found.sort((a, b) => (b.StartTime || 0) - (a.StartTime || 0));
}

/** Segments and their subsegments, flattened with their depth, in start order. */
export function spans(trace) {
  const rows = [];
  const walk = (doc, depth) => {
    rows.push({ name: doc.name, start: doc.start_time, end: doc.end_time ?? doc.start_time, depth, error: doc.error || doc.fault, origin: doc.origin });
    for (const sub of (doc.subsegments || []).slice().sort((a, b) => a.start_time - b.start_time)) walk(sub, depth + 1);
  };
  const docs = (trace.Segments || []).map((s) => JSON.parse(s.Document)).sort((a, b) => a.start_time - b.start_time);
  const ids = new Set(docs.map((d) => d.id));
  // Roots first (segments whose parent is not in this trace), each followed by its children.
  const children = new Map();
  for (const doc of docs) {
    const parent = doc.parent_id && ids.has(doc.parent_id) ? doc.parent_id : null;
    children.set(parent, [...(children.get(parent) || []), doc]);
  }
  const visit = (parent, depth) => {
    for (const doc of children.get(parent) || []) {
      walk(doc, depth);
      visit(doc.id, depth + 1);
    }
  };
  visit(null, 0);
  return rows;
}

function waterfall(trace) {
  const rows = spans(trace);
  if (!rows.length) return h("p", { class: "muted" }, "This trace has no segments.");
  const start = Math.min(...rows.map((r) => r.start));
  const end = Math.max(...rows.map((r) => r.end));
  const span = Math.max(end - start, 1e-6);
  return h("div", { class: "waterfall", id: "trace-waterfall" }, rows.map((r) => {
    const bar = h("div", { class: r.error ? "bar error" : "bar" });
    bar.style.marginLeft = `${((r.start - start) / span) * 100}%`;
    bar.style.width = `${Math.max(((r.end - r.start) / span) * 100, 0.5)}%`;
    const label = h("div", { class: "span-name" }, r.name);
    label.style.paddingLeft = `${r.depth * 1}rem`;
    return h("div", { class: "span-row" },
      label,
      h("div", { class: "span-track" }, bar),
      h("div", { class: "span-ms" }, `${((r.end - r.start) * 1000).toFixed(1)} ms`));
  }));
}

/** A card listing the function's recent traces; a click shows one's waterfall. */
export async function tracesCard(api, name, tracingMode) {
  const detail = h("div", { id: "trace-detail" });
  let summaries;
  try {
    summaries = await recentTraces(api, name);
  } catch (error) {
    return h("div", { class: "card" }, h("h2", {}, "Traces"), notice(metricsMissing(error) ? "info" : "error",
      metricsMissing(error) ? "This server does not record traces." : describeError(error)));
  }
  const open = async (summary) => {
    fill(detail, h("p", { class: "muted" }, "Loading the trace…"));
    try {
      const answer = await xray(api, "/Traces", { TraceIds: [summary.Id] });
      const trace = (answer.Traces || [])[0];
      fill(detail, h("h3", {}, `Trace ${summary.Id}`), trace ? waterfall(trace) : notice("info", "The trace is no longer available."));
    } catch (error) {
      fill(detail, notice("error", describeError(error)));
    }
  };
  return h("div", { class: "card", id: "traces" },
    h("h2", {}, "Traces (last hour)"),
    tracingMode !== "Active" ? h("p", { class: "muted" }, "Tracing is PassThrough: traces are recorded only for requests that arrive sampled. Set Tracing to Active in Configuration to trace every invocation.") : null,
    table([
      { title: "Trace", cell: (s) => h("button", { class: "link mono small trace-link", onclick: () => open(s) }, s.Id) },
      { title: "Started", cell: (s) => (s.StartTime ? formatTime(s.StartTime * 1000) : "-") },
      { title: "Duration", cell: (s) => `${((s.Duration || 0) * 1000).toFixed(1)} ms` },
      { title: "Status", cell: (s) => (s.HasFault ? "fault" : s.HasError ? "error" : s.HasThrottle ? "throttled" : "ok") },
    ], summaries.slice(0, 50), "No traces in the last hour."),
    detail);
}
