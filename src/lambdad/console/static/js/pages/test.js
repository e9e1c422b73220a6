// The Test tab: test events saved for the function, an invocation of one, and
// what came back: the result, the log tail and its report's figures (text or JSON logs).
// Saved events live in this browser (localStorage, per region and function): the
// shareable kind AWS keeps in an EventBridge schema registry has no API here.

import { seg } from "../api.js";
import { parseReport } from "../report.js";
import { busy, facts, fill, fromBase64, h, notice } from "../ui.js";

const decoder = new TextDecoder();
const STORE = "lambdad.console.testEvents";

function allEvents() {
  try {
    return JSON.parse(localStorage.getItem(STORE) || "{}");
  } catch {
    return {};
  }
}

function savedEvents(key) {
  return allEvents()[key] || {};
}

function saveEvents(key, events) {
  const all = allEvents();
  all[key] = events;
  localStorage.setItem(STORE, JSON.stringify(all));
}

function prettyPayload(bytes) {
  const text = decoder.decode(bytes);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export async function renderTest(panel, api, fn) {
  const name = fn.Configuration.FunctionName;
  const key = `${api.session.region}/${name}`;
  let events = savedEvents(key);
  const picker = h("select", { id: "saved-events" });
  const eventName = h("input", { id: "event-name", placeholder: "event name", spellcheck: "false" });
  const payload = h("textarea", { class: "editor short", id: "event-payload", spellcheck: "false" }, "");
  payload.value = '{\n  "key1": "value1"\n}';
  const qualifier = h("input", { id: "invoke-qualifier", placeholder: "$LATEST", spellcheck: "false" });
  const saveStatus = h("div", { class: "status" });
  const result = h("div", { id: "invoke-result" }, h("p", { class: "muted" }, "Invoke to see the response, the log output and the REPORT line."));
  const invokeButton = h("button", { class: "primary", id: "invoke" }, "Invoke");

  const showPicker = () => fill(picker,
    h("option", { value: "" }, Object.keys(events).length ? "Saved events…" : "No saved events"),
    Object.keys(events).sort().map((n) => h("option", { value: n }, n)));
  picker.addEventListener("change", () => {
    if (!picker.value) return;
    eventName.value = picker.value;
    payload.value = events[picker.value];
  });
  const save = h("button", { id: "save-event", onclick: () => {
    const label = eventName.value.trim();
    if (!label) return fill(saveStatus, notice("error", "Name the event to save it."));
    try {
      JSON.parse(payload.value);
    } catch (error) {
      return fill(saveStatus, notice("error", `The event is not JSON: ${error.message}`));
    }
    events = { ...events, [label]: payload.value };
    saveEvents(key, events);
    showPicker();
    picker.value = label;
    fill(saveStatus, notice("ok", `Saved "${label}" in this browser.`));
  } }, "Save");
  const remove = h("button", { onclick: () => {
    if (!picker.value) return;
    const { [picker.value]: _gone, ...rest } = events;
    events = rest;
    saveEvents(key, events);
    showPicker();
    fill(saveStatus, notice("ok", "Deleted."));
  } }, "Delete");

  invokeButton.addEventListener("click", () => busy(invokeButton, result, async () => {
    try {
      JSON.parse(payload.value);
    } catch (error) {
      fill(result, notice("error", `The event is not JSON: ${error.message}`));
      return;
    }
    fill(result, notice("info", "Invoking…"));
    const query = qualifier.value.trim() ? [["Qualifier", qualifier.value.trim()]] : [];
    const started = performance.now();
    const response = await api.send({
      method: "POST",
      path: `/2015-03-31/functions/${seg(name)}/invocations`,
      query,
      headers: { "Content-Type": "application/json", "X-Amz-Log-Type": "Tail", "X-Amz-Invocation-Type": "RequestResponse" },
      body: payload.value,
    });
    const elapsed = performance.now() - started;
    const functionError = response.headers.get("x-amz-function-error");
    const logResult = response.headers.get("x-amz-log-result");
    const logText = logResult ? decoder.decode(fromBase64(logResult)) : "";
    const report = parseReport(logText);
    const version = response.headers.get("x-amz-executed-version");
    fill(result,
      h("div", { class: `result ${functionError ? "failed" : "succeeded"}`, id: "invoke-outcome" },
        h("strong", {}, functionError ? `Failed (${functionError})` : "Succeeded"),
        h("span", { class: "muted" }, ` · version ${version || "$LATEST"} · ${elapsed.toFixed(0)} ms round trip · request ${response.headers.get("x-amzn-requestid") || "-"}`)),
      report ? facts(Object.entries(report.figures), { class: "report", id: "invoke-report" }) : null,
      h("h3", {}, "Response"),
      h("pre", { class: "output", id: "invoke-payload" }, prettyPayload(response.bytes)),
      h("h3", {}, "Log output (last 4 KB)"),
      h("pre", { class: "output log", id: "invoke-log" }, logText || "(no log output)"));
  }));

  showPicker();
  fill(panel,
    h("div", { class: "test-layout" },
      h("div", { class: "card" },
        h("div", { class: "toolbar" }, picker, eventName, save, remove),
        saveStatus,
        payload,
        h("div", { class: "toolbar" }, invokeButton, h("label", { class: "inline-field" }, "Qualifier ", qualifier))),
      h("div", { class: "card" }, result)));
}
