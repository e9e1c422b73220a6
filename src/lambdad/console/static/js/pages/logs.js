// The Logs tab: the function's log group through CloudWatch Logs' API —
// FilterLogEvents with CloudWatch's filter patterns (terms, "phrases", ?alternatives,
// -exclusions, { $.json = "patterns" }) over a time range or one stream, and a
// live tail that keeps asking for what came after the newest event shown.

import { busy, describeError, fill, formatTime, h, notice } from "../ui.js";

const TARGET = "Logs_20140328.";
const SHOWN = 1000;
const MAX_PAGES = 20;
const TAIL_EVERY_MS = 1000;
const RANGES = [["15m", 15 * 60e3], ["1h", 3600e3], ["12h", 12 * 3600e3], ["1d", 24 * 3600e3], ["1w", 7 * 24 * 3600e3], ["all", 0]];

function logs(api, operation, body) {
  return api.rpc("logs", TARGET + operation, body);
}

/** The function's log group: its LoggingConfig's, else /aws/lambda/NAME. */
export function logGroupOf(config) {
  return (config.LoggingConfig && config.LoggingConfig.LogGroup) || `/aws/lambda/${config.FunctionName}`;
}

/** Events matching `request` from `startTime` on, oldest first, the newest SHOWN kept. */
async function filterEvents(api, request) {
  const events = [];
  let token;
  let truncated = false;
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await logs(api, "FilterLogEvents", { ...request, limit: SHOWN, ...(token ? { nextToken: token } : {}) });
    events.push(...(answer.events || []));
    if (events.length > SHOWN) {
      events.splice(0, events.length - SHOWN);
      truncated = true;
    }
    token = answer.nextToken;
    if (!token) break;
  }
  return { events, truncated: truncated || Boolean(token) };
}

export async function renderLogs(panel, api, fn, { current }) {
  const group = logGroupOf(fn.Configuration);
  const pattern = h("input", { type: "search", id: "log-search", placeholder: 'Filter pattern: ERROR, "a phrase", ?a ?b, -skip, { $.level = "ERROR" }', spellcheck: "false" });
  const range = h("select", { id: "log-range" }, RANGES.map(([label]) => h("option", { value: label }, label === "all" ? "All time" : `Last ${label}`)));
  range.value = "1d";
  const stream = h("select", { id: "log-stream" }, h("option", { value: "" }, "All streams"));
  const search = h("button", { class: "primary", id: "search-logs" }, "Search");
  const live = h("button", { id: "live-tail" }, "Start live tail");
  const status = h("div", { class: "status", id: "logs-status" });
  const list = h("div", { class: "log-list", id: "log-events" });
  let shown = [];
  let seen = new Set();
  let tailing = false;

  const request = () => {
    const body = { logGroupName: group };
    if (pattern.value.trim()) body.filterPattern = pattern.value.trim();
    if (stream.value) body.logStreamNames = [stream.value];
    const span = RANGES.find(([label]) => label === range.value)[1];
    if (span) body.startTime = Date.now() - span;
    return body;
  };
  // Newest at the bottom, scrolled into view (after a search, and as the tail adds).
  const draw = () => {
    fill(list, shown.length ? shown.map((e) => h("div", { class: "log-event" },
      h("span", { class: "log-time", title: e.logStreamName }, formatTime(e.timestamp)),
      h("pre", { class: "log-message" }, e.message.replace(/\n$/, "")))) :
      h("p", { class: "muted" }, "No log events match."));
    list.scrollTop = list.scrollHeight;
  };
  const add = (events) => {
    const fresh = events.filter((e) => !seen.has(e.eventId));
    for (const e of fresh) seen.add(e.eventId);
    shown = [...shown, ...fresh].sort((a, b) => a.timestamp - b.timestamp).slice(-SHOWN);
    return fresh.length;
  };
  const run = async () => {
    const found = await filterEvents(api, request());
    if (!current()) return;
    shown = [];
    seen = new Set();
    add(found.events);
    fill(status, found.truncated ? notice("info", `Showing the newest ${SHOWN} matching events: narrow the time range or the pattern to see the rest.`) : null);
    draw();
  };
  const tail = async () => {
    while (tailing && current() && document.body.contains(list)) {
      const since = shown.length ? shown[shown.length - 1].timestamp : Date.now() - 60e3;
      try {
        const found = await filterEvents(api, { ...request(), startTime: since });
        if (add(found.events)) draw();
      } catch (error) {
        fill(status, notice("error", `Live tail stopped: ${describeError(error)}`));
        tailing = false;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, TAIL_EVERY_MS));
    }
    live.textContent = "Start live tail";
  };
  search.addEventListener("click", () => busy(search, status, run));
  pattern.addEventListener("keydown", (event) => {
    if (event.key === "Enter") search.click();
  });
  range.addEventListener("change", () => search.click());
  stream.addEventListener("change", () => search.click());
  live.addEventListener("click", () => {
    tailing = !tailing;
    live.textContent = tailing ? "Stop live tail" : "Start live tail";
    fill(status, tailing ? notice("info", "Following new events…") : null);
    if (tailing) tail();
  });

  const streams = await logs(api, "DescribeLogStreams", { logGroupName: group, orderBy: "LastEventTime", descending: true, limit: 50 })
    .catch((error) => (error.name === "ResourceNotFoundException" ? { logStreams: [] } : Promise.reject(error)));
  if (!current()) return;
  for (const s of streams.logStreams || []) {
    stream.append(h("option", { value: s.logStreamName }, `${s.logStreamName} (${formatTime(s.lastEventTimestamp || s.creationTime)})`));
  }
  fill(panel,
    h("div", { class: "toolbar" }, pattern, range, stream, search, live),
    h("p", { class: "muted small mono" }, group),
    status,
    list);
  await run().catch((error) => {
    fill(status, notice(error.name === "ResourceNotFoundException" ? "info" : "error",
      error.name === "ResourceNotFoundException" ? "No log group yet: invoke the function." : describeError(error)));
  });
}
