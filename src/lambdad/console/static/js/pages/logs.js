// The Logs tab: the function's recent log events, a search over them, and a live
// tail that follows new events as they are written.

import { seg } from "../api.js";
import { busy, fill, formatTime, h, notice } from "../ui.js";

const PAGE = 500;
const TAIL_EVERY_MS = 1000;

/** lambdad's own log endpoint: events after an id (or the last `limit` with tail). */
function readLogs(api, name, { after, tail, limit = PAGE }) {
  const query = [["limit", String(limit)]];
  if (tail) query.push(["tail", "1"]);
  if (after) query.push(["after", String(after)]);
  return api.lambda("GET", `/_lambdad/functions/${seg(name)}/logs`, { query });
}

/** Whether a message matches a filter: every term present, `-term` absent, "quoted phrases". */
export function matches(message, filter) {
  const terms = filter.match(/-?"[^"]*"|\S+/g) || [];
  const text = message.toLowerCase();
  return terms.every((term) => {
    const negated = term.startsWith("-");
    const bare = (negated ? term.slice(1) : term).replace(/^"|"$/g, "").toLowerCase();
    return bare === "" || text.includes(bare) !== negated;
  });
}

export async function renderLogs(panel, api, fn, { current }) {
  const name = fn.Configuration.FunctionName;
  const events = [];
  let after = 0;
  let group = "";
  const search = h("input", { type: "search", id: "log-search", placeholder: "Filter: terms, \"a phrase\", -exclude", spellcheck: "false" });
  const list = h("div", { class: "log-list", id: "log-events" });
  const status = h("div", { class: "status" });
  const live = h("button", { id: "live-tail" }, "Start live tail");
  const refresh = h("button", { id: "refresh-logs" }, "Refresh");
  let tailing = false;

  const show = () => {
    const filter = search.value.trim();
    const shown = filter ? events.filter((e) => matches(e.message, filter)) : events;
    fill(list, shown.length ? shown.map((e) => h("div", { class: "log-event" },
      h("span", { class: "log-time", title: e.logStreamName }, formatTime(e.timestamp)),
      h("pre", { class: "log-message" }, e.message.replace(/\n$/, "")))) :
      h("p", { class: "muted" }, events.length ? "No event matches the filter." : "No log events yet: invoke the function."));
    if (tailing) list.scrollTop = list.scrollHeight;
  };
  const load = async (first) => {
    const answer = await readLogs(api, name, first ? { tail: true } : { after });
    group = answer.logGroupName;
    events.push(...answer.events);
    if (events.length > 5000) events.splice(0, events.length - 5000);
    after = answer.nextAfter || after;
    return answer.events.length;
  };
  const tail = async () => {
    while (tailing && current() && document.body.contains(list)) {
      try {
        if (await load(false)) show();
      } catch (error) {
        fill(status, notice("error", `Live tail stopped: ${error.name}: ${error.message}`));
        tailing = false;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, TAIL_EVERY_MS));
    }
    live.textContent = "Start live tail";
  };
  live.addEventListener("click", () => {
    tailing = !tailing;
    live.textContent = tailing ? "Stop live tail" : "Start live tail";
    fill(status, tailing ? notice("info", "Following new events…") : null);
    if (tailing) tail();
  });
  refresh.addEventListener("click", () => busy(refresh, status, async () => {
    await load(false);
    show();
  }));
  search.addEventListener("input", show);

  await load(true);
  if (!current()) return;
  fill(panel,
    h("div", { class: "toolbar" }, search, refresh, live, h("span", { class: "muted mono small" }, group)),
    status,
    list);
  show();
}
