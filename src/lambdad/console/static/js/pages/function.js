// A function's page: its summary and one tab at a time (#/functions/NAME/TAB).

import { seg } from "../api.js";
import { busy, facts, fill, formatTime, h } from "../ui.js";
import { renderCode } from "./code.js";
import { renderTest } from "./test.js";
import { renderMonitor } from "./monitor.js";
import { renderLogs } from "./logs.js";
import { renderConfiguration } from "./configuration.js";
import { renderVersions } from "./versions.js";
import { renderConcurrency } from "./concurrency.js";
import { renderTriggers } from "./triggers.js";

const TABS = [
  ["code", "Code", renderCode],
  ["test", "Test", renderTest],
  ["monitor", "Monitor", renderMonitor],
  ["logs", "Logs", renderLogs],
  ["configuration", "Configuration", renderConfiguration],
  ["versions", "Versions and aliases", renderVersions],
  ["concurrency", "Concurrency", renderConcurrency],
  ["triggers", "Triggers and permissions", renderTriggers],
];

/** GetFunction of `name` (its configuration, code location, tags, concurrency). */
export function getFunction(api, name) {
  return api.lambda("GET", `/2015-03-31/functions/${seg(name)}`);
}

function stateBadge(config) {
  const state = config.State || "Active";
  const update = config.LastUpdateStatus;
  const kind = state === "Active" && update !== "Failed" ? "ok" : state === "Failed" || update === "Failed" ? "bad" : "wait";
  const text = update && update !== "Successful" ? `${state} · update ${update}` : state;
  return h("span", { class: `badge ${kind}`, id: "function-state", title: config.StateReason || config.LastUpdateStatusReason || "" }, text);
}

export async function renderFunction(app, api, name, tab, current) {
  fill(app, h("p", { class: "muted" }, `Loading ${name}…`));
  const fn = await getFunction(api, name);
  if (!current()) return;
  const config = fn.Configuration;
  const panel = h("section", { class: "tab-panel", id: `tab-${tab}` });
  const status = h("div", { class: "status", id: "function-status" });
  const remove = h("button", { class: "danger", id: "delete-function" }, "Delete function");
  remove.addEventListener("click", () => {
    if (!confirm(`Delete ${name} with its versions and aliases? This cannot be undone.`)) return;
    busy(remove, status, async () => {
      await api.lambda("DELETE", `/2015-03-31/functions/${seg(name)}`);
      location.hash = "#/functions";
    });
  });
  const summary = h("div", {},
    h("div", { class: "page-head" },
      h("div", {},
        h("a", { href: "#/functions", class: "muted" }, "Functions"), " / ",
        h("h1", { class: "inline", id: "function-name" }, config.FunctionName), " ", stateBadge(config)),
      remove),
    config.Description ? h("p", { class: "muted" }, config.Description) : null,
    facts([
      ["Runtime", config.Runtime || config.PackageType],
      ["Handler", config.Handler || "-"],
      ["Memory", `${config.MemorySize} MB`],
      ["Timeout", `${config.Timeout} s`],
      ["Last modified", formatTime(config.LastModified)],
      ["ARN", h("span", { class: "mono small" }, config.FunctionArn)],
    ]));
  const tabs = h("nav", { class: "tabs", role: "tablist" }, TABS.map(([id, label]) =>
    h("a", { href: `#/functions/${seg(name)}/${id}`, class: id === tab ? "active" : "", role: "tab", id: `tab-link-${id}` }, label)));
  fill(app, summary, status, tabs, panel);
  const render = (TABS.find(([id]) => id === tab) || TABS[0])[2];
  const reload = () => getFunction(api, name);
  await render(panel, api, fn, { current, reload });
}
