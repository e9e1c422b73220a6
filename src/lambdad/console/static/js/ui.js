// Small DOM helpers: elements from data (never from HTML strings, so nothing the
// API returns is ever parsed as markup), notices, formatting.

/** An element: h("div", { class: "x", onclick }, child, "text", [more]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "value") {
      el.value = value;
    } else if (key === "checked") {
      el.checked = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A notice line: kind is "error", "ok" or "info". */
export function notice(kind, text) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** Describes an error for a person: AWS's error name and message. */
export function describeError(error) {
  if (error && error.name && error.message && error.name !== "Error") {
    return `${error.name}: ${error.message}`;
  }
  return String((error && error.message) || error);
}

/** Runs `action` for a button: disabled while it runs, errors shown in `status`. */
export async function busy(button, status, action) {
  button.disabled = true;
  if (status) fill(status);
  try {
    return await action();
  } catch (error) {
    if (status) fill(status, notice("error", describeError(error)));
    else throw error;
  } finally {
    button.disabled = false;
  }
}

export function formatBytes(n) {
  if (n === undefined || n === null) return "-";
  const units = ["B", "kB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatTime(value) {
  if (!value) return "-";
  const date = typeof value === "number" ? new Date(value) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** A table: columns [{ title, cell(row) }], rows. */
export function table(columns, rows, empty = "Nothing here yet.") {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h(
    "table",
    { class: "grid" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c.title)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", {}, c.cell(row)))))),
  );
}

/** A labelled form field. */
export function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", {}, label), input, hint ? h("small", {}, hint) : null);
}

/** Polls `check` until it returns a truthy value, at most `timeoutMs`. */
export async function until(check, timeoutMs = 60000, everyMs = 500) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Base64 text to bytes and bytes/text to base64. */
export function fromBase64(text) {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** A description list of [term, value] pairs, each pair kept together. */
export function facts(pairs, attrs = {}) {
  const cls = `facts${attrs.class ? ` ${attrs.class}` : ""}`;
  return h("dl", { ...attrs, class: cls }, pairs.map(([term, value]) =>
    h("div", {}, h("dt", {}, term), h("dd", {}, value ?? "-"))));
}
