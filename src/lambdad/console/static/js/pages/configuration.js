// The Configuration tab: general settings and environment variables, saved with
// UpdateFunctionConfiguration; the rest of the configuration shown as it is.

import { seg } from "../api.js";
import { busy, facts, field, fill, h, notice } from "../ui.js";
import { waitUpdated } from "./common.js";

function envRow(key = "", value = "") {
  const row = h("div", { class: "env-row" },
    h("input", { class: "env-key", value: key, placeholder: "KEY", spellcheck: "false" }),
    h("input", { class: "env-value", value, placeholder: "value", spellcheck: "false" }),
    h("button", { class: "link", onclick: () => row.remove() }, "Remove"));
  return row;
}

export async function renderConfiguration(panel, api, fn) {
  const config = fn.Configuration;
  const description = h("input", { id: "cfg-description", value: config.Description || "" });
  const memory = h("input", { id: "cfg-memory", type: "number", min: 128, max: 10240, value: config.MemorySize });
  const timeout = h("input", { id: "cfg-timeout", type: "number", min: 1, max: 900, value: config.Timeout });
  const storage = h("input", { id: "cfg-storage", type: "number", min: 512, max: 10240, value: (config.EphemeralStorage || {}).Size || 512 });
  const handler = h("input", { id: "cfg-handler", value: config.Handler || "", spellcheck: "false" });
  const logging = config.LoggingConfig || {};
  const tracing = h("select", { id: "cfg-tracing" }, ["PassThrough", "Active"].map((m) => h("option", { value: m }, m)));
  tracing.value = (config.TracingConfig || {}).Mode || "PassThrough";
  const logFormat = h("select", { id: "cfg-log-format" }, ["Text", "JSON"].map((m) => h("option", { value: m }, m)));
  logFormat.value = logging.LogFormat || "Text";
  const levels = (id, values, value) => {
    const select = h("select", { id }, h("option", { value: "" }, "default"), values.map((v) => h("option", { value: v }, v)));
    select.value = value || "";
    return select;
  };
  const appLevel = levels("cfg-app-level", ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], logging.ApplicationLogLevel);
  const systemLevel = levels("cfg-system-level", ["DEBUG", "INFO", "WARN"], logging.SystemLogLevel);
  const syncLevels = () => {
    // Log levels apply to JSON logs only (AWS refuses them with Text).
    appLevel.disabled = systemLevel.disabled = logFormat.value !== "JSON";
  };
  logFormat.addEventListener("change", syncLevels);
  syncLevels();
  const envRows = h("div", { id: "env-rows" },
    Object.entries((config.Environment || {}).Variables || {}).map(([k, v]) => envRow(k, v)));
  const status = h("div", { class: "status", id: "config-status" });
  const save = h("button", { class: "primary", id: "save-config" }, "Save");
  save.addEventListener("click", () => busy(save, status, async () => {
    const variables = {};
    for (const row of envRows.querySelectorAll(".env-row")) {
      const key = row.querySelector(".env-key").value.trim();
      if (key) variables[key] = row.querySelector(".env-value").value;
    }
    const body = {
      Description: description.value,
      MemorySize: Number(memory.value),
      Timeout: Number(timeout.value),
      EphemeralStorage: { Size: Number(storage.value) },
      Environment: { Variables: variables },
    };
    if (config.PackageType !== "Image") body.Handler = handler.value.trim();
    if (tracing.value !== ((config.TracingConfig || {}).Mode || "PassThrough")) {
      body.TracingConfig = { Mode: tracing.value };
    }
    const wantedLogging = { LogFormat: logFormat.value };
    if (logFormat.value === "JSON") {
      if (appLevel.value) wantedLogging.ApplicationLogLevel = appLevel.value;
      if (systemLevel.value) wantedLogging.SystemLogLevel = systemLevel.value;
    }
    const loggingChanged = wantedLogging.LogFormat !== (logging.LogFormat || "Text") ||
      (wantedLogging.ApplicationLogLevel || "") !== (logFormat.value === "JSON" ? logging.ApplicationLogLevel || "" : "") ||
      (wantedLogging.SystemLogLevel || "") !== (logFormat.value === "JSON" ? logging.SystemLogLevel || "" : "");
    if (loggingChanged) body.LoggingConfig = { ...wantedLogging, LogGroup: logging.LogGroup };
    await api.lambda("PUT", `/2015-03-31/functions/${seg(config.FunctionName)}/configuration`, { body });
    const updated = await waitUpdated(api, config.FunctionName);
    fill(status, notice("ok", `Saved (${updated.MemorySize} MB, ${updated.Timeout} s).`));
  }));
  const readOnly = [
    ["Role", config.Role],
    ["Architectures", (config.Architectures || []).join(", ")],
    ["Package type", config.PackageType],
    ["Code SHA-256", config.CodeSha256],
    ["Version", config.Version],
    ["Layers", (config.Layers || []).map((l) => l.Arn).join(", ") || "-"],
    ["Logging", config.LoggingConfig ? `${config.LoggingConfig.LogFormat} → ${config.LoggingConfig.LogGroup}` : "-"],
    ["Tracing", (config.TracingConfig || {}).Mode || "PassThrough"],
    ["Dead-letter target", (config.DeadLetterConfig || {}).TargetArn || "-"],
    ["Tags", Object.entries(fn.Tags || {}).map(([k, v]) => `${k}=${v}`).join(", ") || "-"],
  ];
  fill(panel,
    h("div", { class: "columns" },
      h("div", { class: "card" },
        h("h2", {}, "General"),
        field("Description", description),
        config.PackageType !== "Image" ? field("Handler", handler) : null,
        field("Memory (MB)", memory, "128–10,240 MB; CPU is given in proportion."),
        field("Timeout (seconds)", timeout),
        field("Ephemeral storage /tmp (MB)", storage),
        h("h2", {}, "Monitoring and logging"),
        h("div", { class: "columns tight" },
          field("Tracing (X-Ray)", tracing),
          field("Log format", logFormat),
          field("Application log level", appLevel, "JSON logs only"),
          field("System log level", systemLevel, "JSON logs only")),
        h("h2", {}, "Environment variables"),
        envRows,
        h("button", { id: "add-env", onclick: () => envRows.append(envRow()) }, "Add variable"),
        h("div", { class: "toolbar" }, save),
        status),
      h("div", { class: "card" },
        h("h2", {}, "Details"),
        facts(readOnly.map(([k, v]) => [k, h("span", { class: "mono small" }, v || "-")]), { class: "stacked" }))));
}
