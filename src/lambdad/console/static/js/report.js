// The figures of an invocation's report in its log tail, from either log format:
// the text REPORT line (tab-separated "Name: value" parts) or, for a function whose
// LoggingConfig LogFormat is JSON, the platform.report record's metrics, named and
// shown as the REPORT line names them.

const JSON_FIGURES = [
  ["Duration", "durationMs", (v) => `${v.toFixed(2)} ms`],
  ["Billed Duration", "billedDurationMs", (v) => `${v} ms`],
  ["Memory Size", "memorySizeMB", (v) => `${v} MB`],
  ["Max Memory Used", "maxMemoryUsedMB", (v) => `${v} MB`],
  ["Init Duration", "initDurationMs", (v) => `${v.toFixed(2)} ms`],
];

function textReport(line) {
  const figures = {};
  for (const part of line.split("\t").slice(1)) {
    const match = part.match(/^([A-Za-z ]+):\s*(.+)$/);
    if (match) figures[match[1].trim()] = match[2].trim();
  }
  return { line, figures };
}

function jsonReport(line) {
  let record;
  try {
    record = JSON.parse(line);
  } catch {
    return null;
  }
  if (record?.type !== "platform.report") return null;
  const metrics = record.record?.metrics || {};
  const figures = {};
  for (const [name, field, show] of JSON_FIGURES) {
    if (typeof metrics[field] === "number") figures[name] = show(metrics[field]);
  }
  return { line, figures };
}

/** The report of a log tail: { line, figures } with figures such as Duration, Billed
 * Duration, Memory Size, Max Memory Used, Init Duration; null when it has none. */
export function parseReport(logText) {
  for (const line of logText.split("\n")) {
    if (line.startsWith("REPORT ")) return textReport(line);
    if (line.startsWith("{")) {
      const report = jsonReport(line);
      if (report) return report;
    }
  }
  return null;
}
