// The Triggers tab: what invokes the function — EventBridge rules that target it,
// EventBridge Scheduler schedules, its function URL — and its resource policy.

import { isNotFound, seg } from "../api.js";
import { facts, fill, h, table } from "../ui.js";

async function optional(promise, fallback) {
  try {
    return await promise;
  } catch (error) {
    if (isNotFound(error)) return fallback;
    throw error;
  }
}

async function rulesTargeting(api, arn) {
  const names = [];
  let token;
  for (let page = 0; page < 20; page++) {
    const body = { TargetArn: arn, ...(token ? { NextToken: token } : {}) };
    const answer = await api.rpc("events", "AWSEvents.ListRuleNamesByTarget", body);
    names.push(...(answer.RuleNames || []));
    token = answer.NextToken;
    if (!token) break;
  }
  return Promise.all(names.map((Name) => api.rpc("events", "AWSEvents.DescribeRule", { Name })));
}

async function schedulesTargeting(api, arn) {
  const found = [];
  let token;
  for (let page = 0; page < 20; page++) {
    const query = token ? [["NextToken", token]] : [];
    const answer = await api.send({ service: "scheduler", method: "GET", path: "/schedules", query });
    const parsed = JSON.parse(new TextDecoder().decode(answer.bytes));
    found.push(...(parsed.Schedules || []).filter((s) => (s.Target || {}).Arn && (s.Target.Arn === arn || s.Target.Arn.startsWith(`${arn}:`))));
    token = parsed.NextToken;
    if (!token) break;
  }
  return found;
}

export async function renderTriggers(panel, api, fn, { current }) {
  const config = fn.Configuration;
  const name = config.FunctionName;
  const arn = config.FunctionArn;
  const [rules, schedules, url, policy] = await Promise.all([
    rulesTargeting(api, arn).catch((error) => error),
    schedulesTargeting(api, arn).catch((error) => error),
    optional(api.lambda("GET", `/2021-10-31/functions/${seg(name)}/url`), null),
    optional(api.lambda("GET", `/2015-03-31/functions/${seg(name)}/policy`), null),
  ]);
  if (!current()) return;
  const orError = (value, render) => (value instanceof Error ? h("p", { class: "muted" }, `${value.name}: ${value.message}`) : render(value));
  const statements = policy ? JSON.parse(policy.Policy).Statement || [] : [];
  fill(panel,
    h("div", { class: "card" },
      h("h2", {}, "EventBridge rules"),
      orError(rules, (found) => table([
        { title: "Rule", cell: (r) => r.Name },
        { title: "Bus", cell: (r) => r.EventBusName },
        { title: "Schedule or pattern", cell: (r) => h("code", {}, r.ScheduleExpression || r.EventPattern || "") },
        { title: "State", cell: (r) => r.State },
      ], found, "No rule targets this function."))),
    h("div", { class: "card" },
      h("h2", {}, "Schedules (EventBridge Scheduler)"),
      orError(schedules, (found) => table([
        { title: "Schedule", cell: (s) => s.Name },
        { title: "Group", cell: (s) => s.GroupName },
        { title: "State", cell: (s) => s.State },
        { title: "Target", cell: (s) => h("span", { class: "mono small" }, s.Target.Arn) },
      ], found, "No schedule targets this function."))),
    h("div", { class: "card" },
      h("h2", {}, "Function URL"),
      url ? facts([
        ["URL", h("a", { href: url.FunctionUrl, target: "_blank", rel: "noopener" }, url.FunctionUrl)],
        ["Auth type", url.AuthType],
        ["Invoke mode", url.InvokeMode || "BUFFERED"],
      ]) : h("p", { class: "muted" }, "No function URL.")),
    h("div", { class: "card" },
      h("h2", {}, "Resource-based policy"),
      table([
        { title: "Statement", cell: (s) => s.Sid },
        { title: "Principal", cell: (s) => h("code", {}, JSON.stringify(s.Principal)) },
        { title: "Action", cell: (s) => [].concat(s.Action).join(", ") },
        { title: "Condition", cell: (s) => (s.Condition ? h("code", {}, JSON.stringify(s.Condition)) : "") },
      ], statements, "No resource-based policy: only this account's users and roles may invoke it.")));
}
