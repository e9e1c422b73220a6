// Line charts and sparklines drawn as SVG by hand (no chart library to vendor):
// a series is [{ t: epochMs, v: number }], drawn over a fixed time window.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const child of children) el.append(child);
  return el;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * magnitude) return step * magnitude;
  }
  return 10 * magnitude;
}

function formatValue(value, unit) {
  const digits = Math.abs(value) >= 100 || Number.isInteger(value) ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)}${unit ? ` ${unit}` : ""}`;
}

function timeLabel(ms, spanMs) {
  const d = new Date(ms);
  return spanMs > 36 * 3600e3
    ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" })
    : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/**
 * A line chart: { title, unit, series: [{ label, points, color }], start, end }.
 * Returns a <figure> with the SVG and a legend.
 */
export function lineChart({ title, unit = "", series, start, end, id }) {
  const width = 560, height = 180, left = 48, right = 12, top = 12, bottom = 24;
  const span = Math.max(1, end - start);
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.v))));
  const x = (t) => left + ((t - start) / span) * (width - left - right);
  const y = (v) => top + (1 - v / max) * (height - top - bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  for (const fraction of [0, 0.5, 1]) {
    const value = max * fraction;
    chart.append(
      svg("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), stroke: "#e3e7ec" }),
      svg("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end", "font-size": 10, fill: "#5f6b7a" }, formatValue(value, "")),
    );
  }
  for (const fraction of [0, 0.5, 1]) {
    const t = start + span * fraction;
    const anchor = fraction === 0 ? "start" : fraction === 1 ? "end" : "middle";
    chart.append(svg("text", { x: x(t), y: height - 6, "text-anchor": anchor, "font-size": 10, fill: "#5f6b7a" }, timeLabel(t, span)));
  }
  for (const s of series) {
    const points = s.points.filter((p) => p.t >= start && p.t <= end).sort((a, b) => a.t - b.t);
    if (points.length === 1) {
      chart.append(svg("circle", { cx: x(points[0].t), cy: y(points[0].v), r: 3, fill: s.color }));
    } else if (points.length) {
      const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
      chart.append(svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 1.8 }));
    }
  }
  const figure = document.createElement("figure");
  figure.className = "chart card";
  if (id) figure.id = id;
  const caption = document.createElement("figcaption");
  caption.textContent = unit ? `${title} (${unit})` : title;
  const legend = document.createElement("div");
  legend.className = "legend";
  for (const s of series) {
    const total = s.points.length ? s.summary ?? "" : "no data";
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = s.color;
    item.append(swatch, `${s.label}${total !== "" ? `: ${total}` : ""}`);
    legend.append(item);
  }
  figure.append(caption, chart, legend);
  return figure;
}

/** A sparkline of a few series (no axes), e.g. invocations and errors. */
export function sparkline(series, start, end, title) {
  const width = 120, height = 28;
  const span = Math.max(1, end - start);
  const max = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.v)));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  chart.append(svg("title", {}, title));
  chart.append(svg("line", { x1: 0, x2: width, y1: height - 1, y2: height - 1, stroke: "#e3e7ec" }));
  for (const s of series) {
    const points = s.points.slice().sort((a, b) => a.t - b.t);
    if (!points.length) continue;
    const d = points.map((p, i) => {
      const px = ((p.t - start) / span) * width;
      const py = height - 2 - (p.v / max) * (height - 4);
      return `${i ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`;
    }).join("");
    chart.append(svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 1.5 }));
  }
  return chart;
}
